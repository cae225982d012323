"""Engines for the embedded default (SQLite, WAL) and PostgreSQL, and schema upgrades."""

from __future__ import annotations

import contextlib
import os
import random
import sqlite3
import threading
import time
from collections.abc import Iterator
from importlib import resources
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import DisconnectionError

DEFAULT_URL = "sqlite:///opendcc.db"
PG_POOL = 12  # PostgreSQL connections a process keeps open
PG_OVERFLOW = 8  # and may open beyond them for a burst (closed after use)
PG_IDLE_PING = 1.0  # s a pooled PostgreSQL connection may sit unused before a checkout pings it
LOCK_TIMEOUT = 30.0  # s a writer waits for SQLite's write lock before "database is locked"
# A writer that finds the lock taken tries again after a sleep drawn from this range, doubling
# the upper end after each miss up to LOCK_POLL_MAX (s): SQLite's own busy handler sleeps
# 1, 2, 5, 10 ... then 100 ms at a time, long past a release that takes ~1 ms to come.
LOCK_POLL_MIN = 0.0005
LOCK_POLL_MAX = 0.004


def database_url() -> str:
    return os.environ.get("DATABASE_URL", DEFAULT_URL)


def create_engine_for(url: str | None = None) -> Engine:
    url = url or database_url()
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": LOCK_TIMEOUT})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        engine.__class__ = SqliteEngine
        engine.writer_gate = threading.RLock()  # type: ignore[attr-defined]
        return engine
    # Connections kept open for the threads that use them at once (SQLAlchemy's default keeps
    # 5 and opens and closes the rest: a PostgreSQL backend started for each transaction past
    # the fifth, a few ms of CPU on both sides). Peak per process unchanged in spirit (20).
    # Last in, first out: under load the same few connections stay warm and the rest idle.
    engine = create_engine(url, pool_size=PG_POOL, max_overflow=PG_OVERFLOW, pool_use_lifo=True)
    _ping_after_idle(engine)
    return engine


USED = "opendcc_used"


def _ping_after_idle(engine: Engine) -> None:
    """Ping a pooled connection at checkout only when it sat unused for PG_IDLE_PING.

    ``pool_pre_ping`` costs a round trip on every checkout (7-10 % of a busy process's time).
    A connection used a moment ago is almost surely alive; one that sat idle may have been cut
    (a database restart while the process was quiet) and is pinged, and replaced if dead. A
    connection that dies under use fails its statement, and SQLAlchemy then invalidates the
    whole pool (every connection older than the error reconnects at its next checkout): one
    failed transaction per process, as with pre-ping for a transaction in flight at the restart.
    """

    def used(_dbapi: Any, record: Any, *_proxy: Any) -> None:
        record.info[USED] = time.monotonic()

    def checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        if time.monotonic() - record.info.get(USED, 0.0) < PG_IDLE_PING:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as error:
            # The pool throws this connection away and checks out another (up to 3 tries).
            raise DisconnectionError(f"idle connection failed its ping: {error}") from error
        record.info[USED] = time.monotonic()

    event.listen(engine, "connect", used)
    event.listen(engine, "checkin", used)
    event.listen(engine, "checkout", checkout)


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
HELD = "opendcc_held"  # a WriterConnection's: no BEGIN from SQLAlchemy (see there)


class SqliteEngine(Engine):
    """The embedded default's engine: ``begin()`` writes, ``connect()`` only reads.

    Every store writes through ``engine.begin()`` and reads through ``engine.connect()`` (never
    committing there). A write takes SQLite's write lock at BEGIN (``BEGIN IMMEDIATE``): a
    deferred transaction that reads, then writes, must upgrade its lock, and when another writer
    got there first SQLite refuses at once ("database is locked") instead of waiting; taking the
    lock at BEGIN makes every writer wait its turn (see _sqlite_begin). A read begins deferred:
    under WAL it reads a snapshot beside the writer and never waits for the lock, so lookups on
    the hot path do not queue behind commits.
    """

    writer_gate: threading.RLock

    @contextlib.contextmanager
    def begin(self) -> Iterator[Connection]:
        # Threads of one process queue for the write lock on this gate, woken the moment the
        # writer before them is done, so that only one of them at a time polls SQLite for it
        # (see _sqlite_begin). After LOCK_TIMEOUT a thread goes on to SQLite's lock anyway,
        # which then says "database is locked" after its own deadline, as without the gate,
        # rather than waiting for ever behind a writer that waits for it.
        gated = self.writer_gate.acquire(timeout=LOCK_TIMEOUT)
        try:
            with self.connect() as conn:
                conn.execution_options(**{WRITES: True})
                with conn.begin():
                    yield conn
        finally:
            if gated:
                self.writer_gate.release()


def _sqlite_begin(connection: Connection) -> None:
    options = connection.get_execution_options()
    if options.get(HELD, False):
        return  # a WriterConnection: its owner begins each transaction itself
    if not options.get(WRITES, False):
        connection.exec_driver_sql("BEGIN")
        return
    raw = connection.connection.driver_connection
    assert isinstance(raw, sqlite3.Connection)
    # The busy timeout is 0 while we poll, and restored for whatever else may meet a lock (a
    # reader meeting a recovery, say). Only after the deadline does a failure reach the caller,
    # through SQLAlchemy as before (OperationalError, "database is locked"), as does any other
    # error.
    raw.execute("PRAGMA busy_timeout=0")
    try:
        if not take_write_lock(raw):
            connection.exec_driver_sql("BEGIN IMMEDIATE")
    finally:
        raw.execute(f"PRAGMA busy_timeout={int(LOCK_TIMEOUT * 1000)}")


def take_write_lock(raw: sqlite3.Connection) -> bool:
    """``BEGIN IMMEDIATE`` on ``raw`` (whose busy timeout is 0), polled until LOCK_TIMEOUT;
    False when it gave up (the lock still taken at the deadline, or an error other than the
    lock): the caller's own BEGIN then raises it.

    We wait for the write lock here rather than in SQLite's busy handler (see LOCK_POLL_MIN).
    """
    try:
        raw.execute("BEGIN IMMEDIATE")  # the lock is free far more often than not
        return True
    except sqlite3.OperationalError as error:
        if error.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY:
            return False
    LOCK_WAITS[0] += 1
    deadline = time.monotonic() + LOCK_TIMEOUT
    ceiling = LOCK_POLL_MIN
    while True:
        time.sleep(random.uniform(LOCK_POLL_MIN, ceiling))  # noqa: S311 (jitter, not a secret)
        if time.monotonic() >= deadline:
            return False
        LOCK_WAITS[1] += 1
        try:
            raw.execute("BEGIN IMMEDIATE")
            return True
        except sqlite3.OperationalError as error:
            if error.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY:
                return False
        ceiling = min(ceiling * 2, LOCK_POLL_MAX)


# Counted for the benchmarks (this process): BEGINs that found the write lock taken, and the
# tries after a sleep they made before taking it.
LOCK_WAITS = [0, 0]


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(resources.files("opendcc.store") / "migrations"))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema up to ``revision`` (the latest by default)."""
    command.upgrade(alembic_config(engine), revision)
