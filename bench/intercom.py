"""Intercom relay latency and throughput, against the same HTTP calls made directly with httpx.

    .venv/bin/python bench/intercom.py [--messages N] [--validate]

In one process, on a SQLite store: the ``hitl`` plugin bound to the ``intercom`` integration,
which talks over real HTTP (loopback) to the fake Intercom of the integration's tests. One
session is open; messages go one at a time.

- user to agent: from ``receive_message`` on the user's channel until the reply of type user
  is stored by the fake (the whole pipeline, then ``POST /conversations/{id}/reply``).
  Baseline: the same POST, same body and headers, sent directly with one httpx client.
- agent to user: a teammate's reply in the fake, its signed notification delivered to the
  agent's webhook, until the message is on the user's channel. Baseline: the same
  notification delivered to a bare endpoint that only checks the signature and parses JSON.

A third row per direction runs the same pipeline and plugin against the in-memory helpdesk of
``patchwire.testing.memory`` (its own store, same run): the difference between it and the
Intercom row is what the adapter and its HTTP round trip cost. All rows of a direction take
turns message by message, so they share the machine's load.

The fake skips OpenAPI validation unless ``--validate`` (it costs the fake a few ms a request).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import importlib.util
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from patchwire.runtime import Runtime
from patchwire.server import webhook_mounts
from patchwire.testing.hitl import HitlHarness, start_harness
from patchwire.testing.memory import MemoryHelpdesk
from patchwire_intercom import TOPICS, integration

ROOT = Path(__file__).resolve().parents[1]


def load_fake() -> ModuleType:
    """The fake Intercom lives with the integration's tests; load it by path."""
    path = ROOT / "integrations" / "intercom" / "tests" / "fake_intercom.py"
    spec = importlib.util.spec_from_file_location("fake_intercom", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["fake_intercom"] = module
    spec.loader.exec_module(module)
    return module


fake_intercom = load_fake()


class BenchDesk:
    """Just enough of the conformance kit's Helpdesk to start a harness and post webhooks."""

    implementation_key = "hitl<hitlConversation>"

    def __init__(self, fake: Any) -> None:
        self.integration = integration
        self.fake = fake
        self.configuration: Mapping[str, Any] = {
            "accessToken": fake_intercom.TOKEN,
            "clientSecret": fake_intercom.CLIENT_SECRET,
            "baseUrl": fake.url,
            "botAdminId": fake.bot,
        }
        self.webhooks: httpx.AsyncClient | None = None
        self.path = ""

    def attach(self, runtime: Runtime, alias: str) -> None:
        app = Starlette(routes=webhook_mounts(runtime))
        self.path = f"/webhooks/{alias}"
        self.webhooks = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://agent"
        )

    async def post(self, raw: bytes, headers: Mapping[str, str]) -> None:
        assert self.webhooks is not None, "not attached to a running agent"
        response = await self.webhooks.post(self.path, content=raw, headers=dict(headers))
        response.raise_for_status()

    async def deliver(self) -> None:
        while self.fake.outbox:
            delivery = self.fake.outbox.pop(0)
            await self.post(delivery.raw, delivery.headers)

    async def opened(self) -> list[str]:
        return list(self.fake.conversations)

    async def received(self, remote_id: str) -> list[str]:
        return list(self.fake.received(remote_id))

    async def assign(self, remote_id: str, agent_name: str) -> None:
        self.fake.assign(remote_id, self.fake.admin_named(agent_name))
        await self.deliver()

    async def reply(
        self, remote_id: str, type: str, payload: Mapping[str, Any], *, message_id: str
    ) -> None:
        self.fake.admin_reply(remote_id, self.fake.admin_named("Alice"), str(payload["text"]))
        await self.deliver()

    async def close(self, remote_id: str) -> None:
        self.fake.close(remote_id, self.fake.admin_named("Alice"))
        await self.deliver()

    def go_down(self) -> None:
        self.fake.down = True

    def come_back(self) -> None:
        self.fake.down = False


def bare_endpoint() -> httpx.AsyncClient:
    """The floor of receiving a notification: signature check and JSON parse, nothing stored."""

    async def receive(request: Request) -> Response:
        raw = await request.body()
        expected = hmac.new(fake_intercom.CLIENT_SECRET.encode(), raw, hashlib.sha1).hexdigest()
        if not hmac.compare_digest(request.headers.get("X-Hub-Signature", ""), f"sha1={expected}"):
            return JSONResponse({"error": "signature"}, status_code=401)
        return JSONResponse({"ok": True, "topic": json.loads(raw)["topic"]})

    app = Starlette(routes=[Route("/hook", receive, methods=["POST"])])
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://agent")


