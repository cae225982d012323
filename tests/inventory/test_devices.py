"""The inventory store: devices, their status history, HAN associations and searches."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from opendcc.catalogue import DeviceType
from opendcc.core.eui import Eui64
from opendcc.inventory import (
    Device,
    IllegalStatusTransition,
    InventoryStore,
    SmiStatus,
    UnknownDevice,
)

T0 = datetime(2026, 3, 1, tzinfo=UTC)
HUB = Eui64.parse("00-DB-12-00-00-00-00-00")
ESME = Eui64.parse("00-DB-12-00-00-00-00-01")
GSME = Eui64.parse("00-DB-12-00-00-00-00-02")
GPF = Eui64.parse("00-DB-12-00-00-00-00-03")


def installation(status: SmiStatus = SmiStatus.PENDING) -> list[Device]:
    def device(device_id: Eui64, kind: DeviceType, mpxn: str) -> Device:
        return Device(
            device_id,
            kind,
            status,
            "Acme",
            f"{kind}-1",
            "acme",
            mpxn,
            "1.0",
            serial_number="SER-1",  # serial numbers repeat: never a key
            comms_hub_id=None if kind is DeviceType.CHF else HUB,
            gas_proxy_id=GPF if kind is DeviceType.GSME else None,
            installation_id="INS-1",
        )

    return [
        device(HUB, DeviceType.CHF, "1900000000017"),
        device(ESME, DeviceType.ESME, "1900000000017"),
        device(GSME, DeviceType.GSME, "7000000001"),
        device(GPF, DeviceType.GPF, "7000000001"),
    ]


@pytest.fixture
def store(engine: Engine) -> InventoryStore:
    inventory = InventoryStore(engine)
    with engine.begin() as conn:
        inventory.add_in(conn, installation(), T0, "migration batch MB-1")
    return inventory


def test_a_device_carries_its_model_han_and_status(store: InventoryStore) -> None:
    gas = store.device(GSME)
    assert gas is not None
    assert (gas.device_type, gas.smi_status, gas.status_since) == (
        DeviceType.GSME,
        SmiStatus.PENDING,
        T0,
    )
    assert (gas.comms_hub_id, gas.gas_proxy_id, gas.smets_generation) == (HUB, GPF, "SMETS1")
    assert {d.device_id for d in store.on_comms_hub(HUB)} == {ESME, GSME, GPF}
    assert {d.device_id for d in store.by_serial("SER-1")} == {HUB, ESME, GSME, GPF}
    assert {d.device_id for d in store.by_mpxn("7000000001")} == {GSME, GPF}
    assert len(store.of_installation("INS-1")) == 4


def test_transitions_are_recorded_with_their_effective_time(store: InventoryStore) -> None:
    later = T0 + timedelta(hours=2)
    store.transition([ESME], SmiStatus.INSTALLED_NOT_COMMISSIONED, T0 + timedelta(hours=1), "t")
    store.transition([ESME], SmiStatus.COMMISSIONED, later, "commissioned")
    device = store.device(ESME)
    assert device is not None
    assert (device.smi_status, device.status_since, device.commissioned_at) == (
        SmiStatus.COMMISSIONED,
        later,
        later,
    )
    history = store.history(ESME)
    assert [(h.source, h.target) for h in history] == [
        (None, SmiStatus.PENDING),
        (SmiStatus.PENDING, SmiStatus.INSTALLED_NOT_COMMISSIONED),
        (SmiStatus.INSTALLED_NOT_COMMISSIONED, SmiStatus.COMMISSIONED),
    ]
    assert history[-1].reason == "commissioned"


def test_an_illegal_transition_changes_no_device(store: InventoryStore) -> None:
    store.transition([HUB], SmiStatus.INSTALLED_NOT_COMMISSIONED, T0, "tested")
    with pytest.raises(IllegalStatusTransition):
        # HUB may be commissioned, ESME (still Pending) may not: neither moves.
        store.transition([HUB, ESME], SmiStatus.COMMISSIONED, T0, "commission")
    assert store.statuses([HUB, ESME]) == {
        HUB: SmiStatus.INSTALLED_NOT_COMMISSIONED,
        ESME: SmiStatus.PENDING,
    }
    assert len(store.history(ESME)) == 1


def test_an_unknown_device_cannot_move(store: InventoryStore) -> None:
    with pytest.raises(UnknownDevice):
        store.transition([Eui64(7)], SmiStatus.WITHDRAWN, T0, "x")


def test_a_withdrawn_device_is_enrolled_again_with_its_history_kept(
    store: InventoryStore, engine: Engine
) -> None:
    store.transition([ESME], SmiStatus.WITHDRAWN, T0, "migration failed")
    again = [Device(ESME, DeviceType.ESME, SmiStatus.PENDING, "Acme", "ESME-2", "acme")]
    with engine.begin() as conn:
        store.reenrol_in(conn, again, T0 + timedelta(days=1), "migration batch MB-2")
    device = store.device(ESME)
    assert device is not None
    assert (device.smi_status, device.model) == (SmiStatus.PENDING, "ESME-2")
    assert [h.target for h in store.history(ESME)] == [
        SmiStatus.PENDING,
        SmiStatus.WITHDRAWN,
        SmiStatus.PENDING,
    ]
