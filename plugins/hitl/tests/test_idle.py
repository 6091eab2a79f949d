"""The agent-idle timeout: the user wrote, the assigned human did not answer in time."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

from patchwire.testing.hitl import HitlHarness, start_harness
from patchwire.testing.memory import MemoryHelpdesk
from patchwire_hitl import Session

Start = Callable[..., Awaitable[HitlHarness]]

IDLE = "The human agent has not answered yet. They will reply as soon as they can."
IDLE_END = "The human agent has not answered in time. I will continue assisting you."


async def assigned(harness: HitlHarness, helpdesk: MemoryHelpdesk, **overrides: object) -> str:
    await harness.start(**overrides)
    [remote] = await helpdesk.opened()
    await helpdesk.assign(remote, "Alice")
    await harness.settle()
    return remote


async def wait(seconds: float, harness: HitlHarness) -> None:
    await asyncio.sleep(seconds)
    await harness.settle()


async def test_the_user_hears_the_idle_text_once_after_the_timeout(
    harness_with: Start, helpdesk: MemoryHelpdesk
) -> None:
    harness = await harness_with(agentIdleTimeoutSeconds=0.3)
    remote = await assigned(harness, helpdesk)
    await harness.say("hello?")
    await harness.say("anyone?")
    await wait(0.5, harness)
    await harness.say("still waiting")
    await wait(0.5, harness)
    assert (await harness.user_sees()).count(IDLE) == 1
    assert (await helpdesk.received(remote))[-3:] == ["hello?", "anyone?", "still waiting"]
    await helpdesk.reply(remote, "text", {"text": "sorry, here"}, message_id="a1")
    await harness.settle()
    await harness.say("ok, one more question")
    await wait(0.5, harness)
    assert (await harness.user_sees()).count(IDLE) == 2, "a reply starts a new stretch"


async def test_a_prompt_human_reply_means_no_idle_text(
    harness_with: Start, helpdesk: MemoryHelpdesk
) -> None:
    harness = await harness_with()
    remote = await assigned(harness, helpdesk, agent_idle_timeout_seconds=0.4)
    for n in range(3):
        await harness.say(f"question {n}")
        await helpdesk.reply(remote, "text", {"text": f"answer {n}"}, message_id=f"a{n}")
        await harness.settle()
    await wait(0.6, harness)
    seen = await harness.user_sees()
    assert IDLE not in seen
    assert [t for t in seen if t.startswith("answer")] == ["answer 0", "answer 1", "answer 2"]
    conversation, _ = await harness.user_conversation()
    stored = await harness.runtime.context("hitl").get_state(
        "conversation", conversation.id, "session"
    )
    session = Session.model_validate(stored)
    assert (session.idle_wait_id, session.idle_event_id, session.idle_notified) == (
        None,
        None,
        False,
    )


async def test_no_idle_timer_before_an_agent_is_assigned(
    harness_with: Start, helpdesk: MemoryHelpdesk
) -> None:
    harness = await harness_with(agentIdleTimeoutSeconds=0.2)
    await harness.say("/starthitl")
    await harness.say("hello?")
    await wait(0.4, harness)
    assert IDLE not in await harness.user_sees()


async def test_ending_on_agent_idle_hands_back_to_the_bot(
    harness_with: Start, helpdesk: MemoryHelpdesk
) -> None:
    harness = await harness_with(agentIdleTimeoutSeconds=0.3, endSessionOnAgentIdle=True)
    remote = await assigned(harness, helpdesk)
    await harness.say("hello?")
    await wait(0.5, harness)
    assert (await harness.user_sees())[-1] == IDLE_END
    assert (await helpdesk.received(remote))[-1] == "( The user has ended the session. )"
    assert remote in helpdesk.closed
    conversation, _ = await harness.user_conversation()
    found = await harness.runtime.plugins.hitl.actions.get_session(conversation_id=conversation.id)
    assert found.session.end_reason == "agent-response-timeout"
    await harness.say("back to the bot?")
    assert "back to the bot?" in harness.handled


async def test_the_idle_timer_fires_once_across_a_restart(
    helpdesk: MemoryHelpdesk, tmp_path: Path
) -> None:
    harness = await start_harness(helpdesk, tmp_path, agentIdleTimeoutSeconds=0.4)
    await assigned(harness, helpdesk)
    await harness.say("hello?")
    await harness.runtime.stop()
    await harness.runtime.store.close()
    await asyncio.sleep(0.6)
    restarted = await start_harness(helpdesk, tmp_path, agentIdleTimeoutSeconds=0.4)
    try:
        await restarted.settle()
        await restarted.settle()
        conversation, _ = await restarted.user_conversation()
        sent = await restarted.runtime.context("user").list_messages(conversation.id, limit=50)
        assert [m.payload.get("text") for m in sent.messages].count(IDLE) == 1
    finally:
        await restarted.runtime.stop()
        await restarted.runtime.store.close()
