"""Incidents in the store: raising, the desk's response stopping the response clock, holds as
paused time, reopening, repeats, the hub's own signals, and who sees what."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from opendcc.core.eui import Eui64
from opendcc.service.imp import DEFAULT_TARGETS, ClockState, ImpError, Status, Target
from opendcc.service.incidents import HUB, Actor, Incidents, NotFound, Refused
from opendcc.store import upgrade

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
A, B = Eui64.parse("90-B3-D5-1F-30-01-00-00"), Eui64.parse("90-B3-D5-1F-30-03-00-00")
DEVICE = Eui64.parse("00-DB-12-34-56-78-90-A0")
DESK = Actor.service_desk()


@pytest.fixture
def incidents(engine: Engine) -> Incidents:
    upgrade(engine)
    return Incidents(engine)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_lifecycle_with_sla_clocks(incidents: Incidents) -> None:
    n = incidents.raise_incident(
        Actor.user(A), T0, title="Silent meter", description="", category=1, device_id=DEVICE
    )
    target = incidents.targets()[1]
    i = incidents.get(DESK, n)
    assert i.status is Status.OPEN and i.owner == A
    incidents.assign(DESK, n, at(10), "s1sp", "aclara")  # the desk's first act: response
    incidents.act(DESK, n, at(60), "hold", "waiting on the User")
    incidents.act(DESK, n, at(180), "resume")
    i = incidents.get(DESK, n)
    response, resolution = i.clocks(target, at(200))
    assert (response.state, response.elapsed) == (ClockState.MET, timedelta(minutes=10))
    assert resolution.elapsed == timedelta(minutes=80)  # 200 less 120 on hold
    incidents.act(DESK, n, at(230), "resolve")
    incidents.act(Actor.user(A), n, at(300), "reopen", "still silent")
    i = incidents.get(Actor.user(A), n)
    assert (i.status, i.reopened) == (Status.IN_PROGRESS, 1)
    assert i.clocks(target, at(310))[1].elapsed == timedelta(
        minutes=310 - 120 - 70
    )  # less hold, less resolved
    with pytest.raises(ImpError):
        incidents.act(DESK, n, at(311), "resume")


def test_users_see_their_own_and_parties(incidents: Incidents) -> None:
    n = incidents.raise_incident(Actor.user(A), T0, title="x", description="", category=4)
    with pytest.raises(NotFound):
        incidents.get(Actor.user(B), n)
    assert incidents.list(Actor.user(B)) == []
    with pytest.raises(Refused):
        incidents.assign(Actor.user(A), n, T0, "dcc", "")
    incidents.add_party(Actor.user(A), n, T0, B)
    assert incidents.get(Actor.user(B), n).id == n


def test_signals_make_one_incident_while_active_and_repeats_after(incidents: Incidents) -> None:
    kw = {"title": "down", "description": "d", "category": 2}
    first = incidents.raise_from_signal("headend-down:x", T0, **kw)  # type: ignore[arg-type]
    assert incidents.raise_from_signal("headend-down:x", at(5), **kw) == first  # type: ignore[arg-type]
    assert incidents.get(HUB, first).timing.responded_at is None
    incidents.act(DESK, first, at(30), "resolve")
    second = incidents.raise_from_signal("headend-down:x", at(60), **kw)  # type: ignore[arg-type]
    assert second != first
    assert incidents.get(DESK, second).repeat_of == first


def test_attachments_are_bounded(incidents: Incidents) -> None:
    n = incidents.raise_incident(Actor.user(A), T0, title="x", description="", category=5)
    incidents.attach(Actor.user(A), n, T0, "../log.txt", "text/plain", b"hello")
    name, _, data = incidents.attachment(Actor.user(A), n, incidents.get(DESK, n).attachments[0].id)
    assert (name, data) == ("log.txt", b"hello")
    with pytest.raises(ImpError):
        incidents.attach(Actor.user(A), n, T0, "big", "x", b"x" * (1024 * 1024 + 1))
    with pytest.raises(NotFound):
        incidents.attach(Actor.user(B), n, T0, "x", "x", b"x")


def test_target_times_are_the_desks_to_set(incidents: Incidents) -> None:
    with pytest.raises(Refused):
        incidents.set_target(Actor.user(A), 1, 10, 60)
    with pytest.raises(ImpError):
        incidents.set_target(DESK, 1, 90, 60)  # response beyond resolution
    incidents.set_target(DESK, 1, 10, 60)
    assert incidents.targets()[1] == Target(timedelta(minutes=10), timedelta(minutes=60))
    assert incidents.targets()[2] == DEFAULT_TARGETS[2]
    n = incidents.raise_incident(Actor.user(A), T0, title="x", description="", category=1)
    response, _ = incidents.get(DESK, n).clocks(incidents.targets()[1], at(11))
    assert response.state is ClockState.BREACHED


def test_a_user_cannot_declare_a_major_incident_or_raise_for_another(incidents: Incidents) -> None:
    n = incidents.raise_incident(
        Actor.user(A), T0, title="x", description="", category=1, major=True, owner=B
    )
    found = incidents.get(DESK, n)
    assert (found.major, found.owner) == (False, A)
    with pytest.raises(Refused):
        incidents.set_major(Actor.user(A), n, T0, True)
