"""Opening the desk's database: SQLite by default, PostgreSQL by URL, migrated on open."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from patchwire.store import create_engine

__all__ = ["database_url", "open_engine"]

_MIGRATIONS = Path(__file__).with_name("migrations")
_MIGRATION_LOCK = 7_413_920_156
"""PostgreSQL advisory lock key: two desks opening one database never migrate at once."""
FIRST_REVISION = "0001"
"""The schema desks before migrations created on their own; such a file is stamped with it."""


def database_url(database: Path | str) -> str:
    """A path is a SQLite file; ``sqlite:///...`` and ``postgresql://...`` are taken as URLs."""
    if isinstance(database, str) and "://" in database:
        return database
    return f"sqlite:///{Path(database)}"


def _upgrade(connection: Connection) -> None:
    """Migrate to the newest revision, unless the database is there already.

    The check comes first because alembic's ``op`` and ``context`` are process-wide: running
    its environment while another store in this process migrates (``patchwire demo`` opens
    the agent's store and the desk's at once) would mix the two.
    """
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.attributes["connection"] = connection
    head = ScriptDirectory.from_config(config).get_current_head()
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
    tables = set(inspect(connection).get_table_names())
    if "alembic_version" in tables:
        current = connection.execute(text("SELECT version_num FROM alembic_version")).scalars()
        if list(current) == [head]:
            return
    elif "people" in tables:
        command.stamp(config, FIRST_REVISION)
    command.upgrade(config, "head")


async def open_engine(database: Path | str) -> AsyncEngine:
    """An engine on the newest schema (a no-op migration when it is there already)."""
    engine = create_engine(database_url(database))
    async with engine.begin() as connection:
        await connection.run_sync(_upgrade)
    return engine
