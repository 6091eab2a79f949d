"""Processes sharing one PostgreSQL database wake each other and fan out broadcasts."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from patchwire.runtime import MessageContext

from .conftest import Agent

Start = Callable[..., Awaitable[Agent]]


async def wait_for(check: Callable[[], bool], seconds: float) -> float:
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < seconds, "not within the time allowed"
        await asyncio.sleep(0.01)
    return time.monotonic() - started


async def test_a_broadcast_reaches_the_alias_in_every_process(
    start_agent: Start, database_url: str
) -> None:
    one = await start_agent(lambda ctx: asyncio.sleep(0), plugins=("first",))
    two = await start_agent(lambda ctx: asyncio.sleep(0), plugins=("first",))
    heard: list[tuple[str, str, Any]] = []
    for name, agent in (("one", one), ("two", two)):
        ctx = agent.runtime.context("chat")
        ctx.on_broadcast(lambda topic, data, name=name: heard.append((name, topic, data)))
        agent.runtime.context("first").on_broadcast(
            lambda topic, data, name=name: heard.append((f"{name}:plugin", topic, data))
        )
        await agent.runtime.store.notifier.listening()
    await two.runtime.context("chat").broadcast("message_created", {"id": "m1"})
    expected = [("two", "message_created", {"id": "m1"})]
    if database_url.startswith("postgresql"):
        expected.insert(0, ("one", "message_created", {"id": "m1"}))
    await wait_for(lambda: len(heard) >= len(expected), 2)
    await asyncio.sleep(0.1)
    assert sorted(heard, key=str) == expected, "each process once, only the alias that sent it"
    with pytest.raises(ValueError, match="at most 7000 bytes"):
        await one.runtime.context("chat").broadcast("big", {"text": "x" * 8000})


async def test_work_queued_by_another_process_wakes_an_idle_worker(
    start_agent: Start, database_url: str
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite serves one process: nothing to wake across processes")
    answered: list[str] = []

    async def handler(ctx: MessageContext) -> None:
        answered.append(ctx.text)

    idle = await start_agent(handler, plugins=())
    other = await start_agent(handler, plugins=())
    stop = asyncio.Event()
    background = asyncio.create_task(idle.runtime.run_background(stop))
    await idle.runtime.ready()
    await asyncio.sleep(0.3)
    await other.receive("from the other process")  # `other` runs no background loop
    took = await wait_for(lambda: answered == ["from the other process"], 2)
    assert took < 2
    stop.set()
    await background


async def test_parallel_broadcasts_each_reach_the_other_process_once_in_order(
    start_agent: Start, database_url: str
) -> None:
    """Published at once over one LISTEN connection: none is lost, none doubled (equal
    payloads included), and each publisher's arrive in the order it sent them."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite serves one process: nothing to fan out across processes")
    one = await start_agent(lambda ctx: asyncio.sleep(0))
    two = await start_agent(lambda ctx: asyncio.sleep(0))
    heard: list[Any] = []
    two.runtime.context("chat").on_broadcast(lambda topic, data: heard.append(data))
    one.runtime.context("chat").on_broadcast(lambda topic, data: None)  # its LISTEN connection
    for agent in (one, two):
        await agent.runtime.store.notifier.listening()
    ctx = one.runtime.context("chat")

    async def publisher(n: int) -> None:
        for k in range(10):
            await ctx.broadcast("signal", {"publisher": n, "k": k})
        await ctx.broadcast("signal", {"same": True})

    await asyncio.gather(*(publisher(n) for n in range(20)))
    await wait_for(lambda: len(heard) >= 220, 5)
    await asyncio.sleep(0.2)
    assert len(heard) == 220
    assert heard.count({"same": True}) == 20
    for n in range(20):
        assert [d["k"] for d in heard if d.get("publisher") == n] == list(range(10))
