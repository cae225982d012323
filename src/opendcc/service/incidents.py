"""Incidents under the Incident Management Policy (IMP): raised by DCC Users, by the service
desk, or by the hub itself from its own signals (a head-end down, an anomaly quarantine ...).

``Incidents`` is the one service the SSI's pages, its JSON API and the hub's monitor use: it
applies the IMP's transition table (``service.imp``), keeps each incident's SLA clock inputs
(responded, resolved, paused time) and its history of events, and decides who sees what: the
service desk sees every incident; a DCC User sees those it owns (raised by it or about its
device) and those naming it an interested party. An incident the actor may not see is reported
as not found, never as forbidden, so its existence does not leak.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, Row, delete, insert, or_, select, update

from opendcc.core.eui import Eui64
from opendcc.service import imp
from opendcc.service.imp import ImpError, Status, Target, Timing
from opendcc.store.tables import (
    incident_attachments,
    incident_events,
    incident_parties,
    incident_targets,
    incidents,
)

MAX_ATTACHMENT = 1024 * 1024  # bytes: logs and screenshots, not archives
DCC = "DCC"
ASSIGNEE_KINDS = ("dcc", "s1sp", "user")


class NotFound(LookupError):
    """No such incident, or not one the actor may see."""


class Refused(PermissionError):
    """The actor may see the incident but not do this to it."""


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts: a DCC User (``user_id``), the service desk, or the hub itself."""

    principal: str
    desk: bool = False
    user_id: Eui64 | None = None

    @classmethod
    def user(cls, user_id: Eui64) -> Actor:
        return cls(str(user_id), False, user_id)

    @classmethod
    def service_desk(cls, name: str = "desk") -> Actor:
        return cls(name, True)


HUB = Actor("hub", True)


@dataclass(frozen=True, slots=True)
class Event:
    at: datetime
    by: str
    kind: str
    text: str


@dataclass(frozen=True, slots=True)
class Attachment:
    id: int
    name: str
    content_type: str
    size: int
    at: datetime
    by: str


@dataclass(frozen=True, slots=True)
class Incident:
    id: int
    title: str
    description: str
    category: int
    major: bool
    status: Status
    raised_by: str
    raised_at: datetime
    owner: Eui64 | None
    assignee_kind: str
    assignee: str
    device_id: Eui64 | None
    signal: str | None
    evidence: str | None
    repeat_of: int | None
    timing: Timing
    closed_at: datetime | None
    reopened: int
    events: tuple[Event, ...] = ()
    attachments: tuple[Attachment, ...] = ()
    parties: tuple[Eui64, ...] = field(default_factory=tuple)

    def clocks(self, target: Target, now: datetime) -> tuple[imp.Clock, imp.Clock]:
        return imp.response_clock(self.timing, target, now), imp.resolution_clock(
            self.timing, target, now
        )

    def as_json(self, target: Target, now: datetime) -> dict[str, Any]:
        response, resolution = self.clocks(target, now)
        return {
            "id": self.id,
            "title": self.title,
            "category": self.category,
            "major": self.major,
            "status": self.status.value,
            "raised_by": self.raised_by,
            "raised_at": self.raised_at.isoformat(),
            "owner": str(self.owner) if self.owner else None,
            "assignee": {"kind": self.assignee_kind, "name": self.assignee},
            "device_id": str(self.device_id) if self.device_id else None,
            "evidence": self.evidence,
            "repeat_of": self.repeat_of,
            "response": _clock_json(response),
            "resolution": _clock_json(resolution),
        }


def _clock_json(clock: imp.Clock) -> dict[str, Any]:
    return {
        "state": clock.state.value,
        "target_seconds": int(clock.target.total_seconds()),
        "elapsed_seconds": int(clock.elapsed.total_seconds()),
    }


