"""Chat channel benchmark: a message in through the public chat API and its reply on the listener.

    .venv/bin/python bench/chat.py [--messages N] [--concurrency C] [--databases sqlite,postgresql]
                                   [--listeners L] [--url http://HOST:PORT/webhooks/chat]

Each round trip posts create-message and waits for the agent's reply to arrive as a
``message_created`` signal on that conversation's event stream (``/listen``, SSE). C
conversations run a closed loop (each posts its next message once the previous reply arrived),
so the rate is what the server sustains. Measured in the same run:

- *durable floor*: a bare Starlette app serving the same four routes (users, conversations,
  listen, messages) that stores each message and its reply in one SQLite transaction (WAL,
  ``synchronous=NORMAL``) and pushes the reply to the listeners: the physics of the exchange;
  with PostgreSQL among the databases, a second floor does the same in one PostgreSQL
  transaction (asyncpg), and the PostgreSQL rows also show their ratio to it (column ``own``);
- patchwire: a real agent (a temporary agent folder served as ``patchwire serve`` would: the
  ``chat`` integration, the runtime's pipeline, the store) whose handler echoes every message,
  on SQLite and on PostgreSQL;
- the reply latency with L conversations listening at once (1,000 open streams by default).

Prints messages/s, p50/p99 round trip, the server process's CPU time per message (steadier than
wall time on a shared machine) and ratios to the floor. ``--url`` measures a running agent's
chat API instead (no floor, no CPU). ``PW_BENCH_PROFILE=FILE`` records the agent process with
py-spy (raw folded stacks) while it runs (use with one database).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
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
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

AGENT_TOML = 'name = "chat-bench"\n[integrations]\nchat = "chat@latest"\n'
AGENT_PY = """
from patchwire import Conversation


async def handler(ctx):
    await ctx.reply(f"echo: {ctx.text}")


