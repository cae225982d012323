"""Migration end to end: validation, device testing over the head-end's protocol, commissioning."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from tests.migration.rig import COHORT, SUPPLIER, HeadEnd, Rig, record, run

from opendcc.core.eui import Eui64
from opendcc.inventory import SmiStatus
from opendcc.migration.lifecycle import FailureCategory, InstallationState
from opendcc.sim import fleet
from opendcc.sim.headends.core import Faults


@pytest.fixture
def rig(engine: Engine, tmp_path: Path) -> Rig:
    return Rig(engine, tmp_path)


def devices_of(r: dict[str, object]) -> list[Eui64]:
    return [Eui64.parse(d["device_id"]) for d in r["devices"]]  # type: ignore[attr-defined, index]


def states(rig: Rig, batch_id: str) -> dict[str, InstallationState]:
    return {
        str(i.installation_id): i.state for i in rig.migration(None).store.installations(batch_id)
    }


def test_an_active_batch_is_validated_tested_and_commissioned(rig: Rig) -> None:
    records = [record(n) for n in range(4)]  # two electricity-only, two dual fuel
    rig.register(records)
    summary = rig.load(rig.file(records))
    assert (summary.records, summary.accepted, summary.rejected) == (4, 4, 0)
    every = [d for r in records for d in devices_of(r)]
    assert set(rig.inventory.statuses(every).values()) == {SmiStatus.PENDING}

    run(rig, HeadEnd(records))

    assert set(states(rig, summary.batch.batch_id).values()) == {InstallationState.COMMISSIONED}
    assert set(rig.inventory.statuses(every).values()) == {SmiStatus.COMMISSIONED}
    gas = devices_of(records[1])[3]  # CHF, ESME, IHD, GSME, GPF
    assert [h.target for h in rig.inventory.history(gas)] == [
        SmiStatus.PENDING,
        SmiStatus.INSTALLED_NOT_COMMISSIONED,
        SmiStatus.COMMISSIONED,
    ]
    device = rig.inventory.device(gas)
    assert device is not None
    assert device.gas_proxy_id == devices_of(records[1])[4]
    assert device.commissioned_at == rig.clock.now()


def test_firmware_read_in_device_testing_is_recorded(rig: Rig) -> None:
    dormant = record(0, scheduled_for=rig.clock.now())
    for device in dormant["devices"]:
        del device["firmware_version"]  # a dormant installation may not know it
    rig.register([dormant])
    summary = rig.load(rig.file([dormant]))
    assert summary.accepted == 1
    run(rig, HeadEnd([dormant]))
    esme = rig.inventory.device(devices_of(dormant)[1])
    assert esme is not None
    assert (esme.smi_status, esme.firmware_version) == (SmiStatus.COMMISSIONED, fleet.FIRMWARE)


def test_dormant_installations_wait_for_their_schedule(rig: Rig) -> None:
    later = rig.clock.now() + timedelta(days=2)
    active, dormant = record(0), record(1, scheduled_for=later)
    rig.register([active, dormant])
    batch = rig.load(rig.file([active, dormant])).batch.batch_id

    run(rig, HeadEnd([active, dormant]))
    assert states(rig, batch) == {
        active["installation"]: InstallationState.COMMISSIONED,
        dormant["installation"]: InstallationState.SCHEDULED,
    }
    assert set(rig.inventory.statuses(devices_of(dormant)).values()) == {SmiStatus.PENDING}

    run(rig, HeadEnd([active, dormant]), [timedelta(days=2)])
    assert states(rig, batch)[dormant["installation"]] is InstallationState.COMMISSIONED


def meter(r: dict[str, object], kind: str) -> str:
    return next(
        d["device_id"]  # type: ignore[index]
        for d in r["devices"]  # type: ignore[attr-defined]
        if d["type"] == kind  # type: ignore[index]
    )


def test_each_failure_category_and_its_retry(rig: Rig) -> None:
    records = [record(n, dual_fuel=n == 2) for n in range(7)]
    no_wan, keys, han, lost, firmware, stranger, fine = records
    headend = HeadEnd(
        [r for r in records if r is not stranger],
        faults={
            meter(no_wan, "ESME"): Faults(unreachable=True),
            meter(keys, "ESME"): Faults(keys_missing=True),
            meter(han, "GSME"): Faults(han_error=True),
            meter(lost, "ESME"): Faults(failure_rate=1.0),
        },
        firmware={meter(firmware, "ESME"): "9.9"},
    )
    rig.register(records)
    batch = rig.load(rig.file(records)).batch.batch_id
    migration = rig.migration(None)

    run(rig, headend)
    first = {i.installation_id: i for i in migration.store.installations(batch)}
    expected = {
        no_wan["installation"]: (InstallationState.RETRY_WAIT, FailureCategory.NO_WAN),
        keys["installation"]: (InstallationState.FAILED, FailureCategory.MISSING_KEYS),
        han["installation"]: (InstallationState.RETRY_WAIT, FailureCategory.HAN_ERROR_GAS),
        lost["installation"]: (InstallationState.RETRY_WAIT, FailureCategory.NO_RESPONSE),
        firmware["installation"]: (InstallationState.FAILED, FailureCategory.FIRMWARE_NOT_ON_CPL),
        stranger["installation"]: (InstallationState.FAILED, FailureCategory.DEVICE_MISMATCH),
        fine["installation"]: (InstallationState.COMMISSIONED, None),
    }
    assert {k: (v.state, v.category) for k, v in first.items()} == expected
    assert first[no_wan["installation"]].due_at == rig.clock.now() + timedelta(minutes=15)
    # A failed installation's devices leave the inventory's operable set, history kept.
    assert set(rig.inventory.statuses(devices_of(keys)).values()) == {SmiStatus.WITHDRAWN}

    # The gas meter's HAN recovers before the first retry; the others never do.
    del headend.faults[Eui64.parse(meter(han, "GSME"))]
    delays = [timedelta(minutes=15), timedelta(hours=1), timedelta(hours=4), timedelta(hours=12)]
    run(rig, headend, delays[:1])
    assert states(rig, batch)[han["installation"]] is InstallationState.COMMISSIONED
    run(rig, headend, delays[1:])

    final = {i.installation_id: i for i in migration.store.installations(batch)}
    for retried in (no_wan, lost):
        installation = final[retried["installation"]]
        assert (installation.state, installation.category, installation.attempts) == (
            InstallationState.FAILED,
            FailureCategory.TOO_MANY_ATTEMPTS,
            5,
        )
        assert "5 attempts" in installation.reasons[0]["detail"]
    assert final[han["installation"]].attempts == 2
    # The last runs (a fresh head-end) tried only the two failing meters: no meter of a
    # finished installation was read again.
    assert headend.server is not None
    assert not headend.server.core.executions


def test_withdrawal_keeps_history_and_stops_operation(rig: Rig) -> None:
    records = [record(0), record(1)]
    rig.register(records)
    batch = rig.load(rig.file(records)).batch.batch_id
    run(rig, HeadEnd(records))

    withdrawn = rig.migration(None).withdraw(records[0]["installation"], "supplier withdrew")
    assert set(withdrawn) == set(devices_of(records[0]))
    assert set(rig.inventory.statuses(withdrawn).values()) == {SmiStatus.WITHDRAWN}
    assert states(rig, batch)[records[0]["installation"]] is InstallationState.WITHDRAWN
    assert states(rig, batch)[records[1]["installation"]] is InstallationState.COMMISSIONED
    history = rig.inventory.history(withdrawn[0])
    assert [h.target for h in history][-2:] == [SmiStatus.COMMISSIONED, SmiStatus.WITHDRAWN]
    assert history[-1].reason == "supplier withdrew"


def test_the_same_file_resumes_the_same_batch_and_migrates_nothing_twice(rig: Rig) -> None:
    records = [record(n) for n in range(3)]
    rig.register(records)
    path = rig.file(records)
    first = rig.load(path)
    run(rig, HeadEnd(records))
    again = rig.load(path)
    assert again.batch.batch_id == first.batch.batch_id
    assert (again.resumed_from, again.accepted) == (3, 0)
    headend = HeadEnd(records)
    run(rig, headend)
    assert headend.server is not None and not headend.server.core.executions
    commissioned = [
        h
        for d in devices_of(records[0])
        for h in rig.inventory.history(d)
        if h.target is SmiStatus.COMMISSIONED
    ]
    assert len(commissioned) == len(devices_of(records[0]))


def test_a_crash_while_loading_resumes_after_the_last_committed_chunk(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    from opendcc.migration import pipeline
    from opendcc.migration.store import MigrationStore

    records = [record(n) for n in range(10)]
    records.append(record(3))  # a duplicate of an installation in an earlier chunk
    rig.register(records)
    path = rig.file(records)
    monkeypatch.setattr(pipeline, "LOAD_CHUNK", 4)
    original = MigrationStore.store_chunk_in
    calls = Counter[str]()

    def crash_on_second_chunk(self: MigrationStore, *args: object) -> None:
        calls["chunks"] += 1
        if calls["chunks"] == 2:
            raise KeyboardInterrupt("the process died")
        original(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(MigrationStore, "store_chunk_in", crash_on_second_chunk)
    with pytest.raises(KeyboardInterrupt):
        rig.load(path)
    monkeypatch.setattr(MigrationStore, "store_chunk_in", original)

    summary = rig.load(path)
    assert summary.resumed_from == 4
    assert (summary.records, summary.accepted, summary.rejected) == (11, 6, 1)
    installations = rig.migration(None).store.installations(summary.batch.batch_id)
    assert [i.record for i in installations] == list(range(1, 12))
    assert installations[-1].reasons[0]["code"] == "duplicate_installation"
    # Devices of the chunk that died were rolled back with it, then loaded once.
    assert set(rig.inventory.statuses(devices_of(records[5])).values()) == {SmiStatus.PENDING}


def test_a_crash_between_testing_and_commissioning_commissions_once(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    from opendcc.migration.pipeline import Migration

    records = [record(n) for n in range(3)]
    rig.register(records)
    batch = rig.load(rig.file(records)).batch.batch_id

    def die(self: Migration, installations: object) -> None:
        raise KeyboardInterrupt("the process died")

    original = Migration._commission
    monkeypatch.setattr(Migration, "_commission", die)
    with pytest.raises(KeyboardInterrupt):
        run(rig, HeadEnd(records))
    assert set(states(rig, batch).values()) == {InstallationState.TESTED}
    monkeypatch.setattr(Migration, "_commission", original)

    headend = HeadEnd(records)
    run(rig, headend)
    assert set(states(rig, batch).values()) == {InstallationState.COMMISSIONED}
    assert headend.server is not None and not headend.server.core.executions  # not re-tested
    assert COHORT.name and SUPPLIER
