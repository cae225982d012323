"""The hub watching itself: live health checks of every component, outages recorded, and
incidents raised from the hub's own signals, each with a link to its evidence.

Every ``interval`` seconds (``OPENDCC_SSI_MONITOR_SECONDS``, default 5): each head-end's health
check through its S1SP adapter, the database (a round trip), the broker (scale mode only), and
the hub's gateways, worker loops and the UTRN service's one-step loop as the processes'
heartbeats show them (``service.liveness``: any process of the hub, not just this one). Each
look is recorded (``ServiceStatus.record_checks``) for the SSI in whichever gateway serves it.
One monitor runs per hub: in the scheduler process, or the single process
(``service.hub_monitor``). A head-end that goes down outside planned maintenance raises a
category 2 incident assigned to its S1SP (one while it stays down); coming back up is added to
the incident's history. Requests quarantined by anomaly detection since the last look raise a
category 3 incident per User and SRV, owned by that User. Callback deliveries dead-lettered
since the last look raise a category 3 incident per User, owned by and assigned to that User
(its endpoint will not take them), one per episode: while it is active, more dead letters are
added to its history. More sources of signals (``SignalSource``: what happened in a period, as
``Signal``s) plug in the same way.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, func, select, text

from opendcc.core.clock import Clock
from opendcc.core.eui import Eui64, InvalidIdentifier
from opendcc.queue.deadletters import DeadLetters
from opendcc.s1sp.contract import S1spAdapter
from opendcc.service.incidents import HUB, Incidents
from opendcc.service.status import Check, ServiceStatus
from opendcc.store.audit import AuditLog, AuditRecord, digest
from opendcc.store.tables import service_requests

log = logging.getLogger(__name__)
HEALTH_TIMEOUT = 3.0


def interval_from_env() -> float:
    return float(os.environ.get("OPENDCC_SSI_MONITOR_SECONDS", "5"))


# A broker's check: (up, detail); None when the hub has no broker (the embedded default).
BrokerCheck = Callable[[], Awaitable[tuple[bool, str]]]
LOOPS = {
    "gateway": "a gateway process",
    "workers": "a worker loop",
    "utrn": "the one-step top-up loop",
}


class Monitor:
    def __init__(  # noqa: PLR0917
        self,
        engine: Engine,
        clock: Clock,
        adapters: Mapping[str, S1spAdapter],
        loops: Callable[[], Mapping[str, bool]],
        incidents: Incidents,
        status: ServiceStatus,
        interval: float | None = None,
        sources: Sequence[SignalSource] = (),
        audit: AuditLog | None = None,
        broker: BrokerCheck | None = None,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.adapters = adapters
        # component -> alive (its loop, in some process of the hub); may read the database
        self.loops = loops
        self.broker = broker
        self.incidents = incidents
        self.status = status
        self.interval = interval if interval is not None else interval_from_env()
        self.latest: dict[str, Check] = {}
        self.sources = list(sources)
        self.audit = audit
        self._signals_since: datetime | None = None

    def components(self) -> list[str]:
        broker = ["broker"] if self.broker is not None else []
        return [
            "gateway",
            "workers",
            "database",
            "utrn",
            *broker,
            *(f"headend:{c}" for c in self.adapters),
        ]

    async def run(self) -> None:
        while True:
            try:
                await self.check_once()
            except Exception:  # a failed look is logged and retried, never fatal
                log.exception("service monitor: a check failed")
            await asyncio.sleep(self.interval)

    async def check_once(self) -> list[Check]:
        checks: list[Check] = []
        try:
            loops = await asyncio.to_thread(self.loops)
        except Exception as exc:  # the heartbeats are in the database: judged with it below
            log.warning("service monitor: heartbeats unreadable (%s)", exc)
            loops = {}
        for component, what in LOOPS.items():
            if component not in loops:
                continue  # not judged this time (the processes are starting)
            up = loops[component]
            checks.append(Check(component, up, f"{what} alive" if up else f"no {what} alive"))
        checks.append(await asyncio.to_thread(self._database))
        if self.broker is not None:
            checks.append(await self._broker(self.broker))
        results = await asyncio.gather(
            *(self._headend(c, a) for c, a in self.adapters.items()), return_exceptions=False
        )
        checks += results
        now = self.clock.now()
        await asyncio.to_thread(self._record, checks, now)
        await asyncio.to_thread(self.status.record_checks, checks, now)
        await asyncio.to_thread(self._signals, now)
        self.latest = {c.component: c for c in checks}
        return checks

    def _database(self) -> Check:
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return Check("database", True, "answers")
        except Exception as exc:
            return Check("database", False, f"{type(exc).__name__}")

    async def _broker(self, broker: BrokerCheck) -> Check:
        try:
            up, detail = await asyncio.wait_for(broker(), HEALTH_TIMEOUT)
        except Exception as exc:
            return Check("broker", False, f"check failed: {type(exc).__name__}")
        return Check("broker", up, detail)

    async def _headend(self, cohort: str, adapter: S1spAdapter) -> Check:
        name = f"headend:{cohort}"
        try:
            up = await asyncio.wait_for(adapter.health(), HEALTH_TIMEOUT)
        except Exception as exc:
            return Check(name, False, f"health check failed: {type(exc).__name__}")
        return Check(name, up, "health check passed" if up else "health check failed")

    def _record(self, checks: list[Check], now: datetime) -> None:
        open_now = self.status.open_outages()
        for check in checks:
            if check.up:
                if check.component not in open_now:
                    continue
                closed = self.status.came_up(check.component, now)
                if closed is not None and closed.incident_id is not None:
                    self.incidents.update(
                        HUB, closed.incident_id, now, f"{check.component} is back up"
                    )
            elif check.component not in open_now:
                # The outage first: at most one opens (a unique index), so only the monitor
                # that opened it raises the incident, even with two racing (a scheduler
                # restarting over its predecessor); the incident is linked a moment later.
                opened = self.status.went_down(check.component, now, check.detail)
                if opened is None:
                    continue
                self._audit(now, "DOWN", f"{check.component} down: {check.detail}")
                incident = self._headend_incident(check, now)
                if incident is not None:
                    self.status.link_incident(opened, incident)

    def _headend_incident(self, check: Check, now: datetime) -> int | None:
        """A head-end down outside planned maintenance: an incident assigned to its S1SP."""
        if not check.component.startswith("headend:"):
            return None
        if self.status.in_maintenance(check.component, now) is not None:
            return None  # planned: no incident
        cohort = check.component.split(":", 1)[1]
        incident = self.incidents.raise_from_signal(
            f"headend-down:{cohort}",
            now,
            title=f"Head-end of cohort {cohort} is down",
            description=f"The hub's health check of the {cohort} head-end failed "
            f"({check.detail}) at {now:%Y-%m-%d %H:%M:%S}Z.",
            category=2,
            evidence=f"/ssi/status#{check.component}",
        )
        self.incidents.assign(HUB, incident, now, "s1sp", cohort)
        self._audit(now, "INCIDENT", f"incident {incident}: {check.component} down")
        return incident

    def _signals(self, now: datetime) -> None:
        since = self._signals_since
        self._signals_since = now
        if since is None:
            return  # the first look sets the mark: earlier ones were seen by an earlier run
        for source in self.sources:
            for signal in source(since, now):
                incident = self.incidents.raise_from_signal(
                    signal.key,
                    now,
                    title=signal.title,
                    description=signal.description,
                    category=signal.category,
                    evidence=signal.evidence,
                    device_id=signal.device_id,
                    owner=signal.owner,
                    assign_to_owner=signal.assign_to_owner,
                )
                self._audit(now, "INCIDENT", f"incident {incident}: {signal.key}", signal.owner)

    def _audit(self, now: datetime, outcome: str, reason: str, user: Eui64 | None = None) -> None:
        """The hub's own findings go into the audit trail too (endpoint ``service``)."""
        if self.audit is not None:
            record = AuditRecord(
                now, "service", outcome, reason[:500], digest(reason.encode()),
                originator=str(user) if user else None,
            )  # fmt: skip
            self.audit.record(record)


