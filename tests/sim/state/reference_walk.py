"""The walk as it was before it took spans: the reference the faster walk is checked against.

A copy of ``opendcc.sim.state.walk`` from before its whole-day steps were generalised to spans
inside a day (and, in credit mode, to runs of whole days) and its daily records were built from
the TOU registers alone. ``Plan`` and ``Progress`` are the module's own, so results compare
equal; the daily record is built as it was then (``Registers.of``). Tests only.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from opendcc.sim.meter import SLOT
from opendcc.sim.state.events import EventCode, Happening
from opendcc.sim.state.household import SLOT_US, TICKS_PER_UNIT
from opendcc.sim.state.ledger import (
    RAW_PER_PENNY,
    RAW_PER_WH,
    BillingTrigger,
    DailyRecord,
    Ledger,
    PrepayValues,
    Registers,
    billing_record,
    cell,
    pence,
    recover_time_debts,
)
from opendcc.sim.state.supply import Supply, SupplyEvent, next_supply
from opendcc.sim.state.tariff import (
    TOU_RATES,
    in_non_disablement_period,
)
from opendcc.sim.state.walk import Plan, Progress

_US = timedelta(microseconds=1)
_DAY = timedelta(days=1)


def run(plan: Plan, ledger: Ledger, until: datetime) -> Progress:
    """The ledger at ``until``, and what happened on the way. ``ledger`` is left untouched."""
    led = ledger.copy()
    progress = Progress(led)
    day_ticks = [0] * TOU_RATES
    for slot, rate in enumerate(plan.tariff.switching_table):
        day_ticks[rate - 1] += plan.load[slot] * SLOT_US
    day_export = sum(plan.export) * SLOT_US
    next_bill = plan.calendar.next_after(led.at)
    while led.at < until:
        start = led.at
        day_ahead = _is_midnight(start) and start + _DAY <= min(until, next_bill)
        if not (day_ahead and _whole_day(plan, led, day_ticks, day_export)):
            _consume(plan, led, min(_slot_start(start) + SLOT, next_bill, until), progress)
        # Midnight and billing work belongs to arriving at the instant, never to leaving it.
        if _is_midnight(led.at):
            _midnight(plan, led, progress)
        if led.at == next_bill:
            progress.billing.append(billing_record(led, BillingTrigger.CALENDAR))
            led.period = 0
            next_bill = plan.calendar.next_after(led.at)
    return progress


def check_levels(plan: Plan, led: Ledger, at: datetime, progress: Progress) -> None:
    """Apply the credit rules at ``at``: low credit, emergency credit, disable and arm."""

    def happen(code: EventCode, *values: tuple[str, int | str]) -> None:
        progress.happenings.append(Happening(at, code, values))

    exhausted = False
    if plan.prepayment:
        config = plan.prepay
        low = led.available < config.low_credit_threshold_p * RAW_PER_PENNY
        if low and not led.low_credit:
            credit_p = pence(led.available)
            threshold_p = config.low_credit_threshold_p
            happen(EventCode.LOW_CREDIT, ("credit_p", credit_p), ("threshold_p", threshold_p))
        led.low_credit = low
        offer = (
            not led.ec_active
            and config.emergency_credit_limit_p > 0
            and led.balance < config.emergency_credit_threshold_p * RAW_PER_PENNY
        )
        if offer and not led.ec_available:
            happen(
                EventCode.EMERGENCY_CREDIT_AVAILABLE, ("limit_p", config.emergency_credit_limit_p)
            )
        led.ec_available = offer
        exhausted = led.balance <= 0 and led.ec_remaining <= 0
    else:
        led.low_credit = led.ec_available = False
    friendly = plan.prepay.non_disablement_calendar and in_non_disablement_period(at)
    if exhausted and led.supply is Supply.ENABLED and not friendly:
        led.supply = next_supply(led.supply, SupplyEvent.CREDIT_EXHAUSTED)
        led.disabled_for_credit = True
        happen(EventCode.SUPPLY_DISABLED_CREDIT, ("balance_p", pence(led.balance)))
    elif not exhausted and led.supply is Supply.DISABLED and led.disabled_for_credit:
        led.supply = next_supply(led.supply, SupplyEvent.CREDIT_RESTORED)
        led.disabled_for_credit = False
        happen(EventCode.SUPPLY_ARMED, ("cause", "credit"))
    led.stop_or_start(at, progress.off_periods)


# --------------------------------------------------------------------------- steps


def _consume(plan: Plan, led: Ledger, end: datetime, progress: Progress) -> None:
    """Accrue consumption up to ``end`` (inside one half hour), stopping at every crossing."""
    while led.at < end:
        if not led.consuming:
            led.at = end
            return
        slot = _slot_of(led.at)
        watts, rate = plan.load[slot], plan.tariff.switching_table[slot]
        block = plan.tariff.block_of(led.period // TICKS_PER_UNIT)
        price = plan.tariff.prices_mp[rate - 1][block - 1]
        step = (end - led.at) // _US
        if watts:
            threshold = _next_threshold(plan, led)
            if threshold is not None:
                step = min(step, -(-(threshold - led.period) // watts))
            cost_rate = watts * plan.energy_mult * price if plan.prepayment else 0
            if cost_rate:
                step = min(step, _to_next_level(plan, led, cost_rate) or step)
        ticks = watts * step
        led.matrix[cell(rate, block)] += ticks
        led.period += ticks
        led.energy += ticks * plan.energy_mult
        led.export += plan.export[slot] * step
        if plan.prepayment:
            _charge(led, ticks * plan.energy_mult * price)
        led.at += timedelta(microseconds=step)
        check_levels(plan, led, led.at, progress)


def _whole_day(plan: Plan, led: Ledger, day_ticks: list[int], day_export: int) -> bool:
    """Take a whole day in one step if nothing can cross in it; whether it did."""
    if led.consuming:
        total = sum(day_ticks)
        threshold = _next_threshold(plan, led)
        if threshold is not None and led.period + total > threshold:
            return False
        block = plan.tariff.block_of(led.period // TICKS_PER_UNIT)
        cost = 0
        if plan.prepayment:
            prices = [row[block - 1] for row in plan.tariff.prices_mp]
            cost = sum(t * p for t, p in zip(day_ticks, prices, strict=True)) * plan.energy_mult
            # Only a day drawn wholly from a positive balance, short of every level, is safe.
            if led.balance <= 0 or (cost and cost >= (_to_next_level(plan, led, 1) or 0)):
                return False
        for rate, ticks in enumerate(day_ticks, start=1):
            led.matrix[cell(rate, block)] += ticks
        led.period += total
        led.energy += total * plan.energy_mult
        led.export += day_export
        led.balance -= cost
    led.at += _DAY
    return True


def daily_record(ledger: Ledger) -> DailyRecord:
    registers = Registers.of(ledger.matrix)
    energy_wh = ledger.energy // RAW_PER_WH
    return DailyRecord(
        ledger.at, registers.total, registers.tou, energy_wh, PrepayValues.of(ledger)
    )


def _midnight(plan: Plan, led: Ledger, progress: Progress) -> None:
    if plan.prepayment:
        led.balance -= plan.tariff.standing_charge_p * RAW_PER_PENNY
        recover_time_debts(led, plan.debt_rates_p, plan.prepay.debt_recovery_cap_p_per_day)
        check_levels(plan, led, led.at, progress)
    progress.daily.append(daily_record(led))


def _charge(led: Ledger, cost: int) -> None:
    """Take ``cost`` from the balance, else from emergency credit, else into a negative balance."""
    if led.balance > 0:
        led.balance -= cost
    elif led.ec_remaining > 0:
        led.ec_remaining -= cost
        if led.ec_remaining < 0:  # the last microsecond overshot: carry it to the balance
            led.balance += led.ec_remaining
            led.ec_remaining = 0
    else:
        led.balance -= cost  # exhausted in a non-disablement period


def _to_next_level(plan: Plan, led: Ledger, cost_rate: int) -> int | None:
    """Microseconds (at ``cost_rate`` raw each) until credit reaches the next level that matters.

    Levels are targets the drawn-down value must reach: ``x < L`` is ``x <= L - 1``.
    """
    config = plan.prepay
    low = config.low_credit_threshold_p * RAW_PER_PENNY
    if led.balance > 0:
        value, targets = led.balance, [0]
        if not led.ec_active and not led.ec_available and config.emergency_credit_limit_p:
            targets.append(config.emergency_credit_threshold_p * RAW_PER_PENNY - 1)
        if not led.low_credit:
            targets.append(low - led.ec_remaining - 1)
    elif led.ec_remaining > 0:
        value, targets = led.ec_remaining, [0]
        if not led.low_credit:
            targets.append(low - led.balance - 1)
    else:
        return None
    target = max(t for t in targets if t < value)
    return -(-(value - target) // cost_rate)


def _next_threshold(plan: Plan, led: Ledger) -> int | None:
    """The next block threshold above consumption this billing period, in ticks."""
    for threshold in plan.tariff.block_thresholds:
        if threshold * TICKS_PER_UNIT > led.period:
            return threshold * TICKS_PER_UNIT
    return None


def _slot_of(instant: datetime) -> int:
    return instant.hour * 2 + instant.minute // 30


def _slot_start(instant: datetime) -> datetime:
    return instant.replace(minute=instant.minute - instant.minute % 30, second=0, microsecond=0)


def _is_midnight(instant: datetime) -> bool:
    return instant == instant.replace(hour=0, minute=0, second=0, microsecond=0)
