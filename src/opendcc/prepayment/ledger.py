"""The UTRN ledger: every token the S1SP issued, and the one way each can go.

::

    issued ──► sent ──► applied          (over the air: SRV 2.2 or the one-step route)
      │          └────► rejected         (the meter refused it)
      ├──────────────► applied           (keyed in at the meter; reconciled from its alert)
      └──► cancelled                     (voided by the supplier or its PSP before use)

Every change is a conditional UPDATE from the expected state, so two deliveries racing for one
token cannot both send it, and each change is kept in ``utrn_events``. A token's counter is
unique per device (the meter's own replay protection keys on it too), and a requester's payment
reference is unique per requester, so a PSP that retries a request gets the same token back
instead of a second one.

A token keyed in after it was cancelled is still credited by the meter (a meter cannot know of
the cancellation): reconciliation records it as applied with the detail "applied after
cancellation", for the supplier to settle with the consumer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, Engine, Row, func, insert, select, update

from opendcc.core.eui import Eui64
from opendcc.store.tables import utrn_events, utrns


class UtrnState(StrEnum):
    ISSUED = "issued"
    SENT = "sent"
    APPLIED = "applied"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


class Route(StrEnum):
    UTRN = "utrn"  # returned to be keyed in, or sent later with DUIS SRV 2.2 (two-step)
    ONE_STEP = "one-step"  # generated and delivered over the air in one request


class Channel(StrEnum):
    OTA = "ota"
    KEYPAD = "keypad"


@dataclass(frozen=True, slots=True)
class NewEntry:
    """A token just issued, before the ledger holds it."""

    utrn: str
    device_id: Eui64
    cohort: str
    algorithm: str
    counter: int
    amount_p: int
    supplier: Eui64
    requester: str
    reference: str | None
    route: Route


@dataclass(frozen=True, slots=True)
class Entry(NewEntry):
    """One ledger row: a token as issued, and where it is now."""

    id: int
    state: UtrnState
    channel: Channel | None
    request_id: str | None
    detail: str
    issued_at: datetime
    updated_at: datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "utrn": self.utrn,
            "device": str(self.device_id),
            "amount_p": self.amount_p,
            "state": self.state.value,
            "route": self.route.value,
            "channel": self.channel.value if self.channel else None,
            "counter": str(self.counter),
            "algorithm": self.algorithm,
            "supplier": str(self.supplier),
            "requester": self.requester,
            "reference": self.reference,
            "request_id": self.request_id,
            "detail": self.detail,
            "issued_at": self.issued_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class Event:
    state: UtrnState
    at: datetime
    detail: str


def _u64(counter: int) -> str:
    return f"{counter:020d}"


class Ledger:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # ------------------------------------------------------------------ reading

    def get(self, entry_id: int) -> Entry | None:
        with self.engine.connect() as conn:
            return self.get_in(conn, entry_id)

    @staticmethod
    def get_in(conn: Connection, entry_id: int) -> Entry | None:
        row = conn.execute(select(utrns).where(utrns.c.id == entry_id)).first()
        return _entry(row) if row else None

    def find(self, utrn: str, device_id: Eui64 | None = None) -> Entry | None:
        """The entry of ``utrn`` (for ``device_id``, when given)."""
        with self.engine.connect() as conn:
            return self.find_in(conn, utrn, device_id)

    @staticmethod
    def find_in(conn: Connection, utrn: str, device_id: Eui64 | None = None) -> Entry | None:
        query = select(utrns).where(utrns.c.utrn == utrn)
        if device_id is not None:
            query = query.where(utrns.c.device_id == str(device_id))
        row = conn.execute(query.order_by(utrns.c.id.desc())).first()
        return _entry(row) if row else None

    def by_reference(self, requester: str, reference: str) -> Entry | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(utrns)
                .where(utrns.c.requester == requester)
                .where(utrns.c.reference == reference)
            ).first()
        return _entry(row) if row else None

    def of_device(self, device_id: Eui64, limit: int = 100) -> list[Entry]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(utrns)
                .where(utrns.c.device_id == str(device_id))
                .order_by(utrns.c.id.desc())
                .limit(limit)
            ).all()
        return [_entry(r) for r in rows]

    def in_state(self, state: UtrnState, route: Route | None = None) -> list[Entry]:
        query = select(utrns).where(utrns.c.state == state.value)
        if route is not None:
            query = query.where(utrns.c.route == route.value)
        with self.engine.connect() as conn:
            return [_entry(r) for r in conn.execute(query.order_by(utrns.c.id)).all()]

    def events(self, entry_id: int) -> list[Event]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(utrn_events.c.state, utrn_events.c.at, utrn_events.c.detail)
                .where(utrn_events.c.utrn_id == entry_id)
                .order_by(utrn_events.c.id)
            ).all()
        return [Event(UtrnState(r.state), r.at, r.detail) for r in rows]

    @staticmethod
    def last_counter_in(conn: Connection, device_id: Eui64) -> int | None:
        last = conn.execute(
            select(func.max(utrns.c.counter)).where(utrns.c.device_id == str(device_id))
        ).scalar_one()
        return int(last) if last is not None else None

    def counts(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(utrns.c.state, func.count()).group_by(utrns.c.state))
            return {state: int(n) for state, n in rows}

    # ------------------------------------------------------------------ writing

    def add_in(self, conn: Connection, new: NewEntry, now: datetime) -> Entry:
        """Record a token just issued (state issued)."""
        values = {
            "utrn": new.utrn,
            "device_id": str(new.device_id),
            "cohort": new.cohort,
            "algorithm": new.algorithm,
            "counter": _u64(new.counter),
            "amount_p": new.amount_p,
            "supplier": str(new.supplier),
            "requester": new.requester,
            "reference": new.reference,
            "route": new.route.value,
            "state": UtrnState.ISSUED.value,
            "detail": "",
            "issued_at": now,
            "updated_at": now,
        }
        key = conn.execute(insert(utrns).values(**values)).inserted_primary_key
        assert key is not None
        entry_id = int(key[0])
        _event(conn, entry_id, UtrnState.ISSUED, now, f"{new.amount_p}p via {new.route.value}")
        entry = self.get_in(conn, entry_id)
        assert entry is not None
        return entry

    @staticmethod
    def move_in(
        conn: Connection,
        entry_id: int,
        transition: tuple[Sequence[UtrnState], UtrnState],
        now: datetime,
        **values: Any,
    ) -> bool:
        """Move the entry from one of the expected states to the new one; False if it was in
        none of them (someone else moved it first)."""
        expected, target = transition
        moved = conn.execute(
            update(utrns)
            .where(utrns.c.id == entry_id)
            .where(utrns.c.state.in_([s.value for s in expected]))
            .values(state=target.value, updated_at=now, **values)
        )
        if moved.rowcount != 1:
            return False
        _event(conn, entry_id, target, now, str(values.get("detail", "")))
        return True

    def move(
        self,
        entry_id: int,
        transition: tuple[Sequence[UtrnState], UtrnState],
        now: datetime,
        **values: Any,
    ) -> bool:
        with self.engine.begin() as conn:
            return self.move_in(conn, entry_id, transition, now, **values)

    def for_counter_in(self, conn: Connection, device_id: Eui64, counter: int) -> Entry | None:
        row = conn.execute(
            select(utrns)
            .where(utrns.c.device_id == str(device_id))
            .where(utrns.c.counter == _u64(counter))
        ).first()
        return _entry(row) if row else None


def _event(conn: Connection, entry_id: int, state: UtrnState, at: datetime, detail: str) -> None:
    conn.execute(
        insert(utrn_events).values(utrn_id=entry_id, state=state.value, at=at, detail=detail[:256])
    )


def _entry(row: Row[Any]) -> Entry:
    return Entry(
        id=row.id,
        utrn=row.utrn,
        device_id=Eui64.parse(row.device_id),
        cohort=row.cohort,
        algorithm=row.algorithm,
        counter=int(row.counter),
        amount_p=row.amount_p,
        supplier=Eui64.parse(row.supplier),
        requester=row.requester,
        reference=row.reference,
        route=Route(row.route),
        state=UtrnState(row.state),
        channel=Channel(row.channel) if row.channel else None,
        request_id=row.request_id,
        detail=row.detail,
        issued_at=row.issued_at,
        updated_at=row.updated_at,
    )