class Incidents:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # ------------------------------------------------------------------ targets

    def targets(self) -> dict[int, Target]:
        found = dict(imp.DEFAULT_TARGETS)
        with self.engine.connect() as conn:
            for row in conn.execute(select(incident_targets)):
                found[int(row.category)] = Target(
                    timedelta(minutes=row.response_minutes),
                    timedelta(minutes=row.resolution_minutes),
                )
        return found

    def set_target(self, actor: Actor, category: int, response_min: int, resolve_min: int) -> None:
        if not actor.desk:
            raise Refused("only the service desk sets the IMP's target times")
        imp.check_category(category)
        if not 0 < response_min <= resolve_min:
            raise ImpError("a target response time is positive and within the resolution time")
        with self.engine.begin() as conn:
            conn.execute(delete(incident_targets).where(incident_targets.c.category == category))
            conn.execute(
                insert(incident_targets).values(
                    category=category, response_minutes=response_min, resolution_minutes=resolve_min
                )
            )

    # ------------------------------------------------------------------ raising

    def raise_incident(
        self,
        actor: Actor,
        now: datetime,
        *,
        title: str,
        description: str,
        category: int,
        device_id: Eui64 | None = None,
        owner: Eui64 | None = None,
        major: bool = False,
        signal: str | None = None,
        evidence: str | None = None,
    ) -> int:
        imp.check_category(category)
        title = title.strip()
        if not title:
            raise ImpError("an incident needs a title")
        if not actor.desk:
            owner = actor.user_id  # a User raises incidents of its own only
            major = False  # the desk declares major incidents
        with self.engine.begin() as conn:
            repeat_of = self._repeat_of(conn, device_id, signal, now)
            incident_id = int(
                conn.execute(
                    insert(incidents).values(
                        title=title[:200],
                        description=description[:20_000],
                        category=category,
                        major=major,
                        status=Status.OPEN.value,
                        raised_by=actor.principal,
                        raised_at=now,
                        owner=str(owner) if owner else None,
                        assignee_kind="dcc",
                        assignee=DCC,
                        device_id=str(device_id) if device_id else None,
                        signal=signal,
                        evidence=evidence,
                        repeat_of=repeat_of,
                        paused_seconds=0,
                        reopened=0,
                    )
                ).inserted_primary_key[0]  # type: ignore[index]
            )
            text = f"raised in category {category}" + (" (major)" if major else "")
            if repeat_of is not None:
                text += f"; repeats incident {repeat_of}"
            self._event(conn, incident_id, now, actor, "raised", text)
        return incident_id

    def raise_from_signal(
        self,
        signal: str,
        now: datetime,
        *,
        title: str,
        description: str,
        category: int,
        evidence: str | None = None,
        device_id: Eui64 | None = None,
        owner: Eui64 | None = None,
        assign_to_owner: bool = False,
    ) -> int:
        """The hub's own incident for ``signal``: one while it is active (a signal seen again
        adds to its history), a new one (marked a repeat) after it was resolved. A new one is
        assigned to its ``owner`` (the responsible User) when ``assign_to_owner`` says so."""
        with self.engine.connect() as conn:
            active = conn.execute(
                select(incidents.c.id)
                .where(incidents.c.signal == signal)
                .where(incidents.c.status.in_([s.value for s in imp.ACTIVE]))
                .order_by(incidents.c.id.desc())
                .limit(1)
            ).scalar_one_or_none()
        if active is not None:
            with self.engine.begin() as conn:
                self._event(conn, int(active), now, HUB, "signal", description[:2000])
            return int(active)
        incident = self.raise_incident(
            HUB,
            now,
            title=title,
            description=description,
            category=category,
            device_id=device_id,
            owner=owner,
            signal=signal,
            evidence=evidence,
        )
        if assign_to_owner and owner is not None:
            self.assign(HUB, incident, now, "user", str(owner))
        return incident

    @staticmethod
    def _repeat_of(
        conn: Any, device_id: Eui64 | None, signal: str | None, now: datetime
    ) -> int | None:
        keys = []
        if device_id is not None:
            keys.append(incidents.c.device_id == str(device_id))
        if signal is not None:
            keys.append(incidents.c.signal == signal)
        if not keys:
            return None
        row = conn.execute(
            select(incidents.c.id, incidents.c.raised_at)
            .where(or_(*keys))
            .where(incidents.c.raised_at >= now - imp.REPEAT_WINDOW)
            .order_by(incidents.c.id.desc())
            .limit(1)
        ).first()
        return int(row.id) if row is not None else None

    # ------------------------------------------------------------------ reading

    def list(self, actor: Actor, *, active_only: bool = False, limit: int = 200) -> list[Incident]:
        query = select(incidents).order_by(incidents.c.id.desc()).limit(limit)
        query = self._visible(query, actor)
        if active_only:
            query = query.where(incidents.c.status.in_([s.value for s in imp.ACTIVE]))
        with self.engine.connect() as conn:
            return [_incident(row) for row in conn.execute(query)]

    def get(self, actor: Actor, incident_id: int) -> Incident:
        with self.engine.connect() as conn:
            row = conn.execute(
                self._visible(select(incidents), actor).where(incidents.c.id == incident_id)
            ).first()
            if row is None:
                raise NotFound(f"no incident {incident_id}")
            events = tuple(
                Event(e.at, e.by, e.kind, e.text)
                for e in conn.execute(
                    select(incident_events)
                    .where(incident_events.c.incident_id == incident_id)
                    .order_by(incident_events.c.id)
                )
            )
            attachments = tuple(
                Attachment(a.id, a.name, a.content_type, a.size, a.at, a.by)
                for a in conn.execute(
                    select(
                        incident_attachments.c.id,
                        incident_attachments.c.name,
                        incident_attachments.c.content_type,
                        incident_attachments.c.size,
                        incident_attachments.c.at,
                        incident_attachments.c.by,
                    )
                    .where(incident_attachments.c.incident_id == incident_id)
                    .order_by(incident_attachments.c.id)
                )
            )
            parties = tuple(
                Eui64.parse(p)
                for p in conn.execute(
                    select(incident_parties.c.user_id).where(
                        incident_parties.c.incident_id == incident_id
                    )
                ).scalars()
            )
        base = _incident(row)
        return Incident(
            **{f: getattr(base, f) for f in _BASE_FIELDS},
            events=events,
            attachments=attachments,
            parties=parties,
        )

    def attachment(
        self, actor: Actor, incident_id: int, attachment_id: int
    ) -> tuple[str, str, bytes]:
        self.get(actor, incident_id)  # visibility
        with self.engine.connect() as conn:
            row = conn.execute(
                select(incident_attachments)
                .where(incident_attachments.c.id == attachment_id)
                .where(incident_attachments.c.incident_id == incident_id)
            ).first()
        if row is None:
            raise NotFound(f"no attachment {attachment_id}")
        return row.name, row.content_type, bytes(row.data)

    def _visible(self, query: Any, actor: Actor) -> Any:
        if actor.desk:
            return query
        user = str(actor.user_id)
        parties = select(incident_parties.c.incident_id).where(incident_parties.c.user_id == user)
        return query.where(or_(incidents.c.owner == user, incidents.c.id.in_(parties)))

    # ------------------------------------------------------------------ changing

    def update(self, actor: Actor, incident_id: int, now: datetime, text: str) -> None:
        text = text.strip()
        if not text:
            raise ImpError("an update needs some text")
        incident = self.get(actor, incident_id)
        with self.engine.begin() as conn:
            self._event(conn, incident_id, now, actor, "update", text[:20_000])
            if actor.desk and actor is not HUB:
                self._responded(conn, incident, now)

    def assign(
        self, actor: Actor, incident_id: int, now: datetime, kind: str, assignee: str
    ) -> None:
        """To the DCC, an S1SP (by cohort) or the responsible User (the incident's owner)."""
        if not actor.desk:
            raise Refused("the service desk assigns incidents")
        incident = self.get(actor, incident_id)
        if kind not in ASSIGNEE_KINDS:
            raise ImpError(f"an incident is assigned to one of {', '.join(ASSIGNEE_KINDS)}")
        if kind == "dcc":
            assignee = DCC
        elif kind == "user":
            if incident.owner is None:
                raise ImpError("this incident has no responsible User to assign it to")
            assignee = str(incident.owner)
        elif not assignee.strip():
            raise ImpError("name the S1SP (its cohort)")
        with self.engine.begin() as conn:
            conn.execute(
                update(incidents)
                .where(incidents.c.id == incident_id)
                .values(assignee_kind=kind, assignee=assignee.strip()[:64])
            )
            self._event(conn, incident_id, now, actor, "assigned", f"to {kind} {assignee}")
            if actor is not HUB:  # the hub's own routing is not the desk's response
                self._responded(conn, incident, now)

    def add_party(self, actor: Actor, incident_id: int, now: datetime, user_id: Eui64) -> None:
        incident = self.get(actor, incident_id)
        if not actor.desk and incident.owner != actor.user_id:
            raise Refused("only the incident's User or the desk adds interested parties")
        if user_id in incident.parties or user_id == incident.owner:
            return
        with self.engine.begin() as conn:
            conn.execute(
                insert(incident_parties).values(incident_id=incident_id, user_id=str(user_id))
            )
            self._event(conn, incident_id, now, actor, "party", f"{user_id} is an interested party")

    def set_major(self, actor: Actor, incident_id: int, now: datetime, major: bool) -> None:
        if not actor.desk:
            raise Refused("the service desk declares major incidents")
        self.get(actor, incident_id)
        with self.engine.begin() as conn:
            conn.execute(update(incidents).where(incidents.c.id == incident_id).values(major=major))
            what = "declared a major incident" if major else "no longer a major incident"
            self._event(conn, incident_id, now, actor, "major", what)

    def attach(  # noqa: PLR0917
        self,
        actor: Actor,
        incident_id: int,
        now: datetime,
        name: str,
        content_type: str,
        data: bytes,
    ) -> int:
        if not data:
            raise ImpError("the file is empty")
        if len(data) > MAX_ATTACHMENT:
            raise ImpError(f"an attachment is at most {MAX_ATTACHMENT // 1024} KiB")
        self.get(actor, incident_id)
        name = (name.replace("\\", "/").rsplit("/", 1)[-1] or "attachment")[:200]
        with self.engine.begin() as conn:
            attachment_id = int(
                conn.execute(
                    insert(incident_attachments).values(
                        incident_id=incident_id,
                        name=name,
                        content_type=(content_type or "application/octet-stream")[:100],
                        size=len(data),
                        data=data,
                        at=now,
                        by=actor.principal,
                    )
                ).inserted_primary_key[0]  # type: ignore[index]
            )
            self._event(conn, incident_id, now, actor, "attached", f"{name} ({len(data)} bytes)")
        return attachment_id

    def act(
        self, actor: Actor, incident_id: int, now: datetime, action: str, note: str = ""
    ) -> Status:
        """hold, resume, resolve, close, reopen: the IMP's transitions, with paused time kept.

        Users close or reopen their own incidents and put nothing on hold; the desk does all."""
        incident = self.get(actor, incident_id)
        if not actor.desk and (
            action not in ("close", "reopen") or incident.owner != actor.user_id
        ):
            raise Refused(f"the service desk {action}s incidents")
        target = imp.next_status(incident.status, action)
        values: dict[str, Any] = {"status": target.value}
        timing = incident.timing
        if action in ("hold", "resolve") and timing.paused_since is None:
            values["paused_since"] = now  # resolved: paused until closed or reopened
        if action in ("resume", "reopen") and timing.paused_since is not None:
            gap = max(int((now - timing.paused_since).total_seconds()), 0)
            values["paused_seconds"] = timing.paused_seconds + gap
            values["paused_since"] = None
        if action == "resolve":
            values["resolved_at"] = now
        elif action == "close":
            values["closed_at"] = now
            values["resolved_at"] = timing.resolved_at or now
        elif action == "reopen":
            values.update(resolved_at=None, closed_at=None, reopened=incident.reopened + 1)
        with self.engine.begin() as conn:
            conn.execute(update(incidents).where(incidents.c.id == incident_id).values(**values))
            self._event(
                conn, incident_id, now, actor, action, note.strip()[:20_000] or action + "d"
            )
            if actor.desk and actor is not HUB:
                self._responded(conn, incident, now)
        return target

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def _responded(conn: Any, incident: Incident, now: datetime) -> None:
        """The desk's first action stops the response clock (and starts the work)."""
        if incident.timing.responded_at is not None:
            return
        conn.execute(
            update(incidents)
            .where(incidents.c.id == incident.id)
            .where(incidents.c.responded_at.is_(None))
            .values(responded_at=now)
        )
        # still open (not put on hold, resolved or closed by this very action): now in progress
        conn.execute(
            update(incidents)
            .where(incidents.c.id == incident.id)
            .where(incidents.c.status == Status.OPEN.value)
            .values(status=Status.IN_PROGRESS.value)
        )

    @staticmethod
    def _event(  # noqa: PLR0917
        conn: Any, incident_id: int, now: datetime, actor: Actor, kind: str, text: str
    ) -> None:
        conn.execute(
            insert(incident_events).values(
                incident_id=incident_id, at=now, by=actor.principal, kind=kind, text=text
            )
        )


