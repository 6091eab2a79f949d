"""One store call, one transaction, one pass through SQLAlchemy's async bridge.

Each store method is a synchronous body run on a synchronous ``Connection`` inside one
greenlet (the mechanism ``AsyncConnection.run_sync`` is built on): checking out, beginning,
every statement and committing cost one trip into the bridge instead of one per call, which
halved the cost of a two-statement transaction against ``AsyncSession``. The same body runs on
both backends: on PostgreSQL each statement awaits asyncpg from inside the greenlet; on SQLite
the statements run at once on the loop (``store/_sqlite.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.util import greenlet_spawn

__all__ = ["READ_ONLY", "Transactions"]

READ_ONLY = "patchwire_read_only"
"""Execution option of read transactions: SQLite begins them without taking the write lock."""

_T = TypeVar("_T")


class Transactions:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._writer = engine.sync_engine
        self._reader = engine.sync_engine.execution_options(**{READ_ONLY: True})

    async def _write(self, body: Callable[[Connection], _T]) -> _T:
        """``body(connection)`` in a transaction that may write (SQLite: ``BEGIN IMMEDIATE``)."""
        return await greenlet_spawn(_in_transaction, self._writer, body)

    async def _read(self, body: Callable[[Connection], _T]) -> _T:
        """``body(connection)`` in a transaction that only reads (SQLite: plain ``BEGIN``)."""
        return await greenlet_spawn(_in_transaction, self._reader, body)


def _in_transaction(engine: Engine, body: Callable[[Connection], _T]) -> _T:
    with engine.begin() as connection:
        return body(connection)
