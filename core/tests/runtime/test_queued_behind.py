"""A message that arrives while its conversation's job runs here waits for that job's chain.

No other process could run it before the running job ends, so it is neither claimed on its own
nor announced: the chain's next claim takes it. Counted on both backends: every message handled
once, in order, with no claim transaction and no notification of its own; and when the chain's
last claim came just before the message was stored, the chain's end claims it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from patchwire.runtime import MessageContext

from .conftest import Agent, counting_statements

Start = Callable[..., Awaitable[Agent]]


async def _until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.005)


def _count_claims(agent: Agent) -> list[int]:
    """Calls of the background loop's own claim (``claim_next_job``), counted."""
    store = agent.runtime.store
    calls: list[int] = []
    original = store.claim_next_job

    async def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return await original(*args, **kwargs)

    store.claim_next_job = counted  # type: ignore[method-assign]
    return calls


async def _echo_agent(start_agent: Start, handled: list[str]) -> Agent:
    """An agent answering every message, noting each text it handled in ``handled``."""

    async def handler(ctx: MessageContext) -> None:
        handled.append(ctx.text)
        await ctx.reply(f"re: {ctx.text}")

    return await start_agent(handler, plugins=())


async def test_messages_behind_a_running_job_are_taken_by_its_chain(start_agent: Start) -> None:
    release = asyncio.Event()
    handled: list[str] = []

    async def handler(ctx: MessageContext) -> None:
        if ctx.text == "first":
            await release.wait()
        handled.append(ctx.text)
        await ctx.reply(f"re: {ctx.text}")

    agent = await start_agent(handler, plugins=())
    stop = asyncio.Event()
    background = asyncio.create_task(agent.runtime.run_background(stop))
    await agent.runtime.ready()
    try:
        await agent.receive("first")
        await _until(lambda: bool(agent.runtime._tasks), "the first job never started")
        claims = _count_claims(agent)
        with counting_statements() as statements:
            for text in ("second", "third", "fourth"):
                await agent.receive(text)
            release.set()
            await _until(lambda: len(agent.recorder.sent) == 4, "a reply is missing")
            await _until(lambda: not agent.runtime._tasks, "the chain did not end")
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await background
    assert handled == ["first", "second", "third", "fourth"]
    assert [m.payload["text"] for m in agent.recorder.sent] == [
        "re: first",
        "re: second",
        "re: third",
        "re: fourth",
    ]
    assert claims == [], "a message behind the running job was claimed on its own"
    notifications = [s for s in statements if "pg_notify" in s.lower()]
    assert notifications == [], notifications
    assert await agent.runtime.store.jobs() == []


async def test_a_message_stored_after_the_chains_last_claim_is_claimed_at_its_end(
    start_agent: Start,
) -> None:
    """On PostgreSQL a receiving transaction can miss the running job's end (its claim ran
    first) while that job's last claim missed the message (not committed yet). Played here in
    that order: the chain's last claim finds nothing, then the message is stored unclaimed and
    unannounced while the chain still runs. Its end must claim it."""
    handled: list[str] = []
    agent = await _echo_agent(start_agent, handled)
    runtime, store = agent.runtime, agent.runtime.store
    complete = store.complete_job
    late: list[bool] = []

    async def complete_then_receive(*args: Any, **kwargs: Any) -> Any:
        following = await complete(*args, **kwargs)
        if not late:
            job = args[0]
            late.append(runtime.runs_here(job.conversation_id))
            await store.receive(
                conversation_id=job.conversation_id,
                user_id=None,
                type="text",
                payload={"text": "late"},
                unclaimed=lambda: runtime.queued_behind(job.conversation_id),
            )
        return following

    store.complete_job = complete_then_receive  # type: ignore[method-assign]
    stop = asyncio.Event()
    background = asyncio.create_task(runtime.run_background(stop))
    await runtime.ready()
    await asyncio.sleep(0.2)  # the loop's first look for work is over: it has nothing to miss
    try:
        await agent.receive("first")
        await _until(lambda: len(agent.recorder.sent) == 2, "the late message was left behind")
    finally:
        stop.set()
        await background
    assert late == [True], "the late message did not arrive while the chain still ran"
    assert handled == ["first", "late"]
    assert await store.jobs() == []


async def test_the_end_of_a_chain_claims_in_its_own_conversation(start_agent: Start) -> None:
    """The job behind a chain that ended is claimed in its conversation, not by a wake: a
    wake's claim takes the oldest runnable job of any conversation, so an older job elsewhere
    (here one stored unannounced just before) would take its place and leave it waiting for
    the next look (a minute on PostgreSQL)."""
    handled: list[str] = []
    agent = await _echo_agent(start_agent, handled)
    runtime, store = agent.runtime, agent.runtime.store
    elsewhere = await store.create_conversation(integration="chat", channel="channel")
    complete = store.complete_job
    late: list[bool] = []

    async def complete_then_receive(*args: Any, **kwargs: Any) -> Any:
        following = await complete(*args, **kwargs)
        job = args[0]
        if not late:
            late.append(runtime.runs_here(job.conversation_id))
            for conversation, text, unclaimed in (
                (elsewhere.id, "elsewhere", lambda: None),  # older, and nobody is told
                (job.conversation_id, "late", lambda: runtime.queued_behind(job.conversation_id)),
            ):
                await store.receive(
                    conversation_id=conversation,
                    user_id=None,
                    type="text",
                    payload={"text": text},
                    unclaimed=unclaimed,
                )
        return following

    store.complete_job = complete_then_receive  # type: ignore[method-assign]
    stop = asyncio.Event()
    background = asyncio.create_task(runtime.run_background(stop))
    await runtime.ready()
    await asyncio.sleep(0.2)  # the loop's first look for work is over
    try:
        await agent.receive("first")
        await _until(lambda: "late" in handled, "the late message was left for the next look")
    finally:
        stop.set()
        await background
    assert late == [True], "the late message did not arrive while the chain still ran"
    assert handled[:2] == ["first", "late"], handled
