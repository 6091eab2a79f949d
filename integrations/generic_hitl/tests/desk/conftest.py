"""The reference desk served over real HTTP, and the agent's webhooks served for it to call."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from patchwire.messages import as_text
from patchwire.runtime import Runtime
from patchwire.server import webhook_mounts
from patchwire.testing.loopback import LoopbackServer, free_port
from patchwire_generic_hitl import integration
from patchwire_generic_hitl.desk import Desk, DeskSettings, create_desk_app

from ..conftest import SECRET


class Switch:
    """Makes the desk answer 503 to patchwire's calls while ``down`` (a desk in trouble)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.down = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.down and scope["type"] == "http" and not scope["path"].startswith("/api"):
            await JSONResponse({"error": "down"}, status_code=503)(scope, receive, send)
            return
        await self.app(scope, receive, send)


class RunningDesk:
    def __init__(self, desk: Desk, served: LoopbackServer, switch: Switch) -> None:
        self.desk = desk
        self.served = served
        self.switch = switch
        self.url = served.url
        self.api = httpx.AsyncClient(base_url=served.url, timeout=30)

    async def conversations(self) -> list[dict[str, Any]]:
        response = await self.api.get("/api/conversations")
        response.raise_for_status()
        return list(response.json()["conversations"])

    async def conversation(self, remote_id: str) -> dict[str, Any]:
        response = await self.api.get(f"/api/conversations/{remote_id}")
        response.raise_for_status()
        return dict(response.json())

    async def act(self, remote_id: str, action: str, **body: Any) -> httpx.Response:
        return await self.api.post(f"/api/conversations/{remote_id}/{action}", json=body)


@pytest.fixture
def agent_port() -> int:
    return free_port()


@pytest.fixture
async def desk(tmp_path: Path, agent_port: int) -> AsyncIterator[RunningDesk]:
    settings = DeskSettings(
        tmp_path / "desk.db", f"http://127.0.0.1:{agent_port}/webhooks/desk", SECRET
    )
    parts = Desk(settings)
    switch = Switch(create_desk_app(settings, parts))
    served = await LoopbackServer(switch).start()
    running = RunningDesk(parts, served, switch)
    yield running
    await running.api.aclose()
    await served.stop()


WebhookHandler = Callable[[Request], Awaitable[Response]]


def webhook_app(handler: WebhookHandler) -> Starlette:
    return Starlette(routes=[Route("/webhooks/{alias}/{path:path}", handler, methods=["POST"])])


class DeskHelpdesk:
    """The conformance kit's driver: a human agent working in the desk's page API."""

    implementation_key = "hitl<hitlSession>"

    def __init__(self, desk: RunningDesk, agent_port: int) -> None:
        self.integration = integration
        self.desk = desk
        self.agent_port = agent_port
        self.configuration: Mapping[str, Any] = {
            "endpointBaseUrl": desk.url,
            "signingSecret": SECRET,
        }
        self.webhooks: LoopbackServer | None = None
        self.delivered: dict[str, str] = {}

    def attach(self, runtime: Runtime, alias: str) -> None:
        app = Starlette(routes=webhook_mounts(runtime))
        self.webhooks = LoopbackServer(app, self.agent_port)
        asyncio.get_running_loop().create_task(self.webhooks.start())

    async def opened(self) -> list[str]:
        listed = sorted(await self.desk.conversations(), key=lambda c: c["createdAt"])
        return [c["id"] for c in listed]

    async def received(self, remote_id: str) -> list[str]:
        conversation = await self.desk.conversation(remote_id)
        return [
            as_text(m["type"], m["payload"])
            for m in conversation["messages"]
            if m["authorKind"] != "agent"
        ]

    async def assign(self, remote_id: str, agent_name: str) -> None:
        response = await self.desk.act(remote_id, "claim", agent=agent_name)
        assert response.status_code == 200, response.text

    async def reply(
        self, remote_id: str, type: str, payload: Mapping[str, Any], *, message_id: str
    ) -> None:
        if message_id in self.delivered:
            response = await self.desk.api.post(
                f"/api/messages/{self.delivered[message_id]}/redeliver"
            )
            assert response.status_code == 200, response.text
            return
        conversation = await self.desk.conversation(remote_id)
        agent = conversation["agent"] or "Alice"
        if conversation["agent"] is None:
            await self.assign(remote_id, agent)
        body = (
            {"text": payload["text"]} if type == "text" else {"url": next(iter(payload.values()))}
        )
        response = await self.desk.act(remote_id, "messages", agent=agent, type=type, **body)
        assert response.status_code == 200, response.text
        self.delivered[message_id] = response.json()["id"]

    async def close(self, remote_id: str) -> None:
        response = await self.desk.act(remote_id, "close", agent="Alice")
        assert response.status_code == 200, response.text

    def go_down(self) -> None:
        self.desk.switch.down = True

    def come_back(self) -> None:
        self.desk.switch.down = False


@pytest.fixture
async def helpdesk(desk: RunningDesk, agent_port: int) -> AsyncIterator[DeskHelpdesk]:
    driver = DeskHelpdesk(desk, agent_port)
    yield driver
    if driver.webhooks is not None:
        await driver.webhooks.stop()
