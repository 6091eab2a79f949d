"""A fake live-agent service that checks every request against the protocol's OpenAPI file.

It is served over real HTTP on loopback; the integration under test calls it, and the
scripted human agent (``GenericHelpdesk``) calls the agent back with signed webhooks.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
from openapi_core import OpenAPI
from openapi_core.contrib.starlette.requests import StarletteOpenAPIRequest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from patchwire.messages import as_text
from patchwire.runtime import Runtime
from patchwire.testing.loopback import LoopbackServer, call_routes
from patchwire_generic_hitl import HEADER, SignatureError, integration, sign, verify

SPECS = Path(__file__).resolve().parents[3] / "specs" / "hitl-api"
SECRET = "a-shared-secret-for-the-tests"


class Contract:
    """One side of the protocol as a test stand-in: signed, and checked against its OpenAPI file."""

    def __init__(self, file: str, server: str) -> None:
        contract = json.loads((SPECS / file).read_text())
        contract["servers"] = [{"url": server}]  # the file's server is a placeholder host
        self.spec = OpenAPI.from_dict(contract)
        self.invalid: list[str] = []

    async def refusal(self, request: Request) -> Response | None:
        """The answer to a request that is unsigned or breaks the contract; None when fine."""
        raw = await request.body()
        try:
            verify(SECRET, request.headers.get(HEADER), raw)
        except SignatureError as error:
            return JSONResponse({"error": str(error)}, status_code=401)
        try:
            self.spec.validate_request(StarletteOpenAPIRequest(request, body=raw))
        except Exception as error:
            self.invalid.append(f"{request.url.path}: {error}")
            return JSONResponse({"error": f"invalid request: {error}"}, status_code=400)
        return None


class FakeService(Contract):
    """The service side of the protocol, strict about what it receives."""

    def __init__(self) -> None:
        super().__init__("openapi-external-service.json", "/")
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.users: dict[str, dict[str, Any]] = {}
        self.conversations: dict[str, dict[str, Any]] = {}
        self.failures: list[tuple[int, dict[str, str]]] = []
        self.lose_answer: set[str] = set()
        """Paths whose next call is carried out, then answered 502 (the answer is lost)."""
        self.answers: dict[str, tuple[int, bytes]] = {}
        """What each ``Idempotency-Key`` was answered: a repeat gets it again, and does nothing."""
        self.keys: list[str | None] = []
        self.down = False
        self.url = ""

    async def endpoint(self, request: Request) -> Response:
        refused = await self.refusal(request)
        if refused is not None:
            return refused
        if self.down:
            return JSONResponse({"error": "down for maintenance"}, status_code=503)
        if self.failures:
            status, headers = self.failures.pop(0)
            return JSONResponse({"error": "try again"}, status_code=status, headers=headers)
        key = request.headers.get("idempotency-key")
        self.keys.append(key)
        if key is not None and key in self.answers:
            status, content = self.answers[key]
            return Response(content, status_code=status, media_type="application/json")
        answer = await self.act(request)
        if key is not None:
            self.answers[key] = (answer.status_code, bytes(answer.body))
        if request.url.path in self.lose_answer:
            self.lose_answer.discard(request.url.path)
            return JSONResponse({"error": "bad gateway"}, status_code=502)
        return answer

    async def act(self, request: Request) -> Response:
        body = json.loads(await request.body())
        path = request.url.path
        self.requests.append((path, body))
        if path == "/createRemoteUser":
            remote = f"ru-{uuid.uuid4().hex[:8]}"
            self.users[remote] = body["payload"]
            return JSONResponse({"id": remote})
        if path == "/createRemoteConversation":
            remote = f"rc-{uuid.uuid4().hex[:8]}"
            payload = body["payload"]
            self.conversations[remote] = {
                "received": [m["text"] for m in payload["messages"]],
                "closed": False,
                "payload": payload,
            }
            return JSONResponse({"id": remote})
        if path == "/closeRemoteTicket":
            self.conversations[body["payload"]["remoteConversationId"]]["closed"] = True
            return Response(status_code=200)
        if path == "/botSendsMessage":
            message = dict(body["payload"])
            self.conversations[body["remoteConversationId"]]["received"].append(
                as_text(message.pop("type"), message)
            )
            return Response(status_code=200)
        return Response(status_code=200)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/{path:path}", self.endpoint, methods=["POST"])])


@pytest.fixture
async def service() -> AsyncIterator[FakeService]:
    fake = FakeService()
    async with LoopbackServer(fake.app()) as server:
        fake.url = server.url
        yield fake
    assert fake.invalid == [], "requests that break the protocol's OpenAPI contract"


class GenericHelpdesk:
    """The conformance kit's driver: a human agent working in the fake service."""

    implementation_key = "hitl<hitlSession>"

    def __init__(self, service: FakeService) -> None:
        self.integration = integration
        self.service = service
        self.configuration: Mapping[str, Any] = {
            "endpointBaseUrl": service.url,
            "signingSecret": SECRET,
        }
        self.webhooks: httpx.AsyncClient | None = None
        self.next_timestamp = int(time.time()) - 250

    def attach(self, runtime: Runtime, alias: str) -> None:
        self.webhooks = call_routes(runtime, alias)

    async def prepare(self) -> None:
        """Nothing to set up before a test: the fake service is already serving."""

    async def teardown(self) -> None:
        if self.webhooks is not None:
            await self.webhooks.aclose()

    async def post(
        self,
        path: str,
        body: Mapping[str, Any],
        *,
        secret: str = SECRET,
        signature: str | None = None,
    ) -> httpx.Response:
        assert self.webhooks is not None, "not attached to a running agent"
        raw = json.dumps(body).encode()
        # A service that delivers again signs again: each delivery gets its own timestamp.
        self.next_timestamp += 1
        moment = self.next_timestamp
        headers = {
            HEADER: signature if signature is not None else sign(secret, raw, timestamp=moment)
        }
        return await self.webhooks.post(path, content=raw, headers=headers)

    async def opened(self) -> list[str]:
        return list(self.service.conversations)

    async def received(self, remote_id: str) -> list[str]:
        return list(self.service.conversations[remote_id]["received"])

    async def assign(self, remote_id: str, agent_name: str) -> None:
        response = await self.post(
            "/agent-assigned",
            {
                "remoteConversationId": remote_id,
                "remoteUserId": f"agent-{agent_name}",
                "name": agent_name,
            },
        )
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
        response = await self.post(
            "/message-from-agent",
            {
                "remoteConversationId": remote_id,
                "remoteUserId": f"agent-{agent_name}",
                "messageType": type,
                "payload": dict(payload),
                "messageId": message_id,
            },
        )
        assert response.status_code == 200, response.text

    async def close(self, remote_id: str) -> None:
        response = await self.post("/stop-hitl", {"remoteConversationId": remote_id})
        assert response.status_code == 200, response.text

    def go_down(self) -> None:
        self.service.down = True

    def come_back(self) -> None:
        self.service.down = False


@pytest.fixture
def helpdesk(service: FakeService) -> GenericHelpdesk:
    return GenericHelpdesk(service)
