"""The audit trail: every request's outcome at the front door, accepted or rejected.

Each record carries the SHA-256 of the document as received and a chain value,
SHA-256(previous chain || this record), so deleting or editing a record breaks every chain value
after it (``verify_chain`` finds where). A single hub process keeps the chain head in memory
and appends under one lock. When several processes write to one database (``opendcc serve``'s
gateways and workers, scale mode) the log is ``shared``: each transaction reads the head inside
its own write transaction (SQLite holds the write lock from BEGIN; PostgreSQL takes a
transaction-level advisory lock first), so the chain never forks. With a ``GroupCommit``
(``store.group``) that is one read per batch, not per record.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, insert, select, text

from opendcc.store.group import GroupCommit
from opendcc.store.raw import RawInsert, query
from opendcc.store.tables import audit_log

GENESIS = "0" * 64
REASON_MAX = 512  # audit_log.reason's length
_INSERT = insert(audit_log)  # built once: the hot path executes it with parameters


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
            self.reason[:REASON_MAX],  # as stored: the chain is over what the table keeps
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
    def __init__(
        self, engine: Engine, group: GroupCommit | None = None, *, shared: bool = False
    ) -> None:
        self.engine = engine
        self.group = group
        self.shared = shared  # other processes append to this chain too
        self._lock = threading.Lock()
        self._head: str | None = None

    def _previous(self, conn: Connection) -> str:
        if self.shared:
            if conn.dialect.name == "postgresql":
                conn.execute(_PG_CHAIN_LOCK)  # held to the end of this transaction
            return self._load_head(conn)
        return self._head if self._head is not None else self._load_head(conn)

    def append(self, conn: Connection, record: AuditRecord) -> None:
        """Append within the caller's transaction (so the record commits with its effect)."""
        with self._lock:
            previous = self._previous(conn)
            chain = _link(previous, record)
            conn.execute(_INSERT, _row(record, chain))
            self._head = chain

    def append_many(self, conn: Connection, records: list[AuditRecord]) -> None:
        """``append`` for several records, chained in order, in one statement."""
        if not records:
            return
        with self._lock:
            previous = self._previous(conn)
            rows = []
            for record in records:
                previous = _link(previous, record)
                rows.append(_values(record, previous))
            _RAW_INSERT.run(conn, rows)  # precompiled, on the DBAPI cursor: the hot path
            self._head = previous

    def forget_head(self) -> None:
        """After a rolled-back transaction the in-memory head may be ahead of the table."""
        with self._lock:
            self._head = None

    def record(self, record: AuditRecord) -> None:
        """Append in a transaction of its own (rejections change nothing else), or in the group
        commit's next batch when there is one (whose writer forgets the head on a rollback)."""
        if self.group is not None:
            self.group.run(lambda conn: self.append(conn, record))
            return
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
        rows = query(conn, "SELECT chain FROM audit_log ORDER BY id DESC LIMIT 1", ())
        return str(rows[0][0]) if rows else GENESIS


# One lock for every writer of the chain (the key is arbitrary, fixed: "opendcc audit").
_PG_CHAIN_LOCK = text("SELECT pg_advisory_xact_lock(7303544932143011184)")


def _row(record: AuditRecord, chain: str) -> dict[str, object]:
    return {
        "at": record.at,
        "endpoint": record.endpoint,
        "outcome": record.outcome,
        "reason": record.reason[:REASON_MAX],
        "request_id": record.request_id,
        "originator": record.originator,
        "srv": record.srv,
        "digest": record.digest,
        "chain": chain,
    }


_COLUMNS = ("at", "endpoint", "outcome", "reason", "request_id", "originator", "srv", "digest")
_RAW_INSERT = RawInsert(audit_log, (*_COLUMNS, "chain"))


def _values(record: AuditRecord, chain: str) -> tuple[object, ...]:
    """``_row``'s values in ``_RAW_INSERT``'s column order."""
    row = _row(record, chain)
    return (*(row[name] for name in _COLUMNS), chain)


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
