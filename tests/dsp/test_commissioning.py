"""8.1.1 Commission Device: a SMETS1 device the head-end answered for is Commissioned in the
SMI, in the transaction that records the answer; nothing else moves."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine
from tests.inventory.test_devices import ESME, GSME, installation

from opendcc.core.clock import FixedClock
from opendcc.dsp.commissioning import COMMISSION_DEVICE, Commissioning
from opendcc.inventory import InventoryStore, SmiStatus
from opendcc.s1sp.contract import Instruction, Outcome, OutcomeStatus

T0 = datetime(2026, 3, 1, tzinfo=UTC)
T1 = datetime(2026, 3, 2, 9, tzinfo=UTC)


@pytest.fixture
def store(engine: Engine) -> InventoryStore:
    inventory = InventoryStore(engine)
    with engine.begin() as conn:
        inventory.add_in(conn, installation(SmiStatus.INSTALLED_NOT_COMMISSIONED), T0, "install")
    return inventory


def _settle(engine: Engine, store: InventoryStore, status: OutcomeStatus) -> None:
    instruction = Instruction("R-1", COMMISSION_DEVICE, ESME, {"tolerance_period_s": "60"})
    with engine.begin() as conn:
        Commissioning(store, FixedClock(T1)).settle_in(conn, instruction, Outcome("R-1", status))


def test_success_commissions_the_device_and_only_it(engine: Engine, store: InventoryStore) -> None:
    _settle(engine, store, OutcomeStatus.SUCCESS)
    esme, gsme = store.device(ESME), store.device(GSME)
    assert esme is not None and gsme is not None
    assert esme.smi_status is SmiStatus.COMMISSIONED
    assert gsme.smi_status is SmiStatus.INSTALLED_NOT_COMMISSIONED
    last = store.history(ESME)[-1]
    assert (last.target, last.at) == (SmiStatus.COMMISSIONED, T1)
    assert "8.1.1" in last.reason


@pytest.mark.parametrize(
    "status", [OutcomeStatus.NO_RESPONSE, OutcomeStatus.REJECTED, OutcomeStatus.DEVICE_UNREACHABLE]
)
def test_a_failure_leaves_it_installed(
    engine: Engine, store: InventoryStore, status: OutcomeStatus
) -> None:
    _settle(engine, store, status)
    esme = store.device(ESME)
    assert esme is not None and esme.smi_status is SmiStatus.INSTALLED_NOT_COMMISSIONED
