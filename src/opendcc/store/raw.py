"""Hot-path SQL compiled once per dialect and run on the DBAPI cursor.

SQLAlchemy Core costs about 100 µs of Python per ``execute`` (cache key, compiled-cache lookup,
execution context, result set-up) whatever the statement; the front door's accept writes a
handful of statements per batch, and that overhead was most of the group commit's CPU. A
``RawStatement`` is still written as SQLAlchemy Core (one schema, one source of the SQL text),
compiled once for the connection's dialect, and executed with the DBAPI's own ``executemany``
inside the caller's SQLAlchemy transaction. Values pass through the columns' own bind
processors (``UtcDateTime`` and the dialect's date-time format included), so the rows are
exactly those the Core path writes.

DBAPI errors come out unwrapped (``sqlite3.IntegrityError``, ``psycopg.errors...``): the group
commit rolls back the piece's savepoint on any exception either way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Connection, Dialect, Table
from sqlalchemy.sql import Insert

Processor = Callable[[Any], Any] | None


class RawInsert:
    """An INSERT of ``columns`` into ``table``, run as one DBAPI ``executemany``."""

    def __init__(self, table: Table, columns: Sequence[str]) -> None:
        self.table = table
        self.columns = tuple(columns)
        self._compiled: dict[str, tuple[str, tuple[int, ...] | None, list[Processor]]] = {}

    def _for(self, dialect: Dialect) -> tuple[str, tuple[int, ...] | None, list[Processor]]:
        if (found := self._compiled.get(dialect.name)) is not None:
            return found
        statement: Insert = self.table.insert().inline()  # no RETURNING of the key
        compiled = statement.compile(dialect=dialect, column_keys=list(self.columns))
        processors: list[Processor] = [
            self.table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
            for name in self.columns
        ]
        order: tuple[int, ...] | None = None
        if compiled.positional:
            index = {name: i for i, name in enumerate(self.columns)}
            order = tuple(index[key] for key in compiled.positiontup or ())
        self._compiled[dialect.name] = (compiled.string, order, processors)
        return self._compiled[dialect.name]

    def sql(self, dialect: Dialect) -> str:
        return self._for(dialect)[0]

    def run(self, conn: Connection, rows: Sequence[Sequence[Any]]) -> None:
        """Insert ``rows`` (values in ``columns`` order) in the caller's transaction."""
        if not rows:
            return
        sql, order, processors = self._for(conn.dialect)
        converted = [
            [value if p is None else p(value) for p, value in zip(processors, row, strict=True)]
            for row in rows
        ]
        if order is not None:
            params: list[Any] = [tuple(row[i] for i in order) for row in converted]
        else:
            params = [dict(zip(self.columns, row, strict=True)) for row in converted]
        cursor = dbapi_cursor(conn)
        try:
            cursor.executemany(sql, params)
        finally:
            cursor.close()


def dbapi_cursor(conn: Connection) -> Any:
    """A cursor on the connection's DBAPI connection, in its current transaction."""
    return conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]


def placeholders(dialect: Dialect, count: int) -> str:
    """``count`` positional parameters in the dialect's DBAPI style, comma-separated."""
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    return ", ".join([mark] * count)


def query(conn: Connection, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """Run a read with positional ``params`` (see ``placeholders``) and fetch every row."""
    cursor = dbapi_cursor(conn)
    try:
        cursor.execute(sql, tuple(params))
        return [tuple(row) for row in cursor.fetchall()]
    finally:
        cursor.close()
