"""The audit trail: every request's outcome at the front door, accepted or rejected.

Each record carries the SHA-256 of the document as received and a chain value,
SHA-256(previous chain || this record), so deleting or editing a record breaks every chain value
after it (``verify_chain`` finds where). The chain head is kept in memory and records are
appended under one lock. On SQLite the head is read from the table in each append: a write
holds the database's write lock from its BEGIN (``BEGIN IMMEDIATE``), so every process of the
hub (a gateway's front door and SSI, the scheduler's service monitor) appends to the one chain.
On PostgreSQL the head is kept in memory: one writer process per database; several would each
need the head read under a lock, which is the scale-out issue's to decide.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, insert, select

from opendcc.store.tables import audit_log

GENESIS = "0" * 64


@dataclass(frozen=True, slots=True)
class AuditRecord:
    at: datetime
    endpoint: str
    outcome: str  # a DUIS response code, or "HTTP400" when no DUIS answer is possible
    reason: str
    digest: str
    request_id: str | None = None
    originator: str | None = None
    srv: str | None = None

    def canonical(self) -> bytes:
        fields = (
            self.at.isoformat(),
            self.endpoint,
            self.outcome,
            self.reason,
            self.digest,
            self.request_id or "",
            self.originator or "",
            self.srv or "",
        )
        return "\x1f".join(fields).encode("utf-8")


def digest(document: bytes) -> str:
    return hashlib.sha256(document).hexdigest()


def _link(previous: str, record: AuditRecord) -> str:
    return hashlib.sha256(previous.encode("ascii") + record.canonical()).hexdigest()


class AuditLog:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._lock = threading.Lock()
        self._head: str | None = None

    def append(self, conn: Connection, record: AuditRecord) -> None:
        """Append within the caller's transaction (so the record commits with its effect)."""
        with self._lock:
            shared = conn.dialect.name == "sqlite"  # the write lock is held: the table is true
            cached = None if shared else self._head
            previous = cached if cached is not None else self._load_head(conn)
            chain = _link(previous, record)
            conn.execute(
                insert(audit_log).values(
                    at=record.at,
                    endpoint=record.endpoint,
                    outcome=record.outcome,
                    reason=record.reason[:512],
                    request_id=record.request_id,
                    originator=record.originator,
                    srv=record.srv,
                    digest=record.digest,
                    chain=chain,
                )
            )
            self._head = chain

    def forget_head(self) -> None:
        """After a rolled-back transaction the in-memory head may be ahead of the table."""
        with self._lock:
            self._head = None

    def record(self, record: AuditRecord) -> None:
        """Append in a transaction of its own (rejections change nothing else)."""
        try:
            with self.engine.begin() as conn:
                self.append(conn, record)
        except Exception:
            self.forget_head()
            raise

    def records(self, request_id: str | None = None) -> list[AuditRecord]:
        query = select(audit_log).order_by(audit_log.c.id)
        if request_id is not None:
            query = query.where(audit_log.c.request_id == request_id)
        with self.engine.connect() as conn:
            return [_from_row(row) for row in conn.execute(query)]

    def verify_chain(self) -> int | None:
        """The id of the first record whose chain value is wrong, or None if all hold."""
        previous = GENESIS
        with self.engine.connect() as conn:
            for row in conn.execute(select(audit_log).order_by(audit_log.c.id)):
                expected = _link(previous, _from_row(row))
                if row.chain != expected:
                    return int(row.id)
                previous = expected
        return None

    def verify_from(
        self, after_id: int = 0, previous: str = GENESIS, limit: int | None = None
    ) -> tuple[int, str, int | None]:
        """Verify the records after ``after_id``, whose predecessor's chain value is
        ``previous``: the last id and chain value verified, and the first broken id (or None).
        Lets a reader verify only what was added since its last look."""
        query = select(audit_log).where(audit_log.c.id > after_id).order_by(audit_log.c.id)
        if limit is not None:
            query = query.limit(limit)
        last = after_id
        with self.engine.connect() as conn:
            for row in conn.execute(query):
                expected = _link(previous, _from_row(row))
                if row.chain != expected:
                    return last, previous, int(row.id)
                last, previous = int(row.id), expected
        return last, previous, None

    @staticmethod
    def _load_head(conn: Connection) -> str:
        head = conn.execute(
            select(audit_log.c.chain).order_by(audit_log.c.id.desc()).limit(1)
        ).scalar_one_or_none()
        return head or GENESIS


def _from_row(row: object) -> AuditRecord:
    return AuditRecord(
        at=row.at,  # type: ignore[attr-defined]
        endpoint=row.endpoint,  # type: ignore[attr-defined]
        outcome=row.outcome,  # type: ignore[attr-defined]
        reason=row.reason,  # type: ignore[attr-defined]
        digest=row.digest,  # type: ignore[attr-defined]
        request_id=row.request_id,  # type: ignore[attr-defined]
        originator=row.originator,  # type: ignore[attr-defined]
        srv=row.srv,  # type: ignore[attr-defined]
    )
