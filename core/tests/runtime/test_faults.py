"""The runtime under faults, in one process: each case counts what the user and the outside
system saw (nothing lost, nothing twice, order kept). Process kills and real outside outages
are in tests/test_faults.py."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest
import sqlalchemy.exc
from sqlalchemy import func, select

from patchwire import ReportedError
from patchwire._config import DEFAULT_ERROR_TEXT
from patchwire.runtime import MessageContext
from patchwire.store._tables import EventRow, ScheduledEventRow

from .conftest import Agent, counting_statements

Start = Callable[..., Awaitable[Agent]]


async def settle(agent: Agent, until: Callable[[], bool], seconds: float = 10) -> None:
    """Process work (retries included) until ``until()`` holds."""
    deadline = time.monotonic() + seconds
    while not until():
        assert time.monotonic() < deadline, "work did not settle in time"
        await agent.runtime.process_pending()
        await asyncio.sleep(0.05)


def texts(agent: Agent) -> list[str]:
    return [str(m.payload.get("text")) for m in agent.recorder.sent]


async def test_a_raising_handler_runs_once_tells_the_user_once_and_the_next_is_answered(
    start_agent: Start,
) -> None:
    calls: list[str] = []

    async def handler(ctx: MessageContext) -> None:
        calls.append(ctx.text)
        if ctx.text == "bad":
            raise ValueError("handler bug")
        await ctx.reply(f"re: {ctx.text}")

    agent = await start_agent(handler, plugins=())
    await agent.receive("bad")
    await agent.receive("good")
    await agent.runtime.process_pending()
    await agent.runtime.process_pending()
    assert calls == ["bad", "good"], "the failing handler is not run again"
    assert texts(agent) == [DEFAULT_ERROR_TEXT, "re: good"]
    [(job, error)] = await agent.runtime.store.failed_jobs()
    assert job.kind == "message" and "ValueError: handler bug" in error
    assert "Traceback" in error, "the operator sees where it failed"


async def test_a_handler_that_replies_then_raises_shows_its_reply_once(start_agent: Start) -> None:
    async def handler(ctx: MessageContext) -> None:
        await ctx.reply("working on it")
        raise RuntimeError("then a bug")

    agent = await start_agent(handler, plugins=(), runtime={"errorText": "Oops, try again."})
    await agent.receive("hi")
    for _ in range(3):
        await agent.runtime.process_pending()
    assert texts(agent) == ["working on it", "Oops, try again."]
    stored = await agent.runtime.context("chat").list_messages(
        agent.recorder.sent[0].conversation_id, newest_first=False
    )
    assert [m.status for m in stored.messages] == ["received", "sent", "sent"]


async def test_a_reported_error_adds_no_error_text_and_empty_text_sends_none(
    start_agent: Start,
) -> None:
    async def handler(ctx: MessageContext) -> None:
        if ctx.text == "reported":
            await ctx.reply("Sorry, the helpdesk is unreachable.")
            raise ReportedError("helpdesk unreachable")
        raise ValueError("silent")

    agent = await start_agent(handler, plugins=())
    await agent.receive("reported")
    await agent.runtime.process_pending()
    assert texts(agent) == ["Sorry, the helpdesk is unreachable."]
    quiet = await start_agent(handler, plugins=(), runtime={"errorText": ""})
    quiet.recorder.sent.clear()
    await quiet.receive("other", conversation="c2")
    await quiet.runtime.process_pending()
    assert texts(quiet) == []
    assert len(await quiet.runtime.store.failed_jobs()) == 2


async def test_replies_wait_in_order_while_the_outside_system_is_down(start_agent: Start) -> None:
    async def handler(ctx: MessageContext) -> None:
        await ctx.reply(f"re: {ctx.text}")

    agent = await start_agent(handler, plugins=(), runtime={"maxRetrySeconds": 0.2})
    agent.recorder.down = True
    for n in range(10):
        await agent.receive(str(n))
    await agent.runtime.process_pending()
    assert texts(agent) == []
    assert len(set(agent.recorder.attempts)) == 1, "later replies queue behind the first"
    await asyncio.sleep(0.5)
    await agent.runtime.process_pending()  # still down: the deliver job backs off
    assert texts(agent) == [] and len(set(agent.recorder.attempts)) == 1
    agent.recorder.down = False
    await settle(agent, lambda: len(agent.recorder.sent) == 10)
    assert texts(agent) == [f"re: {n}" for n in range(10)]
    delivered = [m.id for m in agent.recorder.sent]
    assert len(set(delivered)) == 10
    assert set(agent.recorder.attempts) == set(delivered), "retries reuse the message id"
    assert await agent.runtime.store.failed_jobs() == []
    assert not await agent.runtime.store.jobs(), "the queue is empty again"


async def test_a_message_never_delivered_is_failed_reported_and_can_be_retried(
    start_agent: Start,
) -> None:
    agent = await start_agent(
        lambda ctx: ctx.reply("lost?"),
        plugins=("first",),
        runtime={"deliveryRetryHours": 0.5 / 3600, "maxRetrySeconds": 0.1},
    )
    agent.recorder.down = True
    await agent.receive("hi")
    await settle(agent, lambda: "first:failed:lost?" in agent.recorder.seen)
    [(job, error)] = await agent.runtime.store.failed_jobs()
    assert job.kind == "deliver" and "still undeliverable" in error
    assert texts(agent) == []
    agent.recorder.down = False
    assert await agent.runtime.store.retry_job(job.id)
    await settle(agent, lambda: len(agent.recorder.sent) == 1)
    assert texts(agent) == ["lost?"]
    assert await agent.runtime.store.failed_jobs() == []


async def test_a_refused_message_fails_at_once_and_the_handler_hears_of_it(
    start_agent: Start,
) -> None:
    async def handler(ctx: MessageContext) -> None:
        await ctx.reply("explode")

    agent = await start_agent(handler, plugins=())
    await agent.receive("hi")
    await agent.runtime.process_pending()
    [(_, error)] = await agent.runtime.store.failed_jobs()
    assert "DeliveryError" in error and "refused it" in error
    assert texts(agent) == [DEFAULT_ERROR_TEXT]


async def test_a_job_that_runs_again_repeats_none_of_its_effects(start_agent: Start) -> None:
    runs: list[int] = []

    async def handler(ctx: MessageContext) -> None:
        runs.append(1)
        await ctx.reply("first reply")
        echoed = await ctx.integrations.chat.actions.echo(text="x")
        await ctx.schedule_event("later", {}, after=3600, conversation_id=ctx.conversation.id)
        await ctx.emit_event("noted", {"echo": echoed.echoed}, conversation_id=ctx.conversation.id)
        if len(runs) == 1:
            raise sqlalchemy.exc.OperationalError("UPDATE ...", {}, Exception("disk I/O error"))
        await ctx.reply("second reply")

    agent = await start_agent(handler, plugins=())
    await agent.receive("go")
    await settle(agent, lambda: len(runs) == 2 and not agent.runtime._tasks, seconds=15)
    await agent.runtime.process_pending()
    assert texts(agent) == ["first reply", "second reply"]
    assert agent.recorder.echoes == 1, "the action's recorded result was replayed"
    async with agent.runtime.store.engine.connect() as session:
        timers = await session.scalar(select(func.count()).select_from(ScheduledEventRow))
        events = await session.scalar(
            select(func.count()).where(EventRow.type == "agent.noted").select_from(EventRow)
        )
    assert (timers, events) == (1, 1)
    assert await agent.runtime.store.failed_jobs() == []


async def test_a_timer_without_conversation_is_delivered_once(start_agent: Start) -> None:
    agent = await start_agent(lambda ctx: asyncio.sleep(0), plugins=("first",))
    await agent.runtime.context("first").schedule_event("tick", {}, after=0)
    await agent.runtime.process_pending()
    await agent.runtime.process_pending()
    assert agent.recorder.seen.count("first:event:first.tick") == 1


async def test_an_idle_runtime_runs_no_queries(start_agent: Start) -> None:
    agent = await start_agent(lambda ctx: ctx.reply("ok"), plugins=())
    stop = asyncio.Event()
    background = asyncio.create_task(agent.runtime.run_background(stop))
    await agent.receive("hi")
    deadline = time.monotonic() + 5
    while not agent.recorder.sent:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.3)
    with counting_statements() as statements:
        await asyncio.sleep(2.5)
    assert statements == []
    await agent.receive("again")
    deadline = time.monotonic() + 5
    while len(agent.recorder.sent) < 2:
        assert time.monotonic() < deadline, "a new message wakes the idle worker"
        await asyncio.sleep(0.02)
    stop.set()
    await background


async def test_a_running_job_keeps_its_lease_and_a_dead_workers_job_is_taken(
    start_agent: Start, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import timedelta

    from patchwire.runtime import _runtime

    monkeypatch.setattr(_runtime, "JOB_LEASE", timedelta(seconds=0.6))
    monkeypatch.setattr(_runtime, "HEARTBEAT_SECONDS", 0.1)
    started: list[str] = []

    async def slow(ctx: MessageContext) -> None:
        started.append(ctx._runtime.worker_id)
        await asyncio.sleep(1.5)
        await ctx.reply("done")

    one = await start_agent(slow, plugins=())
    two = await start_agent(slow, plugins=())
    for agent, name in ((one, "one"), (two, "two")):
        agent.runtime.worker_id = name
    stops = [asyncio.Event(), asyncio.Event()]
    loops = [
        asyncio.create_task(agent.runtime.run_background(stop))
        for agent, stop in zip((one, two), stops, strict=True)
    ]
    await one.receive("x")
    deadline = time.monotonic() + 10
    while not one.recorder.sent:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    assert len(started) == 1, "a job whose worker is alive is never taken over"
    for stop in stops:
        stop.set()
    await asyncio.gather(*loops)


async def test_a_rerun_that_skips_a_call_still_replays_the_calls_after_it(
    start_agent: Start,
) -> None:
    """Keys follow the call, not its position: state changed between the runs, the second run
    skips the first call, and the next call still gets its own recorded result."""
    runs: list[str] = []

    async def handler(ctx: MessageContext) -> None:
        first = not runs
        if first:
            await ctx.integrations.chat.actions.echo(text="link the user")
        echoed = await ctx.integrations.chat.actions.echo(text="open the session")
        runs.append(echoed.echoed)
        if first:
            raise sqlalchemy.exc.OperationalError("COMMIT", {}, Exception("disk I/O error"))

    agent = await start_agent(handler, plugins=())
    await agent.receive("go")
    await settle(agent, lambda: len(runs) == 2 and not agent.runtime._tasks, seconds=15)
    assert runs == ["chat:open the session", "chat:open the session"]
    assert agent.recorder.echoes == 2, "each call ran once; the rerun replayed the second"
