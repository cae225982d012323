"""Searching the hash-chained audit trail: by time range, User, device, SRV and outcome code.

A DCC User sees only the records it originated (its requests, its SSI and admin API actions);
the service desk sees all. ``ChainWatch`` says whether the chain verifies: each look verifies
only the records added since the last one (a million-record trail is not re-hashed on every
page view); a full check from the first record is run on demand and at a process's first look.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, or_, select

from opendcc.service.incidents import Actor
from opendcc.store.audit import GENESIS, AuditLog
from opendcc.store.tables import audit_log

LIMIT = 500


@dataclass(frozen=True, slots=True)
class Query:
    start: datetime | None = None
    end: datetime | None = None
    user: str = ""
    device: str = ""
    srv: str = ""
    code: str = ""


@dataclass(frozen=True, slots=True)
class Row:
    id: int
    at: datetime
    endpoint: str
    outcome: str
    originator: str | None
    request_id: str | None
    srv: str | None
    reason: str


def search(engine: Engine, actor: Actor, q: Query, limit: int = LIMIT) -> list[Row]:
    a = audit_log
    query = select(a).order_by(a.c.id.desc()).limit(limit)
    if not actor.desk:
        query = query.where(a.c.originator == str(actor.user_id))
    if q.start is not None:
        query = query.where(a.c.at >= q.start)
    if q.end is not None:
        query = query.where(a.c.at < q.end)
    if q.user:
        query = query.where(a.c.originator == q.user.strip().upper())
    if q.device:
        device = q.device.strip().upper()
        query = query.where(
            or_(a.c.request_id.like(f"%:{device}:%"), a.c.reason.like(f"%{device}%"))
        )
    if q.srv:
        query = query.where(a.c.srv == q.srv.strip())
    if q.code:
        query = query.where(a.c.outcome == q.code.strip())
    with engine.connect() as conn:
        return [
            Row(r.id, r.at, r.endpoint, r.outcome, r.originator, r.request_id, r.srv, r.reason)
            for r in conn.execute(query)
        ]


@dataclass(frozen=True, slots=True)
class ChainStatus:
    verified_to: int  # the last record id verified
    broken_at: int | None  # the first record whose chain value is wrong
    full_at: datetime | None  # when the whole chain was last verified from its first record


class ChainWatch:
    """Verifies the audit chain incrementally; once broken, it stays reported broken."""

    def __init__(self, audit: AuditLog) -> None:
        self.audit = audit
        self._lock = threading.Lock()
        self._last, self._chain = 0, GENESIS
        self._broken: int | None = None
        self._full_at: datetime | None = None

    def check(self, now: datetime, *, full: bool = False) -> ChainStatus:
        with self._lock:
            if full or self._full_at is None:
                self._last, self._chain, self._broken = 0, GENESIS, None
                self._full_at = now
            if self._broken is None:
                self._last, self._chain, self._broken = self.audit.verify_from(
                    self._last, self._chain
                )
            return ChainStatus(self._last, self._broken, self._full_at)