conversation = Conversation(channel=["chat.channel"], handler=handler)
"""


@dataclass
class Conversation:
    id: str
    replies: asyncio.Queue[float] = field(default_factory=asyncio.Queue)


class Bench:
    """A chat API client: one user, its conversations, their listeners."""

    def __init__(self, url: str, http: httpx.AsyncClient) -> None:
        self.url = url.rstrip("/")
        self.http = http
        self.key = ""
        self.user_id = ""

    async def call(self, method: str, path: str, body: object = None) -> dict[str, Any]:
        response = await self.http.request(
            method, self.url + path, json=body, headers={"x-user-key": self.key}
        )
        response.raise_for_status()
        answer: dict[str, Any] = response.json()
        return answer

    async def start(self) -> None:
        created = await self.call("POST", "/users", {})
        self.key = str(created["key"])
        self.user_id = str(created["user"]["id"])

    async def conversation(self) -> Conversation:
        created = await self.call("POST", "/conversations", {})
        return Conversation(str(created["conversation"]["id"]))

    async def listen(self, conversation: Conversation, ready: asyncio.Event) -> None:
        path = f"{self.url}/conversations/{conversation.id}/listen"
        async with self.http.stream("GET", path, headers={"x-user-key": self.key}) as stream:
            ready.set()
            async for line in stream.aiter_lines():
                if not line.startswith("data: {"):
                    continue
                signal = json.loads(line[6:])
                data = signal["data"]
                if signal["type"] == "message_created" and data["userId"] != self.user_id:
                    conversation.replies.put_nowait(time.perf_counter())

    async def round_trip(self, conversation: Conversation, n: int) -> float:
        started = time.perf_counter()
        await self.call(
            "POST",
            "/messages",
            {"conversationId": conversation.id, "payload": {"type": "text", "text": f"m{n}"}},
        )
        arrived = await asyncio.wait_for(conversation.replies.get(), 30)
        return arrived - started


@contextlib.asynccontextmanager
async def listening(bench: Bench, count: int) -> AsyncIterator[list[Conversation]]:
    conversations = [await bench.conversation() for _ in range(count)]
    events = [asyncio.Event() for _ in conversations]
    tasks = [
        asyncio.create_task(bench.listen(c, e)) for c, e in zip(conversations, events, strict=True)
    ]
    await asyncio.gather(*(e.wait() for e in events))
    try:
        yield conversations
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def summary(samples: list[float], elapsed: float) -> tuple[float, float, float]:
    """Messages/s, p50 and p99 in milliseconds."""
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return len(samples) / elapsed, cuts[49] * 1000, cuts[98] * 1000


async def closed_loop(bench: Bench, messages: int, concurrency: int) -> tuple[float, float, float]:
    """C conversations, each sending its next message once the previous reply arrived."""
    remaining = iter(range(messages))
    timings: list[float] = []
    async with listening(bench, concurrency) as conversations:

        async def sender(conversation: Conversation) -> None:
            for n in remaining:
                timings.append(await bench.round_trip(conversation, n))

        started = time.perf_counter()
        await asyncio.gather(*(sender(c) for c in conversations))
        elapsed = time.perf_counter() - started
    return summary(timings, elapsed)


async def many_listening(bench: Bench, listeners: int, samples: int) -> tuple[float, float, float]:
    """One message at a time, round-robin over ``listeners`` conversations all listening."""
    async with listening(bench, listeners) as conversations:
        started = time.perf_counter()
        timings = [
            await bench.round_trip(conversations[n % len(conversations)], n) for n in range(samples)
        ]
        elapsed = time.perf_counter() - started
    return summary(timings, elapsed)


Row = tuple[str, float, float, float, float | None, float | None]


async def measure(
    name: str, url: str, args: argparse.Namespace, pid: int | None, rows: list[Row]
) -> None:
    limits = httpx.Limits(max_connections=args.listeners + 64, max_keepalive_connections=64)
    async with httpx.AsyncClient(timeout=60, limits=limits) as http:
        bench = Bench(url, http)
        await bench.start()
        await closed_loop(bench, 40, args.concurrency)  # warm up
        meter = Meter(pid) if pid else None
        if meter:
            meter.start()
        rate, p50, p99 = await closed_loop(bench, args.messages, args.concurrency)
        cpu, instructions = meter.stop(args.messages) if meter else (None, None)
        rows.append((name, rate, p50, p99, cpu, instructions))
        if args.listeners and "floor" not in name:
            rate, p50, p99 = await many_listening(bench, args.listeners, 100)
            rows.append(
                (f"  same, {args.listeners:,} conversations listening", rate, p50, p99, None, None)
            )


def serve_agent(port: int, database_url: str) -> None:
    """The echo agent (in a subprocess, so it has its own core and its own CPU count)."""
    from patchwire.server import create_app

    folder = Path(tempfile.mkdtemp(prefix="pw-bench-chat-"))
    (folder / "agent.toml").write_text(AGENT_TOML)
    (folder / "agent.py").write_text(AGENT_PY)
    app = create_app(folder, database_url=database_url)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", backlog=4096)


def serve_floor(port: int, database: str) -> None:
    """The durable floor: the chat API's four routes with nothing but the durable write."""
    floor = DurableFloor(database)
    listeners: dict[str, list[asyncio.Queue[str]]] = {}

    async def users(request: Request) -> Response:
        return JSONResponse({"key": uuid.uuid4().hex, "user": {"id": uuid.uuid4().hex}})

    async def conversations(request: Request) -> Response:
        return JSONResponse({"conversation": {"id": uuid.uuid4().hex}})

    async def listen(request: Request) -> Response:
        queue: asyncio.Queue[str] = asyncio.Queue()
        listeners.setdefault(request.path_params["id"], []).append(queue)

        async def events() -> AsyncIterator[str]:
            yield ": ready\n\n"
            while True:
                yield f"data: {await queue.get()}\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    async def messages(request: Request) -> Response:
        body = await request.json()
        conversation, text = body["conversationId"], body["payload"]["text"]
        await floor.store_exchange(conversation, text, f"echo: {text}")
        signal = json.dumps({"type": "message_created", "data": {"userId": "bot"}})
        for queue in listeners.get(conversation, []):
            queue.put_nowait(signal)
        return JSONResponse({"message": {"id": uuid.uuid4().hex}}, status_code=201)

    app = Starlette(
        routes=[
            Route("/webhooks/chat/users", users, methods=["POST"]),
            Route("/webhooks/chat/conversations", conversations, methods=["POST"]),
            Route("/webhooks/chat/conversations/{id}/listen", listen),
            Route("/webhooks/chat/messages", messages, methods=["POST"]),
        ],
        on_startup=[floor.open],
    )
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", backlog=4096)


