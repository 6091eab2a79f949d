"""The reference desk served over real HTTP, and the agent's webhooks served for it to call."""

from __future__ import annotations

import asyncio
import json
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
from patchwire.testing.databases import postgres_database
from patchwire.testing.loopback import LoopbackServer, free_port
from patchwire_generic_hitl import ServiceClient, integration
from patchwire_generic_hitl._definition import GenericHitlConfiguration
from patchwire_generic_hitl.desk import Desk, DeskSettings, create_desk_app

from ..conftest import SECRET, Contract


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


PASSWORD = "correct horse battery"
ADMIN = "Admin"
"""The account tests read the queue with, and close conversations nobody claimed."""


class RunningDesk:
    """A desk on loopback, with agents logged in by bearer token as tests need them."""

    def __init__(self, desk: Desk, served: LoopbackServer, switch: Switch) -> None:
        self.desk = desk
        self.served = served
        self.switch = switch
        self.url = served.url
        self.api = httpx.AsyncClient(base_url=served.url, timeout=30)
        """Nobody logged in."""
        self._agents: dict[str, httpx.AsyncClient] = {}

    async def add_agent(self, name: str, *, admin: bool = False) -> None:
        assert self.desk.store is not None
        await self.desk.store.accounts.add(name, PASSWORD, admin=admin)

    async def agent(self, name: str, *, admin: bool | None = None) -> httpx.AsyncClient:
        """A client logged in as ``name``: an account made on first use, an admin when
        ``admin`` says so (by default ``Admin`` is one and the others are not)."""
        if name not in self._agents:
            await self.add_agent(name, admin=name == ADMIN if admin is None else admin)
            response = await self.api.post("/api/tokens", json={"name": name, "password": PASSWORD})
            assert response.status_code == 200, response.text
            self._agents[name] = httpx.AsyncClient(
                base_url=self.url,
                timeout=30,
                headers={"authorization": f"Bearer {response.json()['token']}"},
            )
        return self._agents[name]

    async def conversations(self) -> list[dict[str, Any]]:
        response = await (await self.agent(ADMIN)).get("/api/conversations")
        response.raise_for_status()
        return list(response.json()["conversations"])

    async def conversation(self, remote_id: str) -> dict[str, Any]:
        response = await (await self.agent(ADMIN)).get(f"/api/conversations/{remote_id}")
        response.raise_for_status()
        return dict(response.json())

    async def act(self, remote_id: str, action: str, *, agent: str, **body: Any) -> httpx.Response:
        """``agent`` claims, replies to (``messages``) or closes the conversation."""
        client = await self.agent(agent)
        return await client.post(f"/api/conversations/{remote_id}/{action}", json=body)

    async def redeliver(self, message_id: str, *, agent: str) -> httpx.Response:
        return await (await self.agent(agent)).post(
            f"/api/messages/{message_id}/redeliver", json={}
        )

    async def stop(self) -> None:
        for client in [self.api, *self._agents.values()]:
            await client.aclose()
        await self.served.stop()


@pytest.fixture
def agent_port() -> int:
    return free_port()


async def start_desk(settings: DeskSettings) -> RunningDesk:
    """A desk served on loopback (start another on the same settings to restart it)."""
    parts = Desk(settings)
    switch = Switch(create_desk_app(settings, parts))
    served = await LoopbackServer(switch).start()
    return RunningDesk(parts, served, switch)


@pytest.fixture
def desk_settings(tmp_path: Path, agent_port: int) -> DeskSettings:
    return DeskSettings(
        tmp_path / "desk.db", f"http://127.0.0.1:{agent_port}/webhooks/desk", SECRET
    )


@pytest.fixture(params=["sqlite", "postgresql"])
async def settings_on_both_databases(
    request: pytest.FixtureRequest, tmp_path: Path, agent_port: int
) -> AsyncIterator[DeskSettings]:
    """The desk on a SQLite file, then on a fresh PostgreSQL database."""
    webhook = f"http://127.0.0.1:{agent_port}/webhooks/desk"
    if request.param == "sqlite":
        yield DeskSettings(tmp_path / "desk.db", webhook, SECRET)
        return
    async with postgres_database() as url:
        yield DeskSettings(url, webhook, SECRET)


