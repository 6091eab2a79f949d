"""Engines: URL forms, SQLite pragmas, and migrating to the newest schema on open."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from patchwire.store._sqlite import DRIVER as SQLITE_DRIVER
from patchwire.store._transactions import READ_ONLY

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
        # cheaper and fairer than every session spinning on the file lock.
        engine = create_async_engine(
            normalised, connect_args={"timeout": 30}, pool_size=1, max_overflow=0, pool_timeout=120
        )
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
        return engine
    return create_async_engine(normalised, pool_size=10, max_overflow=10, pool_pre_ping=True)


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    """WAL (readers never wait for the writer) without a disk flush per commit; the busy
    timeout is the dialect's (``store/_sqlite.py``)."""
    connection.isolation_level = None
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    """Take the write lock when a transaction that may write starts.

    A deferred SQLite transaction that reads and then writes fails at once with "database is
    locked" when another writer got there first; an immediate one waits instead. Transactions
    that only read (``READ_ONLY``) begin deferred: in WAL mode they never wait for a writer.
    Savepoints also only work once the driver stops managing transactions itself.
    """
    read_only = connection.get_execution_options().get(READ_ONLY, False)
    connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def _upgrade(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
    command.upgrade(alembic_config(connection), "head")


async def migrate(engine: AsyncEngine) -> None:
    """Bring the schema to the newest revision; a no-op when it is there already."""
    async with engine.begin() as connection:
        await connection.run_sync(_upgrade)
