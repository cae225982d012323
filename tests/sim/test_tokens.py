"""A simulated meter takes UTRNs: its own cohort's, once, within its counter window, credited
as a top-up; anything else is refused and changes nothing.

Tokens are made as the S1SP makes them: with each cohort's real algorithm
(``opendcc.prepayment.utrn.algorithm(profile.utrn_algorithm)``) and its ``CohortKeys``.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from opendcc.core.clock import FixedClock
from opendcc.core.eui import Eui64
from opendcc.prepayment.keys import CohortKeys
from opendcc.prepayment.utrn import Rejection, algorithm
from opendcc.s1sp.cohorts import register_all
from opendcc.s1sp.contract import CohortProfile, OutcomeStatus, Registry
from opendcc.s1sp.services import GBCS_ALERTS
from opendcc.sim import fleet
from opendcc.sim.headends import FleetMeter, core_for_fleet
from opendcc.sim.services import execute
from opendcc.sim.state import (
    DebtRegister,
    Esme,
    EventCode,
    Gsme,
    MeterError,
    MeterState,
    PaymentMode,
    Reason,
    TokenReader,
    UtrnRefused,
)

PROFILES = register_all(Registry()).profiles()
NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
ESME_ID = Eui64.parse("00-DB-12-34-56-78-90-A0")
GSME_ID = Eui64.parse("00-DB-12-34-56-78-90-B0")
AMOUNT_P = 1_500


def provisioned(
    profile: CohortProfile,
    *,
    gas: bool = False,
    mode: PaymentMode = PaymentMode.PREPAYMENT,
    device: Eui64 | None = None,
) -> MeterState:
    """A meter of ``profile``'s cohort, a day old, with credit, provisioned as its head-end
    provisions it."""
    kind = Gsme if gas else Esme
    meter: MeterState = kind.for_device(
        device or (GSME_ID if gas else ESME_ID),
        commissioned=NOW - timedelta(days=1),
        payment_mode=mode,
        balance_p=5_000,
    )
    reader = TokenReader(algorithm(profile.utrn_algorithm), CohortKeys(profile.name))
    meter.install_token_reader(reader)
    return meter


def counters(profile: CohortProfile, count: int) -> list[int]:
    """The counters of ``count`` successive tokens for one meter."""
    utrn = algorithm(profile.utrn_algorithm)
    made: list[int] = []
    for _ in range(count):
        made.append(utrn.next_counter(made[-1] if made else None, NOW))
    return made


def token(
    profile: CohortProfile, device: Eui64, counter: int | None = None, amount_p: int = AMOUNT_P
) -> str:
    """A UTRN for ``device`` as ``profile``'s S1SP issues it."""
    utrn = algorithm(profile.utrn_algorithm)
    chosen = counters(profile, 1)[0] if counter is None else counter
    return utrn.issue(CohortKeys(profile.name), device, chosen, amount_p)


def observed(meter: MeterState) -> tuple[object, ...]:
    """What a refused token must leave alone: credit, logs and the counter memory."""
    reader = meter.token_reader
    assert reader is not None
    return (
        meter.prepay_values(NOW),
        meter.meter_balance(NOW),
        meter.event_log(NOW),
        meter.security_log(NOW),
        tuple(reader.cache.counters),
    )


def refused(meter: MeterState, utrn: str, *, keypad: bool = False) -> MeterError:
    before = observed(meter)
    with pytest.raises(MeterError) as caught:
        meter.take_utrn(NOW, utrn, keypad=keypad)
    assert observed(meter) == before
    return caught.value


def by_name(name: str) -> CohortProfile:
    return next(p for p in PROFILES if p.name == name)


@pytest.fixture(params=PROFILES, ids=lambda p: p.name)
def profile(request: pytest.FixtureRequest) -> CohortProfile:
    chosen: CohortProfile = request.param
    return chosen


# --------------------------------------------------------------------------- whose tokens


@pytest.mark.parametrize("issuer", PROFILES, ids=lambda p: f"token-{p.name}")
@pytest.mark.parametrize("holder", PROFILES, ids=lambda p: f"meter-{p.name}")
def test_a_meter_takes_its_own_cohorts_tokens_only(
    holder: CohortProfile, issuer: CohortProfile
) -> None:
    meter = provisioned(holder)
    utrn = token(issuer, meter.device_id)
    if issuer is holder:
        before = meter.meter_balance(NOW)
        credit, _ = meter.take_utrn(NOW, utrn)
        assert (credit.amount_p, credit.counter) == (AMOUNT_P, counters(issuer, 1)[0])
        assert meter.meter_balance(NOW) == before + AMOUNT_P
        return
    refusal = refused(meter, utrn)
    assert isinstance(refusal, UtrnRefused)
    assert refusal.rejection in {Rejection.FORMAT, Rejection.CHECK_DIGIT, Rejection.AUTHENTICATION}
    assert refusal.reason is Reason.INVALID_VALUE
    assert refusal.detail.startswith(f"UTRN {refusal.rejection.value}: ")


