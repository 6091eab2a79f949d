"""SQLite statements run where they are issued, on the event loop, with no thread hand-off.

SQLAlchemy's aiosqlite adapter sends every cursor call (open, execute, fetch, close), every
``BEGIN`` and every ``COMMIT`` to aiosqlite's worker thread and awaits it: about thirty
hand-offs per message through the pipeline, each a wake-up of the thread, a fight for the GIL
and a wake-up of the loop, which a profile showed as the pipeline's largest single cost. A
statement on a local WAL database takes microseconds and a commit does not reach the disk
(``synchronous=NORMAL``), so waiting for a thread costs far more than the work itself.

This dialect (``sqlite+patchwire``, picked by ``store/_engine.py``) runs each statement and
each commit directly on the sqlite3 connection, as a coroutine that completes at once, with
SQLite's busy timeout at zero so nothing can block the loop: a statement that finds the
database locked by another process (a CLI command, a migration) fails at once with
``SQLITE_BUSY`` having changed nothing, and is then run again in aiosqlite's thread with the
real busy timeout, where waiting blocks nobody. The pool holds one connection and a connection
serves one transaction at a time, so the loop and the thread never use it at once. SQL,
pooling, transactions and pragmas are the stock dialect's.
"""

from __future__ import annotations

import sqlite3
from collections import deque
from collections.abc import Callable
from typing import Any, TypeVar, cast

from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
    AsyncAdapt_aiosqlite_ss_cursor,
    SQLiteDialect_aiosqlite,
)

from patchwire.store._transactions import READ_ONLY

__all__ = ["BUSY_TIMEOUT_MS", "DRIVER", "InlineDialect"]

DRIVER = "patchwire"
BUSY_TIMEOUT_MS = 30_000
"""How long a statement moved to the thread waits for another process's lock."""

_T = TypeVar("_T")


def _run(
    connection: sqlite3.Connection, operation: str, parameters: Any
) -> tuple[Any, list[Any], int | None, int]:
    """One statement, start to end: its description, rows, last row id and row count."""
    cursor = connection.cursor()
    try:
        if parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        return description, rows, cursor.lastrowid, cursor.rowcount
    finally:
        cursor.close()


def _patiently(connection: sqlite3.Connection, work: Callable[[], _T]) -> _T:
    """``work()`` with the real busy timeout (in aiosqlite's thread: waiting is fine there)."""
    connection.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    try:
        return work()
    finally:
        connection.execute("PRAGMA busy_timeout=0")


def _run_many(connection: sqlite3.Connection, operation: str, parameters: Any) -> int:
    cursor = connection.cursor()
    try:
        cursor.executemany(operation, parameters)
        return cursor.rowcount
    finally:
        cursor.close()


def _busy(error: sqlite3.OperationalError) -> bool:
    """``SQLITE_BUSY`` or one of its extended codes (``SQLITE_BUSY_SNAPSHOT``, ...)."""
    code = getattr(error, "sqlite_errorcode", None)
    return code is not None and code & 0xFF == sqlite3.SQLITE_BUSY


class InlineCursor(AsyncAdapt_aiosqlite_cursor):
    def execute(self, operation: Any, parameters: Any = None) -> Any:
        try:
            connection = cast(InlineConnection, self._adapt_connection)
            description, rows, lastrowid, rowcount = connection.run(
                lambda raw: _run(raw, operation, parameters)
            )
            self.description = description
            if description:
                self._rows = deque(rows)
                self.lastrowid = self.rowcount = -1
            else:
                self.lastrowid = -1 if lastrowid is None else lastrowid
                self.rowcount = rowcount
        except Exception as error:
            self._adapt_connection._handle_exception(error)

    def executemany(self, operation: Any, seq_of_parameters: Any) -> Any:
        try:
            connection = cast(InlineConnection, self._adapt_connection)
            self.description = None
            self.rowcount = connection.run(lambda raw: _run_many(raw, operation, seq_of_parameters))
            self.lastrowid = -1
        except Exception as error:
            self._adapt_connection._handle_exception(error)


class InlineConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()

    def run(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        """``work(connection)``, awaited as SQLAlchemy's async layer expects of every call."""
        return self.await_(self._now_or_in_thread(work))

    async def _now_or_in_thread(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        """At once on the loop; in the driver's thread when another process holds the lock."""
        raw: sqlite3.Connection = self._connection._conn
        try:
            return work(raw)
        except sqlite3.OperationalError as error:
            if not _busy(error):
                raise
        result: _T = await self._connection._execute(_patiently, raw, lambda: work(raw))
        return result

    def cursor(self, server_side: bool = False) -> AsyncAdapt_aiosqlite_cursor:
        if server_side:
            return AsyncAdapt_aiosqlite_ss_cursor(self)
        return InlineCursor(self)

    def commit(self) -> None:
        try:
            self.run(lambda raw: raw.commit())
        except Exception as error:
            self._handle_exception(error)

    def rollback(self) -> None:
        try:
            self.run(lambda raw: raw.rollback())
        except Exception as error:
            self._handle_exception(error)


class InlineDBAPI(AsyncAdapt_aiosqlite_dbapi):
    def connect(self, *arg: Any, **kw: Any) -> AsyncAdapt_aiosqlite_connection:
        # The loop uses the connection aiosqlite opened in its thread (never both at once).
        kw["check_same_thread"] = False
        stock = super().connect(*arg, **kw)
        connection = InlineConnection(self, stock._connection)
        connection.run(lambda raw: raw.execute("PRAGMA busy_timeout=0"))
        return connection


class InlineDialect(SQLiteDialect_aiosqlite):
    driver = DRIVER
    supports_statement_cache = True

    def do_begin(self, dbapi_connection: Any) -> None:
        """Take the write lock when a transaction starts, unless it only reads.

        A deferred SQLite transaction that reads and then writes fails at once with "database
        is locked" when another writer got there first; an immediate one waits instead (here:
        in the thread). A transaction marked ``READ_ONLY`` begins nothing: each of its
        statements reads a snapshot of its own, as on PostgreSQL at READ COMMITTED, and in
        WAL mode never waits for a writer. Savepoints work because sqlite3 no longer manages
        transactions itself (``isolation_level = None``). Done here rather than in a ``begin``
        event listener, whose presence alone makes every statement dispatch events.
        """
        if dbapi_connection.info.pop(READ_ONLY, False):
            return
        connection = cast(InlineConnection, dbapi_connection.dbapi_connection)
        connection.run(lambda raw: raw.execute("BEGIN IMMEDIATE"))

    @classmethod
    def import_dbapi(cls) -> AsyncAdapt_aiosqlite_dbapi:
        import aiosqlite

        return InlineDBAPI(aiosqlite, sqlite3)


registry.register(f"sqlite.{DRIVER}", __name__, "InlineDialect")
