"""The prepayment service on the store (SQLite and PostgreSQL): issuing, access, the ledger's
states, settling from outcomes and keypad alerts, and one-step delivery with a crash between
claiming and answering."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import Engine

from opendcc.catalogue import DeviceType, UserRole
from opendcc.core.clock import FixedClock
from opendcc.core.eui import Eui64
from opendcc.inventory import Device, InventoryStore, Registration, SmiStatus
from opendcc.prepayment.keys import CohortKeys
from opendcc.prepayment.ledger import Route, UtrnState
from opendcc.prepayment.registers import Kind, Principal
from opendcc.prepayment.service import TopUpRefused, TopUps
from opendcc.prepayment.utrn import CounterCache, algorithm
from opendcc.s1sp.cohorts import register_all
from opendcc.s1sp.contract import DeviceAlert, Instruction, Outcome, OutcomeStatus, Registry
from opendcc.s1sp.services.base import InvalidParameters
from tests.reference import NOW

PROFILES = {p.name: p for p in register_all(Registry()).profiles()}
SUPPLIER = Principal("90-B3-D5-1F-30-01-00-00", Kind.SUPPLIER)
OTHER = Principal("90-B3-D5-1F-30-03-00-00", Kind.SUPPLIER)
PSP = Principal("paypoint", Kind.PSP)
ESME = Eui64.parse("00-DB-12-34-56-78-90-A0")
GSME = Eui64.parse("00-DB-12-34-56-78-90-A1")
MPAN, MPRN = "1900000000011", "1234567890"


class Meter:
    """A meter as the submit callable sees it: the real algorithm with the cohort's keys."""

    def __init__(self, cohort: str) -> None:
        self.cohort = cohort
        self.cache = CounterCache()
        self.credited = 0

    def take(self, instruction: Instruction) -> Outcome:
        method = algorithm(PROFILES[self.cohort].utrn_algorithm)
        keys = CohortKeys(self.cohort)
        credit = method.accept(keys, instruction.device_id, instruction.parameters["UTRN"])
        try:
            self.cache.remember(credit.counter)
        except Exception as exc:
            return Outcome(instruction.request_id, OutcomeStatus.REJECTED, detail=f"UTRN {exc}")
        self.credited += credit.amount_p
        return Outcome(instruction.request_id, OutcomeStatus.SUCCESS)


def _service(engine: Engine, cohort: str = "landis") -> tuple[TopUps, FixedClock, Meter]:
    clock = FixedClock(NOW)
    inventory = InventoryStore(engine)
    devices = [
        Device(ESME, DeviceType.ESME, SmiStatus.COMMISSIONED, "m", "e", cohort=cohort, mpxn=MPAN),
        Device(GSME, DeviceType.GSME, SmiStatus.COMMISSIONED, "m", "g", cohort=cohort, mpxn=MPRN),
    ]
    inventory.put_devices(devices, NOW)
    supplier = Eui64.parse(SUPPLIER.name)
    inventory.register(
        [
            Registration(MPAN, UserRole.IS, supplier, NOW - timedelta(days=1)),
            Registration(MPRN, UserRole.GS, supplier, NOW - timedelta(days=1)),
        ]
    )
    meter = Meter(cohort)

    async def submit(cohort: str, instruction: Instruction) -> Outcome:
        return meter.take(instruction)

    service = TopUps(
        engine=engine,
        clock=clock,
        inventory=inventory,
        profiles=PROFILES,
        keys=CohortKeys,
        submit=submit,
    )
    return service, clock, meter


def test_tokens_get_rising_counters_and_are_the_algorithms_own(engine: Engine) -> None:
    service, clock, _ = _service(engine)
    target = service.target(SUPPLIER, device=str(ESME))
    first = service.issue(SUPPLIER, target, 500)
    clock.advance(timedelta(seconds=1))
    second = service.issue(SUPPLIER, target, 500)
    assert second.counter > first.counter
    assert first.utrn != second.utrn and first.state is UtrnState.ISSUED
    credit = algorithm("gbcs").accept(CohortKeys("landis"), ESME, first.utrn)
    assert (credit.amount_p, credit.counter) == (500, first.counter)


def test_who_may_ask(engine: Engine) -> None:
    service, _, _ = _service(engine)
    with pytest.raises(TopUpRefused) as refused:
        service.target(OTHER, device=str(ESME))
    assert (refused.value.status, refused.value.reason) == (403, "not_responsible")
    with pytest.raises(TopUpRefused) as refused:
        service.target(PSP, mpxn=MPRN)
    assert refused.value.reason == "not_nominated"
    service.registers.nominate(Eui64.parse(SUPPLIER.name), "paypoint", NOW - timedelta(hours=1))
    assert service.target(PSP, mpxn=MPRN).device.device_id == GSME
    service.registers.register_pan("9826000000000000017", MPAN, Eui64.parse(SUPPLIER.name), NOW)
    assert service.target(PSP, pan="9826000000000000017").device.device_id == ESME
    with pytest.raises(TopUpRefused) as refused:
        service.target(SUPPLIER, device=str(ESME), mpxn=MPAN)
    assert refused.value.reason == "target"


