"""Engines: URL forms, SQLite pragmas, and migrating to the newest schema on open."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

from patchwire.store._sqlite import DRIVER as SQLITE_DRIVER

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = ["create_engine", "migrate", "normalise_url"]

_MIGRATIONS = Path(__file__).with_name("migrations")
_MIGRATION_LOCK = 7_413_920_155
"""PostgreSQL advisory lock key: two processes opening one database never migrate at once."""


def normalise_url(url: str) -> str:
    """Accept ``postgresql://`` and ``sqlite:///`` and pick the async drivers we ship."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    if backend == "sqlite":
        return parsed.set(drivername=f"sqlite+{SQLITE_DRIVER}").render_as_string(
            hide_password=False
        )
    raise ValueError(
        f"unsupported database URL {parsed.render_as_string()!r}: use sqlite:///path/to/file.db "
        "or postgresql://user@host:port/database"
    )


def create_engine(url: str) -> AsyncEngine:
    normalised = normalise_url(url)
    if make_url(normalised).get_backend_name() == "sqlite":
        database = make_url(normalised).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        # One connection per process: SQLite has a single writer, and queueing in the pool is
        # cheaper and fairer than every session spinning on the file lock. No rollback when a
        # connection returns to the pool: every user (a store transaction, an AsyncConnection)
        # ends its transaction before it lets go, and the reset was a trip through the async
        # bridge per transaction.
        engine = create_async_engine(
            normalised,
            connect_args={"timeout": 30},
            pool_size=1,
            max_overflow=0,
            pool_timeout=120,
            pool_reset_on_return=None,
        )
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    engine = create_async_engine(normalised, pool_size=10, max_overflow=10)
    event.listen(engine.sync_engine.pool, "checkout", _ping_if_idle)
    event.listen(engine.sync_engine.pool, "checkin", _note_checkin)
    return engine


IDLE_BEFORE_PING = 5.0
"""Seconds a pooled PostgreSQL connection may sit unused before its next checkout pings it."""
_CHECKED_IN = "patchwire_checked_in"


def _note_checkin(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
    record.info[_CHECKED_IN] = time.monotonic()


def _ping_if_idle(
    dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: PoolProxiedConnection
) -> None:
    """Replace a connection the server closed, and ping one that sat idle, so a database
    restart costs no caller an error.

    A server that restarts or drops a session closes its socket, and asyncpg notes that as
    soon as the loop reads the end of the stream: ``is_closed()`` knows it for free.
    ``pool_pre_ping`` pings at every checkout, and asyncpg's ping outside a transaction is
    three round trips (begin, ``;``, rollback): a quarter of a busy pipeline's round trips.
    A connection checked in moments ago and not seen closed was alive moments ago; if it died
    unseen since (a network partition), the first statement fails, SQLAlchemy invalidates the
    whole pool, and the job is retried (``runtime._store_failure``). Raising
    ``DisconnectionError`` here makes the pool replace the connection and check out again.
    """
    if _seen_closed(record):
        raise DisconnectionError("the server closed this pooled connection")
    checked_in = record.info.get(_CHECKED_IN)
    if checked_in is None or time.monotonic() - checked_in <= IDLE_BEFORE_PING:
        return  # just connected, or used moments ago
    try:
        dbapi_connection.ping()
    except Exception as error:
        raise DisconnectionError(f"pooled connection failed its ping: {error}") from error


def _seen_closed(record: ConnectionPoolEntry) -> bool:
    """Whether asyncpg has read the end of the connection's stream (no round trip)."""
    return record.driver_connection is not None and bool(record.driver_connection.is_closed())


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    """WAL (readers never wait for the writer) without a disk flush per commit; the busy
    timeout is the dialect's (``store/_sqlite.py``)."""
    connection.isolation_level = None
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration for our migrations; alembic is imported here, when a store is
    opened, rather than by every process that imports the store (about 0.15 s)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def _upgrade(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
    from alembic import command

    command.upgrade(alembic_config(connection), "head")


async def migrate(engine: AsyncEngine) -> None:
    """Bring the schema to the newest revision; a no-op when it is there already."""
    async with engine.begin() as connection:
        await connection.run_sync(_upgrade)
