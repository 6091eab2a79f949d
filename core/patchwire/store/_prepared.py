"""The hot path's statements, compiled once per dialect and run on the DBAPI cursor.

``Connection.execute`` does the same work on every call of a statement built once: find its
compiled form by cache key, build an execution context, process the parameters through the
compiled object, set up result metadata. Measured here that is about 25 µs per statement, two
thirds of what a short statement costs on SQLite. A ``Prepared`` statement does that work once
per dialect (SQL text, positional parameter order, the bind and result processors of each
column's type, all through SQLAlchemy's public compiler and type API) and then hands the text
and parameters to the transaction's DBAPI cursor, inside the same transaction. Errors come out
as SQLAlchemy's exceptions (``IntegrityError``, ``OperationalError``), and a connection the
driver reports as lost is invalidated, as ``Connection.execute`` would.

Only statements whose SQL never changes qualify: no expanding ``IN`` lists (those stay on
``Connection.execute``), no Python-side defaults. The store's cost test counts statements at
the driver (``core/tests/runtime/test_cost.py``), so these are counted like any other.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from sqlalchemy import exc
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

__all__ = ["Prepared", "Rows"]

_Processor = Callable[[Any], Any]


class Rows(NamedTuple):
    """What a prepared statement returned: its rows (named tuples) and the rows it changed."""

    rows: Sequence[Any]
    rowcount: int

    def first(self) -> Any | None:
        return self.rows[0] if self.rows else None

    def scalar(self) -> Any | None:
        return self.rows[0][0] if self.rows else None


class _Compiled:
    __slots__ = ("binds", "defaults", "results", "row", "sql")

    def __init__(
        self, statement: ClauseElement, columns: Sequence[str] | None, dialect: Dialect
    ) -> None:
        keys = None if columns is None else list(columns)
        compiled = statement.compile(dialect=dialect, column_keys=keys)
        assert isinstance(compiled, SQLCompiler)
        if compiled.post_compile_params or compiled.literal_execute_params:
            raise TypeError(
                f"{statement} has expanding or literal parameters: its SQL depends on the "
                "values, so it cannot be prepared; run it with Connection.execute"
            )
        if compiled.insert_prefetch or compiled.update_prefetch:
            raise TypeError(
                f"{statement} needs Python-side column defaults: name those columns in "
                "``columns`` and pass their values"
            )
        self.sql = compiled.string
        names = compiled.positiontup or list(compiled.binds)
        self.binds: list[tuple[str, _Processor | None]] = []
        self.defaults: dict[str, Any] = {}
        for name in names:
            bind = compiled.binds[name]
            self.binds.append((name, bind.type.dialect_impl(dialect).bind_processor(dialect)))
            if not bind.required and bind.callable is None:
                self.defaults[name] = bind.value
        # An INSERT may return its new primary key unasked (PostgreSQL's implicit RETURNING).
        returning = compiled.effective_returning
        returned: list[Any] = list(
            getattr(statement, "exported_columns", ()) if returning is None else returning
        )
        self.row: Any = None
        self.results: list[_Processor | None] = []
        if returned:
            self.row = NamedTuple("Row", [(column.key, Any) for column in returned])  # type: ignore[misc]
            self.results = [
                column.type.dialect_impl(dialect).result_processor(dialect, None)
                for column in returned
            ]

    def parameters(self, values: Mapping[str, Any]) -> list[Any]:
        positional = []
        for name, process in self.binds:
            if name in values:
                value = values[name]
            elif name in self.defaults:
                value = self.defaults[name]
            else:
                raise exc.ArgumentError(f"a value is required for bind parameter {name!r}")
            positional.append(value if process is None or value is None else process(value))
        return positional

    def rows(self, raw: Sequence[Sequence[Any]]) -> list[Any]:
        make, results = self.row, self.results
        return [
            make(
                *(
                    value if fn is None else fn(value)
                    for fn, value in zip(results, row, strict=True)
                )
            )
            for row in raw
        ]


class Prepared:
    """A Core statement built once, run by :meth:`execute` on any dialect's connection.

    ``columns``: for an INSERT, the columns each execution gives values for (compiled as
    ``Connection.execute`` compiles it for a dict with those keys).
    """

    __slots__ = ("_by_dialect", "columns", "statement")

    def __init__(self, statement: ClauseElement, columns: Sequence[str] | None = None) -> None:
        self.statement = statement
        self.columns = columns
        self._by_dialect: dict[tuple[str, str, str], _Compiled] = {}

    def execute(self, connection: Connection, values: Mapping[str, Any] | None = None) -> Rows:
        dialect = connection.dialect
        kind = (dialect.name, dialect.driver, dialect.paramstyle)
        compiled = self._by_dialect.get(kind)
        if compiled is None:
            compiled = self._by_dialect[kind] = _Compiled(self.statement, self.columns, dialect)
        parameters = compiled.parameters(values or {})
        fairy = connection.connection
        cursor = fairy.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(compiled.sql, parameters)
            raw = cursor.fetchall() if cursor.description else ()
            rowcount = cursor.rowcount
        except dialect.loaded_dbapi.Error as error:
            lost = dialect.is_disconnect(error, fairy, cursor)
            if lost:
                connection.invalidate(error)
            raise exc.DBAPIError.instance(
                compiled.sql,
                parameters,
                error,
                dialect.loaded_dbapi.Error,
                connection_invalidated=lost,
                dialect=dialect,
            ) from error
        finally:
            cursor.close()
        return Rows(compiled.rows(raw) if raw else [], rowcount)
