"""Live updates for the desk page: every change is pushed to each open page as a server event."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

__all__ = ["Updates"]

KEEPALIVE_SECONDS = 15.0


class Updates:
    """Fan-out of change notices to the pages listening on ``/api/events``."""

    def __init__(self) -> None:
        self._listeners: set[asyncio.Queue[dict[str, Any] | None]] = set()

    def publish(self, notice: dict[str, Any]) -> None:
        for queue in self._listeners:
            queue.put_nowait(notice)

    def close(self) -> None:
        """End every open stream, so a server can stop without waiting for the pages."""
        for queue in self._listeners:
            queue.put_nowait(None)

    async def stream(self) -> AsyncIterator[str]:
        """Server-sent events: one ``data:`` line per notice, comments to keep proxies open."""
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._listeners.add(queue)
        try:
            yield ": connected\n\n"
            while True:
                try:
                    notice = await asyncio.wait_for(queue.get(), KEEPALIVE_SECONDS)
                except TimeoutError:
                    yield ": keepalive\n\n"
                    continue
                if notice is None:
                    return
                yield f"data: {json.dumps(notice)}\n\n"
        finally:
            self._listeners.discard(queue)