@pytest.fixture
async def desk(desk_settings: DeskSettings) -> AsyncIterator[RunningDesk]:
    running = await start_desk(desk_settings)
    yield running
    await running.stop()


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
        claimant = (await self.desk.conversation(remote_id))["agent"]
        if claimant not in (None, agent_name):
            pytest.skip(f"the desk has no reassignment: {claimant} keeps the claim")
        response = await self.desk.act(remote_id, "claim", agent=agent_name)
        assert response.status_code == 200, response.text

    async def reply(
        self,
        remote_id: str,
        type: str,
        payload: Mapping[str, Any],
        *,
        message_id: str,
        agent_name: str = "Alice",
    ) -> None:
        """``agent_name`` replies; in the desk, answering another agent's claim takes an admin,
        so a second agent taking a turn is made one."""
        if message_id in self.delivered:
            response = await self.desk.redeliver(self.delivered[message_id], agent=agent_name)
            assert response.status_code == 200, response.text
            return
        claimant = (await self.desk.conversation(remote_id))["agent"]
        if claimant is None:
            await self.assign(remote_id, agent_name)
        elif claimant != agent_name:
            await self.desk.agent(agent_name, admin=True)
        body = (
            {"text": payload["text"]} if type == "text" else {"url": next(iter(payload.values()))}
        )
        response = await self.desk.act(remote_id, "messages", agent=agent_name, type=type, **body)
        assert response.status_code == 200, response.text
        self.delivered[message_id] = response.json()["id"]

    async def close(self, remote_id: str) -> None:
        """The claimer closes it; one nobody claimed is closed by an admin."""
        conversation = await self.desk.conversation(remote_id)
        response = await self.desk.act(remote_id, "close", agent=conversation["agent"] or ADMIN)
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


class FakeAgent(Contract):
    """patchwire's side as the desk sees it, strict about the webhook contract."""

    def __init__(self) -> None:
        super().__init__("openapi-botpress-webhook.json", "/webhooks/desk")
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.down = False

    async def handle(self, request: Request) -> Response:
        refused = await self.refusal(request)
        if refused is not None:
            return refused
        raw = await request.body()
        if self.down:
            return JSONResponse({"error": "restarting"}, status_code=503)
        self.calls.append((request.path_params["path"], json.loads(raw)))
        return JSONResponse({"ok": True})


@pytest.fixture
async def agent(agent_port: int) -> AsyncIterator[FakeAgent]:
    fake = FakeAgent()
    served = await LoopbackServer(webhook_app(fake.handle), agent_port).start()
    yield fake
    await served.stop()
    assert fake.invalid == [], "desk calls that break the webhook contract"


@pytest.fixture
def patchwire(desk: RunningDesk) -> ServiceClient:
    """The calls patchwire's generic-hitl makes, signed as it signs them."""
    return ServiceClient(
        GenericHitlConfiguration(endpoint_base_url=desk.url, signing_secret=SECRET)
    )


async def handed_off(patchwire: ServiceClient) -> str:
    user = await patchwire.call(
        "/createRemoteUser",
        {"type": "createRemoteUser", "payload": {"role": "end-user", "name": "Ada"}},
    )
    conversation = await patchwire.call(
        "/createRemoteConversation",
        {
            "type": "createRemoteConversation",
            "payload": {
                "userId": user["id"],
                "title": "Order late",
                "messages": [],
                "messageHistory": [
                    {
                        "source": {"type": "user", "userId": "u1"},
                        "type": "text",
                        "payload": {"text": "where is my order?"},
                    },
                    {
                        "source": {"type": "bot"},
                        "type": "choice",
                        "payload": {"text": "Pick one", "options": [{"label": "A", "value": "a"}]},
                    },
                ],
            },
        },
    )
    return str(conversation["id"])
