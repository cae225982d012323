"""A background loop's look for due work: "is there any?", answered cheaply, so that an idle
poll costs next to nothing and takes no lock.

The scheduler's loops (firmware distribution, DCC schedules, future-dated time-outs, the
sequencing safety net) each look several times a second whether anything is due. Claiming to
find out cost a thread's hop, SQLAlchemy's statement machinery and a write transaction (BEGIN
IMMEDIATE, on SQLite the one write lock the gateways and workers queue for), about 1 ms of CPU
a look: 40 ms a second for an idle scheduler, more than its real work at 100 requests/s. A
``Peek`` is one indexed ``SELECT 1 ... LIMIT 1`` on the DBAPI cursor; the claim follows only
when it finds something.

On SQLite it runs on the event loop itself: a WAL reader reads a snapshot and waits for no
writer, so the read is tens of µs, less than the hop to a thread and back. Elsewhere
(PostgreSQL: a round trip on a socket) it runs in a thread.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from opendcc.store.raw import processor
from opendcc.store.tables import UtcDateTime


class Peek:
    """``SELECT 1 ... LIMIT 1`` with positional parameters written ``{p}``; datetimes are bound
    as the store writes them (``UtcDateTime``)."""

    def __init__(self, engine: Engine, sql: str) -> None:
        self.engine = engine
        dialect = engine.dialect
        self.sql = sql.format(p="?" if dialect.paramstyle == "qmark" else "%s")
        self._time = processor(UtcDateTime(), dialect) or (lambda value: value)
        self.inline = dialect.name == "sqlite"

    async def found(self, *params: Any) -> bool:
        """Whether the read finds a row (on the loop on SQLite, else in a thread)."""
        if self.inline:
            return self.now(*params)
        return await asyncio.to_thread(self.now, *params)

    def now(self, *params: Any) -> bool:
        """``found``, blocking the caller."""
        bound = tuple(self._time(v) if isinstance(v, datetime) else v for v in params)
        raw = self.engine.raw_connection()
        try:
            cursor = raw.cursor()
            try:
                cursor.execute(self.sql, bound)
                return cursor.fetchone() is not None
            finally:
                cursor.close()
        finally:
            raw.close()  # back to the pool, which ends the read's transaction
