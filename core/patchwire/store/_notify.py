"""Notifications between the processes that share one database.

Subscribers in this process are called at once; on PostgreSQL the same notification also goes
out with ``NOTIFY`` and every other process's listener connection (``LISTEN``) calls its own
subscribers. So an idle worker wakes when another process queues work, and a chat listener on
one server receives what another server produced, with no server but the database. SQLite is
for one process, where the in-process call is all there is.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import uuid
from collections.abc import Callable
from typing import Any

import asyncpg  # type: ignore[import-untyped]  # no stubs shipped
from sqlalchemy import String, bindparam, func, select
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = ["SIGNALS", "WORK", "Notifier"]

logger = logging.getLogger("patchwire.store")

WORK = "patchwire_work"
"""Work was queued or scheduled (payload: empty, or the ISO due time of a timer)."""
SIGNALS = "patchwire_signals"
"""Something to fan out to live listeners (payload: the publisher's JSON text)."""

_CHANNELS = (WORK, SIGNALS)
_RECONNECT_SECONDS = (0.5, 1, 2, 5)

_NOTIFY = select(
    func.pg_notify(bindparam("channel", type_=String), bindparam("payload", type_=String))
)

Subscriber = Callable[[str, bool], None]
"""Called with the payload, and whether it came from another process."""


class Notifier:
    """Publish to and subscribe to a few named channels of one database."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._remote = engine.dialect.name == "postgresql"
        self._origin = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._subscribers: dict[str, list[Subscriber]] = {channel: [] for channel in _CHANNELS}
        self._connection: Any = None
        self._keeper: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()
        self._closed = False
        self._publishing = asyncio.Lock()

    def subscribe(self, channel: str, subscriber: Subscriber) -> Callable[[], None]:
        """Call ``subscriber(payload, remote)`` for every notification; returns the undo."""
        subscribers = self._subscribers[channel]
        subscribers.append(subscriber)
        if self._remote and self._keeper is None and not self._closed:
            self._keeper = asyncio.get_running_loop().create_task(self._keep_listening())
        return lambda: subscribers.remove(subscriber) if subscriber in subscribers else None

    async def listening(self, timeout: float = 10) -> None:
        """Wait until other processes' notifications reach this one (at once on SQLite)."""
        if self._remote and self._keeper is not None:
            await asyncio.wait_for(self._listening.wait(), timeout)

    def in_transaction(self, connection: Connection, channel: str, payload: str = "") -> None:
        """Notify other processes when ``connection``'s transaction commits (none on SQLite)."""
        if self._remote:
            connection.execute(
                _NOTIFY, {"channel": channel, "payload": f"{self._origin}|{payload}"}
            )

    def local(self, channel: str, payload: str = "", *, remote: bool = False) -> None:
        """Tell this process's subscribers (call after the change committed)."""
        for subscriber in list(self._subscribers[channel]):
            try:
                subscriber(payload, remote)
            except Exception:
                logger.exception("a subscriber of %s failed", channel)

    async def publish(self, channel: str, payload: str) -> None:
        """Notify this process and, on PostgreSQL, every other one (outside a transaction)."""
        self.local(channel, payload)
        if not self._remote:
            return
        text = f"{self._origin}|{payload}"
        if await self._notify_on_listener(channel, text):
            return
        async with self._engine.connect() as connection:
            await connection.execute(_NOTIFY, {"channel": channel, "payload": text})
            await connection.commit()

    async def _notify_on_listener(self, channel: str, text: str) -> bool:
        """``NOTIFY`` over the LISTEN connection this process holds anyway: one round trip and
        no pool checkout or transaction per chat signal. asyncpg runs one query at a time on a
        connection, hence the lock; False (use the pool) while that connection is not up."""
        connection = self._connection
        if connection is None or not self._listening.is_set():
            return False
        try:
            async with self._publishing:
                await connection.execute("SELECT pg_notify($1, $2)", channel, text)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            return False
        return True

    async def close(self) -> None:
        self._closed = True
        if self._keeper is not None:
            self._keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keeper
        await self._disconnect()

    # --- PostgreSQL ------------------------------------------------------------------------

    def _dsn(self) -> str:
        url = make_url(self._engine.url.render_as_string(hide_password=False))
        return url.set(drivername="postgresql").render_as_string(hide_password=False)

    def _received(self, _connection: Any, _pid: int, channel: str, payload: str) -> None:
        origin, _, data = payload.partition("|")
        if origin != self._origin:
            self.local(channel, data, remote=True)

    async def _keep_listening(self) -> None:
        """Hold a LISTEN connection; after losing it, reconnect and wake every worker."""
        attempt = 0
        while not self._closed:
            lost = asyncio.Event()
            try:
                self._connection = await asyncpg.connect(self._dsn(), timeout=10)
                self._connection.add_termination_listener(lambda _c, lost=lost: lost.set())
                for channel in _CHANNELS:
                    await self._connection.add_listener(channel, self._received)
            except (OSError, asyncpg.PostgresError, TimeoutError) as error:
                delay = _RECONNECT_SECONDS[min(attempt, len(_RECONNECT_SECONDS) - 1)]
                attempt += 1
                logger.warning("cannot LISTEN on the database (%s); again in %ss", error, delay)
                await self._disconnect()
                await asyncio.sleep(delay)
                continue
            if attempt:
                logger.info("listening to the database again")
                self.local(WORK, remote=True)  # notifications may have been missed meanwhile
            attempt = 0
            self._listening.set()
            await lost.wait()
            self._listening.clear()
            await self._disconnect()

    async def _disconnect(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None and not connection.is_closed():
            with contextlib.suppress(Exception):
                await connection.close(timeout=2)
