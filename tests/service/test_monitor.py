"""The service monitor on a fake clock: a head-end going down opens an outage and raises one
incident assigned to its S1SP (none inside planned maintenance); coming back closes the outage;
quarantined requests raise the User's own incident; dead-lettered deliveries raise one incident
per User and episode, assigned to it; availability counts the outage."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, insert

from opendcc.core.clock import FixedClock
from opendcc.core.eui import Eui64
from opendcc.service.incidents import HUB, Actor, Incidents
from opendcc.service.monitor import Monitor, dead_lettered, quarantines
from opendcc.service.status import ServiceStatus
from opendcc.store import upgrade
from opendcc.store.audit import AuditLog
from opendcc.store.tables import dead_letters, service_requests

T0 = datetime(2026, 4, 1, 12, 0, tzinfo=UTC)
USER = "90-B3-D5-1F-30-01-00-00"


class FakeHeadEnd:
    def __init__(self) -> None:
        self.up = True

    async def health(self) -> bool:
        if not self.up:
            raise ConnectionRefusedError
        return True


@pytest.fixture
def parts(engine: Engine) -> tuple[Monitor, FixedClock, FakeHeadEnd, FakeHeadEnd]:
    upgrade(engine)
    clock = FixedClock(T0)
    a, b = FakeHeadEnd(), FakeHeadEnd()
    adapters: Any = {"alpha": a, "beta": b}
    monitor = Monitor(
        engine,
        clock,
        adapters,
        lambda: {"gateway": True, "workers": True, "utrn": True},
        Incidents(engine),
        ServiceStatus(engine),
        interval=0,
        sources=[quarantines(engine), dead_lettered(engine)],
        audit=AuditLog(engine),
    )
    return monitor, clock, a, b


def test_a_headend_outage_raises_one_incident_and_closes(parts: Any) -> None:
    monitor, clock, alpha, _ = parts
    asyncio.run(monitor.check_once())
    alpha.up = False
    for _ in range(3):
        clock.advance(timedelta(minutes=1))
        asyncio.run(monitor.check_once())
    assert not monitor.latest["headend:alpha"].up and monitor.latest["headend:beta"].up
    found = monitor.incidents.list(HUB)
    assert len(found) == 1
    incident = found[0]
    assert (incident.assignee_kind, incident.assignee, incident.category) == ("s1sp", "alpha", 2)
    assert incident.evidence == "/ssi/status#headend:alpha"
    assert incident.timing.responded_at is None  # the hub's routing is not a response
    clock.advance(timedelta(minutes=7))
    alpha.up = True
    asyncio.run(monitor.check_once())
    assert monitor.status.open_outages() == {}
    assert any("back up" in e.text for e in monitor.incidents.get(HUB, incident.id).events)
    figures = monitor.status.availability(["headend:alpha"], 2026, 4, clock.now())
    assert figures[0].unavailable == 9.0  # down at minute 1, up at minute 10


def test_no_incident_inside_planned_maintenance(parts: Any) -> None:
    monitor, clock, _, beta = parts
    monitor.status.schedule("headend:beta", T0, T0 + timedelta(hours=1), "upgrade", "desk", T0)
    beta.up = False
    clock.advance(timedelta(minutes=5))
    asyncio.run(monitor.check_once())
    assert "headend:beta" in monitor.status.open_outages()
    assert monitor.incidents.list(HUB) == []
    clock.advance(timedelta(minutes=10))
    beta.up = True
    asyncio.run(monitor.check_once())
    a = monitor.status.availability(["headend:beta"], 2026, 4, clock.now())[0]
    assert (a.unavailable, a.planned, a.percent) == (10.0, 10.0, 100.0)


def test_quarantined_requests_raise_the_users_incident(parts: Any, engine: Engine) -> None:
    monitor, clock, _, _ = parts
    asyncio.run(monitor.check_once())  # sets the mark
    clock.advance(timedelta(seconds=30))
    with engine.begin() as conn:
        for n in range(2):
            conn.execute(
                insert(service_requests).values(
                    request_id=f"{USER}:00-DB-12-34-56-78-90-A0:{n:020d}",
                    originator=USER,
                    target="00-DB-12-34-56-78-90-A0",
                    counter=f"{n:020d}",
                    srv="4.1.1",
                    command_variant=1,
                    state="quarantined",
                    received_at=T0 + timedelta(seconds=10),
                    updated_at=T0,
                    document=b"x",
                )
            )
    asyncio.run(monitor.check_once())
    mine = monitor.incidents.list(Actor.user(Eui64.parse(USER)))
    assert [i.signal for i in mine] == [f"anomaly:{USER}:4.1.1"]
    assert "2 SRV 4.1.1" in mine[0].description
    assert mine[0].evidence == f"/ssi/audit?user={USER}&srv=4.1.1"
    audit = monitor.audit.records()
    assert [(r.endpoint, r.outcome, r.originator) for r in audit] == [("service", "INCIDENT", USER)]
    assert monitor.audit.verify_chain() is None


def bury(engine: Engine, n: int, at: datetime, *, user: str = USER, permanent: bool = True) -> None:
    """A dead letter as the deliverer leaves one (``queue.deadletters.bury_in``)."""
    with engine.begin() as conn:
        conn.execute(
            insert(dead_letters).values(
                message_key=f"response:{user}:{n}",
                user_id=user,
                request_id=f"{user}:00-DB-12-34-56-78-90-A0:{n}",
                url="http://127.0.0.1:9/callback",
                body=b"<signed/>",
                created_at=at - timedelta(minutes=5),
                dead_at=at,
                attempts=3,
                last_error="HTTP 400",
                permanent=permanent,
            )
        )


def test_dead_letters_raise_one_incident_per_user_and_episode(parts: Any, engine: Engine) -> None:
    monitor, clock, _, _ = parts
    other = "90-B3-D5-1F-30-02-00-00"
    bury(engine, 0, T0 - timedelta(days=1))  # before the monitor started: seen by an earlier run
    asyncio.run(monitor.check_once())  # sets the mark
    assert monitor.incidents.list(HUB) == []
    clock.advance(timedelta(seconds=30))
    bury(engine, 1, T0 + timedelta(seconds=10))
    bury(engine, 2, T0 + timedelta(seconds=20), permanent=False)
    asyncio.run(monitor.check_once())
    mine = monitor.incidents.list(Actor.user(Eui64.parse(USER)))
    assert [i.signal for i in mine] == [f"deadletter:{USER}"]
    incident = mine[0]
    assert (incident.category, incident.assignee_kind, incident.assignee) == (3, "user", USER)
    assert incident.owner == Eui64.parse(USER)
    assert incident.evidence == f"/ssi/dead-letters?user={USER}"
    assert "2 message(s)" in incident.description and "1 refused for good" in incident.description
    assert incident.timing.responded_at is None  # the hub's routing is not a response
    assert monitor.incidents.list(Actor.user(Eui64.parse(other))) == []

    # A second dead letter in the same episode: no second incident, a line in its history.
    clock.advance(timedelta(seconds=30))
    bury(engine, 3, T0 + timedelta(seconds=40))
    asyncio.run(monitor.check_once())
    clock.advance(timedelta(seconds=30))
    asyncio.run(monitor.check_once())  # nothing new: nothing added
    assert [i.id for i in monitor.incidents.list(HUB)] == [incident.id]
    events = monitor.incidents.get(HUB, incident.id).events
    assert [e.kind for e in events].count("signal") == 1
    assert "1 message(s)" in next(e.text for e in events if e.kind == "signal")

    # Another User's dead letter is its own incident.
    clock.advance(timedelta(seconds=30))
    bury(engine, 4, clock.now() - timedelta(seconds=1), user=other)
    asyncio.run(monitor.check_once())
    theirs = monitor.incidents.list(Actor.user(Eui64.parse(other)))
    assert [(i.signal, i.assignee) for i in theirs] == [(f"deadletter:{other}", other)]

    # Once resolved, the next dead letter opens a new episode, marked a repeat.
    monitor.incidents.act(Actor.service_desk(), incident.id, clock.now(), "resolve")
    clock.advance(timedelta(seconds=30))
    bury(engine, 5, clock.now() - timedelta(seconds=1))
    asyncio.run(monitor.check_once())
    again = [i for i in monitor.incidents.list(HUB) if i.signal == f"deadletter:{USER}"]
    assert len(again) == 2 and again[0].repeat_of == incident.id, again

    audit = [(r.outcome, r.originator) for r in monitor.audit.records()]
    assert audit == [
        ("INCIDENT", USER),
        ("INCIDENT", USER),
        ("INCIDENT", other),
        ("INCIDENT", USER),
    ]
    assert monitor.audit.verify_chain() is None
