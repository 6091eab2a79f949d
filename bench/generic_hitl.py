"""generic-hitl through the real HTTP protocol, against the same HTTP calls made with httpx.

    .venv/bin/python bench/generic_hitl.py [--messages N]

One process, loopback HTTP, SQLite: the reference desk served by uvicorn, the agent's webhooks
served by uvicorn, the ``hitl`` plugin bound to generic-hitl (the conformance kit's harness).

- user to desk: from a user message entering the runtime to the desk having stored it (the
  plugin relays it; generic-hitl signs and POSTs ``/botSendsMessage``; the desk verifies and
  stores). Baseline: the same signed ``/botSendsMessage`` POSTed to the same desk with httpx.
- desk to user: from the desk's signed ``/message-from-agent`` POST to the agent until the user's
  channel has the message (verify, dedupe, store, relay). Baseline: the same signed POST to a
  bare Starlette endpoint that verifies the signature and answers 200.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from patchwire.runtime import Runtime
from patchwire.server import webhook_mounts
from patchwire.testing.hitl import start_harness
from patchwire.testing.loopback import LoopbackServer, free_port
from patchwire_generic_hitl import HEADER, integration, sign, verify
from patchwire_generic_hitl.desk import DeskSettings, create_desk_app

SECRET = "benchmark-shared-secret"


class DeskUnderTest:
    """The Helpdesk the harness needs: generic-hitl pointed at the desk, webhooks served."""

    implementation_key = "hitl<hitlSession>"

    def __init__(self, desk_url: str, agent_port: int) -> None:
        self.integration = integration
        self.configuration: Mapping[str, Any] = {
            "endpointBaseUrl": desk_url,
            "signingSecret": SECRET,
        }
        self.agent_port = agent_port
        self.server: LoopbackServer | None = None

    def attach(self, runtime: Runtime, alias: str) -> None:
        app = Starlette(routes=webhook_mounts(runtime))
        self.server = LoopbackServer(app, self.agent_port)
        asyncio.get_running_loop().create_task(self.server.start())


def summary(samples: list[float]) -> tuple[float, float, float]:
    samples.sort()
    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
    return len(samples) / (sum(samples) / 1000), statistics.median(samples), p99


def signed(body: dict[str, Any], timestamp: int) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(body).encode()
    return raw, {HEADER: sign(SECRET, raw, timestamp=timestamp), "content-type": "application/json"}


async def bare_agent(request: Request) -> Response:
    verify(SECRET, request.headers.get(HEADER), await request.body())
    return JSONResponse({"ok": True})


async def main(messages: int) -> None:
    directory = Path(tempfile.mkdtemp(prefix="pw-bench-generic-"))
    agent_port = free_port()
    desk_app = create_desk_app(
        DeskSettings(directory / "desk.db", f"http://127.0.0.1:{agent_port}/webhooks/desk", SECRET)
    )
    desk_server = await LoopbackServer(desk_app).start()
    bare_server = await LoopbackServer(
        Starlette(routes=[Route("/webhooks/desk/{path:path}", bare_agent, methods=["POST"])])
    ).start()
    desk_url, bare_url = desk_server.url, bare_server.url
    helpdesk = DeskUnderTest(desk_url, agent_port)
    harness = await start_harness(helpdesk, directory)
    http = httpx.AsyncClient(timeout=30)
    stamp = int(time.time())
    try:
        while helpdesk.server is None or not helpdesk.server.started:
            await asyncio.sleep(0.01)
        await harness.start()
        remote = (await http.get(f"{desk_url}/api/conversations")).json()["conversations"][0]["id"]
        await http.post(f"{desk_url}/api/conversations/{remote}/claim", json={"agent": "Bench"})
        await harness.settle()
        conversation, user_id = await harness.user_conversation()
        user = harness.runtime.context("user")
        rows: dict[str, list[float]] = {
            name: []
            for name in (
                "user to desk",
                "user to desk, httpx baseline",
                "desk to user",
                "desk to user, httpx baseline",
            )
        }
        for n in range(messages):
            stamp += 1
            started = time.perf_counter()
            await user.receive_message(
                conversation_id=conversation.id,
                user_id=user_id,
                type="text",
                payload={"text": f"u{n}"},
            )
            await harness.settle()
            rows["user to desk"].append((time.perf_counter() - started) * 1000)

            raw, headers = signed(
                {
                    "type": "botSendsMessage",
                    "remoteConversationId": remote,
                    "remoteUserId": "BOT",
                    "payload": {"type": "text", "text": f"b{n}"},
                },
                stamp,
            )
            started = time.perf_counter()
            (await http.post(f"{desk_url}/botSendsMessage", content=raw, headers=headers))
            rows["user to desk, httpx baseline"].append((time.perf_counter() - started) * 1000)

            body = {
                "remoteConversationId": remote,
                "remoteUserId": "agent:Bench",
                "messageType": "text",
                "payload": {"text": f"a{n}"},
                "messageId": f"a{n}",
            }
            raw, headers = signed(body, stamp)
            started = time.perf_counter()
            answer = await http.post(
                f"http://127.0.0.1:{agent_port}/webhooks/desk/message-from-agent",
                content=raw,
                headers=headers,
            )
            await harness.settle()
            rows["desk to user"].append((time.perf_counter() - started) * 1000)
            assert answer.status_code == 200, answer.text

            started = time.perf_counter()
            await http.post(
                f"{bare_url}/webhooks/desk/message-from-agent", content=raw, headers=headers
            )
            rows["desk to user, httpx baseline"].append((time.perf_counter() - started) * 1000)
        seen = await harness.user_sees()
        assert sum(text.startswith("a") for text in seen) == messages, "lost a message"
    finally:
        await http.aclose()
        await harness.runtime.stop()
        await harness.runtime.store.close()
        for server in (desk_server, bare_server, helpdesk.server):
            if server is not None:
                await server.stop()

    print(f"{messages} messages each way, one at a time, loopback HTTP, SQLite")
    print(f"{'path':32} {'msg/s':>7} {'p50 ms':>8} {'p99 ms':>8} {'p50 vs baseline':>16}")
    for direction in ("user to desk", "desk to user"):
        base_p50 = summary(list(rows[f"{direction}, httpx baseline"]))[1]
        for name in (direction, f"{direction}, httpx baseline"):
            rate, p50, p99 = summary(rows[name])
            print(f"{name:32} {rate:7.0f} {p50:8.1f} {p99:8.1f} {p50 / base_p50:15.2f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200)
    asyncio.run(main(parser.parse_args().messages))
