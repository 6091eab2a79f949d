"""What one store transaction costs: our transaction body against SQLAlchemy's AsyncSession.

    .venv/bin/python bench/store.py [--transactions N]

Same SQLite file, same two prebuilt UPDATE statements per transaction, in one process. The
baseline is the same transaction written with ``AsyncSession`` (what the store used before
issue 13); the second row is ``Store._write`` (one synchronous body in one greenlet,
``store/_transactions.py``); the third is a message in and its reply out through the store
alone (receive with the claim, store the reply, complete), the pipeline's database work
without HTTP. Prints CPU microseconds per transaction (or message) and the ratio to the
baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

from sqlalchemy import bindparam, update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import async_sessionmaker

from patchwire.store import Job, Store
from patchwire.store._tables import MessageRow, table

MESSAGES = table(MessageRow)
STATUS = update(MESSAGES).where(MESSAGES.c.id == bindparam("i")).values(status=bindparam("s"))


async def cpu_per_call(calls: int, call: Callable[[int], Awaitable[object]]) -> float:
    for n in range(min(200, calls)):
        await call(n)
    started = time.process_time()
    for n in range(calls):
        await call(n)
    return (time.process_time() - started) / calls * 1e6


async def main(args: argparse.Namespace) -> None:
    store = await Store.open(path=Path(tempfile.mkdtemp(prefix="pw-bench-store-")) / "s.db")
    sessions = async_sessionmaker(store.engine)

    async def with_session(_n: int) -> None:
        async with sessions.begin() as session:
            await session.execute(STATUS, {"i": "a", "s": "x"})
            await session.execute(STATUS, {"i": "b", "s": "x"})

    def body(connection: Connection) -> None:
        connection.execute(STATUS, {"i": "a", "s": "x"})
        connection.execute(STATUS, {"i": "b", "s": "x"})

    async def with_body(_n: int) -> None:
        await store._write(body)

    conversation = await store.create_conversation(integration="bench", channel="c")
    lease = timedelta(seconds=10)

    async def message(n: int) -> None:
        jobs: list[Job] = []
        received = await store.receive(
            conversation_id=conversation.id,
            user_id=None,
            type="text",
            payload={"text": f"m{n}"},
            claim_for=("bench", lease),
            claimed=jobs.append,
        )
        assert received is not None and jobs
        reply = await store.create_outgoing(
            conversation_id=conversation.id,
            user_id=None,
            type="text",
            payload={"text": "re"},
            effect_key=f"{received.id}:send/1",
        )
        await store.complete_job(jobs[0], sent=[reply.id], then_claim=("bench", lease))

    baseline = await cpu_per_call(args.transactions, with_session)
    rows = [
        ("baseline: AsyncSession, 2 statements", baseline),
        ("Store._write, 2 statements", await cpu_per_call(args.transactions, with_body)),
        (
            "message in, reply out (3 transactions, 10 statements)",
            await cpu_per_call(args.transactions // 2, message),
        ),
    ]
    await store.close()
    print(f"SQLite, CPU per call, {args.transactions} calls")
    for name, micros in rows:
        print(f"{name:<56}{micros:9.0f} µs{micros / baseline:8.2f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transactions", type=int, default=4000)
    asyncio.run(main(parser.parse_args()))
