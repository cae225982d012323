"""The alert intake on a real store: an alert's future is done once it is committed (not
before), a redelivery is taken once, and what a killed hub committed but never routed is routed
by the next one, before anything new, exactly once."""

from __future__ import annotations

import asyncio
import re

from sqlalchemy import ColumnElement, Table, func, select
from tests.alerts.test_router import ESME, SUPPLIER, TAMPER, Rig, rig  # noqa: F401 - fixture

from opendcc.alerts.intake import AlertIntake
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
