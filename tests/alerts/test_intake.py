"""The alert intake on a real store: an alert's future is done once it is committed (not
before), a redelivery is taken once, and what a killed hub committed but never routed is routed
by the next one, before anything new, exactly once."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta

from sqlalchemy import ColumnElement, Table, func, select
from tests.alerts.test_router import (  # noqa: F401 - the fixture
    ESME,
    LOW_CREDIT,
    SUPPLIER,
    TAMPER,
    Rig,
    rig,
)

from opendcc.alerts.intake import AlertIntake, Received
from opendcc.s1sp.contract import DeviceAlert
from opendcc.store.tables import alert_intake, outbox


def tamper(r: Rig, alert_id: str, n: int) -> DeviceAlert:
    return DeviceAlert(ESME, TAMPER, r.clock.now(), {"n": n}, alert_id)


def count(r: Rig, table: Table, *where: ColumnElement[bool]) -> int:
    query = select(func.count()).select_from(table).where(*where)
    with r.engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def supplier_messages(r: Rig) -> list[int]:
    """The ``n`` of each message to the supplier, in outbox order."""
    with r.engine.connect() as conn:
        bodies = conn.execute(
            select(outbox.c.body).where(outbox.c.user_id == str(SUPPLIER)).order_by(outbox.c.id)
        ).scalars()
        return [int(re.findall(rb": n=(\d+)<", body)[0]) for body in bodies]


def test_committed_before_the_future_is_done_and_a_redelivery_taken_once(
    rig: Rig,  # noqa: F811 - the fixture
) -> None:
    async def scenario() -> None:
        intake = AlertIntake(rig.router, flush_s=0.05)
        first = intake.receive("acme", tamper(rig, "a-1", 1))
        again = intake.receive("acme", tamper(rig, "a-1", 1))  # offered twice
        assert not first.done() and count(rig, alert_intake) == 0
        running = asyncio.create_task(intake.run())
        try:
            await asyncio.wait_for(asyncio.gather(first, again), 5)
            assert count(rig, alert_intake) == 1
            later = intake.receive("acme", tamper(rig, "a-1", 1))  # after it was committed
            await asyncio.wait_for(later, 5)
            while intake.routed < 1:
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.2)
        finally:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)
        assert intake.duplicates == 2
        assert supplier_messages(rig) == [1]
        assert count(rig, alert_intake, alert_intake.c.routed_at.is_(None)) == 0

    asyncio.run(scenario())


def test_a_restart_routes_what_was_committed_but_not_routed_first(
    rig: Rig,  # noqa: F811 - the fixture
) -> None:
    async def killed() -> None:
        """Committed, acknowledged, never routed: the process dies here."""
        intake = AlertIntake(rig.router)
        taken = [intake.receive("acme", tamper(rig, f"a-{n}", n)) for n in (1, 2)]
        await intake.commit_once()
        assert all(t.done() and t.exception() is None for t in taken)

    async def restarted() -> None:
        intake = AlertIntake(rig.router, flush_s=0.05)
        newer = intake.receive("acme", tamper(rig, "a-3", 3))
        again = intake.receive("acme", tamper(rig, "a-2", 2))  # the head-end offers it again
        running = asyncio.create_task(intake.run())
        try:
            await asyncio.wait_for(asyncio.gather(newer, again), 5)
            while count(rig, alert_intake, alert_intake.c.routed_at.is_(None)):
                await asyncio.sleep(0.02)
        finally:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)

    asyncio.run(killed())
    assert supplier_messages(rig) == []
    asyncio.run(restarted())
    assert supplier_messages(rig) == [1, 2, 3]  # the older ones first, each once


def test_an_idle_intake_looks_on_a_timer_only_while_a_storm_window_holds_alerts(
    rig: Rig,  # noqa: F811 - the fixture
) -> None:
    """No empty routing pass a flush when nothing arrived and nothing is held (an idle hub's
    CPU, issue 20); while a window holds alerts, its close still becomes the DCC alert with no
    alert arriving to wake the intake."""
    passes: list[int] = []
    route = rig.router.route

    def counted(batch: list[Received]) -> int:
        passes.append(len(batch))
        return route(batch)

    rig.router.route = counted  # type: ignore[method-assign]

    async def scenario() -> None:
        intake = AlertIntake(rig.router, flush_s=0.02)
        running = asyncio.create_task(intake.run())
        try:
            await asyncio.sleep(0.3)  # fifteen flushes' worth of nothing
            assert passes == []
            low = [
                intake.receive("acme", DeviceAlert(ESME, LOW_CREDIT, rig.clock.now(), {}, f"l{n}"))
                for n in range(5)
            ]
            await asyncio.wait_for(asyncio.gather(*low), 5)
            while intake.routed < 5:
                await asyncio.sleep(0.01)
            assert rig.router.throttle.holding  # two of the five held (the limit is three)
            rig.clock.advance(timedelta(seconds=120))  # the window closes, nothing arrives
            for _ in range(250):
                if not rig.router.throttle.holding:
                    break
                await asyncio.sleep(0.02)
            assert not rig.router.throttle.holding
            told = len(passes)
            await asyncio.sleep(0.3)
            assert len(passes) == told  # nothing held any more: no more timed passes
        finally:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)
        assert passes[0] == 5 and set(passes[1:]) == {0}
        assert count(rig, outbox, outbox.c.user_id == str(SUPPLIER)) == 3 + 1  # + the N45

    asyncio.run(scenario())
