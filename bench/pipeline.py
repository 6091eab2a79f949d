"""Webhook in, through hooks and an agent handler, to an outgoing HTTP POST at a sink.

    .venv/bin/python bench/pipeline.py [--messages N] [--concurrency C] [--conversations 100,10000]
                                       [--databases sqlite,postgresql]

The agent runs in its own process (uvicorn): an in-memory integration whose webhook stores the
message and whose sender POSTs the reply to a local sink, one plugin with before/after hooks,
and a handler that replies. Baselines run in the same run, each a bare Starlette endpoint in
its own process: *bare* does one httpx POST to the same sink; *durable floor* first stores the
incoming message and its reply in one SQLite transaction (WAL, ``synchronous=NORMAL``, aiosqlite
like our store), which is the physics of a durable write: the ratio to it is what our design
costs. With PostgreSQL among the databases, a second floor does the same in one PostgreSQL
transaction (asyncpg), and the PostgreSQL rows also show their ratio to it (column ``own``):
the same physics over a network connection to a database server. The store is filled with N
conversations first, to show that the cost per message does not grow with N. Senders run a
closed loop (the next message goes once the previous one reached the sink). Prints messages/s,
p50 and p99 latency (webhook sent to sink received), the server process's CPU time per message
(steadier than wall time on a shared machine), and ratios to the durable floors.
``PW_BENCH_PROFILE=FILE`` records the agent process with py-spy (raw folded
stacks) while it runs.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from _common import (
    DurableFloor,
    Meter,
    database_for,
    drop_database,
    free_port,
    profile,
    server_command,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

AGENT_TOML = """\
name = "bench"
[integrations]
hook = "benchhook@latest"
[plugins.watch]
version = "benchwatch@latest"
"""
AGENT_PY = """
from patchwire import Conversation

async def handler(ctx):
    await ctx.reply(ctx.text)

conversation = Conversation(channel=["hook.channel"], handler=handler)
"""


_LABELS = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}


def build_catalog(sink: str) -> Any:
    """The bench integration and plugin, built in the agent process."""
    from patchwire import (
        Catalog,
        ChannelDefinition,
        Integration,
        IntegrationDefinition,
        Plugin,
        PluginDefinition,
    )
    from patchwire.messages import TextPayload

    integration = Integration(
        IntegrationDefinition(
            name="benchhook",
            version="1.0.0",
            channels={"channel": ChannelDefinition(messages={"text": TextPayload})},
        )
    )
    client = httpx.AsyncClient(timeout=30)

    @integration.routes
    def routes(ctx: Any) -> list[Route]:
        async def webhook(request: Request) -> Response:
            body = await request.json()
            conversation = await ctx.get_or_create_conversation(
                channel="channel", tags={"id": body["conversation"]}
            )
            await ctx.receive_message(
                conversation_id=conversation.id,
                user_id=None,
                type="text",
                payload={"text": body["text"]},
                dedupe_key=body["id"],
            )
            return JSONResponse({"ok": True})

        return [Route("/", webhook, methods=["POST"])]

    @integration.sender("channel", "text")
    async def send(ctx: Any, message: Any) -> None:
        await client.post(sink, json={"text": message.payload["text"]})

    plugin = Plugin(PluginDefinition(name="benchwatch", version="1.0.0"))

    @plugin.hook
    async def before_incoming_message(ctx: Any, message: Any) -> None:
        return None

    @plugin.hook
    async def after_incoming_message(ctx: Any, message: Any) -> None:
        return None

    return Catalog.from_objects(integrations=[integration], plugins=[plugin])


def serve_agent(folder: str, port: int, sink: str, database_url: str) -> None:
    from patchwire.server import create_app

    app = create_app(Path(folder), database_url=database_url, catalog=build_catalog(sink))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


def serve_baseline(port: int, sink: str) -> None:
    client = httpx.AsyncClient(timeout=30)

    async def endpoint(request: Request) -> Response:
        body = await request.json()
        await client.post(sink, json={"text": body["text"]})
        return JSONResponse({"ok": True})

    app = Starlette(routes=[Route("/webhooks/hook", endpoint, methods=["POST"])])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


def serve_durable(port: int, sink: str, database: str) -> None:
    client = httpx.AsyncClient(timeout=30)
    floor = DurableFloor(database)

    async def endpoint(request: Request) -> Response:
        body = await request.json()
        if "text" not in body:
            return JSONResponse({"ok": True})
        await floor.store_exchange(body["conversation"], body["text"], body["text"])
        await client.post(sink, json={"text": body["text"]})
        return JSONResponse({"ok": True})

    app = Starlette(
        routes=[Route("/webhooks/hook", endpoint, methods=["POST"])], on_startup=[floor.open]
    )
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


async def fill_store(database_url: str, conversations: int) -> list[str]:
    """Create the agent's conversations directly in its store (ids as the webhook tags them)."""
    from sqlalchemy import insert, text

    from patchwire.store import Store
    from patchwire.store._tables import ConversationRow, TagRow

    store = await Store.open(database_url)
    ids = [uuid.uuid4().hex for _ in range(conversations)]
    now = datetime.now(UTC)
    async with store.engine.begin() as connection:
        await connection.execute(
            insert(ConversationRow),
            [
                {
                    "id": i,
                    "integration": "hook",
                    "channel": "channel",
                    "next_sequence": 1,
                    "created_at": now,
                    "updated_at": now,
                }
                for i in ids
            ],
        )
        await connection.execute(
            insert(TagRow),
            [{"kind": "conversation", "owner_id": i, "key": "id", "value": i} for i in ids],
        )
    if store.backend == "postgresql":
        # After a bulk load, as an operator would (autovacuum does within a minute): without
        # statistics PostgreSQL may plan the lookup by tag on the wrong index and scan every
        # tag of the key, 100 times slower at 10,000 conversations.
        async with store.engine.connect() as connection:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            await autocommit.execute(text("ANALYZE"))
    await store.close()
    return ids


