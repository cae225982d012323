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

import contextlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Dialect, Table, bindparam, update
from sqlalchemy.sql import Delete, Insert, Select, Update

from opendcc.store.tables import UtcDateTime, request_transitions, service_requests

Processor = Callable[[Any], Any] | None
# A RawStatement's SQL, its bind names in positional order (empty for a named paramstyle), the
# binds' processors (those that have one) and the values of the binds the statement fixes.
_Compiled = tuple[str, tuple[str, ...], dict[str, Callable[[Any], Any]], dict[str, Any]]
# A RawInsert's SQL, whether its paramstyle is positional, the positional order of its columns
# (None: their own), and the (column index, processor) of the columns that have a processor.
_CompiledInsert = tuple[
    str, bool, tuple[int, ...] | None, tuple[tuple[int, Callable[[Any], Any]], ...]
]


class RawInsert:
    """An INSERT of ``columns`` into ``table``, run as one DBAPI ``executemany``."""

    def __init__(self, table: Table, columns: Sequence[str]) -> None:
        self.table = table
        self.columns = tuple(columns)
        self._compiled: dict[str, _CompiledInsert] = {}

    def _for(self, dialect: Dialect) -> _CompiledInsert:
        if (found := self._compiled.get(dialect.name)) is not None:
            return found
        statement: Insert = self.table.insert().inline()  # no RETURNING of the key
        compiled = statement.compile(dialect=dialect, column_keys=list(self.columns))
        processors: list[Processor] = [
            processor(self.table.c[name].type, dialect) for name in self.columns
        ]
        order: tuple[int, ...] | None = None
        if compiled.positional:
            index = {name: i for i, name in enumerate(self.columns)}
            order = tuple(index[key] for key in compiled.positiontup or ())
            if order == tuple(range(len(self.columns))):
                order = None  # the columns' own order: the rows go as they are
        active = tuple((i, p) for i, p in enumerate(processors) if p is not None)
        self._compiled[dialect.name] = (compiled.string, compiled.positional, order, active)
        return self._compiled[dialect.name]

    def sql(self, dialect: Dialect) -> str:
        return self._for(dialect)[0]

    def run(self, conn: Connection, rows: Sequence[Sequence[Any]]) -> None:
        """Insert ``rows`` (values in ``columns`` order) in the caller's transaction."""
        if not rows:
            return
        sql, positional, order, active = self._for(conn.dialect)
        width = len(self.columns)
        converted = []
        for row in rows:  # only the columns with a bind processor are touched
            values = list(row)
            if len(values) != width:
                raise ValueError(f"{len(values)} values for {width} columns of {self.table.name}")
            for i, p in active:
                values[i] = p(values[i])
            converted.append(values)
        params: list[Any]
        if not positional:
            params = [dict(zip(self.columns, values, strict=True)) for values in converted]
        elif order is not None:
            params = [tuple(values[i] for i in order) for values in converted]
        else:
            params = converted
        cursor = dbapi_cursor(conn)
        try:
            cursor.executemany(sql, params)
        finally:
            cursor.close()


class RawStatement:
    """An UPDATE, DELETE or INSERT ... SELECT written with named ``bindparam``s, run as one
    DBAPI ``executemany`` over a list of parameter dicts (constants written in the statement,
    such as ``+ 1`` or ``= NULL``, are bound from the statement itself); or a SELECT, run
    once with ``fetch``."""

    def __init__(self, statement: Update | Delete | Insert | Select[Any]) -> None:
        self.statement = statement
        self._compiled: dict[str, _Compiled] = {}

    def _for(self, dialect: Dialect) -> _Compiled:
        if (found := self._compiled.get(dialect.name)) is not None:
            return found
        compiled = self.statement.compile(dialect=dialect)
        processors: dict[str, Callable[[Any], Any]] = {}
        constants: dict[str, Any] = {}
        for bind, name in compiled.bind_names.items():
            if (convert := processor(bind.type, dialect)) is not None:
                processors[name] = convert
            if bind.value is not None or not bind.required:
                constants[name] = bind.value
        names = tuple(compiled.positiontup or ()) if compiled.positional else ()
        self._compiled[dialect.name] = (compiled.string, names, processors, constants)
        return self._compiled[dialect.name]

    def sql(self, dialect: Dialect) -> str:
        return self._for(dialect)[0]

    def _params(self, dialect: Dialect, rows: Sequence[dict[str, Any]]) -> tuple[str, list[Any]]:
        """The SQL, and ``rows`` as the DBAPI takes them (bind processors applied)."""
        sql, names, processors, constants = self._for(dialect)
        converted = []
        for row in rows:
            values = {**constants, **row}
            for name, p in processors.items():
                values[name] = p(values[name])
            converted.append(values)
        if names:
            return sql, [tuple(values[name] for name in names) for values in converted]
        return sql, converted

    def run(self, conn: Connection, rows: Sequence[dict[str, Any]]) -> int:
        """Run once per dict of ``rows`` in the caller's transaction; the rows it matched, in
        all (meaningful where ``dialect.supports_sane_multi_rowcount``)."""
        if not rows:
            return 0
        sql, params = self._params(conn.dialect, rows)
        cursor = dbapi_cursor(conn)
        try:
            if len(params) == 1:
                cursor.execute(sql, params[0])
            else:
                cursor.executemany(sql, params)
            return int(cursor.rowcount)
        finally:
            cursor.close()

    def fetch(self, conn: Connection, row: dict[str, Any]) -> list[tuple[Any, ...]]:
        """Run once with ``row`` in the caller's transaction and fetch what it returns (an
        UPDATE ... RETURNING); values come back as the DBAPI gives them."""
        sql, (params,) = self._params(conn.dialect, [row])
        cursor = dbapi_cursor(conn)
        try:
            cursor.execute(sql, params)
            return [tuple(found) for found in cursor.fetchall()]
        finally:
            cursor.close()


