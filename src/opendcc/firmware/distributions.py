"""Firmware distributions device by device: what each device was sent and what became of it.

An accepted 11.1 Update Firmware leaves one row per applicable device, ``pending``. The
distribution loop leases due rows, sends the image to the device's S1SP (SMETS1 Service
Provider) and records the outcome:

    pending --S1SP took it--> distributed (two-stage: waits for 11.3 Activate Firmware)
                          \\-> staged      (one-stage: the head-end holds it until 11.3)
    pending --last attempt failed--> failed   (the User gets DCC alert N14)
    distributed | staged --activation succeeded--> activated
    distributed | staged --activation failed-----> failed

A pending row means "another request in progress" for its device (11.1 refuses a second one).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, Engine, Row, insert, or_, select, update

from opendcc.core.eui import Eui64
from opendcc.core.request_id import RequestId
from opendcc.store.peek import Peek
from opendcc.store.tables import firmware_distributions as fd

_CHUNK = 500
DETAIL_MAX = 256


class DistributionState(StrEnum):
    PENDING = "pending"
    DISTRIBUTED = "distributed"
    STAGED = "staged"
    ACTIVATED = "activated"
    FAILED = "failed"


# Where the image sits on (or before) the device, waiting for 11.3.
AWAITING_ACTIVATION = frozenset({DistributionState.DISTRIBUTED, DistributionState.STAGED})


@dataclass(frozen=True, slots=True)
class Distribution:
    request_id: RequestId
    device_id: Eui64
    user_id: Eui64
    cohort: str
    model: str
    version: str
    image_hash: str
    state: DistributionState
    detail: str
    attempts: int
    next_attempt_at: datetime | None
    updated_at: datetime

    @property
    def instruction_id(self) -> str:
        """The instruction's RequestID at the head-end: stable per (11.1 request, device), so
        a resend after a crash is the same instruction, carried out once."""
        rid = self.request_id
        return f"FW-{rid.originator.hex}-{rid.counter}-{self.device_id.hex}"


@dataclass(frozen=True, slots=True)
class NewDistribution:
    device_id: Eui64
    cohort: str
    model: str


@dataclass(frozen=True, slots=True)
class Change:
    """What one delivery attempt did to its row."""

    row: Distribution
    state: DistributionState
    detail: str = ""
    next_attempt_at: datetime | None = None


# Whether ``claim`` would find anything: an idle distributor's look (``store.peek``).
_ANY_DUE = (
    "SELECT 1 FROM firmware_distributions WHERE state = {p} AND next_attempt_at <= {p}"
    " AND (lease_until IS NULL OR lease_until < {p}) LIMIT 1"
)


class Distributions:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._any_due = Peek(engine, _ANY_DUE)

    async def any_due(self, now: datetime) -> bool:
        """Whether a pending row is due and free (a look: no lock, nothing written)."""
        return await self._any_due.found(DistributionState.PENDING.value, now, now)

    # ------------------------------------------------------------------ writing

    @staticmethod
    def insert_in(
        conn: Connection,
        request_id: RequestId,
        user_id: Eui64,
        *,
        version: str,
        image_hash: str,
        devices: Sequence[NewDistribution],
        now: datetime,
    ) -> None:
        if not devices:
            return
        conn.execute(
            insert(fd),
            [
                {
                    "request_id": str(request_id),
                    "device_id": str(d.device_id),
                    "user_id": str(user_id),
                    "cohort": d.cohort,
                    "model": d.model,
                    "version": version,
                    "image_hash": image_hash,
                    "state": DistributionState.PENDING.value,
                    "detail": "",
                    "attempts": 0,
                    "next_attempt_at": now,
                    "lease_until": None,
                    "updated_at": now,
                }
                for d in devices
            ],
        )

    def claim(self, now: datetime, lease: timedelta, limit: int) -> list[Distribution]:
        """Lease up to ``limit`` due pending rows (oldest first) to this process."""
        free = or_(fd.c.lease_until.is_(None), fd.c.lease_until < now)
        due = (
            select(fd)
            .where(fd.c.state == DistributionState.PENDING.value)
            .where(fd.c.next_attempt_at <= now)
            .where(free)
            .order_by(fd.c.next_attempt_at, fd.c.request_id, fd.c.device_id)
            .limit(limit)
        )
        claimed = []
        with self.engine.begin() as conn:
            for row in conn.execute(due).all():
                won = conn.execute(
                    update(fd)
                    .where(fd.c.request_id == row.request_id)
                    .where(fd.c.device_id == row.device_id)
                    .where(free)
                    .values(lease_until=now + lease)
                )
                if won.rowcount == 1:
                    claimed.append(_distribution(row))
        return claimed

    @staticmethod
    def apply_in(conn: Connection, changes: Iterable[Change], now: datetime) -> None:
        """Record delivery attempts: each row leaves its lease with its new state."""
        for change in changes:
            row = change.row
            conn.execute(
                update(fd)
                .where(fd.c.request_id == str(row.request_id))
                .where(fd.c.device_id == str(row.device_id))
                .where(fd.c.state == DistributionState.PENDING.value)
                .values(
                    state=change.state.value,
                    detail=change.detail[:DETAIL_MAX],
                    attempts=row.attempts + 1,
                    next_attempt_at=change.next_attempt_at,
                    lease_until=None,
                    updated_at=now,
                )
            )

    @staticmethod
    def settle_in(
        conn: Connection, row: Distribution, state: DistributionState, now: datetime, detail: str
    ) -> None:
        """Move a row awaiting activation to ``activated`` or ``failed``."""
        conn.execute(
            update(fd)
            .where(fd.c.request_id == str(row.request_id))
            .where(fd.c.device_id == str(row.device_id))
            .values(state=state.value, detail=detail[:DETAIL_MAX], updated_at=now)
        )

    # ------------------------------------------------------------------ reading

    @staticmethod
    def pending_in(conn: Connection, device_ids: Collection[Eui64]) -> set[Eui64]:
        """Those devices with a distribution still pending (another request in progress)."""
        ids = sorted({str(d) for d in device_ids})
        found: set[Eui64] = set()
        for start in range(0, len(ids), _CHUNK):
            query = (
                select(fd.c.device_id)
                .where(fd.c.device_id.in_(ids[start : start + _CHUNK]))
                .where(fd.c.state == DistributionState.PENDING.value)
            )
            found.update(Eui64.parse(d) for d in conn.execute(query).scalars())
        return found

    def pending(self, device_ids: Collection[Eui64]) -> set[Eui64]:
        with self.engine.connect() as conn:
            return self.pending_in(conn, device_ids)

    @staticmethod
    def latest_in(
        conn: Connection,
        device_id: Eui64,
        states: Collection[DistributionState],
        image_hash: str | None = None,
    ) -> Distribution | None:
        """The device's most recently updated row in one of ``states`` (of that image)."""
        query = (
            select(fd)
            .where(fd.c.device_id == str(device_id))
            .where(fd.c.state.in_(sorted(s.value for s in states)))
            .order_by(fd.c.updated_at.desc(), fd.c.request_id.desc())
            .limit(1)
        )
        if image_hash is not None:
            query = query.where(fd.c.image_hash == image_hash.lower())
        row = conn.execute(query).first()
        return None if row is None else _distribution(row)

    def latest(
        self,
        device_id: Eui64,
        states: Collection[DistributionState],
        image_hash: str | None = None,
    ) -> Distribution | None:
        with self.engine.connect() as conn:
            return self.latest_in(conn, device_id, states, image_hash)

    def of_request(self, request_id: RequestId) -> list[Distribution]:
        query = select(fd).where(fd.c.request_id == str(request_id)).order_by(fd.c.device_id)
        with self.engine.connect() as conn:
            return [_distribution(row) for row in conn.execute(query)]

    def of_model(self, model: str, version: str) -> list[Distribution]:
        query = (
            select(fd)
            .where(fd.c.model == model)
            .where(fd.c.version == version)
            .order_by(fd.c.request_id, fd.c.device_id)
        )
        with self.engine.connect() as conn:
            return [_distribution(row) for row in conn.execute(query)]


def _distribution(row: Row[Any]) -> Distribution:
    return Distribution(
        request_id=RequestId.parse(row.request_id),
        device_id=Eui64.parse(row.device_id),
        user_id=Eui64.parse(row.user_id),
        cohort=row.cohort,
        model=row.model,
        version=row.version,
        image_hash=row.image_hash,
        state=DistributionState(row.state),
        detail=row.detail or "",
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        updated_at=row.updated_at,
    )
