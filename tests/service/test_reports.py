"""The SSI's reports: each User's cover its own devices, installations and requests only."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine, insert

from opendcc.catalogue import DeviceType, UserRole
from opendcc.core.eui import Eui64
from opendcc.inventory import Device, InventoryStore, Registration, SmiStatus
from opendcc.service import reports
from opendcc.service.incidents import Actor
from opendcc.store import upgrade
from opendcc.store.tables import migration_batches, migration_installations, service_requests

T0 = datetime(2026, 2, 3, 4, 5, tzinfo=UTC)
A, B = Eui64.parse("90-B3-D5-1F-30-01-00-00"), Eui64.parse("90-B3-D5-1F-30-03-00-00")


def _esme(n: int, model: str) -> Device:
    return Device(
        Eui64.parse(f"00-DB-00-00-00-00-00-0{n}"),
        DeviceType.ESME,
        SmiStatus.COMMISSIONED,
        "Acme",
        model,
        "x",
        f"110000000000{n}",
        "2.0",
    )


def test_reports_by_user(engine: Engine) -> None:
    upgrade(engine)
    inventory = InventoryStore(engine)
    inventory.put_devices([_esme(1, "E1"), _esme(2, "E2")], T0)
    inventory.register(
        [
            Registration("1100000000001", UserRole.IS, A, T0),
            Registration("1100000000002", UserRole.IS, B, T0),
        ]
    )
    with engine.begin() as conn:
        for batch, who in (("a", A), ("b", B)):
            conn.execute(
                insert(migration_batches).values(
                    batch_id=batch,
                    submitter=str(who),
                    file_name="f",
                    file_digest=batch * 64,
                    submitted_at=T0,
                    loaded_records=1,
                    loaded=1,
                )
            )
            conn.execute(
                insert(migration_installations).values(
                    batch_id=batch,
                    record=1,
                    installation_id=batch,
                    mode="active",
                    cohort="x",
                    state="commissioned" if who == A else "failed",
                    attempts=1,
                    reasons="[]",
                    devices="[]",
                    updated_at=T0,
                )
            )
        conn.execute(
            insert(service_requests).values(
                request_id="r1",
                originator=str(A),
                target="00-DB-00-00-00-00-00-01",
                counter="1",
                srv="4.1.1",
                command_variant=1,
                state="delivered",
                received_at=T0,
                updated_at=T0,
                document=b"x",
            )
        )
    mine = Actor.user(A)
    assert reports.build(engine, mine, "device-model", T0).rows == (
        ("commissioned", "Acme", "E1", 1),
    )
    assert reports.build(engine, mine, "installation-status", T0).rows == (
        ("x", "active", "commissioned", "", 1),
    )
    assert reports.build(engine, Actor.user(B), "monthly-transactions", T0).rows == ()
    monthly = reports.build(engine, mine, "monthly-transactions", T0)
    assert monthly.rows == (("2026-02", "4.1.1", "delivered", 1),)
    assert monthly.csv().splitlines()[0] == "month,srv,state,requests"
    assert len(reports.build(engine, Actor.service_desk(), "device-firmware", T0).rows) == 2