@contextlib.asynccontextmanager
async def spawned(*arguments: str) -> AsyncIterator[tuple[str, int]]:
    """A server subprocess of this script on a free port: its chat API URL and its pid."""
    port = free_port()
    process = subprocess.Popen(server_command(__file__, *arguments, "--port", str(port)))
    url = f"http://127.0.0.1:{port}/webhooks/chat"
    try:
        async with httpx.AsyncClient() as http:
            for _ in range(300):
                with contextlib.suppress(httpx.HTTPError):
                    await http.post(f"{url}/users", json={}, timeout=1)
                    break
                await asyncio.sleep(0.1)
        yield url, process.pid
    finally:
        process.terminate()
        process.wait(10)


def print_rows(rows: list[Row], args: argparse.Namespace) -> None:
    floors = {
        label: row[1]
        for row in rows
        for label in ("SQLite", "PostgreSQL")
        if f"floor ({label}" in row[0]
    }
    floor_instructions = next((row[5] for row in rows if "floor (SQLite" in row[0]), None)
    print(
        f"{args.messages} round trips, {args.concurrency} conversations in a closed loop; rate "
        "as a ratio to the SQLite floor, and to the floor of the same database"
        + (
            "; instructions (millions per message) and their ratio to the SQLite floor's (under "
            "callgrind: rates, latencies and CPU are not the server's)"
            if floor_instructions
            else ""
        )
    )
    print(
        f"{'setup':<52}{'msg/s':>8}{'p50 ms':>9}{'p99 ms':>9}{'cpu ms':>8}{'rate':>8}{'own':>8}"
        + (f"{'Minstr':>8}{'ratio':>7}" if floor_instructions else "")
    )
    for name, rate, p50, p99, cpu, instructions in rows:
        cpu_text = f"{cpu:8.2f}" if cpu is not None else f"{'':8}"
        ratio = own = counted = ""
        if "listening" not in name and "SQLite" in floors:
            ratio = f"{rate / floors['SQLite']:7.2f}x"
            label = "PostgreSQL" if "postgresql" in name.lower() else "SQLite"
            if label in floors:
                own = f"{rate / floors[label]:7.2f}x"
        if instructions and floor_instructions:
            counted = f"{instructions:8.2f}{instructions / floor_instructions:6.2f}x"
        print(f"{name:<52}{rate:8.0f}{p50:9.1f}{p99:9.1f}{cpu_text}{ratio:>8}{own:>8}{counted}")


async def main(args: argparse.Namespace) -> None:
    rows: list[Row] = []
    if args.url:
        await measure(f"chat API at {args.url}", args.url, args, None, rows)
        print_rows(rows, args)
        return
    floor_db = str(Path(tempfile.mkdtemp(prefix="pw-bench-floor-")) / "floor.db")
    async with spawned("--serve-floor", floor_db) as (url, pid):
        await measure("baseline: durable floor (SQLite tx + SSE push)", url, args, pid, rows)
    for kind in args.databases.split(","):
        try:
            database_url, cleanup = await database_for(kind)
        except OSError as error:
            print(f"skipping {kind}: {error}")
            continue
        try:
            if kind == "postgresql":  # its floor, in a database of its own
                floor_url, floor_cleanup = await database_for(kind)
                try:
                    async with spawned("--serve-floor", floor_url) as (url, pid):
                        name = "baseline: durable floor (PostgreSQL tx + SSE push)"
                        await measure(name, url, args, pid, rows)
                finally:
                    await drop_database(floor_cleanup)
            async with spawned("--serve-agent", database_url) as (url, pid):
                profile(pid)
                await measure(f"patchwire, {kind}", url, args, pid, rows)
        finally:
            await drop_database(cleanup)
    print_rows(rows, args)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="base URL of a running chat API (default: start one)")
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--listeners", type=int, default=1000)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--serve-agent", help=argparse.SUPPRESS)
    parser.add_argument("--serve-floor", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.serve_agent:
        serve_agent(arguments.port, arguments.serve_agent)
    elif arguments.serve_floor:
        serve_floor(arguments.port, arguments.serve_floor)
    else:
        asyncio.run(main(arguments))
