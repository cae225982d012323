"""The ``schedules`` table: one row per DCC schedule, its next run and the lease on that run.

A row is ``active`` from its 5.1 until its User deletes it (``deleted``, 5.3), its end date
passes (``ended``) or the DCC stops it (``stopped``: the User is no longer responsible for the
device, ``stopped_reason`` says why). ``next_run_at`` is the nominal instant of the next run and
``due_at`` the instant it is made; a runner claims a due row by setting ``lease_until``, and
every step that finishes a run is conditional on the row still being active at that same
``next_run_at``, so a run finished twice (a lease that ran out under a slow head-end) changes
the row, and writes its Response, once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, insert, or_, select, update
from sqlalchemy.engine import Row

from opendcc.core.eui import Eui64
from opendcc.schedules.recurrence import Frequency, Recurrence, spread_offset
from opendcc.store.peek import Peek
from opendcc.store.tables import schedules

ACTIVE = "active"
ENDED = "ended"
DELETED = "deleted"
STOPPED = "stopped"
MISSED = "missed"
MAX_READ = 99  # sr:DSPSchedulesRead holds at most 99 schedules


@dataclass(frozen=True, slots=True)
class ScheduleRow:
    schedule_id: int
    user_id: Eui64
    device_id: Eui64
    srv: str
    recurrence: Recurrence
    body: str  # the sr:CreateSchedule (DSPSchedule) element as the User sent it
    state: str
    next_run_at: datetime | None
    due_at: datetime | None
    runs: int
    last_run_at: datetime | None
    last_outcome: str | None
    stopped_reason: str | None


@dataclass(frozen=True, slots=True)
class NewSchedule:
    user_id: Eui64
    device_id: Eui64
    srv: str
    recurrence: Recurrence
    body: str
    created_by: str  # the 5.1 RequestID


def _row(row: Row[tuple[object, ...]]) -> ScheduleRow:
    m = row._mapping
    recurrence = Recurrence(
        Frequency(m["frequency"]),
        date.fromisoformat(m["start_date"]),
        date.fromisoformat(m["end_date"]) if m["end_date"] else None,
        time.fromisoformat(m["execution_time"]),
    )
    return ScheduleRow(
        schedule_id=m["schedule_id"],
        user_id=Eui64.parse(m["user_id"]),
        device_id=Eui64.parse(m["device_id"]),
        srv=m["srv"],
        recurrence=recurrence,
        body=m["body"],
        state=m["state"],
        next_run_at=m["next_run_at"],
        due_at=m["due_at"],
        runs=m["runs"],
        last_run_at=m["last_run_at"],
        last_outcome=m["last_outcome"],
        stopped_reason=m["stopped_reason"],
    )


# Whether ``claim`` would find anything: an idle runner's look (``store.peek``).
_ANY_DUE = (
    "SELECT 1 FROM schedules WHERE state = {p} AND due_at <= {p}"
    " AND (lease_until IS NULL OR lease_until < {p}) LIMIT 1"
)


class ScheduleStore:
    def __init__(self, engine: Engine, spread: timedelta) -> None:
        self.engine = engine
        self.spread = spread
        self._any_due = Peek(engine, _ANY_DUE)

    async def any_due(self, now: datetime) -> bool:
        """Whether an active schedule's run is due and free (a look: no lock, nothing
        written)."""
        return await self._any_due.found(ACTIVE, now, now)

    def due(self, schedule_id: int, nominal: datetime | None) -> datetime | None:
        """When the run of occurrence ``nominal`` is made: nominal + the schedule's offset."""
        return None if nominal is None else nominal + spread_offset(schedule_id, self.spread)

    # ------------------------------------------------------------------ 5.1 5.2 5.3

    def insert_in(self, conn: Connection, new: NewSchedule, now: datetime) -> int:
        """Store a new active schedule, its first run the first occurrence at or after now."""
        recurrence = new.recurrence
        first = recurrence.first_at_or_after(now)
        result = conn.execute(
            insert(schedules).values(
                user_id=str(new.user_id),
                device_id=str(new.device_id),
                srv=new.srv,
                frequency=recurrence.frequency.value,
                start_date=recurrence.start.isoformat(),
                end_date=recurrence.end.isoformat() if recurrence.end else None,
                execution_time=recurrence.at.isoformat("seconds"),
                body=new.body,
                created_by=new.created_by,
                created_at=now,
                state=ACTIVE if first is not None else ENDED,
                next_run_at=first,
                runs=0,
            )
        )
        key = result.inserted_primary_key
        if key is None:
            raise RuntimeError("the database gave no schedule id")
        schedule_id = int(key[0])
        conn.execute(
            update(schedules)
            .where(schedules.c.schedule_id == schedule_id)
            .values(due_at=self.due(schedule_id, first))
        )
        return schedule_id

    def get(self, schedule_id: int) -> ScheduleRow | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(schedules).where(schedules.c.schedule_id == schedule_id)
            ).first()
        return None if row is None else _row(row)

    def active_for(
        self, user_id: Eui64, device_id: Eui64, limit: int = MAX_READ
    ) -> list[ScheduleRow]:
        """The User's active schedules for the device, oldest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(schedules)
                .where(schedules.c.user_id == str(user_id))
                .where(schedules.c.device_id == str(device_id))
                .where(schedules.c.state == ACTIVE)
                .order_by(schedules.c.schedule_id)
                .limit(limit)
            ).all()
        return [_row(row) for row in rows]

    def delete_in(self, conn: Connection, schedule_ids: Sequence[int]) -> None:
        conn.execute(
            update(schedules)
            .where(schedules.c.schedule_id.in_(list(schedule_ids)))
            .where(schedules.c.state == ACTIVE)
            .values(state=DELETED, due_at=None, lease_until=None)
        )

    # ------------------------------------------------------------------ runs

    def claim(self, now: datetime, limit: int, lease: timedelta) -> list[ScheduleRow]:
        """Lease up to ``limit`` active schedules whose run is due, earliest first."""
        free = or_(schedules.c.lease_until.is_(None), schedules.c.lease_until < now)
        claimed = []
        with self.engine.begin() as conn:
            rows = conn.execute(
                select(schedules)
                .where(schedules.c.state == ACTIVE)
                .where(schedules.c.due_at <= now)
                .where(free)
                .order_by(schedules.c.due_at, schedules.c.schedule_id)
                .limit(limit)
            ).all()
            for row in rows:
                won = conn.execute(
                    update(schedules)
                    .where(schedules.c.schedule_id == row.schedule_id)
                    .where(schedules.c.state == ACTIVE)
                    .where(free)
                    .values(lease_until=now + lease)
                )
                if won.rowcount == 1:
                    claimed.append(_row(row))
        return claimed

    def advance_in(
        self,
        conn: Connection,
        row: ScheduleRow,
        nominal: datetime,
        *,
        outcome: str,
        now: datetime,
    ) -> bool:
        """Record the run of occurrence ``nominal`` and move to the next occurrence (the
        schedule ends after its last); False when the row has moved on (nothing written)."""
        following = row.recurrence.next_after(nominal)
        return self._move_in(
            conn,
            row,
            nominal,
            runs=schedules.c.runs + 1,
            last_run_at=now,
            last_outcome=outcome,
            **self._onwards(row, following),
        )

    def skip_in(
        self, conn: Connection, row: ScheduleRow, nominal: datetime, following: datetime | None
    ) -> bool:
        """Occurrences from ``nominal`` on were missed: record it and move to ``following``."""
        return self._move_in(
            conn, row, nominal, last_outcome=MISSED, **self._onwards(row, following)
        )

    def stop_in(
        self, conn: Connection, row: ScheduleRow, nominal: datetime, *, code: str, reason: str
    ) -> bool:
        """The DCC stops the schedule (its User is no longer responsible for the device)."""
        return self._move_in(
            conn,
            row,
            nominal,
            state=STOPPED,
            stopped_reason=reason[:256],
            last_outcome=code,
            due_at=None,
            lease_until=None,
        )

    def _onwards(self, row: ScheduleRow, following: datetime | None) -> dict[str, Any]:
        """The values that move a row on to ``following`` (None: the schedule has ended)."""
        return {
            "next_run_at": following,
            "due_at": self.due(row.schedule_id, following),
            "lease_until": None,
            "state": ACTIVE if following is not None else ENDED,
        }

    @staticmethod
    def _move_in(conn: Connection, row: ScheduleRow, nominal: datetime, **values: Any) -> bool:
        """Write ``values`` to the row if it is still active at occurrence ``nominal``; False
        when it has moved on (another runner took it over, or it was deleted)."""
        done = conn.execute(
            update(schedules)
            .where(schedules.c.schedule_id == row.schedule_id)
            .where(schedules.c.state == ACTIVE)
            .where(schedules.c.next_run_at == nominal)
            .values(**values)
        )
        return done.rowcount == 1