def result_processors(columns: Iterable[Any], dialect: Dialect) -> list[Processor]:
    """Each selected column's result processor for ``dialect`` (None: the value is taken as the
    DBAPI gives it), for a read run on the DBAPI cursor to decode its rows as Core would."""
    return [c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns]


def processor(kind: Any, dialect: Dialect) -> Processor:
    """The column type's bind processor; for ``UtcDateTime`` on SQLite one doing the same in a
    single step (the hot path writes several date-times a row)."""
    if isinstance(kind, UtcDateTime) and dialect.name == "sqlite":
        return sqlite_utc_text
    return kind.dialect_impl(dialect).bind_processor(dialect)  # type: ignore[no-any-return]


def sqlite_utc_text(value: datetime | None) -> str | None:
    """``UtcDateTime`` then SQLite's DATETIME processor: naive UTC as SQLAlchemy's text
    (microseconds always written, so the text sorts as the instants do). A UTC value (nearly
    every one: the clocks give UTC) is written by ``datetime.isoformat`` in C, its "+00:00"
    cut off; tested equal to SQLAlchemy's own processors (tests/store/test_raw.py)."""
    if value is not None and value.tzinfo is UTC:
        return _isoformat(value, " ", "microseconds")[:26]
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("the store takes timezone-aware datetimes only")
    return _isoformat(value.astimezone(UTC), " ", "microseconds")[:26]


_isoformat = datetime.isoformat


@contextlib.contextmanager
def savepoint(conn: Connection, name: str) -> Iterator[None]:
    """A savepoint on the DBAPI connection: released when the block ends, rolled back to when
    it raises (SQLAlchemy's ``begin_nested`` costs two Core executes more)."""
    cursor = dbapi_cursor(conn)
    try:
        cursor.execute(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            cursor.execute(f"ROLLBACK TO SAVEPOINT {name}")
            cursor.execute(f"RELEASE SAVEPOINT {name}")
            raise
        cursor.execute(f"RELEASE SAVEPOINT {name}")
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


# A request's conditional move (only from the state its mover read) and its history rows: the
# route's advance and end (``dsp.ending``) and the outbox's delivery write them a batch at a time.
_sr = service_requests.c
_MOVE = (
    update(service_requests)
    .where(_sr.request_id == bindparam("key"))
    .where(_sr.state == bindparam("current"))
    .values(state=bindparam("new_state"), updated_at=bindparam("now"))
)
MOVE = RawStatement(_MOVE)
MOVE_ANSWERED = RawStatement(_MOVE.values(response_code=bindparam("code")))
HISTORY = RawInsert(request_transitions, ("request_id", "source", "target", "at"))


def moved(conn: Connection, statement: RawStatement, moves: Sequence[dict[str, Any]]) -> None:
    """Run the conditional UPDATEs (``key``, ``current``, ``new_state``, ``now``); every one must
    have moved its request, else ``ConcurrentTransition``."""
    from opendcc.store.requests import ConcurrentTransition  # requests builds on this module

    if conn.dialect.supports_sane_multi_rowcount:
        if statement.run(conn, moves) != len(moves):
            raise ConcurrentTransition("a request of the batch was moved by someone else")
        return
    for move in moves:
        if statement.run(conn, [move]) != 1:
            raise ConcurrentTransition(f"{move['key']} left {move['current']} before this step")
