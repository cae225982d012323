"""Service status: the components of the service, their outages as the hub's health checks saw
them, planned maintenance windows, and each component's monthly availability.

Components: ``gateway``, ``workers``, ``database``, ``utrn`` (the UTRN service's one-step
top-ups), ``broker`` (only in scale-out mode) and ``headend:<cohort>`` for each configured
head-end. An outage opens when a check fails and closes when it passes again; the monitor
(``service.monitor``) raises an incident for a head-end that goes down outside maintenance.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from opendcc.service.availability import Availability, availability
from opendcc.store.tables import component_checks, component_outages, maintenance_windows

MAX_WINDOW = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class Check:
    component: str
    up: bool
    detail: str
    checked_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Outage:
    id: int
    component: str
    down_at: datetime
    up_at: datetime | None
    detail: str
    incident_id: int | None


@dataclass(frozen=True, slots=True)
class Window:
    id: int
    component: str
    starts_at: datetime
    ends_at: datetime
    description: str
    created_by: str
    cancelled: bool

    def covers(self, component: str, at: datetime) -> bool:
        return (
            not self.cancelled
            and self.component in (component, "all")
            and self.starts_at <= at < self.ends_at
        )


class ServiceStatus:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # ------------------------------------------------------------------ outages

    def open_outages(self) -> dict[str, Outage]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(component_outages).where(component_outages.c.up_at.is_(None))
            )
            return {r.component: _outage(r) for r in rows}

    def went_down(
        self, component: str, at: datetime, detail: str, incident_id: int | None = None
    ) -> int | None:
        """Open an outage unless one is open; its id when opened now. At most one is open per
        component (a unique index): a second monitor racing this one opens none."""
        if component in self.open_outages():
            return None
        try:
            with self.engine.begin() as conn:
                return int(
                    conn.execute(
                        insert(component_outages).values(
                            component=component,
                            down_at=at,
                            detail=detail[:256],
                            incident_id=incident_id,
                        )
                    ).inserted_primary_key[0]  # type: ignore[index]
                )
        except IntegrityError:
            return None

    def link_incident(self, outage_id: int, incident_id: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(component_outages)
                .where(component_outages.c.id == outage_id)
                .values(incident_id=incident_id)
            )

    def came_up(self, component: str, at: datetime) -> Outage | None:
        """Close the component's open outage, if any (and answer it)."""
        found = self.open_outages().get(component)
        if found is None:
            return None
        with self.engine.begin() as conn:
            conn.execute(
                update(component_outages).where(component_outages.c.id == found.id).values(up_at=at)
            )
        return found

    def outages(self, since: datetime) -> list[Outage]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(component_outages)
                .where(or_(component_outages.c.up_at.is_(None), component_outages.c.up_at >= since))
                .order_by(component_outages.c.id.desc())
            )
            return [_outage(r) for r in rows]

    # ------------------------------------------------------------------ latest checks

    def record_checks(self, checks: list[Check], at: datetime) -> None:
        """The monitor's latest look, for the SSI in whichever process serves it."""
        rows = [
            {"component": c.component[:64], "up": c.up, "detail": c.detail[:256], "checked_at": at}
            for c in checks
        ]
        if not rows:
            return
        # An UPSERT, not delete-and-insert: two monitors racing (a scheduler restarting over
        # its predecessor) must not collide on the key.
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        upsert = dialect.insert(component_checks)
        upsert = upsert.on_conflict_do_update(
            index_elements=["component"],
            set_={c: upsert.excluded[c] for c in ("up", "detail", "checked_at")},
        )
        with self.engine.begin() as conn:
            conn.execute(upsert, rows)

    def latest_checks(self) -> dict[str, Check]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(component_checks))
            return {r.component: Check(r.component, r.up, r.detail, r.checked_at) for r in rows}

    # ------------------------------------------------------------------ maintenance

    def schedule(  # noqa: PLR0917
        self,
        component: str,
        starts_at: datetime,
        ends_at: datetime,
        description: str,
        by: str,
        now: datetime,
    ) -> int:
        if not starts_at < ends_at:
            raise ValueError("a maintenance window ends after it starts")
        if ends_at - starts_at > MAX_WINDOW:
            raise ValueError("a maintenance window is at most 7 days")
        if ends_at <= now:
            raise ValueError("a maintenance window is planned ahead, not in the past")
        if not description.strip():
            raise ValueError("say what the maintenance is for")
        with self.engine.begin() as conn:
            return int(
                conn.execute(
                    insert(maintenance_windows).values(
                        component=component[:64],
                        starts_at=starts_at,
                        ends_at=ends_at,
                        description=description.strip()[:512],
                        created_by=by,
                        created_at=now,
                    )
                ).inserted_primary_key[0]  # type: ignore[index]
            )

    def cancel(self, window_id: int, now: datetime) -> bool:
        with self.engine.begin() as conn:
            return (
                conn.execute(
                    update(maintenance_windows)
                    .where(maintenance_windows.c.id == window_id)
                    .where(maintenance_windows.c.cancelled_at.is_(None))
                    .values(cancelled_at=now)
                ).rowcount
                == 1
            )

    def windows(self, since: datetime) -> list[Window]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(maintenance_windows)
                .where(maintenance_windows.c.ends_at >= since)
                .order_by(maintenance_windows.c.starts_at)
            )
            return [
                Window(
                    r.id,
                    r.component,
                    r.starts_at,
                    r.ends_at,
                    r.description,
                    r.created_by,
                    r.cancelled_at is not None,
                )
                for r in rows
            ]

    def in_maintenance(self, component: str, at: datetime) -> Window | None:
        return next((w for w in self.windows(at) if w.covers(component, at)), None)

    # ------------------------------------------------------------------ availability

    def availability(
        self, components: list[str], year: int, month: int, now: datetime
    ) -> list[Availability]:
        with self.engine.connect() as conn:
            outages = list(conn.execute(select(component_outages)))
            windows = list(
                conn.execute(
                    select(maintenance_windows).where(maintenance_windows.c.cancelled_at.is_(None))
                )
            )
        result = []
        for component in components:
            down = [(o.down_at, o.up_at) for o in outages if o.component == component]
            planned = [
                (w.starts_at, w.ends_at) for w in windows if w.component in (component, "all")
            ]
            result.append(availability(component, year, month, down, planned, now))
        return result


def _outage(r: Any) -> Outage:
    return Outage(r.id, r.component, r.down_at, r.up_at, r.detail, r.incident_id)