def test_a_reference_is_one_token(engine: Engine) -> None:
    service, _, _ = _service(engine)
    target = service.target(SUPPLIER, device=str(ESME))
    first = service.issue(SUPPLIER, target, 500, reference="txn-1")
    assert service.issue(SUPPLIER, target, 500, reference="txn-1") == first
    with pytest.raises(TopUpRefused):
        service.issue(SUPPLIER, target, 501, reference="txn-1")
    assert service.ledger.counts() == {"issued": 1}


def test_amounts_the_algorithm_cannot_carry_are_refused(engine: Engine) -> None:
    service, _, _ = _service(engine)
    target = service.target(SUPPLIER, device=str(ESME))
    with pytest.raises(TopUpRefused) as refused:
        service.issue(SUPPLIER, target, 8192)  # GBCS: pennies to 8191, then whole pounds
    assert refused.value.reason == "amount"
    assert service.issue(SUPPLIER, target, 8200).amount_p == 8200
    assert service.ledger.counts() == {"issued": 1}


def test_two_step_claim_and_settle(engine: Engine) -> None:
    service, _, meter = _service(engine)
    entry = service.issue(SUPPLIER, service.target(SUPPLIER, device=str(ESME)), 300)
    instruction = Instruction("rid-1", "2.2", ESME, {"UTRN": entry.utrn})
    service.vet(instruction)
    with engine.begin() as conn:
        assert service.claim_in(conn, instruction) is None
    with engine.begin() as conn:
        service.settle_in(conn, instruction, meter.take(instruction))
    settled = service.ledger.get(entry.id)
    assert settled is not None and (settled.state, settled.channel) == (UtrnState.APPLIED, "ota")
    with pytest.raises(InvalidParameters, match="applied"):
        service.vet(instruction)
    with pytest.raises(InvalidParameters, match="not issued"):
        service.vet(Instruction("rid-2", "2.2", GSME, {"UTRN": entry.utrn}))
    assert meter.credited == 300


@pytest.mark.parametrize(
    ("outcome", "state"),
    [
        (
            Outcome("r", OutcomeStatus.REJECTED, detail="meter refused: UTRN replay: used"),
            "applied",
        ),
        (
            Outcome("r", OutcomeStatus.REJECTED, detail="meter refused: UTRN authentication: x"),
            "rejected",
        ),
        (Outcome("r", OutcomeStatus.NO_RESPONSE), "sent"),
        (Outcome("r", OutcomeStatus.DEVICE_UNREACHABLE), "sent"),
    ],
)
def test_outcomes_settle_the_ledger(engine: Engine, outcome: Outcome, state: str) -> None:
    service, _, _ = _service(engine)
    entry = service.issue(SUPPLIER, service.target(SUPPLIER, device=str(ESME)), 300)
    instruction = Instruction("rid-1", "2.2", ESME, {"UTRN": entry.utrn})
    with engine.begin() as conn:
        service.claim_in(conn, instruction)
        service.settle_in(conn, instruction, outcome)
    settled = service.ledger.get(entry.id)
    assert settled is not None and settled.state == state


def test_cancel_then_keypad_entry_is_reconciled(engine: Engine) -> None:
    service, _, _ = _service(engine)
    target = service.target(SUPPLIER, device=str(ESME))
    kept, voided = (service.issue(SUPPLIER, target, 100) for _ in range(2))
    assert service.cancel(SUPPLIER, voided).state is UtrnState.CANCELLED
    with pytest.raises(TopUpRefused):
        service.cancel(SUPPLIER, voided)
    with pytest.raises(InvalidParameters, match="cancelled"):
        service.vet(Instruction("rid", "2.2", ESME, {"UTRN": voided.utrn}))
    for entry in (kept, voided):
        values = {"channel": "keypad", "counter": str(entry.counter), "utrn": entry.utrn}
        service.reconcile(DeviceAlert(ESME, 0x8F0A, NOW, values))
    settled = service.ledger.get(kept.id)
    assert settled is not None and (settled.state, settled.channel) == (UtrnState.APPLIED, "keypad")
    late = service.ledger.get(voided.id)
    assert late is not None and late.state is UtrnState.APPLIED
    assert "after cancellation" in late.detail
    assert [e.state for e in service.ledger.events(voided.id)] == [
        UtrnState.ISSUED,
        UtrnState.CANCELLED,
        UtrnState.APPLIED,
    ]


def test_one_step_survives_a_crash_between_claim_and_answer(engine: Engine) -> None:
    service, _, meter = _service(engine, cohort="aclara")
    target = service.target(SUPPLIER, device=str(GSME))
    entry = service.issue(SUPPLIER, target, 250, route=Route.ONE_STEP)
    assert asyncio.run(service.deliver(entry)).state is UtrnState.APPLIED
    assert meter.credited == 250

    # A second token: claimed (sent), and the process dies before the meter answers.
    crashed = service.issue(SUPPLIER, target, 400, route=Route.ONE_STEP)
    service.ledger.move(crashed.id, ((UtrnState.ISSUED,), UtrnState.SENT), NOW, request_id="UTRN-x")
    meter.take(Instruction("UTRN-x", "2.2", GSME, {"UTRN": crashed.utrn}))  # it was credited
    assert asyncio.run(service.resume()) == 1  # the restarted hub sends it again ...
    settled = service.ledger.get(crashed.id)
    assert settled is not None and settled.state is UtrnState.APPLIED  # ... the meter says replay
    assert meter.credited == 650  # once
