"""Engines for the embedded default (SQLite, WAL) and PostgreSQL, and schema upgrades."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from importlib import resources
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event

DEFAULT_URL = "sqlite:///opendcc.db"
PG_POOL = 12  # PostgreSQL connections a process keeps open
PG_OVERFLOW = 8  # and may open beyond them for a burst (closed after use)


def database_url() -> str:
    return os.environ.get("DATABASE_URL", DEFAULT_URL)


def create_engine_for(url: str | None = None) -> Engine:
    url = url or database_url()
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        engine.__class__ = SqliteEngine
        return engine
    # Connections kept open for the threads that use them at once (SQLAlchemy's default keeps
    # 5 and opens and closes the rest: a PostgreSQL backend started for each transaction past
    # the fifth, a few ms of CPU on both sides). Peak per process unchanged in spirit (20).
    return create_engine(url, pool_pre_ping=True, pool_size=PG_POOL, max_overflow=PG_OVERFLOW)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers run beside the writer; FULL makes each commit durable (an acknowledged
    # request must survive a kill), so commits are grouped by the callers, not weakened here.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
    # Let SQLAlchemy, not the sqlite3 module, say when transactions begin (see below).
    dbapi_connection.isolation_level = None


WRITES = "opendcc_writes"


class SqliteEngine(Engine):
    """The embedded default's engine: ``begin()`` writes, ``connect()`` only reads.

    Every store writes through ``engine.begin()`` and reads through ``engine.connect()`` (never
    committing there). A write takes SQLite's write lock at BEGIN (``BEGIN IMMEDIATE``): a
    deferred transaction that reads, then writes, must upgrade its lock, and when another writer
    got there first SQLite refuses at once ("database is locked") instead of waiting; taking the
    lock at BEGIN makes every writer wait its turn (busy timeout 30 s). A read begins deferred:
    under WAL it reads a snapshot beside the writer and never waits for the lock, so lookups on
    the hot path do not queue behind commits.
    """

    @contextlib.contextmanager
    def begin(self) -> Iterator[Connection]:
        with self.connect() as conn:
            conn.execution_options(**{WRITES: True})
            with conn.begin():
                yield conn


def _sqlite_begin(connection: Connection) -> None:
    writes = connection.get_execution_options().get(WRITES, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(resources.files("opendcc.store") / "migrations"))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema up to ``revision`` (the latest by default)."""
    command.upgrade(alembic_config(engine), revision)