class Sink:
    """Receives the outgoing POSTs and wakes the sender waiting for each text."""

    def __init__(self) -> None:
        self.waiting: dict[str, asyncio.Future[int]] = {}

    async def endpoint(self, request: Request) -> Response:
        text = (await request.json())["text"]
        future = self.waiting.pop(text, None)
        if future is not None and not future.done():
            future.set_result(time.perf_counter_ns())
        return Response(status_code=204)


async def wait_healthy(url: str) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(300):
            try:
                await client.post(url, json={"ping": True}, timeout=1)
                return
            except httpx.HTTPError:
                await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


async def drive(
    sink: Sink, url: str, conversations: list[str], messages: int, concurrency: int
) -> tuple[float, float, float]:
    """Closed loop: each sender posts its next message once the sink got the previous one."""
    latencies: list[float] = []
    remaining = list(range(messages))
    rng = random.Random(7)
    loop = asyncio.get_running_loop()
    async with httpx.AsyncClient(timeout=60) as client:

        async def sender() -> None:
            while remaining:
                index = remaining.pop()
                text = f"m{index}-{uuid.uuid4().hex[:6]}"
                arrived: asyncio.Future[int] = loop.create_future()
                sink.waiting[text] = arrived
                body = {"conversation": rng.choice(conversations), "text": text, "id": text}
                started = time.perf_counter_ns()
                await client.post(url, json=body)
                latencies.append((await asyncio.wait_for(arrived, 60) - started) / 1e6)

        began = time.perf_counter()
        await asyncio.gather(*(sender() for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return messages / elapsed, statistics.median(latencies), p99


async def main(args: argparse.Namespace) -> None:
    sink = Sink()
    sink_port = free_port()
    sink_server = uvicorn.Server(
        uvicorn.Config(
            Starlette(routes=[Route("/", sink.endpoint, methods=["POST"])]),
            port=sink_port,
            log_level="warning",
        )
    )
    sink_task = asyncio.create_task(sink_server.serve())
    sink_url = f"http://127.0.0.1:{sink_port}/"
    rows: list[tuple[str, float, float, float, float, float | None]] = []

    def spawn(*extra: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(server_command(__file__, *extra))

    async def measure(
        name: str, process: subprocess.Popen[bytes], url: str, conversations: list[str]
    ) -> None:
        await drive(sink, url, conversations, 50, args.concurrency)
        meter = Meter(process.pid)
        meter.start()
        rate, p50, p99 = await drive(sink, url, conversations, args.messages, args.concurrency)
        cpu, instructions = meter.stop(args.messages)
        rows.append((name, rate, p50, p99, cpu, instructions))

    floors = ["sqlite"] + (["postgresql"] if "postgresql" in args.databases.split(",") else [])
    for name, kind in [("baseline: bare (one httpx POST)", None)] + [
        (f"baseline: durable floor ({_LABELS[kind]} tx + POST)", kind) for kind in floors
    ]:
        port = free_port()
        cleanup = None
        if kind == "sqlite":
            database = str(Path(tempfile.mkdtemp(prefix="pw-bench-floor-")) / "floor.db")
            baseline = spawn("--serve-durable", str(port), sink_url, database)
        elif kind == "postgresql":
            database, cleanup = await database_for(kind)
            baseline = spawn("--serve-durable", str(port), sink_url, database)
        else:
            baseline = spawn("--serve-baseline", str(port), sink_url)
        try:
            await wait_healthy(f"http://127.0.0.1:{port}/healthz")
            await measure(name, baseline, f"http://127.0.0.1:{port}/webhooks/hook", ["x"])
        finally:
            baseline.terminate()
            baseline.wait()
            await drop_database(cleanup)
    for kind in args.databases.split(","):
        for count in (int(n) for n in args.conversations.split(",")):
            database_url, cleanup = await database_for(kind)
            folder = tempfile.mkdtemp(prefix="pw-bench-agent-")
            Path(folder, "agent.toml").write_text(AGENT_TOML)
            Path(folder, "agent.py").write_text(AGENT_PY)
            from patchwire.store import Store

            await (await Store.open(database_url)).close()
            conversations = await fill_store(database_url, count)
            port = free_port()
            agent = spawn("--serve-agent", folder, str(port), sink_url, database_url)
            profile(agent.pid)
            try:
                await wait_healthy(f"http://127.0.0.1:{port}/healthz")
                url = f"http://127.0.0.1:{port}/webhooks/hook"
                name = f"patchwire, {kind}, {count:,} conversations"
                await measure(name, agent, url, conversations)
            finally:
                agent.terminate()
                agent.wait()
                await drop_database(cleanup)
    sink_server.should_exit = True
    await sink_task
    floor_rate, floor_p50, floor_instructions = rows[1][1], rows[1][2], rows[1][5]
    own_floors = {kind: row[1] for kind, row in zip(floors, rows[1:], strict=False)}
    print(
        f"{args.messages} messages, {args.concurrency} concurrent senders; rate and p50 as ratios "
        "to the SQLite floor, and rate to the floor of the same database"
        + (
            "; instructions (millions per message) and their ratio to the SQLite floor's"
            " (under callgrind: rates, latencies and CPU are not the server's)"
            if floor_instructions
            else ""
        )
    )
    print(
        f"{'setup':44} {'msg/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'cpu ms':>7} "
        f"{'rate':>7} {'p50':>7} {'own':>7}"
        + (f" {'Minstr':>7} {'ratio':>6}" if floor_instructions else "")
    )
    for name, rate, p50, p99, cpu, instructions in rows:
        kind = next((k for k in floors if _LABELS[k] in name or f", {k}," in name), None)
        own = f"{rate / own_floors[kind]:6.2f}x" if kind in own_floors else ""
        counted = (
            f" {instructions:7.2f} {instructions / floor_instructions:5.2f}x"
            if instructions and floor_instructions
            else ""
        )
        print(
            f"{name:44} {rate:8.0f} {p50:8.1f} {p99:8.1f} {cpu:7.2f} "
            f"{rate / floor_rate:6.2f}x {p50 / floor_p50:6.1f}x {own:>7}{counted}"
        )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--serve-agent":
        serve_agent(*sys.argv[2:3], int(sys.argv[3]), *sys.argv[4:6])
    elif len(sys.argv) > 1 and sys.argv[1] == "--serve-baseline":
        serve_baseline(int(sys.argv[2]), sys.argv[3])
    elif len(sys.argv) > 1 and sys.argv[1] == "--serve-durable":
        serve_durable(int(sys.argv[2]), sys.argv[3], sys.argv[4])
    else:
        parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
        parser.add_argument("--messages", type=int, default=500)
        parser.add_argument("--concurrency", type=int, default=8)
        parser.add_argument("--conversations", default="100,10000")
        parser.add_argument("--databases", default="sqlite,postgresql")
        asyncio.run(main(parser.parse_args()))