@dataclass(frozen=True, slots=True)
class Signal:
    """Something the hub saw that calls for an incident (one per ``key`` while it is active)."""

    key: str
    title: str
    description: str
    category: int
    evidence: str  # a link within the SSI to what shows it
    owner: Eui64 | None = None  # the User whose incident it is, if any
    device_id: Eui64 | None = None
    assign_to_owner: bool = False  # the fix is the User's (its endpoint, say), not the DCC's


# A source of signals: what happened in [since, now). Other rooms add theirs by passing more
# sources to the monitor.
SignalSource = Callable[[datetime, datetime], list[Signal]]


def quarantines(engine: Engine) -> SignalSource:
    """Requests anomaly detection quarantined: one incident per User and SRV, the User's."""

    def look(since: datetime, now: datetime) -> list[Signal]:
        s = service_requests
        with engine.connect() as conn:
            rows = list(
                conn.execute(
                    select(s.c.originator, s.c.srv, func.count())
                    .where(s.c.state == "quarantined")
                    .where(s.c.received_at >= since, s.c.received_at < now)
                    .group_by(s.c.originator, s.c.srv)
                )
            )
        return [
            Signal(
                f"anomaly:{originator}:{srv}",
                f"Requests quarantined: SRV {srv} from {originator}",
                f"Anomaly detection quarantined {count} SRV {srv} request(s) from {originator} "
                "(AD1 alerts sent).",
                3,
                f"/ssi/audit?user={originator}&srv={srv}",
                owner=Eui64.parse(originator),
            )
            for originator, srv, count in rows
        ]

    return look


def dead_lettered(engine: Engine) -> SignalSource:
    """Callback deliveries dead-lettered: one incident per User, the User's and assigned to it.

    The key is the User alone, so a User's incident stays the one while it is active however
    many more dead letters follow (each look adds to its history); once it is resolved, the
    next dead letter opens a new one, marked a repeat. Category 3: the User's messages are not
    reaching it, the service itself is up. Evidence: the User's dead letters in the SSI.

    The first look takes those dead since the monitor's mark; later ones those with a newer
    id (a dead letter redriven and dead again is a new row), so a large backlog of dead
    letters is not read again every few seconds."""
    letters = DeadLetters(engine)
    mark: int | None = None  # the last dead letter's id seen: later looks read only newer rows

    def look(since: datetime, now: datetime) -> list[Signal]:
        nonlocal mark
        counts, mark = letters.dead_since(0, since) if mark is None else letters.dead_since(mark)
        found = []
        for user, (count, permanent) in sorted(counts.items()):
            try:
                owner = Eui64.parse(user)
            except InvalidIdentifier:  # not a User the registry could hold: the desk's
                owner = None
            why = f"{permanent} refused for good (HTTP 4xx)" if permanent else "none for good"
            found.append(
                Signal(
                    f"deadletter:{user}",
                    f"Deliveries dead-lettered: callbacks to {user}",
                    f"{count} message(s) to {user}'s callback URL were dead-lettered after their "
                    f"retries ({why}). Mend the endpoint, then redrive them from the SSI.",
                    3,
                    f"/ssi/dead-letters?user={user}",
                    owner=owner,
                    assign_to_owner=owner is not None,
                )
            )
        return found

    return look
