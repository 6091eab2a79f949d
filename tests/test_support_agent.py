"""The example support agent, black-box through the Chat API, handing off to generic-hitl.

The real ``examples/support-agent`` (agent.toml and agent.py) talks to the generic-hitl fake
service over loopback HTTP, with a model behind ``ctx.execute`` that records what it is
asked; the human agents act through the conformance kit's generic-hitl driver (signed
webhooks). Nothing here reaches into the plugin: what is checked is what the user reads,
what the service receives and what the model is sent.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from integrations.generic_hitl.tests.conftest import SECRET, FakeService, GenericHelpdesk
from integrations.generic_hitl.tests.conftest import service as service  # the fixture
from patchwire.runtime import activate
from patchwire.server import LoadedAgent, open_agent
from patchwire.testing.chat_completions import FakeChatCompletions
from tests.test_swap import User

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "support-agent"
JOINED = "A human agent has joined the conversation."
IDLE = "The human agent has not answered yet. They will reply as soon as they can."


MODEL_KEY = "sk-support-test"
MODEL_TABLE = """
[model]
provider = "openai-compatible"
base_url = "${MODEL_BASE_URL}"
model = "support"
api_key = "${MODEL_API_KEY}"
"""
"""What README says to add to the example's agent.toml for a real model."""


@pytest.fixture
async def model(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeChatCompletions]:
    fake = FakeChatCompletions(models={"support"}, api_key=MODEL_KEY, answer="the model's answer")
    monkeypatch.setenv("MODEL_BASE_URL", fake.url)
    monkeypatch.setenv("MODEL_API_KEY", MODEL_KEY)
    async with fake.serve():
        yield fake


@pytest.fixture
def model_table() -> str:
    """No [model]: the example as it is, with the built-in responder."""
    return ""


@pytest.fixture
async def agent(
    service: FakeService,
    model: FakeChatCompletions,
    model_table: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[LoadedAgent]:
    monkeypatch.setenv("HITL_ENDPOINT_BASE_URL", service.url)
    monkeypatch.setenv("HITL_SIGNING_SECRET", SECRET)
    folder = tmp_path / "support-agent"
    folder.mkdir()
    shutil.copy(EXAMPLE / "agent.py", folder)
    config = (EXAMPLE / "agent.toml").read_text(encoding="utf-8") + model_table
    (folder / "agent.toml").write_text(config, encoding="utf-8")
    loaded = await open_agent(folder, database_url=f"sqlite:///{tmp_path / 'agent.db'}")
    try:
        with activate(loaded.runtime):
            yield loaded
    finally:
        await loaded.close()


@pytest.fixture
async def user(agent: LoadedAgent) -> AsyncIterator[User]:
    person = User(agent)
    await person.open()
    yield person
    await person.api.aclose()


async def test_the_bot_leads_the_user_to_a_human(user: User) -> None:
    await user.say("hello")
    await user.say("I want a human")
    await user.say("can I talk to a real person?")
    await user.say("thanks, bot")
    welcome, human, person, echo = await user.sees()
    assert "/starthitl" in welcome
    assert "/starthitl" in human and human == person
    assert echo == "You said: thanks, bot"


@pytest.mark.parametrize("model_table", [MODEL_TABLE], ids=["with-model"])
async def test_a_whole_handoff_with_two_agents_idle_time_and_a_hand_back(
    agent: LoadedAgent, user: User, service: FakeService, model: FakeChatCompletions
) -> None:
    helpdesk = GenericHelpdesk(service)
    helpdesk.attach(agent.runtime, "hitl")
    hitl: Any = agent.runtime.plugins.hitl.actions
    session_config = agent.runtime.context("hitl", "plugin")
    # A shorter idle timeout than agent.toml's, as a restart with an edited file would give.
    session_config._configuration = session_config.configuration.model_copy(
        update={"agent_idle_timeout_seconds": 0.4}
    )

    await user.say("my parcel never arrived")
    await user.say("/starthitl")
    [remote] = await helpdesk.opened()
    for n, name in enumerate(["Alice", "Bob", "Alice"]):
        await helpdesk.reply(
            remote, "text", {"text": f"{name} here ({n})"}, message_id=f"m{n}", agent_name=name
        )
        await agent.runtime.process_pending()
    assert (await user.sees()).count(JOINED) == 1

    await user.say("are you still there?")
    await helpdesk.reply(remote, "text", {"text": "Yes, checking."}, message_id="prompt")
    await asyncio.sleep(0.6)
    await agent.runtime.process_pending()
    assert IDLE not in await user.sees(), "a prompt human reply cancels the idle text"

    await user.say("hello? any news?")
    await asyncio.sleep(0.6)
    await agent.runtime.process_pending()
    await user.say("still waiting")
    await asyncio.sleep(0.6)
    await agent.runtime.process_pending()
    assert (await user.sees()).count(IDLE) == 1

    await user.say("/end")
    await user.say("so where is my parcel?")
    last_request = model.requests[-1].messages
    human_words = ["Alice here", "Bob here", "Yes, checking."]
    assert not any(
        turn["role"] == "assistant" and any(w in turn["content"] for w in human_words)
        for turn in last_request
    ), last_request
    labelled = [t["content"] for t in last_request if t["role"] == "system"]
    assert "A human agent (not you) wrote to the user: Bob here (1)" in labelled, last_request
    assert (await user.sees())[-1] == "the model's answer"
    assert len(model.requests) == 2, "asked before the handoff and after it, never during it"

    [conversation] = await agent.runtime.context("chat").find_conversations(
        {"chat.chatId": user.conversation_id}
    )
    found = await hitl.get_session(conversation_id=conversation.id)
    assert found.session.agent.name == "A Human Agent"  # generic-hitl messages carry no name
    assert found.session.end_reason == "patient-used-termination-command"
    assert found.session.active is False
