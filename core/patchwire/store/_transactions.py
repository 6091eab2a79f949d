"""One store call, one transaction, one pass through SQLAlchemy's async bridge.

Each store method is a synchronous body run on a synchronous ``Connection`` inside one
greenlet (the mechanism ``AsyncConnection.run_sync`` is built on): checking out, beginning,
every statement and committing cost one trip into the bridge instead of one per call, which
halved the cost of a two-statement transaction against ``AsyncSession``. The same body runs on
both backends: on PostgreSQL each statement awaits asyncpg from inside the greenlet; on SQLite
the statements run at once on the loop (``store/_sqlite.py``).

Reads take no transaction on either backend: each statement reads a snapshot of its own
(PostgreSQL at READ COMMITTED gives nothing more inside a transaction), which saves a
``BEGIN`` and a ``COMMIT`` per read: two round trips on PostgreSQL. A change that PostgreSQL
makes in one statement (a reply stored, a finished job forgotten and the next one claimed) needs
no transaction around it either: a statement is atomic (:meth:`Transactions._write_one`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.util import greenlet_spawn

__all__ = ["READ_ONLY", "Transactions"]

READ_ONLY = "patchwire_read_only"
"""Flag in a pooled connection's ``info`` for its next transaction: it only reads, so SQLite
begins none (``store/_sqlite.py``); consumed by that ``BEGIN``."""

_T = TypeVar("_T")


class Transactions:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._writer: Engine = engine.sync_engine
        self._mark_reads = engine.dialect.name == "sqlite"
        self._reader: Engine
        self._single: Engine
        self._autocommit = engine.dialect.name == "postgresql"
        if self._autocommit:
            # At READ COMMITTED each statement reads its own snapshot, so a read transaction
            # adds nothing to autocommit statements but two round trips (BEGIN, COMMIT).
            self._reader = self._single = self._writer.execution_options(
                isolation_level="AUTOCOMMIT"
            )
        else:
            self._reader = self._single = self._writer

    async def _write(self, body: Callable[[Connection], _T]) -> _T:
        """``body(connection)`` in a transaction that may write (SQLite: ``BEGIN IMMEDIATE``)."""
        return await greenlet_spawn(_in_transaction, self._writer, body, False)

    async def _write_one(self, body: Callable[[Connection], _T]) -> _T:
        """``body(connection)`` whose change is one statement on PostgreSQL (reads may follow
        it): no transaction around it there, saving the ``BEGIN`` and ``COMMIT`` round trips.
        On SQLite, where the same change may take several statements, as :meth:`_write`."""
        if self._autocommit:
            return await greenlet_spawn(_autocommitted, self._single, body)
        return await greenlet_spawn(_in_transaction, self._single, body, False)

    async def _read(self, body: Callable[[Connection], _T]) -> _T:
        """``body(connection)``, each statement a snapshot of its own, on both backends."""
        if self._autocommit:
            return await greenlet_spawn(_autocommitted, self._reader, body)
        return await greenlet_spawn(_in_transaction, self._reader, body, self._mark_reads)


def _in_transaction(engine: Engine, body: Callable[[Connection], _T], mark_read: bool) -> _T:
    with engine.connect() as connection:
        if mark_read:
            connection.connection.info[READ_ONLY] = True
        with connection.begin():
            return body(connection)


def _autocommitted(engine: Engine, body: Callable[[Connection], _T]) -> _T:
    """``body`` on an autocommit connection: each statement commits as it runs, so there is
    no transaction to begin or commit (SQLAlchemy's bookkeeping of one cost about 3% of a
    PostgreSQL pipeline's CPU for a ``COMMIT`` the driver skips)."""
    with engine.connect() as connection:
        return body(connection)
