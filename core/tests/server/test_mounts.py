"""Integration routes mounted under ``/webhooks/<alias>/``: limits, errors, middleware, pages."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from patchwire import DefinitionError, Integration, IntegrationDefinition
from patchwire.server import integration_mount
from patchwire.testing.loopback import LoopbackServer


class Host:
    """Stands in for an alias's ``Context``: records what the routes did with it."""

    def __init__(self, alias: str) -> None:
        self.alias = alias
        self.bodies: list[int] = []


def recording_integration(**options: Any) -> Integration:
    integration = Integration(IntegrationDefinition(name="recorder", version="1.0.0"), **options)

    @integration.routes
    def routes(ctx: Host) -> Sequence[BaseRoute]:
        async def take(request: Request) -> Response:
            body = await request.body()
            ctx.bodies.append(len(body))
            return JSONResponse({"alias": ctx.alias, "bytes": len(body)})

        async def crash(request: Request) -> Response:
            raise RuntimeError("secret internals")

        return [
            Route("/", take, methods=["POST"]),
            Route("/take", take, methods=["POST"]),
            Route("/crash", crash),
        ]

    return integration


def client_for(*mounts: Mount) -> httpx.AsyncClient:
    app = Starlette(routes=list(mounts))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://agent")


async def test_each_alias_gets_its_own_routes_built_with_its_own_context() -> None:
    integration = recording_integration()
    one, two = Host("one"), Host("two")
    async with client_for(
        integration_mount("one", integration, one), integration_mount("two", integration, two)
    ) as http:
        answers = [
            await http.post("/webhooks/one/take", content=b"abc"),
            await http.post("/webhooks/two/", content=b"de"),
            await http.post("/webhooks/two", content=b"f"),  # providers POST without the slash
        ]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert [a.json()["alias"] for a in answers] == ["one", "two", "two"]
    assert (one.bodies, two.bodies) == ([3], [2, 1])


async def test_unknown_routes_and_methods_are_json_errors_that_say_what_is_served() -> None:
    async with client_for(integration_mount("rec", recording_integration(), Host("rec"))) as http:
        missing = await http.post("/webhooks/rec/nothing-here", content=b"")
        wrong = await http.get("/webhooks/rec/take")
        crashed = await http.get("/webhooks/rec/crash")
    assert missing.status_code == 404
    assert missing.json()["error"] == (
        "POST /webhooks/rec/nothing-here: integration 'rec' serves no such route "
        "(it serves: /, /crash, /take)"
    )
    assert (wrong.status_code, wrong.json()["error"]) == (405, "Method Not Allowed")
    assert crashed.status_code == 500 and "secret internals" not in crashed.text
    assert set(crashed.json()) == {"error", "incident"}


async def test_a_declared_oversized_body_is_refused_before_the_route_runs() -> None:
    host = Host("rec")
    integration = recording_integration(max_body_bytes=1000)
    async with client_for(integration_mount("rec", integration, host)) as http:
        fits = await http.post("/webhooks/rec/take", content=b"x" * 1000)
        over = await http.post("/webhooks/rec/take", content=b"x" * 1001)
    assert (fits.status_code, over.status_code) == (200, 413)
    assert over.json()["error"] == (
        "the request body is larger than 1000 bytes, the limit of this endpoint: "
        "send a smaller body"
    )
    assert host.bodies == [1000]


async def test_a_chunked_oversized_body_is_cut_off_at_the_limit_over_real_http() -> None:
    host = Host("rec")
    integration = recording_integration()  # the default: 1 MiB
    sent: list[int] = []

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10 * 16):  # 10 MiB in 64 KiB chunks, no Content-Length
            sent.append(1)
            yield b"x" * 65536

    app = Starlette(routes=[integration_mount("rec", integration, host)])
    async with LoopbackServer(app) as server, httpx.AsyncClient(base_url=server.url) as http:
        try:
            answer: httpx.Response | None = await http.post("/webhooks/rec/take", content=chunks())
        except httpx.TransportError:
            answer = None  # the server may close before the client has written everything
        declared = await http.post(
            "/webhooks/rec/take",
            content=b"{" * (1024 * 1024 + 1),
        )
        small = await http.post("/webhooks/rec/take", content=b"{}")
    if answer is not None:
        assert answer.status_code == 413
    assert declared.status_code == 413
    assert small.status_code == 200
    assert host.bodies == [2], "no route saw an oversized body"
    assert len(sent) < 10 * 16, "the server stopped reading before the whole body was sent"


def test_the_limit_and_the_routes_are_checked_when_declared() -> None:
    definition = IntegrationDefinition(name="bad", version="1.0.0")
    with pytest.raises(DefinitionError, match="max_body_bytes must be a positive number"):
        Integration(definition, max_body_bytes=0)
    integration = Integration(definition)

    @integration.routes
    def routes(ctx: Any) -> Sequence[BaseRoute]:
        return ["/not-a-route"]  # type: ignore[list-item]

    with pytest.raises(DefinitionError, match="records its routes twice"):
        integration.routes(routes)
    with pytest.raises(DefinitionError, match="'/not-a-route', which is not a Starlette route"):
        integration_mount("bad", integration, Host("bad"))


async def test_an_integration_adds_its_own_middleware_and_serves_a_page_at_its_root() -> None:
    integration = Integration(IntegrationDefinition(name="paged", version="1.0.0"))

    @integration.routes
    def routes(ctx: Host) -> Sequence[BaseRoute]:
        async def page(request: Request) -> Response:
            return HTMLResponse(f"<h1>{ctx.alias}</h1>")

        async def api(request: Request) -> Response:
            return JSONResponse({"ok": True})

        cors = Middleware(CORSMiddleware, allow_origins=["https://shop.example"])
        return [
            Route("/", page),
            Mount("/api", routes=[Route("/ping", api)], middleware=[cors]),
        ]

    async with client_for(integration_mount("paged", integration, Host("paged"))) as http:
        page = await http.get("/webhooks/paged/")
        bare = await http.get("/webhooks/paged")
        preflight = await http.options(
            "/webhooks/paged/api/ping",
            headers={
                "origin": "https://shop.example",
                "access-control-request-method": "GET",
            },
        )
        ping = await http.get(
            "/webhooks/paged/api/ping", headers={"origin": "https://shop.example"}
        )
    assert page.text == bare.text == "<h1>paged</h1>"
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "https://shop.example"
    assert ping.json() == {"ok": True}
    assert ping.headers["access-control-allow-origin"] == "https://shop.example"
