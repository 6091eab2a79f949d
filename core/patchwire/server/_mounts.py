"""Mounting each integration's routes under ``/webhooks/<alias>/``, the same way for all.

Every mounted alias gets the integration's request body limit (:class:`BodyLimit`), errors
answered as JSON (a route that raises is a 500 carrying only an incident id; the log has the
traceback), and a JSON 404 that lists what the alias serves.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route, Router
from starlette.types import ASGIApp, Receive, Scope, Send

from patchwire._errors import DefinitionError
from patchwire._packages import Integration
from patchwire.runtime import Runtime
from patchwire.server._limits import BodyLimit

__all__ = ["AliasMount", "integration_mount", "webhook_mounts"]

logger = logging.getLogger("patchwire.server")


def webhook_mounts(runtime: Runtime, *, prefix: str = "/webhooks") -> list[AliasMount]:
    """One mount at ``<prefix>/<alias>`` per integration alias of ``runtime`` serving routes."""
    mounts: list[AliasMount] = []
    for alias, resolved in runtime.agent.integrations.items():
        package = resolved.package
        if isinstance(package, Integration) and package.routes_factory is not None:
            ctx = runtime.context(alias, "integration")
            mounts.append(integration_mount(alias, package, ctx, prefix=prefix))
    return mounts


def integration_mount(
    alias: str, integration: Integration, ctx: Any, *, prefix: str = "/webhooks"
) -> AliasMount:
    """``integration``'s routes, built with ``ctx`` (the alias's host API), mounted at
    ``<prefix>/<alias>``."""
    factory = integration.routes_factory
    if factory is None:
        raise DefinitionError(f"{integration.definition.name} serves no routes")
    routes = list(factory(ctx))
    strays = [route for route in routes if not isinstance(route, BaseRoute)]
    if strays:
        raise DefinitionError(
            f"{integration.definition.name}'s routes(ctx) returned {strays[0]!r}, which is not a "
            "Starlette route: return Route(...) and Mount(...) objects"
        )
    router = Router(routes=routes, default=_NotServed(alias, routes))
    app = _Incidents(alias, BodyLimit(router, integration.max_body_bytes))
    return AliasMount(f"{prefix}/{alias}", app=app, serves_page=_serves_page(routes))


def _serves_page(routes: Sequence[BaseRoute], prefix: str = "") -> bool:
    """Whether the integration answers ``GET`` at its root, as the web chat's page does."""
    for route in routes:
        if isinstance(route, Route) and prefix + route.path == "/":
            if route.methods is None or "GET" in route.methods:
                return True
        elif isinstance(route, Mount) and _serves_page(route.routes, prefix + route.path):
            return True
    return False


class AliasMount(Mount):
    """A mount that also takes its own path without the trailing slash.

    Providers are given ``<publicUrl>/webhooks/<alias>`` and POST there; a redirect to the
    slashed URL would not be followed, so that path is the alias's root route ``/``.
    ``serves_page`` tells the agent's index page whether to link the alias's root.
    """

    def __init__(self, path: str, app: ASGIApp, *, serves_page: bool) -> None:
        super().__init__(path, app=app)
        self.serves_page = serves_page

    def matches(self, scope: Scope) -> tuple[Any, Scope]:
        path = scope.get("path", "")
        if scope["type"] == "http" and path == scope.get("root_path", "") + self.path:
            slashed = {**scope, "path": path + "/"}
            match, child = super().matches(slashed)
            return match, {**child, "path": slashed["path"]}
        return super().matches(scope)


class _NotServed:
    """The 404 of an alias: what was asked for, and what the alias does serve."""

    def __init__(self, alias: str, routes: Sequence[BaseRoute]) -> None:
        self.alias = alias
        self.paths = sorted(
            {route.path or "/" for route in routes if isinstance(route, Route | Mount)}
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        served = ", ".join(self.paths) or "nothing"
        response = JSONResponse(
            {
                "error": f"{request.method} {request.url.path}: integration {self.alias!r} "
                f"serves no such route (it serves: {served})"
            },
            status_code=404,
        )
        await response(scope, receive, send)


class _Incidents:
    """HTTP errors as JSON; an unexpected failure as a 500 with an incident id, logged."""

    def __init__(self, alias: str, app: ASGIApp) -> None:
        self.alias = alias
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # websockets and lifespan have no JSON answer to give
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: Any) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except ClientDisconnect:
            return
        except HTTPException as error:
            if started:
                raise
            response: Response = JSONResponse(
                {"error": error.detail}, status_code=error.status_code, headers=error.headers
            )
            await response(scope, receive, send)
        except Exception:
            incident = uuid.uuid4().hex[:12]
            logger.exception(
                "route of integration %r failed (incident %s, %s %s)",
                self.alias,
                incident,
                scope.get("method"),
                scope.get("path"),
            )
            if not started:
                response = JSONResponse(
                    {"error": "internal error", "incident": incident}, status_code=500
                )
                await response(scope, receive, send)
