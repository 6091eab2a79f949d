"""SQLite through aiosqlite with one thread round trip per statement.

SQLAlchemy's aiosqlite adapter awaits aiosqlite's worker thread once for each cursor call of a
statement (open, execute, fetch, close): four hand-offs between the event loop and the thread
per statement, which a profile of the pipeline showed as its largest single cost. This dialect
runs those steps as one function in aiosqlite's thread, so a statement costs one hand-off. Rows
are fetched whole, as the stock adapter does for the cursors we use (no server-side cursors).

Registered as ``sqlite+patchwire`` (``store/_engine.py`` picks it); the SQL, the pool, the
transactions and the pragmas are the stock dialect's.
"""

from __future__ import annotations

import sqlite3
from collections import deque
from typing import Any

from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
    AsyncAdapt_aiosqlite_ss_cursor,
    SQLiteDialect_aiosqlite,
)

__all__ = ["DRIVER", "OneTripDialect"]

DRIVER = "patchwire"


def _run(
    connection: sqlite3.Connection, operation: str, parameters: Any
) -> tuple[Any, list[Any], int | None, int]:
    """One statement, start to end, inside aiosqlite's thread."""
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


class OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    def execute(self, operation: Any, parameters: Any = None) -> Any:
        try:
            connection = self._connection
            description, rows, lastrowid, rowcount = self.await_(
                connection._execute(_run, connection._conn, operation, parameters)
            )
            self.description = description
            if description:
                self._rows = deque(rows)
                self.lastrowid = self.rowcount = -1
            else:
                self.lastrowid = lastrowid
                self.rowcount = rowcount
        except Exception as error:
            self._adapt_connection._handle_exception(error)


class OneTripConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()

    def cursor(self, server_side: bool = False) -> AsyncAdapt_aiosqlite_cursor:
        if server_side:
            return AsyncAdapt_aiosqlite_ss_cursor(self)
        return OneTripCursor(self)


class OneTripDBAPI(AsyncAdapt_aiosqlite_dbapi):
    def connect(self, *arg: Any, **kw: Any) -> AsyncAdapt_aiosqlite_connection:
        stock = super().connect(*arg, **kw)
        return OneTripConnection(self, stock._connection)


class OneTripDialect(SQLiteDialect_aiosqlite):
    driver = DRIVER
    supports_statement_cache = True

    @classmethod
    def import_dbapi(cls) -> AsyncAdapt_aiosqlite_dbapi:
        import aiosqlite

        return OneTripDBAPI(aiosqlite, sqlite3)


registry.register(f"sqlite.{DRIVER}", __name__, "OneTripDialect")
