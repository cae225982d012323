"""Every SQL statement a test's code runs: SQLAlchemy's (``before_cursor_execute``) and those run
straight on the DBAPI cursor (``opendcc.store.raw``), each ``executemany`` counted once."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Connection, Engine, event

from opendcc.store import raw


class _Watched:
    """A DBAPI cursor that notes each statement it is given."""

    def __init__(self, cursor: Any, seen: list[str], verb: str) -> None:
        self._cursor, self._seen, self._verb = cursor, seen, verb

    def _note(self, sql: str) -> None:
        if sql.lstrip().upper().startswith(self._verb):
            self._seen.append(sql)

    def execute(self, sql: str, *args: Any) -> Any:
        self._note(sql)
        return self._cursor.execute(sql, *args)

    def executemany(self, sql: str, *args: Any) -> Any:
        self._note(sql)
        return self._cursor.executemany(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)


def statements(engine: Engine, monkeypatch: pytest.MonkeyPatch, verb: str = "") -> list[str]:
    """The statements beginning with ``verb`` run from now on, in order, however run."""
    seen: list[str] = []

    def look(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if statement.lstrip().upper().startswith(verb):
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", look)
    cursor = raw.dbapi_cursor

    def watched(conn: Connection) -> Any:
        return _Watched(cursor(conn), seen, verb)

    monkeypatch.setattr(raw, "dbapi_cursor", watched)
    return seen
