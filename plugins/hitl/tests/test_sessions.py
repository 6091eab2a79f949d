"""One start per triggering message, the session queries, and transfers between agents."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from patchwire.runtime import EventContext
from patchwire.runtime._steps import JobRun, Step, running
from patchwire.testing.databases import postgres_database
from patchwire.testing.hitl import HitlHarness, start_harness
from patchwire.testing.memory import MemoryHelpdesk
from patchwire_hitl import HitlConfiguration, HitlStartError, Session, SessionInfo

Start = Callable[..., Awaitable[HitlHarness]]

HANDOFF = "I have escalated this conversation to a human agent. They should be with you shortly."


async def info(harness: HitlHarness, user: str = "u1") -> SessionInfo | None:
    conversation, _ = await harness.user_conversation(user)
    found = await harness.runtime.plugins.hitl.actions.get_session(conversation_id=conversation.id)
    session: SessionInfo | None = found.session
    return session


async def test_concurrent_starts_for_one_message_open_one_session(
    harness_with: Start, helpdesk: MemoryHelpdesk
) -> None:
    harness = await harness_with()
    await harness.say("I need help")
    conversation, user_id = await harness.user_conversation()
    starts = [
        harness.runtime.plugins.hitl.actions.start_hitl(
            title="Help", conversation_id=conversation.id, user_id=user_id
        )
        for _ in range(5)
    ]
    results = await asyncio.gather(*starts)
    await harness.settle()
    assert len(await helpdesk.opened()) == 1
    assert len({r.session_id for r in results}) == 1
    assert (await harness.user_sees()).count(HANDOFF) == 1


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
async def test_two_processes_starting_for_one_message_open_one_session(
    helpdesk: MemoryHelpdesk, tmp_path: Path, backend: str
) -> None:
    async with contextlib.AsyncExitStack() as stack:
        database_url = (
            await stack.enter_async_context(postgres_database())
            if backend == "postgresql"
            else f"sqlite:///{tmp_path / 'agent.db'}"
        )
        await two_runtimes_start_once(helpdesk, tmp_path, database_url)


async def two_runtimes_start_once(
    helpdesk: MemoryHelpdesk, tmp_path: Path, database_url: str
) -> None:
    first = await start_harness(helpdesk, tmp_path, database_url=database_url)
    # a second runtime on the same database, as another process would be
    second = await start_harness(helpdesk, tmp_path, database_url=database_url)
    try:
        await first.say("I need help")
        conversation, user_id = await first.user_conversation()
        results = await asyncio.gather(
            *(
                harness.runtime.plugins.hitl.actions.start_hitl(
                    title="Help", conversation_id=conversation.id, user_id=user_id
                )
                for harness in (first, second, first, second)
            )
        )
        assert len(await helpdesk.opened()) == 1
        assert len({r.downstream_conversation_id for r in results}) == 1
        sent = await first.runtime.context("user").list_messages(conversation.id, limit=50)
        assert [m.payload.get("text") for m in sent.messages].count(HANDOFF) == 1
    finally:
        for harness in (first, second):
            await harness.runtime.stop()
            await harness.runtime.store.close()


async def test_a_failed_start_is_not_tried_again_for_the_same_message(
    harness_with: Start, helpdesk: MemoryHelpdesk
) -> None:
    harness = await harness_with()
    helpdesk.go_down()
    await harness.say("/starthitl")
    helpdesk.come_back()
    conversation, user_id = await harness.user_conversation()
    with pytest.raises(HitlStartError, match="failed already; a new message from the user"):
        await harness.runtime.plugins.hitl.actions.start_hitl(
            title="Help", conversation_id=conversation.id, user_id=user_id
        )
    assert (await harness.user_sees()).count(HANDOFF) == 1
    assert await helpdesk.opened() == []
    await harness.say("/starthitl")
    assert len(await helpdesk.opened()) == 1


async def test_get_session_answers_after_hand_back(
    harness_with: Start, helpdesk: MemoryHelpdesk
) -> None:
    harness = await harness_with()
    assert await info(harness) is None
    await harness.say("/starthitl")
    started = await info(harness)
    assert started is not None
    assert (started.status, started.active, started.agent) == ("active", True, None)
    [remote] = await helpdesk.opened()
    await helpdesk.assign(remote, "Alice")
    await harness.settle()
    await harness.say("/end")
    ended = await info(harness)
    assert ended is not None and ended.session_id == started.session_id
    assert (ended.status, ended.active) == ("ended", False)
    assert ended.agent is not None and ended.agent.name == "Alice"
    assert ended.end_reason == "patient-used-termination-command"
    assert ended.assigned_at is not None and ended.ended_at is not None
    assert ended.started_at <= ended.assigned_at <= ended.ended_at
    assert ended.downstream_conversation_id == started.downstream_conversation_id


async def test_list_sessions_filters_by_status_agent_and_end_reason(
    harness_with: Start, helpdesk: MemoryHelpdesk
) -> None:
    harness = await harness_with()
    for user in ("u1", "u2", "u3"):
        await harness.say("/starthitl", user=user)
    u1, u2, _ = await helpdesk.opened()
    await helpdesk.assign(u1, "Alice")
    await helpdesk.assign(u2, "Bob")
    await harness.settle()
    await helpdesk.close(u2)
    await harness.settle()
    actions = harness.runtime.plugins.hitl.actions

    async def ids(**filters: Any) -> list[str]:
        found = await actions.list_sessions(**filters)
        return [s.conversation_id for s in found.sessions]

    conversations = {u: (await harness.user_conversation(u))[0].id for u in ("u1", "u2", "u3")}
    assert await ids() == [conversations[u] for u in ("u3", "u2", "u1")]
    assert sorted(await ids(status="active")) == sorted([conversations["u1"], conversations["u3"]])
    assert await ids(status="ended") == [conversations["u2"]]
    assert await ids(end_reason="agent-closed-ticket") == [conversations["u2"]]
    alice = await info(harness, "u1")
    assert alice is not None and alice.agent is not None
    assert await ids(agent_id=alice.agent.id) == [conversations["u1"]]
    assert await ids(status="ended", agent_id=alice.agent.id) == []
    assert len(await ids(limit=2)) == 2


async def test_a_transfer_tells_the_user_and_agent_code_once(
    harness_with: Start, helpdesk: MemoryHelpdesk
) -> None:
    harness = await harness_with(onHumanAgentTransferredMessage="Now with {agentName}.")
    seen: list[tuple[str, Any]] = []

    async def on_event(ctx: EventContext) -> None:
        seen.append((ctx.event.type, ctx.event.payload.get("agentName")))

    harness.runtime.code.conversations[0].on_event = on_event
    await harness.say("/starthitl")
    [remote] = await helpdesk.opened()
    await helpdesk.reply(remote, "text", {"text": "hello"}, message_id="a1", agent_name="Alice")
    for _ in range(2):
        await helpdesk.assign(remote, "Alice")
        await helpdesk.assign(remote, "Bob")
        await helpdesk.assign(remote, "Bob")
    await harness.settle()
    await helpdesk.reply(remote, "text", {"text": "Bob here"}, message_id="b1", agent_name="Bob")
    await harness.settle()
    texts = await harness.user_sees()
    assert texts.count("A human agent has joined the conversation.") == 1
    assert texts.count("Now with Bob.") == 2 and texts.count("Now with Alice.") == 1
    assert [t for t in seen if t[0] != "hitl.hitl_started"] == [
        ("hitl.hitl_assigned", "Alice"),
        ("hitl.hitl_transferred", "Bob"),
        ("hitl.hitl_transferred", "Alice"),
        ("hitl.hitl_transferred", "Bob"),
    ]
    conversation, _ = await harness.user_conversation()
    [last] = [
        m for m in harness.channel.outbox[conversation.id] if m.payload.get("text") == "Bob here"
    ]
    author = await harness.runtime.store.get_user(last.user_id or "")
    assert author is not None and author.name == "Bob"


async def test_hitl_stopped_carries_what_agent_code_needs_to_resume(
    harness_with: Start, helpdesk: MemoryHelpdesk
) -> None:
    harness = await harness_with()
    stopped: list[dict[str, Any]] = []

    async def on_event(ctx: EventContext) -> None:
        if ctx.event.type == "hitl.hitl_stopped":
            stopped.append(dict(ctx.event.payload))

    harness.runtime.code.conversations[0].on_event = on_event
    trigger = await harness.say("/starthitl")
    [remote] = await helpdesk.opened()
    await helpdesk.reply(remote, "text", {"text": "hi"}, message_id="a1")
    await harness.settle()
    await helpdesk.close(remote)
    await harness.settle()
    [payload] = stopped
    assert payload["reason"] == "agent-closed-ticket"
    assert payload["agentName"] == "Alice" and payload["agentId"]
    conversation, _ = await harness.user_conversation()
    page = await harness.runtime.context("user").list_messages(conversation.id, limit=50)
    texts = [m.payload.get("text") for m in page.messages]
    closing = texts.index("The human agent closed the conversation. I will continue assisting you.")
    assert payload["transcript"] == {
        "fromMessageId": trigger.id,
        "toMessageId": page.messages[closing + 1].id,
    }
    assert page.messages[closing + 1].payload["text"] == "hi"


async def test_a_start_a_crash_left_unfinished_blocks_for_five_minutes_only(
    harness_with: Start, helpdesk: MemoryHelpdesk
) -> None:
    harness = await harness_with()
    conversation, user_id = await harness.user_conversation()
    crashed = Session(
        id="crashed",
        active=False,
        upstream_id=conversation.id,
        initiating_user_id=user_id,
        configuration=HitlConfiguration(),
        started_at=datetime.now(UTC) - timedelta(minutes=6),
    )
    ctx = harness.runtime.context("hitl")
    await ctx.set_state("conversation", conversation.id, "session", crashed.model_dump(mode="json"))
    await harness.say("/starthitl")
    assert len(await helpdesk.opened()) == 1
    found = await info(harness)
    assert found is not None and found.active and found.session_id != "crashed"


async def test_a_start_replayed_after_a_crash_resumes_instead_of_blocking(
    harness_with: Start, helpdesk: MemoryHelpdesk
) -> None:
    harness = await harness_with()
    handoff = await harness.say("my order is late")
    conversation, user_id = await harness.user_conversation()
    hitl = harness.runtime.plugins.hitl.actions
    opening = helpdesk.stall()
    job = JobRun(root=handoff.id, replaying=False)
    with running(Step(job, f"{handoff.id}:1")):
        crashed = asyncio.create_task(
            hitl.start_hitl(title="Help", conversation_id=conversation.id, user_id=user_id)
        )
        await opening.wait()
    crashed.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await crashed
    helpdesk.come_back()
    assert (await info(harness)) is not None and (await info(harness)).status == "starting"
    replay = JobRun(root=handoff.id, replaying=True)
    with running(Step(replay, f"{handoff.id}:1")):
        started = await hitl.start_hitl(
            title="Help", conversation_id=conversation.id, user_id=user_id
        )
    assert len(await helpdesk.opened()) == 1
    found = await info(harness)
    assert found is not None and found.active and found.session_id == started.session_id
    stored = await harness.runtime.context("user").list_messages(conversation.id, limit=50)
    handoffs = [m.id for m in stored.messages if m.payload.get("text") == HANDOFF]
    assert len(handoffs) == 1, "the replay stored no second handoff text"
    delivered = {m.id for m in harness.channel.outbox[conversation.id]}
    assert delivered >= set(handoffs), "redelivered at most, under the same message id"
