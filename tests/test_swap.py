"""One agent, three helpdesks: the same handoff with each, changing only the agent.toml file.

``examples/support-agent`` holds ``agent.py`` and one config file per provider. Each run loads
the agent from its file exactly as ``patchwire serve <file>`` would (resolution, the real
packages, the real ``agent.py``), points the config's ``${VARS}`` at a local stand-in for the
provider, and plays the same scenario through the HITL conformance kit's driver of that provider.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from integrations.generic_hitl.tests.conftest import SECRET as DESK_SECRET
from integrations.generic_hitl.tests.desk.conftest import (
    DeskHelpdesk,
    RunningDesk,
    Switch,
)
from integrations.intercom.tests.conftest import IntercomHelpdesk
from integrations.intercom.tests.fake_intercom import CLIENT_SECRET as INTERCOM_SECRET
from integrations.intercom.tests.fake_intercom import TOKEN as INTERCOM_TOKEN
from integrations.intercom.tests.fake_intercom import FakeIntercom
from integrations.intercom.tests.fake_intercom import serve as serve_intercom
from integrations.zendesk.tests.conftest import AGENT_URL, ZendeskHelpdesk
from integrations.zendesk.tests.fake_zendesk import FakeZendesk
from patchwire.runtime import activate
from patchwire.server import LoadedAgent, open_agent, webhook_mounts
from patchwire.testing.hitl import Helpdesk
from patchwire.testing.loopback import LoopbackServer, free_port
from patchwire_intercom import TOPICS

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "support-agent"
AGENT_CODE = EXAMPLE / "agent.py"


@dataclass
class Provider:
    config_file: str
    helpdesk: Helpdesk
    environ: dict[str, str]
    stop: Callable[[], Any]


async def generic(tmp_path: Path) -> Provider:
    from patchwire_generic_hitl.desk import Desk, DeskSettings, create_desk_app

    agent_port = free_port()
    settings = DeskSettings(
        tmp_path / "desk.db", f"http://127.0.0.1:{agent_port}/webhooks/hitl", DESK_SECRET
    )
    parts = Desk(settings)
    switch = Switch(create_desk_app(settings, parts))
    served = await LoopbackServer(switch).start()
    helpdesk = DeskHelpdesk(RunningDesk(parts, served, switch), agent_port)

    async def stop() -> None:
        if helpdesk.webhooks is not None:
            await helpdesk.webhooks.stop()
        await served.stop()

    return Provider(
        "agent.toml",
        helpdesk,
        {"HITL_ENDPOINT_BASE_URL": served.url, "HITL_SIGNING_SECRET": DESK_SECRET},
        stop,
    )


async def zendesk(tmp_path: Path) -> Provider:
    fake = FakeZendesk()
    served = await LoopbackServer(fake.app()).start()
    fake.url = served.url
    helpdesk = ZendeskHelpdesk(fake)

    async def stop() -> None:
        await served.stop()
        if fake.sender is not None:
            await fake.sender.aclose()
        assert fake.invalid == [], "requests that break the Zendesk contract"

    return Provider(
        "agent.zendesk.toml",
        helpdesk,
        {
            "ZENDESK_URL": fake.url,
            "ZENDESK_CLIENT_ID": fake.client_id,
            "ZENDESK_CLIENT_SECRET": fake.client_secret,
            "PUBLIC_URL": AGENT_URL,
        },
        stop,
    )


async def intercom(tmp_path: Path) -> Provider:
    stack = AsyncExitStack()
    fake = await stack.enter_async_context(serve_intercom(FakeIntercom(subscribed=TOPICS)))

    async def stop() -> None:
        await stack.aclose()
        assert fake.invalid == [], "requests that break the Intercom contract"

    return Provider(
        "agent.intercom.toml",
        IntercomHelpdesk(fake),
        {
            "INTERCOM_ACCESS_TOKEN": INTERCOM_TOKEN,
            "INTERCOM_CLIENT_SECRET": INTERCOM_SECRET,
            "INTERCOM_API_URL": fake.url,
        },
        stop,
    )


PROVIDERS = {"generic-hitl": generic, "zendesk": zendesk, "intercom": intercom}


@pytest.fixture(params=list(PROVIDERS))
async def provider(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Provider]:
    started = await PROVIDERS[request.param](tmp_path)
    for name, value in started.environ.items():
        monkeypatch.setenv(name, value)
    yield started
    await started.stop()


class User:
    """A person on the Chat API: what they say goes in, what the agent says comes back."""

    def __init__(self, agent: LoadedAgent) -> None:
        app = Starlette(routes=webhook_mounts(agent.runtime))
        self.agent = agent
        self.api = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://agent/webhooks/chat"
        )
        self.conversation_id = ""
        self.me = ""

    async def open(self) -> None:
        created = (await self.api.post("/users", json={"name": "Ann"})).json()
        self.api.headers["x-user-key"] = created["key"]
        self.me = created["user"]["id"]
        conversation = (await self.api.post("/conversations", json={})).json()
        self.conversation_id = conversation["conversation"]["id"]

    async def say(self, text: str) -> None:
        sent = await self.api.post(
            "/messages",
            json={
                "conversationId": self.conversation_id,
                "payload": {"type": "text", "text": text},
            },
        )
        assert sent.status_code == 200, sent.text
        await self.agent.runtime.process_pending()

    async def sees(self) -> list[str]:
        listed = await self.api.get(f"/conversations/{self.conversation_id}/messages")
        newest_first = listed.json()["messages"]
        return [
            str(m["payload"].get("text")) for m in reversed(newest_first) if m["userId"] != self.me
        ]


async def test_the_same_agent_hands_off_through_each_provider(
    provider: Provider, tmp_path: Path
) -> None:
    agent = await open_agent(
        EXAMPLE / provider.config_file, database_url=f"sqlite:///{tmp_path / 'agent.db'}"
    )
    assert agent.runtime.agent.module == AGENT_CODE, "every config file runs the one agent.py"
    user = User(agent)
    try:
        with activate(agent.runtime):
            helpdesk = provider.helpdesk
            helpdesk.attach(agent.runtime, "hitl")
            await user.open()
            await user.say("where is my parcel?")
            await user.say("/starthitl")
            assert (await user.sees())[-1] == "Escalating to support..."

            [remote] = await helpdesk.opened()
            assert any("where is my parcel?" in text for text in await helpdesk.received(remote))
            await helpdesk.assign(remote, "Alice")
            await agent.runtime.process_pending()
            assert (await user.sees())[-1] == "A human agent has joined the conversation."

            await user.say("are you a human?")
            assert any("are you a human?" in text for text in await helpdesk.received(remote))
            await helpdesk.reply(remote, "text", {"text": "Yes, Alice here."}, message_id="r1")
            await agent.runtime.process_pending()
            assert (await user.sees())[-1] == "Yes, Alice here."

            await user.say("/end")
            assert "( The user has ended the session. )" in await helpdesk.received(remote)
            assert (await user.sees())[-1] == (
                "You have ended the session with the human agent. I will continue assisting you."
            )
            await user.say("thanks, bot")
            assert (await user.sees())[-1] == "You said: thanks, bot"
    finally:
        await user.api.aclose()
        await agent.close()
