"""Chat channel benchmark: reply latency seen by listeners, and create-message throughput.

Measures, against a running agent whose handler replies to every message:
- the time from sending create-message to the agent's reply reaching a listener of that
  conversation (p50/p99), with 1 and with N (default 1,000) conversations listening at once;
- the create-message requests per second the API accepts (concurrent senders).

Usage:
    .venv/bin/python bench/chat.py                  # starts a local agent in a subprocess
    .venv/bin/python bench/chat.py --url http://127.0.0.1:8080/webhooks/chat

The local agent is a real one (a temporary agent folder served like ``patchwire serve``: the
``chat`` integration, the runtime's pipeline, a SQLite store) whose handler echoes every
message; ``--url`` measures any other running agent instead.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

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
    def __init__(self, url: str, http: httpx.AsyncClient) -> None:
        self.url = url.rstrip("/")
        self.http = http
        self.key = ""
        self.user_id = ""

    async def call(self, method: str, path: str, body: object = None) -> dict[str, object]:
        response = await self.http.request(
            method, self.url + path, json=body, headers={"x-user-key": self.key}
        )
        response.raise_for_status()
        answer: dict[str, object] = response.json()
        return answer

    async def start(self) -> None:
        created = await self.call("POST", "/users", {})
        self.key = str(created["key"])
        self.user_id = str(created["user"]["id"])  # type: ignore[index]

    async def conversation(self) -> Conversation:
        created = await self.call("POST", "/conversations", {})
        return Conversation(str(created["conversation"]["id"]))  # type: ignore[index]

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


def percentiles(samples: list[float]) -> str:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return f"p50 {cuts[49] * 1000:7.1f} ms   p99 {cuts[98] * 1000:7.1f} ms   (n={len(samples)})"


async def latency(bench: Bench, listeners: int, samples: int) -> str:
    async with listening(bench, listeners) as conversations:
        timings = [
            await bench.round_trip(conversations[n % len(conversations)], n) for n in range(samples)
        ]
    return percentiles(timings)


async def throughput(bench: Bench, total: int, concurrency: int) -> float:
    conversations = [await bench.conversation() for _ in range(concurrency)]
    counter = iter(range(total))

    async def sender(conversation: Conversation) -> None:
        for n in counter:
            await bench.call(
                "POST",
                "/messages",
                {"conversationId": conversation.id, "payload": {"type": "text", "text": f"t{n}"}},
            )

    started = time.perf_counter()
    await asyncio.gather(*(sender(c) for c in conversations))
    return total / (time.perf_counter() - started)


async def measure(url: str, args: argparse.Namespace) -> None:
    limits = httpx.Limits(max_connections=args.listeners + 64, max_keepalive_connections=64)
    async with httpx.AsyncClient(timeout=60, limits=limits) as http:
        bench = Bench(url, http)
        await bench.start()
        print(f"chat benchmark against {url}")
        print(
            f"reply latency, 1 conversation listening:      {await latency(bench, 1, args.samples)}"
        )
        many = await latency(bench, args.listeners, args.samples)
        print(f"reply latency, {args.listeners} conversations listening: {many}")
        rate = await throughput(bench, args.messages, args.concurrency)
        senders = f"{args.concurrency} concurrent senders"
        print(f"create-message accepted: {rate:8.0f} messages/s ({senders})")


def serve(port: int) -> None:
    """Run the echo agent (called in a subprocess, so it has its own core)."""
    import tempfile

    import uvicorn

    from patchwire.server import create_app

    folder = Path(tempfile.mkdtemp(prefix="pw-bench-chat-"))
    (folder / "agent.toml").write_text(AGENT_TOML)
    (folder / "agent.py").write_text(AGENT_PY)
    uvicorn.run(create_app(folder), host="127.0.0.1", port=port, log_level="warning", backlog=4096)


@contextlib.contextmanager
def local_agent() -> Iterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen([sys.executable, __file__, "--serve", str(port)])
    try:
        for _ in range(100):
            with contextlib.suppress(httpx.HTTPError):
                httpx.get(f"http://127.0.0.1:{port}/webhooks/chat/hello")
                break
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/webhooks/chat"
    finally:
        process.terminate()
        process.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="base URL of a running chat API (default: start one)")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--listeners", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
    elif args.url:
        asyncio.run(measure(args.url, args))
    else:
        with local_agent() as url:
            asyncio.run(measure(url, args))


if __name__ == "__main__":
    main()
