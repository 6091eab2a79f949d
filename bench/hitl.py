"""HITL relay latency and throughput, against the same pipeline without the plugin.

    .venv/bin/python bench/hitl.py [--messages N] [--sessions 100,10000]

In one process, on a SQLite store: the ``hitl`` plugin bound to the in-memory helpdesk of
``patchwire.testing.memory``, with N active sessions in the store (N - 1 written directly,
one opened through ``start_hitl``). Timed per message, from ``receive_message`` to the
integration's send call (user to agent) and to the user's channel (agent to user). Baseline:
the same runtime and store without the plugin, where the agent's handler replies to the
user's message (one message in, one out). Also prints the process's CPU time per message,
steadier than latency on a shared machine, and with ``PW_BENCH_INSTRUCTIONS=1`` the
instructions it ran per message (the script runs itself under callgrind, instrumented only
while a row is measured; see ``_common.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from _common import COUNT_INSTRUCTIONS, Meter, server_command
from sqlalchemy import insert

from patchwire.store._tables import ConversationRow, StateRow, TagRow
from patchwire.testing.hitl import HitlHarness, start_harness
from patchwire.testing.memory import MemoryHelpdesk


async def fill_sessions(harness: HitlHarness, count: int) -> None:
    now = datetime.now(UTC)
    ids = [uuid.uuid4().hex for _ in range(count)]
    rows = {
        ConversationRow: [
            {
                "id": i,
                "integration": "user",
                "channel": "channel",
                "next_sequence": 1,
                "created_at": now,
                "updated_at": now,
            }
            for i in ids
        ],
        TagRow: [
            {"kind": "conversation", "owner_id": i, "key": "hitl.downstream", "value": f"d{i}"}
            for i in ids
        ],
        StateRow: [
            {
                "scope": "conversation",
                "owner_id": i,
                "namespace": "plugin:hitl",
                "name": "session",
                "updated_at": now,
                "value": {
                    "value": {
                        "id": i,
                        "active": True,
                        "upstreamId": i,
                        "downstreamId": f"d{i}",
                        "initiatingUserId": "x",
                        "configuration": {},
                    }
                },
            }
            for i in ids
        ],
    }
    async with harness.runtime.store.engine.begin() as connection:
        for model, values in rows.items():
            await connection.execute(insert(model), values)


Row = tuple[float, float, float, float, float | None]
_UNDER_VALGRIND = "PW_BENCH_UNDER_VALGRIND"
_WARM_UP = 10


def summary(samples: list[float], meter: Meter) -> Row:
    """Messages/s, p50 and p99 in ms, CPU ms and millions of instructions per message."""
    cpu, instructions = meter.stop(len(samples))
    samples.sort()
    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
    rate = len(samples) / (sum(samples) / 1000)
    return rate, statistics.median(samples), p99, cpu, instructions


async def measure(sessions: int, messages: int, plugin: bool) -> dict[str, Row]:
    helpdesk = MemoryHelpdesk()
    directory = Path(tempfile.mkdtemp(prefix="pw-bench-hitl-"))
    harness = await start_harness(helpdesk, directory)
    results: dict[str, Row] = {}
    try:
        await fill_sessions(harness, sessions - 1)
        conversation, user_id = await harness.user_conversation()
        user_ctx = harness.runtime.context("user")
        if plugin:
            await harness.start()
            [remote] = await helpdesk.opened()

        async def up(n: int) -> float:
            started = time.perf_counter()
            await user_ctx.receive_message(
                conversation_id=conversation.id,
                user_id=user_id,
                type="text",
                payload={"text": f"u{n}"},
            )
            await harness.settle()
            return (time.perf_counter() - started) * 1000

        async def down(n: int) -> float:
            started = time.perf_counter()
            await helpdesk.reply(remote, "text", {"text": f"a{n}"}, message_id=f"a{n}")
            await harness.settle()
            return (time.perf_counter() - started) * 1000

        for n in range(_WARM_UP):  # first calls compile statements and fill caches
            await up(-1 - n)
            if plugin:
                await down(-1 - n)
        meter = Meter(os.getpid())
        meter.start()
        upward = [await up(n) for n in range(messages)]
        results["user to agent" if plugin else "message in, reply out"] = summary(upward, meter)
        if plugin:
            meter.start()
            downward = [await down(n) for n in range(messages)]
            results["agent to user"] = summary(downward, meter)
    finally:
        await harness.runtime.stop()
        await harness.runtime.store.close()
    return results


async def main(args: argparse.Namespace) -> None:
    print(
        f"{args.messages} messages per row, one at a time, SQLite"
        + ("; instructions in millions per message (under callgrind)" if COUNT_INSTRUCTIONS else "")
    )
    print(
        f"{'setup':48} {'msg/s':>7} {'p50 ms':>8} {'p99 ms':>8} {'p50 vs baseline':>16} "
        f"{'cpu ms':>7} {'cpu vs baseline':>16}"
        + (f" {'Minstr':>7} {'vs baseline':>12}" if COUNT_INSTRUCTIONS else "")
    )
    for count in (int(n) for n in args.sessions.split(",")):
        baseline = await measure(count, args.messages, plugin=False)
        relay = await measure(count, args.messages, plugin=True)
        _, base_p50, _, base_cpu, base_instructions = baseline["message in, reply out"]
        for name, (rate, p50, p99, cpu, instructions) in {**baseline, **relay}.items():
            label = f"{name}, {count:,} sessions" + (" (no plugin)" if "reply" in name else "")
            counted = (
                f" {instructions:7.2f} {instructions / base_instructions:11.2f}x"
                if instructions and base_instructions
                else ""
            )
            print(
                f"{label:48} {rate:7.0f} {p50:8.1f} {p99:8.1f} {p50 / base_p50:15.2f}x "
                f"{cpu:7.2f} {cpu / base_cpu:15.2f}x{counted}"
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--sessions", default="100,10000")
    if COUNT_INSTRUCTIONS and not os.environ.get(_UNDER_VALGRIND):
        # Measured in this process: run it again under callgrind.
        command = server_command(__file__, *sys.argv[1:])
        os.execvpe(command[0], command, {**os.environ, _UNDER_VALGRIND: "1"})
    asyncio.run(main(parser.parse_args()))
