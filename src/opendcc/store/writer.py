"""One connection a writer keeps for many transactions, begun and ended on its DBAPI connection.

The group commit's writer thread (``store.group``) commits a batch every millisecond or two under
load. Through SQLAlchemy each batch cost a ``Connection.begin`` (events, our BEGIN IMMEDIATE hook
and its two PRAGMAs), a ``Transaction.commit`` and, whenever the queue ran dry, a pool checkin
(with its reset ROLLBACK) and checkout: most of the writer's fixed CPU per batch. Here the writer
checks one SQLAlchemy ``Connection`` out and keeps it until it idles or fails, and issues the
transaction's statements itself on the driver's connection: BEGIN IMMEDIATE (polled for the lock
with the busy timeout at 0, set once for the connection's life) and COMMIT / ROLLBACK on SQLite;
on PostgreSQL (psycopg) the driver begins implicitly at the first statement, and we call its
``commit`` / ``rollback``.

SQLAlchemy's view of the connection stays consistent: it is begun once, at checkout (the
``HELD`` execution option tells our begin hook to issue nothing), so to SQLAlchemy it is in one
long transaction. Core statements run on it as on any begun connection (no autobegin, no
autocommit); ``begin_nested`` still works (a SAVEPOINT inside our transaction). When the writer
gives the connection back, SQLAlchemy ends that transaction with a ROLLBACK, a no-op with none
open. Errors from BEGIN and COMMIT are wrapped as SQLAlchemy's (``OperationalError`` for
"database is locked", as before), and a connection whose BEGIN, COMMIT or ROLLBACK failed is
discarded (invalidated), never reused.
"""

from __future__ import annotations

import contextlib
import sqlite3
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

from opendcc.store import engine as store_engine


class WriterConnection:
    """A connection checked out for a writer's successive transactions (see the module)."""

    def __init__(self, engine: Engine) -> None:
        self.conn: Connection = engine.connect()
        try:
            self.conn.execution_options(**{store_engine.WRITES: True, store_engine.HELD: True})
            self.conn.begin()  # SQLAlchemy's one long transaction: nothing is sent
            dbapi = self.conn.connection.driver_connection
            self.dbapi: Any = dbapi
            self.dialect = self.conn.dialect
            self.sqlite = isinstance(dbapi, sqlite3.Connection)
            if isinstance(dbapi, sqlite3.Connection):
                # Our own poll waits for the lock (store.engine.take_write_lock); once for the
                # connection's life, not twice a BEGIN.
                dbapi.execute("PRAGMA busy_timeout=0")
        except BaseException:
            self.conn.invalidate()
            self.conn.close()
            raise
        self.open = False  # a transaction of ours is open on the DBAPI connection
        self.broken = False

    def begin(self) -> None:
        """Start a write transaction (on SQLite: holding the write lock)."""
        if self.sqlite and not store_engine.take_write_lock(self.dbapi):
            self._run("BEGIN IMMEDIATE")  # raises: the deadline passed, or another error
        self.open = True

    def commit(self) -> None:
        self.open = False
        self._run("COMMIT")

    def rollback(self) -> None:
        self.open = False
        self._run("ROLLBACK")

    def discard(self) -> None:
        """Roll back what is open, and mark the connection not to be used again."""
        self.broken = True
        if self.open:
            self.open = False
            with contextlib.suppress(Exception):
                self.dbapi.rollback()

    def close(self) -> None:
        """Give the connection back (or, broken, throw it away)."""
        try:
            if self.broken:
                self.conn.invalidate()
            elif self.sqlite:
                if self.open:
                    self.dbapi.rollback()
                self.dbapi.execute(f"PRAGMA busy_timeout={int(store_engine.LOCK_TIMEOUT * 1000)}")
        except Exception:
            self.conn.invalidate()
        finally:
            self.conn.close()

    def __enter__(self) -> WriterConnection:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _run(self, what: str) -> None:
        try:
            if what == "COMMIT":
                self.dbapi.commit()
            elif what == "ROLLBACK":
                self.dbapi.rollback()
            else:
                self.dbapi.execute(what)
        except self.dialect.loaded_dbapi.Error as error:
            self.broken = True
            raise DBAPIError.instance(what, None, error, self.dialect.loaded_dbapi.Error) from None
        except BaseException:
            self.broken = True
            raise