_BASE_FIELDS = (
    "id",
    "title",
    "description",
    "category",
    "major",
    "status",
    "raised_by",
    "raised_at",
    "owner",
    "assignee_kind",
    "assignee",
    "device_id",
    "signal",
    "evidence",
    "repeat_of",
    "timing",
    "closed_at",
    "reopened",
)


def _incident(row: Row[Any]) -> Incident:
    return Incident(
        id=int(row.id),
        title=row.title,
        description=row.description,
        category=int(row.category),
        major=bool(row.major),
        status=Status(row.status),
        raised_by=row.raised_by,
        raised_at=row.raised_at,
        owner=Eui64.parse(row.owner) if row.owner else None,
        assignee_kind=row.assignee_kind,
        assignee=row.assignee,
        device_id=Eui64.parse(row.device_id) if row.device_id else None,
        signal=row.signal,
        evidence=row.evidence,
        repeat_of=row.repeat_of,
        timing=Timing(
            row.raised_at, row.responded_at, row.resolved_at, row.paused_since, row.paused_seconds
        ),
        closed_at=row.closed_at,
        reopened=int(row.reopened),
    )


def mapping_of(targets: Mapping[int, Target]) -> dict[str, dict[str, int]]:
    return {
        str(c): {
            "response_minutes": int(t.response.total_seconds() // 60),
            "resolution_minutes": int(t.resolution.total_seconds() // 60),
        }
        for c, t in sorted(targets.items())
    }
