"""Operations: prepayment, supply, configuration writes (each visible in its read), logs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import timedelta

import pytest
from tests.sim.state.support import PREPAY, T0, flat_meter, hours

from opendcc.core.eui import Eui64
from opendcc.sim.state import (
    Alert,
    BillingCalendar,
    BillingPeriod,
    BillingTrigger,
    DebtRegister,
    DeviceType,
    Esme,
    EventCode,
    HanDevice,
    MeterError,
    MeterState,
    PaymentMode,
    PrepayConfig,
    Reason,
    Supply,
    Tariff,
    hash_image,
)
from opendcc.sim.state.config import MAX_HAN_DEVICES
from opendcc.sim.state.history import EVENT_LOG_ENTRIES


def codes(alerts: Sequence[Alert]) -> list[EventCode]:
    return [a.code for a in alerts]


# --------------------------------------------------------------------------- prepayment


def test_credit_falls_with_consumption_at_the_current_price() -> None:
    meter = flat_meter()
    assert meter.meter_balance(hours(10)) == 800
    meter.update_price(hours(10), prices_mp=[[40_000] * 4] * 8, standing_charge_p=0)
    assert meter.meter_balance(hours(15)) == 600
    assert meter.tariff.prices_mp[0][0] == 40_000


def test_credit_mode_does_not_spend_credit() -> None:
    meter = flat_meter(mode=PaymentMode.CREDIT)
    assert meter.meter_balance(hours(100)) == 1_000
    assert meter.supply_state(hours(100)) is Supply.ENABLED


def test_supply_is_disabled_when_credit_runs_out() -> None:
    meter = flat_meter()
    alerts = meter.advance(hours(60))
    assert codes(alerts) == [
        EventCode.LOW_CREDIT,
        EventCode.EMERGENCY_CREDIT_AVAILABLE,
        EventCode.SUPPLY_DISABLED_CREDIT,
    ]
    assert alerts[-1].at == hours(50) and alerts[-1].critical
    assert meter.supply_state(hours(60)) is Supply.DISABLED
    assert meter.import_registers(hours(60)).total == 50_000  # nothing drawn since
    assert meter.meter_balance(hours(60)) == 0
    assert meter.power_w(hours(60)) == 0
    assert meter.event_log(hours(60))[0].code is EventCode.SUPPLY_DISABLED_CREDIT


def test_emergency_credit_arms_the_supply_and_a_top_up_repays_it() -> None:
    meter = flat_meter()
    meter.advance(hours(50))
    assert meter.prepay_values(hours(51)).emergency_credit_available
    assert codes(meter.activate_emergency_credit(hours(51))) == [EventCode.SUPPLY_ARMED]
    assert meter.supply_state(hours(51)) is Supply.ARMED
    values = meter.prepay_values(hours(51))
    assert (values.emergency_credit_p, values.emergency_credit_active) == (500, True)
    meter.consumer_enable(hours(52))
    assert meter.prepay_values(hours(62)).emergency_credit_p == 300
    alerts = meter.advance(hours(80))  # 500 p of emergency credit lasts 25 hours
    assert codes(alerts) == [EventCode.LOW_CREDIT, EventCode.SUPPLY_DISABLED_CREDIT]
    assert alerts[-1].at == hours(77)
    assert codes(meter.top_up(hours(80), 1_000)) == [EventCode.SUPPLY_ARMED]
    values = meter.prepay_values(hours(80))
    assert (values.balance_p, values.emergency_credit_p, values.emergency_credit_active) == (
        500,
        0,
        False,
    )


def test_emergency_credit_cannot_be_activated_before_it_is_offered() -> None:
    meter = flat_meter()
    with pytest.raises(MeterError) as refused:
        meter.activate_emergency_credit(hours(1))
    assert refused.value.reason is Reason.EMERGENCY_CREDIT_UNAVAILABLE
    credit = flat_meter(mode=PaymentMode.CREDIT)
    with pytest.raises(MeterError) as refused:
        credit.activate_emergency_credit(hours(1))
    assert refused.value.reason is Reason.WRONG_PAYMENT_MODE


def test_time_based_debt_is_recovered_at_midnight_within_the_daily_cap() -> None:
    prepay = PrepayConfig(
        low_credit_threshold_p=0, emergency_credit_limit_p=0, debt_recovery_cap_p_per_day=150
    )
    meter = flat_meter(watts=0, prepay=prepay)
    meter.update_debt(T0, DebtRegister.TIME_1, adjustment_p=300, recovery_rate_p_per_day=100)
    meter.update_debt(T0, DebtRegister.TIME_2, adjustment_p=100, recovery_rate_p_per_day=100)
    assert meter.debt_recovery_rates_p == (100, 100)
    day_one = meter.prepay_values(hours(24))
    assert (day_one.time_debts_p, day_one.balance_p, day_one.accumulated_debt_p) == (
        (200, 50),
        850,
        150,
    )
    day_three = meter.prepay_values(hours(72))
    assert (day_three.time_debts_p, day_three.balance_p, day_three.accumulated_debt_p) == (
        (0, 0),
        600,
        400,
    )
    assert [r.prepay.total_debt_p for r in meter.daily_reads(hours(72))] == [0, 100, 250]


def test_payment_based_debt_takes_its_share_of_each_top_up() -> None:
    prepay = replace(PREPAY, payment_debt_recovery_percent=50, payment_debt_recovery_cap_p=200)
    meter = flat_meter(watts=0, prepay=prepay)
    meter.update_debt(T0, DebtRegister.PAYMENT, adjustment_p=500)
    meter.top_up(hours(1), 1_000)
    values = meter.prepay_values(hours(1))
    assert (values.payment_debt_p, values.balance_p, values.accumulated_debt_p) == (300, 1_800, 200)
    assert meter.event_log(hours(1))[0].code is EventCode.CREDIT_ADDED


def test_debt_cannot_go_negative_and_payment_debt_has_no_rate() -> None:
    meter = flat_meter()
    with pytest.raises(MeterError) as refused:
        meter.update_debt(hours(1), DebtRegister.TIME_1, adjustment_p=-1)
    assert refused.value.reason is Reason.INVALID_VALUE
    with pytest.raises(MeterError):
        meter.update_debt(hours(1), DebtRegister.PAYMENT, recovery_rate_p_per_day=5)


def test_the_non_disablement_calendar_defers_disablement_to_its_end() -> None:
    meter = flat_meter(prepay=replace(PREPAY, non_disablement_calendar=True))
    # Credit runs out at 02:00 on Wednesday: a non-disablement night, until 08:00.
    alerts = meter.advance(hours(60))
    assert codes(alerts)[-1] is EventCode.SUPPLY_DISABLED_CREDIT
    assert alerts[-1].at == hours(56)
    assert meter.meter_balance(hours(60)) == -120


def test_balance_adjustments_and_top_ups_are_checked() -> None:
    meter = flat_meter(watts=0)
    meter.adjust_balance(hours(1), -300)
    assert meter.meter_balance(hours(1)) == 700
    bads: list[Callable[[], object]] = [
        lambda: meter.adjust_balance(hours(1), 0),
        lambda: meter.top_up(hours(1), -5),
    ]
    for bad in bads:
        with pytest.raises(MeterError) as refused:
            bad()
        assert refused.value.reason is Reason.INVALID_VALUE


def test_switching_to_prepayment_without_credit_disables_and_back_arms() -> None:
    meter = flat_meter(mode=PaymentMode.CREDIT, balance_p=0)
    alerts = meter.update_payment_mode(hours(1), PaymentMode.PREPAYMENT)
    assert EventCode.SUPPLY_DISABLED_CREDIT in codes(alerts)
    assert meter.payment_mode is PaymentMode.PREPAYMENT
    assert codes(meter.update_payment_mode(hours(2), PaymentMode.CREDIT)) == [
        EventCode.SUPPLY_ARMED
    ]
    log = meter.triggered_billing_log(hours(2))
    assert [(b.trigger, b.at) for b in log] == [
        (BillingTrigger.MODE_CHANGE, hours(2)),
        (BillingTrigger.MODE_CHANGE, hours(1)),
    ]
    assert log[1].registers.total == 1_000


# --------------------------------------------------------------------------- supply


def test_supplier_supply_control() -> None:
    meter = flat_meter(mode=PaymentMode.CREDIT)
    meter.disable_supply(hours(1))
    assert meter.supply_state(hours(3)) is Supply.DISABLED
    assert meter.import_registers(hours(3)).total == 1_000
    assert codes(meter.arm_supply(hours(3))) == [EventCode.SUPPLY_ARMED]
    assert meter.supply_state(hours(3)) is Supply.ARMED
    meter.consumer_enable(hours(4))
    assert meter.supply_state(hours(5)) is Supply.ENABLED
    assert meter.import_registers(hours(5)).total == 2_000
    with pytest.raises(MeterError) as refused:
        meter.arm_supply(hours(5))
    assert refused.value.reason is Reason.ILLEGAL_SUPPLY_TRANSITION
    assert [e.code for e in meter.event_log(hours(5))[:2]] == [
        EventCode.SUPPLY_ENABLED,
        EventCode.SUPPLY_ARMED,
    ]


def test_enabling_without_credit_is_refused_and_its_alerts_come_later() -> None:
    meter = flat_meter()
    with pytest.raises(MeterError) as refused:
        meter.enable_supply(hours(60))
    assert refused.value.reason is Reason.NO_CREDIT
    assert EventCode.SUPPLY_DISABLED_CREDIT in codes(meter.advance(hours(60)))
    assert meter.advance(hours(61)) == ()


# --------------------------------------------------------------------------- writes and reads


def test_configuration_writes_are_visible_in_reads() -> None:
    meter = flat_meter(mode=PaymentMode.CREDIT)
    tariff = Tariff.flat(30_000, standing_charge_p=45)
    meter.update_tariff(hours(1), tariff)
    assert meter.tariff == tariff
    assert meter.triggered_billing_log(hours(1))[0].trigger is BillingTrigger.TARIFF_CHANGE
    config = replace(PREPAY, low_credit_threshold_p=333)
    meter.update_prepay_configuration(hours(1), config)
    assert meter.prepay_config == config
    calendar = BillingCalendar(T0, BillingPeriod.WEEKLY)
    meter.update_billing_calendar(hours(1), calendar)
    assert meter.billing_calendar == calendar
    meter.display_message(hours(1), "Your top-up was received")
    assert meter.displayed_message == "Your top-up was received"
    meter.update_supplier_name(hours(1), "Open Energy")
    assert meter.supplier_name == "Open Energy"
    meter.set_mpxn(hours(1), "1200023305967")
    assert meter.mpxn == "1200023305967"
    bads: list[Callable[[], object]] = [
        lambda: meter.set_mpxn(hours(1), "12345"),
        lambda: meter.display_message(hours(1), ""),
        lambda: meter.update_supplier_name(hours(1), "x" * 41),
    ]
    for bad in bads:
        with pytest.raises(MeterError) as refused:
            bad()
        assert refused.value.reason is Reason.INVALID_VALUE


def test_event_log_is_bounded_and_newest_first() -> None:
    meter = flat_meter(mode=PaymentMode.CREDIT)
    for minute in range(150):
        meter.display_message(T0 + timedelta(minutes=minute), f"message {minute}")
    log = meter.event_log(hours(3))
    assert len(log) == EVENT_LOG_ENTRIES
    assert log[0].at == T0 + timedelta(minutes=149)
    assert [e.at for e in log] == sorted((e.at for e in log), reverse=True)
    assert all(e.text == "Message displayed" for e in log)


# --------------------------------------------------------------------------- clock


def test_clock_drifts_and_synchronises() -> None:
    meter = flat_meter(mode=PaymentMode.CREDIT, clock_drift_ppm=100.0)
    later = T0 + timedelta(days=10)  # 864,000 s at 100 ppm: 86.4 s fast
    assert meter.clock(later) - later == timedelta(seconds=86.4)
    (alert,) = meter.synchronise_clock(later)
    assert alert.code is EventCode.CLOCK_ADJUSTED
    assert alert.value("adjustment_ms") == -86_400
    assert alert.at == later
    assert meter.clock(later) == later
    assert meter.clock(later + timedelta(days=10)) - (later + timedelta(days=10)) == timedelta(
        seconds=86.4
    )
    assert meter.security_log(later)[0].code is EventCode.CLOCK_ADJUSTED


# --------------------------------------------------------------------------- firmware


def test_firmware_distribute_then_activate() -> None:
    meter = flat_meter(mode=PaymentMode.CREDIT)
    image = b"firmware 2.0.0 image"
    assert (
        meter.distribute_firmware(
            hours(1), version="2.0.0", image=image, image_hash=hash_image(image)
        )
        == ()
    )
    assert meter.pending_firmware is not None and meter.pending_firmware.version == "2.0.0"
    assert meter.firmware.version == "1.0.0"
    (alert,) = meter.activate_firmware(hours(2), image_hash=hash_image(image))
    assert alert.code is EventCode.FIRMWARE_ACTIVATED
    assert (alert.value("version"), alert.value("previous")) == ("2.0.0", "1.0.0")
    assert meter.firmware.version == "2.0.0" and meter.pending_firmware is None
    assert [e.code for e in meter.security_log(hours(2))] == [
        EventCode.FIRMWARE_ACTIVATED,
        EventCode.FIRMWARE_DISTRIBUTED,
    ]


def test_a_bad_image_hash_fails_verification() -> None:
    meter = flat_meter(mode=PaymentMode.CREDIT)
    (alert,) = meter.distribute_firmware(
        hours(1), version="2.0.0", image=b"tampered", image_hash=hash_image(b"genuine")
    )
    assert alert.code is EventCode.FIRMWARE_VERIFICATION_FAILED
    assert int(alert.code) == 0x8F1C and alert.critical
    assert meter.pending_firmware is None
    with pytest.raises(MeterError) as refused:
        meter.activate_firmware(hours(2), image_hash=hash_image(b"genuine"))
    assert refused.value.reason is Reason.FIRMWARE_NOT_DISTRIBUTED


def test_one_stage_firmware_update() -> None:
    meter = flat_meter(mode=PaymentMode.CREDIT)
    alerts = meter.update_firmware(hours(1), version="3.1.4", image=b"pi")
    assert codes(alerts) == [EventCode.FIRMWARE_ACTIVATED]
    assert meter.firmware.version == "3.1.4"


# --------------------------------------------------------------------------- HAN device log


def test_han_join_unjoin_and_replace() -> None:
    meter = flat_meter(mode=PaymentMode.CREDIT)
    ihd, ppmid, new_ihd = Eui64(0x1), Eui64(0x2), Eui64(0x3)
    meter.join_device(hours(1), ihd, DeviceType.IHD)
    meter.join_device(hours(1), ppmid, DeviceType.PPMID)
    assert [(d.device, d.device_type) for d in meter.han_devices] == [
        (ihd, DeviceType.IHD),
        (ppmid, DeviceType.PPMID),
    ]
    meter.replace_han_device(hours(2), old=ihd, new=new_ihd)
    assert meter.han_devices[0] == HanDevice(new_ihd, DeviceType.IHD)
    meter.unjoin_device(hours(3), ppmid)
    assert [d.device for d in meter.han_devices] == [new_ihd]
    assert [e.code for e in meter.security_log(hours(3))] == [
        EventCode.DEVICE_UNJOINED,
        EventCode.DEVICE_LOG_UPDATED,
        EventCode.DEVICE_JOINED,
        EventCode.DEVICE_JOINED,
    ]
    refusals: list[tuple[Callable[[], object], Reason]] = [
        (lambda: meter.join_device(hours(3), new_ihd, DeviceType.CAD), Reason.ALREADY_JOINED),
        (lambda: meter.unjoin_device(hours(3), ppmid), Reason.NOT_JOINED),
        (lambda: meter.replace_han_device(hours(3), old=ppmid, new=ihd), Reason.NOT_JOINED),
    ]
    for refuse, reason in refusals:
        with pytest.raises(MeterError) as refused:
            refuse()
        assert refused.value.reason is reason


def test_han_device_log_is_bounded() -> None:
    meter = flat_meter(mode=PaymentMode.CREDIT)
    for n in range(MAX_HAN_DEVICES):
        meter.join_device(hours(1), Eui64(100 + n), DeviceType.CAD)
    with pytest.raises(MeterError) as refused:
        meter.join_device(hours(1), Eui64(1), DeviceType.IHD)
    assert refused.value.reason is Reason.DEVICE_LOG_FULL


# --------------------------------------------------------------------------- the world


def test_power_outage_stops_consumption_and_restore_reports_it() -> None:
    meter = flat_meter(mode=PaymentMode.CREDIT)
    assert codes(meter.power_outage(hours(2))) == [EventCode.POWER_OUTAGE]
    assert meter.voltage_dv(hours(3)) == 0
    (restored,) = meter.power_restore(hours(5))
    assert restored.code == 0x8F35
    assert restored.value("duration_s") == 3 * 3600
    assert restored.value("interruption") == hours(2).isoformat()
    assert meter.import_registers(hours(6)).total == 3_000
    profile = meter.profile(hours(6), start=T0, end=hours(6))
    assert [p.amount for p in profile] == [500] * 4 + [0] * 6 + [500] * 2
    assert meter.power_outage(hours(6)) != () and meter.power_outage(hours(6)) == ()


def test_tamper_is_a_critical_security_event() -> None:
    meter = flat_meter(mode=PaymentMode.CREDIT)
    (alert,) = meter.tamper(hours(1), detail="terminal cover removed")
    assert alert.code is EventCode.TAMPER_DETECTED and alert.critical
    assert meter.security_log(hours(1))[0].code is EventCode.TAMPER_DETECTED


# --------------------------------------------------------------------------- decommissioning

REFUSED: list[Callable[[MeterState], object]] = [
    lambda m: m.advance(hours(2)),
    lambda m: m.import_registers(hours(2)),
    lambda m: m.prepay_values(hours(2)),
    lambda m: m.supply_state(hours(2)),
    lambda m: m.clock(hours(2)),
    lambda m: m.event_log(hours(2)),
    lambda m: m.top_up(hours(2), 100),
    lambda m: m.enable_supply(hours(2)),
    lambda m: m.update_tariff(hours(2), Tariff.flat(1)),
    lambda m: m.synchronise_clock(hours(2)),
    lambda m: m.join_device(hours(2), Eui64(7), DeviceType.IHD),
    lambda m: m.update_firmware(hours(2), version="9", image=b"9"),
    lambda m: m.decommission(hours(2)),
    lambda m: m.tariff,
    lambda m: m.identity,
    lambda m: m.mpxn,
]


@pytest.mark.parametrize("operation", REFUSED)
def test_a_decommissioned_meter_refuses_everything(operation: Callable[[Esme], object]) -> None:
    meter = flat_meter()
    meter.decommission(hours(1))
    assert meter.decommissioned
    with pytest.raises(MeterError) as refused:
        operation(meter)
    assert refused.value.reason is Reason.DECOMMISSIONED
