"""Liveness across processes, on a real store: heartbeats judged fresh or stale against the
bound, a clean stop removing the process's row, old rows pruned; the monitor's looks recorded
for any gateway's SSI; two monitors over one store (a scheduler restarting over its
predecessor) open ONE outage and ONE incident for a head-end down; the broker a component only
when there is one, down when its check fails."""

from __future__ import annotations

import asyncio
import os
import socket
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, select
from tests.service.test_monitor import FakeHeadEnd

from opendcc.core.clock import FixedClock
from opendcc.service.hub_monitor import broker_check
from opendcc.service.incidents import HUB, Incidents
from opendcc.service.liveness import PRUNE_AFTER, Heartbeats
from opendcc.service.monitor import Monitor
from opendcc.service.status import ServiceStatus
from opendcc.store.tables import component_outages, hub_processes

T0 = datetime(2026, 4, 1, 12, 0, tzinfo=UTC)


def test_a_component_is_up_while_some_process_beats_for_it(engine: Engine) -> None:
    beats = Heartbeats(engine, interval=1.0)  # stale after 4 s
    beats.beat(["worker"], ["workers"], T0)
    other = Heartbeats(engine, interval=1.0)
    other.pid = os.getpid() + 100_000  # a second worker process
    other.beat(["worker"], ["workers"], T0 + timedelta(seconds=3))
    seen = beats.seen(["workers", "utrn"], T0 + timedelta(seconds=3))
    assert (seen["workers"].up, seen["workers"].processes) == (True, 2)
    assert not seen["utrn"].up and seen["utrn"].last_seen is None
    later = beats.seen(["workers"], T0 + timedelta(seconds=6))  # the first one went quiet
    assert (later["workers"].up, later["workers"].processes) == (True, 1)
    assert not beats.seen(["workers"], T0 + timedelta(seconds=8))["workers"].up
    other.beat(["worker"], [], T0 + timedelta(seconds=8))  # alive, its loop not
    assert not beats.seen(["workers"], T0 + timedelta(seconds=8))["workers"].up
    # one row per process, replaced each beat
    with engine.connect() as conn:
        rows = list(conn.execute(select(hub_processes)))
    assert len(rows) == 2 and {r.host for r in rows} == {socket.gethostname()}
    beats.leave()
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(hub_processes)).scalar_one() == 1
    assert other.prune(T0 + timedelta(seconds=8) + PRUNE_AFTER - timedelta(seconds=1)) == 0
    assert other.prune(T0 + timedelta(seconds=9) + PRUNE_AFTER) == 1


def monitor(engine: Engine, clock: FixedClock, adapters: Any, **extra: Any) -> Monitor:
    return Monitor(
        engine,
        clock,
        adapters,
        lambda: {"gateway": True, "workers": True, "utrn": True},
        Incidents(engine),
        ServiceStatus(engine),
        interval=0,
        **extra,
    )


def test_two_monitors_over_one_store_record_one_outage_and_one_incident(engine: Engine) -> None:
    clock = FixedClock(T0)
    headend = FakeHeadEnd()
    first, second = (
        monitor(engine, clock, {"alpha": headend}),
        monitor(engine, clock, {"alpha": headend}),
    )
    headend.up = False

    async def both() -> None:
        await asyncio.gather(first.check_once(), second.check_once())

    for _ in range(3):
        asyncio.run(both())
        clock.advance(timedelta(seconds=5))
    with engine.connect() as conn:
        down = conn.execute(
            select(func.count())
            .select_from(component_outages)
            .where(component_outages.c.component == "headend:alpha")
        ).scalar_one()
    assert down == 1
    assert len(Incidents(engine).list(HUB)) == 1
    # what the SSI reads: the latest look, from the store
    checks = ServiceStatus(engine).latest_checks()
    assert not checks["headend:alpha"].up and checks["workers"].up
    assert checks["database"].checked_at == T0 + timedelta(seconds=10)


def test_the_broker_is_a_component_only_with_one_and_down_when_unreachable(
    engine: Engine,
) -> None:
    clock = FixedClock(T0)
    assert "broker" not in monitor(engine, clock, {}).components()
    # nothing listens on port 1 of the loopback: the connection is refused
    scaled = monitor(engine, clock, {}, broker=broker_check("amqp://guest:guest@127.0.0.1:1/", []))
    assert "broker" in scaled.components()
    checks = {c.component: c for c in asyncio.run(scaled.check_once())}
    assert not checks["broker"].up and "check failed" in checks["broker"].detail
    assert "broker" in ServiceStatus(engine).open_outages()