def test_a_token_for_another_meter_of_the_cohort_is_not_authentic(profile: CohortProfile) -> None:
    meter = provisioned(profile)
    other = Eui64.parse("00-DB-12-34-56-78-90-A1")
    refusal = refused(meter, token(profile, other))
    assert isinstance(refusal, UtrnRefused)
    assert refusal.rejection in {Rejection.CHECK_DIGIT, Rejection.AUTHENTICATION}


def test_a_keying_mistake_is_refused(profile: CohortProfile) -> None:
    meter = provisioned(profile)
    utrn = token(profile, meter.device_id)
    mistyped = utrn[:7] + str((int(utrn[7]) + 1) % 10) + utrn[8:]
    for wrong in (mistyped, utrn[:-1], utrn + "0", utrn[:-1] + "x"):
        refusal = refused(meter, wrong)
        assert isinstance(refusal, UtrnRefused)
        assert refusal.rejection is not Rejection.REPLAY


# --------------------------------------------------------------------------- once, in a window


def test_the_same_token_twice_is_a_replay(profile: CohortProfile) -> None:
    meter = provisioned(profile, gas=True)
    utrn = token(profile, meter.device_id)
    meter.take_utrn(NOW, utrn)
    refusal = refused(meter, utrn)
    assert isinstance(refusal, UtrnRefused) and refusal.rejection is Rejection.REPLAY
    assert str(refusal).startswith("invalid_value: UTRN replay: ")


def test_tokens_may_come_out_of_order_within_the_window_but_not_before_it(
    profile: CohortProfile,
) -> None:
    meter = provisioned(profile)
    reader = meter.token_reader
    assert reader is not None
    size = reader.cache.size
    made = counters(profile, size + 3)
    utrns = [token(profile, meter.device_id, counter) for counter in made]
    # The newest but one first, then tokens 2 .. size: each taken, out of order; the window
    # now holds ``size`` counters with a gap at ``size + 1``.
    order = [size + 2, *range(2, size + 1)]
    for index in order:
        assert meter.take_utrn(NOW, utrns[index])[0].counter == made[index]
    assert sorted(reader.cache.counters) == sorted(made[i] for i in order)
    # The window is full: the oldest token was never used, but is older than all it holds.
    refusal = refused(meter, utrns[0])
    assert isinstance(refusal, UtrnRefused) and refusal.rejection is Rejection.REPLAY
    assert "older than the window" in refusal.detail
    # The gap still goes in, and pushes the lowest out: from then on token 1 is too old too.
    assert meter.take_utrn(NOW, utrns[size + 1])[0].counter == made[size + 1]
    assert made[2] not in reader.cache.counters
    refusal = refused(meter, utrns[1])
    assert isinstance(refusal, UtrnRefused) and refusal.rejection is Rejection.REPLAY


# --------------------------------------------------------------------------- what is credited


def test_a_credit_mode_meter_refuses_a_token(profile: CohortProfile) -> None:
    meter = provisioned(profile, mode=PaymentMode.CREDIT)
    refusal = refused(meter, token(profile, meter.device_id))
    assert refusal.reason is Reason.WRONG_PAYMENT_MODE
    assert not isinstance(refusal, UtrnRefused)


def test_a_meter_without_prepayment_keys_refuses_a_token() -> None:
    meter = Esme.for_device(ESME_ID, payment_mode=PaymentMode.PREPAYMENT, balance_p=5_000)
    with pytest.raises(MeterError) as caught:
        meter.take_utrn(NOW, token(PROFILES[0], ESME_ID))
    assert caught.value.reason is Reason.UNSUPPORTED


@pytest.mark.parametrize("gas", [False, True], ids=["esme", "gsme"])
def test_a_token_is_credited_as_a_top_up_payment_debt_first(gas: bool) -> None:
    profile = by_name("edmi")
    meter = provisioned(profile, gas=gas)
    meter.update_debt(NOW, DebtRegister.PAYMENT, adjustment_p=5_000)
    config = replace(meter.prepay_config, payment_debt_recovery_percent=20)
    meter.update_prepay_configuration(NOW, config)
    twin = copy.deepcopy(meter)
    before = meter.prepay_values(NOW)

    meter.take_utrn(NOW, token(profile, meter.device_id))

    after = meter.prepay_values(NOW)
    assert after.payment_debt_p == before.payment_debt_p - 300  # 20% of 1,500p
    assert after.balance_p == before.balance_p + 1_200
    assert meter.event_log(NOW)[0].code is EventCode.CREDIT_ADDED
    twin.top_up(NOW, AMOUNT_P)
    assert twin.prepay_values(NOW) == after
    assert twin.event_log(NOW) == meter.event_log(NOW)


