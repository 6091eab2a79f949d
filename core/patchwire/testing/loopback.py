"""Serving an ASGI app over real HTTP on 127.0.0.1 inside a test's event loop.

Fakes of outside systems, agents under test and webhook receivers all need the same thing: a
real socket, a URL, and a clean stop. ::

    async with LoopbackServer(fake.app()) as server:
        client = httpx.AsyncClient(base_url=server.url)
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from types import TracebackType
from typing import TYPE_CHECKING

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.types import ASGIApp

from patchwire.server import free_port, webhook_mounts

if TYPE_CHECKING:
    from patchwire.runtime import Runtime

__all__ = ["LoopbackServer", "call_routes", "free_port", "serve_routes"]


class LoopbackServer:
    """``app`` served by uvicorn on ``port`` (a free one by default).

    It may stop and start again on the same port, like an outside system that goes down and
    comes back.
    """

    def __init__(self, app: ASGIApp, port: int | None = None) -> None:
        self.app = app
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = self._new_server()
        self._task: asyncio.Task[None] | None = None

    def _new_server(self) -> uvicorn.Server:
        config = uvicorn.Config(
            self.app, port=self.port, log_level="warning", timeout_graceful_shutdown=1
        )
        return uvicorn.Server(config)

    @property
    def started(self) -> bool:
        return self._task is not None and self.server.started

    async def start(self) -> LoopbackServer:
        """Return once the server accepts connections (raise what stopped it otherwise)."""
        self._task = asyncio.create_task(self.server.serve())
        while not self.server.started:
            if self._task.done():
                await self._task
                raise OSError(f"the server on port {self.port} stopped while starting")
            await asyncio.sleep(0.01)
        return self

    async def stop(self) -> None:
        self.server.should_exit = True
        if self._task is not None:
            await self._task
            self._task = None
        self.server = self._new_server()

    async def __aenter__(self) -> LoopbackServer:
        return await self.start()

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()


@contextlib.asynccontextmanager
async def serve_routes(runtime: Runtime, alias: str) -> AsyncIterator[httpx.AsyncClient]:
    """The runtime's integration routes served as the server mounts them, on a real socket;
    a client whose base URL is ``/webhooks/<alias>``."""
    server = LoopbackServer(Starlette(routes=webhook_mounts(runtime)))
    base = f"{server.url}/webhooks/{alias}"
    async with server, httpx.AsyncClient(base_url=base, timeout=30) as http:
        yield http


def call_routes(runtime: Runtime, alias: str) -> httpx.AsyncClient:
    """The runtime's integration routes for ``alias`` called in process (no socket): a
    client whose base URL is ``/webhooks/<alias>``, as the server mounts them.

    For a test driver posting an outside system's webhooks; an exception in a route reaches
    the caller (``serve_routes`` answers 500 instead, as a real server does).
    """
    app = Starlette(routes=webhook_mounts(runtime))
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=f"http://agent/webhooks/{alias}"
    )
