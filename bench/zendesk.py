"""Zendesk relay throughput and latency, against the same HTTP calls made directly with httpx.

    .venv/bin/python bench/zendesk.py [--messages N] [--validate]

One process, a SQLite store, the fake Zendesk of ``integrations/zendesk/tests`` served by
uvicorn on loopback (request validation against the OpenAPI file off unless ``--validate``).
Timed per message, one at a time:

- user to agent: ``receive_message`` on the user's conversation until the comment is in
  Zendesk (plugin, pipeline, ``PUT /tickets/{id}``); baseline: that PUT alone, with httpx.
- agent to user: an agent comments in Zendesk, its signed webhook is delivered, until the
  message reaches the user's channel (verification, ``GET .../comments``, pipeline);
  baseline: that GET alone, with httpx.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any, cast

import httpx
from starlette.applications import Starlette

from patchwire.runtime import Runtime
from patchwire.server import webhook_mounts
from patchwire.testing.hitl import Helpdesk, start_harness
from patchwire.testing.loopback import LoopbackServer
from patchwire_zendesk import desk, integration, provision

FAKE = (
    Path(__file__).resolve().parents[1] / "integrations" / "zendesk" / "tests" / "fake_zendesk.py"
)


def load_fake() -> ModuleType:
    spec = importlib.util.spec_from_file_location("zendesk_fake", FAKE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["zendesk_fake"] = module
    spec.loader.exec_module(module)
    return module


class Desk:
    """Just what ``start_harness`` needs: the integration, its config, and webhook wiring."""

    implementation_key = "hitl<hitlTicket>"

    def __init__(self, fake: Any) -> None:
        self.integration = integration
        self.fake = fake
        self.configuration: Mapping[str, Any] = {
            "baseUrl": fake.url,
            "clientId": fake.client_id,
            "clientSecret": fake.client_secret,
            "publicUrl": "http://agent.bench",
        }

    def attach(self, runtime: Runtime, alias: str) -> None:
        app = Starlette(routes=webhook_mounts(runtime))
        self.fake.sender = httpx.AsyncClient(transport=httpx.ASGITransport(app=app))


def summary(samples: list[float]) -> tuple[float, float, float]:
    samples.sort()
    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
    return len(samples) / (sum(samples) / 1000), statistics.median(samples), p99


async def timed(count: int, step: Callable[[int], Awaitable[None]]) -> tuple[float, float, float]:
    samples = []
    for n in range(count):
        started = time.perf_counter()
        await step(n)
        samples.append((time.perf_counter() - started) * 1000)
    return summary(samples)


async def measure(messages: int, validate: bool) -> dict[str, tuple[float, float, float]]:
    fake = load_fake().FakeZendesk()
    fake.validate = validate
    server = await LoopbackServer(fake.app()).start()
    fake.url = server.url
    # start_harness only attaches; the scripted-agent methods of the kit's protocol are unused.
    driver = cast("Helpdesk", Desk(fake))
    harness = await start_harness(driver, Path(tempfile.mkdtemp(prefix="pw-bench-zd-")))
    results: dict[str, tuple[float, float, float]] = {}
    try:
        await provision(desk(harness.runtime.context("desk")), lambda line: None)
        conversation, user_id = await harness.user_conversation()
        await harness.start()
        [ticket_id] = list(fake.tickets)
        agent = fake.agent("Alice")
        user_ctx = harness.runtime.context("user")

        async def user_to_agent(n: int) -> None:
            await user_ctx.receive_message(
                conversation_id=conversation.id,
                user_id=user_id,
                type="text",
                payload={"text": f"u{n}"},
            )
            await harness.settle()

        async def agent_to_user(n: int) -> None:
            fake.agent_comment(ticket_id, agent, f"a{n}")
            await fake.deliver()
            await harness.settle()

        results["user to agent, relay"] = await timed(messages, user_to_agent)
        results["agent to user, relay"] = await timed(messages, agent_to_user)
        assert len(fake.comments[ticket_id]) == 1 + 2 * messages  # transcript, then u and a

        async with httpx.AsyncClient(base_url=fake.url) as http:
            token = (
                await http.post(
                    "/oauth/tokens",
                    json={
                        "grant_type": "client_credentials",
                        "client_id": fake.client_id,
                        "client_secret": fake.client_secret,
                    },
                )
            ).json()["access_token"]
            headers = {"Authorization": f"Bearer {token}"}

            async def put_comment(n: int) -> None:
                body = {"ticket": {"comment": {"body": f"d{n}", "public": True}}}
                response = await http.put(
                    f"/api/v2/tickets/{ticket_id}", json=body, headers=headers
                )
                response.raise_for_status()

            async def get_comments(n: int) -> None:
                response = await http.get(
                    f"/api/v2/tickets/{ticket_id}/comments",
                    params={"sort_order": "desc", "per_page": "100", "include": "users"},
                    headers=headers,
                )
                response.raise_for_status()

            results["PUT comment, direct httpx"] = await timed(messages, put_comment)
            results["GET comments, direct httpx"] = await timed(messages, get_comments)
    finally:
        await harness.runtime.stop()
        await harness.runtime.store.close()
        if fake.sender is not None:
            await fake.sender.aclose()
        await server.stop()
    return results


async def main(args: argparse.Namespace) -> None:
    results = await measure(args.messages, args.validate)
    checked = "on" if args.validate else "off"
    print(f"{args.messages} messages per row, one at a time, SQLite, OpenAPI checks {checked}")
    print(f"{'path':34} {'msg/s':>7} {'p50 ms':>8} {'p99 ms':>8} {'p50 vs direct':>14}")
    pairs = {
        "user to agent, relay": "PUT comment, direct httpx",
        "agent to user, relay": "GET comments, direct httpx",
    }
    for relay, direct in pairs.items():
        for name in (relay, direct):
            rate, p50, p99 = results[name]
            ratio = p50 / results[direct][1]
            print(f"{name:34} {rate:7.0f} {p50:8.1f} {p99:8.1f} {ratio:13.2f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--validate", action="store_true")
    asyncio.run(main(parser.parse_args()))