def summary(samples: list[float]) -> tuple[float, float, float]:
    samples.sort()
    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
    return len(samples) / (sum(samples) / 1000), statistics.median(samples), p99


Step = Callable[[int], Awaitable[None]]
Figures = tuple[float, float, float]


async def interleaved(count: int, steps: Mapping[str, Step]) -> dict[str, Figures]:
    """All paths in turn for each message, so they share conversation size and machine load."""
    samples: dict[str, list[float]] = {name: [] for name in steps}
    for n in range(count):
        for name, step in steps.items():
            started = time.perf_counter()
            await step(n)
            samples[name].append((time.perf_counter() - started) * 1000)
    return {name: summary(values) for name, values in samples.items()}


async def open_session(desk: Any, name: str) -> tuple[HitlHarness, str]:
    harness = await start_harness(desk, Path(tempfile.mkdtemp(prefix=f"pw-bench-{name}-")))
    await harness.start()
    return harness, (await desk.opened())[-1]


def user_step(harness: HitlHarness) -> Step:
    """A user message received, until the pipeline is idle again."""

    async def step(n: int) -> None:
        conversation, user_id = await harness.user_conversation()
        await harness.runtime.context("user").receive_message(
            conversation_id=conversation.id,
            user_id=user_id,
            type="text",
            payload={"text": f"u{n}"},
        )
        await harness.settle()

    return step


async def measure(messages: int, validate: bool) -> dict[str, Figures]:
    fake = fake_intercom.FakeIntercom(subscribed=TOPICS, validate=validate)
    results: dict[str, Figures] = {}
    async with fake_intercom.serve(fake):
        desk = BenchDesk(fake)
        memory = MemoryHelpdesk()
        harness, remote = await open_session(desk, "intercom")
        memory_harness, memory_remote = await open_session(memory, "memory")
        fake.outbox.clear()
        direct = httpx.AsyncClient(
            base_url=fake.url,
            headers={
                "Authorization": f"Bearer {fake_intercom.TOKEN}",
                "Intercom-Version": "2.16",
                "Accept": "application/json",
            },
        )
        bare = bare_endpoint()
        contact_id = fake.conversations[remote].contact_id
        alice = fake.admin_named("Alice")
        try:

            async def direct_up(n: int) -> None:
                body = {
                    "message_type": "comment",
                    "type": "user",
                    "intercom_user_id": contact_id,
                    "body": f"d{n}",
                }
                response = await direct.post(f"/conversations/{remote}/reply", json=body)
                response.raise_for_status()

            def notification(n: int) -> tuple[bytes, dict[str, str]]:
                fake.admin_reply(remote, alice, f"<p>a{n}</p>")
                delivery = fake.outbox.pop()
                fake.outbox.clear()
                return delivery.raw, delivery.headers

            async def bare_down(n: int) -> None:
                raw, headers = notification(n)
                response = await bare.post("/hook", content=raw, headers=headers)
                response.raise_for_status()

            async def memory_down(n: int) -> None:
                await memory.reply(memory_remote, "text", {"text": f"m{n}"}, message_id=f"m{n}")
                await memory_harness.settle()

            async def relay_down(n: int) -> None:
                raw, headers = notification(n)
                await desk.post(raw, headers)
                await harness.settle()

            up = {
                "user to agent, direct httpx POST /reply": direct_up,
                "user to agent, in-memory helpdesk": user_step(memory_harness),
                "user to agent, relayed to Intercom": user_step(harness),
            }
            down = {
                "agent to user, bare endpoint (verify + parse)": bare_down,
                "agent to user, in-memory helpdesk": memory_down,
                "agent to user, relayed from Intercom": relay_down,
            }
            for steps in (up, down):
                await interleaved(20, steps)  # warm every path before measuring
                results.update(await interleaved(messages, steps))
        finally:
            await direct.aclose()
            await bare.aclose()
            for running in (harness, memory_harness):
                await running.runtime.stop()
                await running.runtime.store.close()
    return results


async def main(args: argparse.Namespace) -> None:
    validation = "on" if args.validate else "off"
    print(f"{args.messages} messages per row, one at a time, SQLite, fake validation {validation}")
    print(f"{'path':48} {'msg/s':>7} {'p50 ms':>8} {'p99 ms':>8} {'p50 vs baseline':>16}")
    results = await measure(args.messages, args.validate)
    baseline = 0.0
    for name, (rate, p50, p99) in results.items():
        first = "direct" in name or "bare" in name
        baseline = p50 if first else baseline
        ratio = f"{'(baseline)':>16}" if first else f"{p50 / baseline:15.2f}x"
        print(f"{name:48} {rate:7.0f} {p50:8.1f} {p99:8.1f} {ratio}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--validate", action="store_true", help="validate requests in the fake")
    asyncio.run(main(parser.parse_args()))
