"""The ASGI app: an index page, each integration's routes, health, metrics, and short URLs.

The lifespan hands the server (:class:`patchwire.server.Server`) the runtime's
``begin_shutdown``, which ends event streams so stopping does not wait them out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route, Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from patchwire._discovery import Catalog
from patchwire._errors import PatchwireError
from patchwire.metrics import CONTENT_TYPE
from patchwire.runtime import activate
from patchwire.server._agent import LoadedAgent, open_agent
from patchwire.server._index import index_page
from patchwire.server._metrics import metrics_refusal
from patchwire.server._mounts import AliasMount, webhook_mounts
from patchwire.server._serving import SHUTDOWN_HOOK

__all__ = ["AGENT_ENV", "create_app", "create_app_from_env"]

logger = logging.getLogger("patchwire.server")

AGENT_ENV = "PATCHWIRE_AGENT"
"""The agent folder ``create_app_from_env`` serves (used by uvicorn workers and reload)."""


def create_app(
    path: Path, *, database_url: str | None = None, catalog: Catalog | None = None
) -> Starlette:
    """Serve the agent in ``path``: the runtime starts and stops with the app."""
    state: dict[str, LoadedAgent] = {}

    async def no_alias(scope: Scope, receive: Receive, send: Send) -> None:
        aliases = ", ".join(sorted(served)) or "none"
        response = JSONResponse(
            {
                "error": f"no integration with routes is configured at {scope['path']} "
                f"(aliases with routes: {aliases})"
            },
            status_code=404,
        )
        await response(scope, receive, send)

    webhooks = Router(default=no_alias)
    """``/webhooks/<alias>/...``: filled with one mount per alias once the agent is open."""
    served: set[str] = set()
    mounted: list[AliasMount] = []

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Callable[[], None]]]:
        loaded = await open_agent(path, database_url=database_url, catalog=catalog)
        state["agent"] = loaded
        mounts = webhook_mounts(loaded.runtime, prefix="")
        webhooks.routes = list(mounts)
        mounted[:] = mounts
        served.update(mount.path.lstrip("/") for mount in mounts)
        stop = asyncio.Event()
        with activate(loaded.runtime, process_wide=True):
            background = asyncio.create_task(loaded.runtime.run_background(stop))
            await loaded.runtime.ready()
            logger.info(
                "agent %r running (worker %s)", loaded.runtime.agent.name, loaded.runtime.worker_id
            )
            try:
                yield {SHUTDOWN_HOOK: loaded.runtime.begin_shutdown}
            finally:
                stop.set()
                await background
                await loaded.close()

    async def index(request: Request) -> Response:
        return index_page(state["agent"].runtime, mounted)

    async def healthz(request: Request) -> Response:
        # Which process answered: behind a load balancer, or under `serve --workers N`.
        return JSONResponse({"status": "ok", "worker": state["agent"].runtime.worker_id})

    async def readyz(request: Request) -> Response:
        try:
            await state["agent"].store.ping()
        except Exception as error:
            return JSONResponse(
                {
                    "status": "unavailable",
                    "reason": f"database unreachable: {type(error).__name__}",
                },
                status_code=503,
            )
        return JSONResponse({"status": "ready"})

    async def metrics(request: Request) -> Response:
        refused = metrics_refusal(request)
        if refused is not None:
            return refused
        body = await state["agent"].runtime.metrics.exposition()
        return Response(body, media_type=CONTENT_TYPE)

    async def home(request: Request) -> Response:
        alias = request.path_params["alias"]
        if alias not in served:
            return JSONResponse({"error": f"nothing is served at /{alias}"}, status_code=404)
        return RedirectResponse(f"/webhooks/{alias}/")

    return Starlette(
        middleware=[Middleware(_StartupErrors)],
        routes=[
            Route("/", index),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics),
            Mount("/webhooks", app=webhooks),
            Route("/{alias}", home),
        ],
        lifespan=lifespan,
    )


class _StartupErrors:
    """A :class:`PatchwireError` at startup (broken agent code, a config problem) reported as
    its one-line message rather than a traceback; ``dev`` shows it after an edit broke the code,
    and serves again on the next change."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return
        failures: list[Message] = []

        async def held(message: Message) -> None:
            if message["type"] == "lifespan.startup.failed":
                failures.append(message)  # sent below, once it is known what failed
            else:
                await send(message)

        try:
            await self.app(scope, receive, held)
        except PatchwireError as error:
            if failures:
                await send({"type": "lifespan.startup.failed", "message": str(error)})
            raise
        except BaseException:
            for message in failures:
                await send(message)
            raise


def create_app_from_env() -> Starlette:
    """The app for the agent named by ``$PATCHWIRE_AGENT`` (uvicorn ``--factory``)."""
    path = os.environ.get(AGENT_ENV)
    if not path:
        raise RuntimeError(f"set {AGENT_ENV} to the agent folder to serve")
    return create_app(Path(path), database_url=os.environ.get("PATCHWIRE_DATABASE_URL"))