def test_a_copied_meter_keeps_its_own_counter_memory(profile: CohortProfile) -> None:
    meter = provisioned(profile)
    twin = copy.deepcopy(meter)
    utrn = token(profile, meter.device_id)
    meter.take_utrn(NOW, utrn)
    credit, _ = twin.take_utrn(NOW, utrn)  # the copy has not seen it
    assert credit.amount_p == AMOUNT_P
    refused(meter, utrn)


# --------------------------------------------------------------------------- keypad and 2.2


def test_at_the_keypad_the_meter_alerts_what_it_credited(profile: CohortProfile) -> None:
    meter = provisioned(profile)
    utrn = token(profile, meter.device_id)
    credit, alerts = meter.take_utrn(NOW, utrn, keypad=True)
    [alert] = [a for a in alerts if a.code is EventCode.UTRN_ACCEPTED_AT_KEYPAD]
    assert alert.device == meter.device_id
    assert dict(alert.values) == {
        "utrn": utrn,
        "amount_p": AMOUNT_P,
        "counter": counters(profile, 1)[0],
        "channel": "keypad",
    }
    assert credit.counter == alert.value("counter")
    assert int(EventCode.UTRN_ACCEPTED_AT_KEYPAD) in GBCS_ALERTS
    # A refused entry raises nothing.
    assert refused(meter, utrn, keypad=True).detail.startswith("UTRN replay: ")


def test_over_the_air_the_meter_credits_without_a_keypad_alert(profile: CohortProfile) -> None:
    meter = provisioned(profile)
    utrn = token(profile, meter.device_id)
    result, alerts = execute(meter, "2.2", {"UTRN": utrn}, NOW)
    assert result == {"amount_p": AMOUNT_P, "counter": counters(profile, 1)[0]}
    assert EventCode.UTRN_ACCEPTED_AT_KEYPAD not in {a.code for a in alerts}
    # Over the air and at the keypad are one path: the keypad now sees a replay.
    assert refused(meter, utrn, keypad=True).detail.startswith("UTRN replay: ")


# --------------------------------------------------------------------------- the head-end


def test_the_head_end_provisions_its_fleet_from_the_key_seed(profile: CohortProfile) -> None:
    seed = b"a seed of this test"
    entries = [FleetMeter(ESME_ID, payment_mode=PaymentMode.PREPAYMENT, balance_p=5_000)]
    core = core_for_fleet(
        profile, entries, commissioned=NOW - timedelta(days=1), clock=FixedClock(NOW), key_seed=seed
    )
    utrn = algorithm(profile.utrn_algorithm)
    counter = utrn.next_counter(None, NOW)
    made = utrn.issue(CohortKeys(profile.name, seed), ESME_ID, counter, AMOUNT_P)
    default_seed = token(profile, ESME_ID)  # the simulation's default seed: not this fleet's

    reply = core.execute("R1", ESME_ID, "2.2", {"UTRN": default_seed})
    assert reply.status is OutcomeStatus.REJECTED
    assert reply.detail.startswith("meter refused: invalid_value: UTRN authentication: ")
    reply = core.execute("R2", ESME_ID, "2.2", {"UTRN": made})
    assert reply.status is OutcomeStatus.SUCCESS
    assert reply.result == {"amount_p": AMOUNT_P, "counter": counter}
    reply = core.execute("R3", ESME_ID, "2.2", {"UTRN": made})
    assert reply.detail.startswith("meter refused: invalid_value: UTRN replay: ")
    assert core.execute("R2", ESME_ID, "2.2", {"UTRN": made}).status is OutcomeStatus.SUCCESS


def test_about_one_generated_meter_in_eight_is_a_prepayment_meter() -> None:
    meters = [
        meter
        for n in range(400)
        for meter in fleet.headend_meters(
            fleet.installation("landis", 3, n, fleet.Models.of(PROFILES[0]), dual_fuel=True)
        )
    ]
    prepayment = [m for m in meters if m.payment_mode is PaymentMode.PREPAYMENT]
    assert 0.09 < len(prepayment) / len(meters) < 0.16
    assert all(m.balance_p > 0 for m in prepayment)
    # The choice is the device's, and survives the fleet file.
    again = list(fleet.headend_meters(fleet.installation("x", 3, 0, fleet.Models.of(PROFILES[1]))))
    assert [m.payment_mode for m in again] == [m.payment_mode for m in meters[:1]]
    credit = next(m for m in meters if m.payment_mode is PaymentMode.CREDIT)
    assert "payment_mode" not in credit.to_json() and "balance_p" not in credit.to_json()
    for entry in (prepayment[0], credit):
        assert FleetMeter.from_json(entry.to_json()) == entry
