"""Time passing for a simulated meter: a pure function from (plan, ledger, until) to progress.

``run`` integrates the household's consumption from the ledger's instant to ``until`` in steps
that never cross a half-hour boundary (load and TOU (time-of-use) rate are constant inside one),
a block threshold, or a credit level that matters: the low-credit threshold, the emergency
credit threshold, zero. Each such crossing is found exactly (integer arithmetic, rounded up to
the microsecond), so the meter raises low credit, offers emergency credit and disables the
supply at the very instant it would have, however often it is advanced. Any stretch inside one
UTC day with nothing to cross (a whole day, or the hours since the last operation) is taken in
one step (``_span``): the sums are integers, so grouping the half hours changes nothing.

At each UTC midnight, in prepayment mode, the standing charge is taken from the balance and
time-based debt is recovered from credit in hand; then the day's snapshot is recorded. On each
billing date a billing snapshot is recorded and the block counter restarts.

The credit rules (``check_levels``) are applied after every step and after every operation:

* low credit: available credit (balance plus emergency credit left) falls below the threshold;
* emergency credit becomes available when the balance falls below its threshold (and a limit
  is configured) and it is not already active;
* exhaustion: balance and emergency credit both used up. The supply is then disabled, unless
  the non-disablement calendar is on and it is a non-disablement period: then consumption
  continues, the balance goes negative, and the supply is disabled when the period ends;
* a supply disabled for lack of credit is armed as soon as credit is no longer exhausted (or
  the meter is switched to credit mode).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache

from opendcc.sim.meter import SLOT
from opendcc.sim.state.events import EventCode, Happening
from opendcc.sim.state.household import SLOT_US, TICKS_PER_UNIT
from opendcc.sim.state.ledger import (
    RAW_PER_PENNY,
    RAW_PER_WH,
    BillingRecord,
    BillingTrigger,
    DailyRecord,
    Ledger,
    PrepayValues,
    billing_record,
    cell,
    daily_record,
    pence,
    recover_time_debts,
)
from opendcc.sim.state.supply import Supply, SupplyEvent, next_supply
from opendcc.sim.state.tariff import (
    BLOCKS,
    TOU_RATES,
    BillingCalendar,
    PaymentMode,
    PrepayConfig,
    Tariff,
    in_non_disablement_period,
)

_US = timedelta(microseconds=1)
_DAY = timedelta(days=1)
_DAY_US = _DAY // _US


@dataclass(frozen=True, slots=True)
class Plan:
    """Everything time passing depends on that only operations change."""

    load: tuple[int, ...]  # per half hour: W, or litres of gas per hour
    export: tuple[int, ...]  # per half hour, W
    energy_mult: int  # energy units per tick (see ``ledger``)
    tariff: Tariff
    mode: PaymentMode
    prepay: PrepayConfig
    debt_rates_p: tuple[int, int]  # daily recovery rate per time-based debt register
    calendar: BillingCalendar

    @property
    def prepayment(self) -> bool:
        return self.mode is PaymentMode.PREPAYMENT


@dataclass(slots=True)
class Progress:
    """The ledger after a walk and what the walk produced, each list oldest first."""

    ledger: Ledger
    happenings: list[Happening] = field(default_factory=list)
    daily: list[DailyRecord] = field(default_factory=list)
    billing: list[BillingRecord] = field(default_factory=list)
    off_periods: list[tuple[datetime, datetime]] = field(default_factory=list)


def run(plan: Plan, ledger: Ledger, until: datetime) -> Progress:
    """The ledger at ``until``, and what happened on the way. ``ledger`` is left untouched."""
    led = ledger.copy()
    progress = Progress(led)
    shape = _shape(plan.load, plan.export, plan.tariff.switching_table)
    next_bill = plan.calendar.next_after(led.at)
    while led.at < until:
        start = led.at
        credit_days = not plan.prepayment and _is_midnight(start)
        if not (credit_days and _credit_days(plan, led, min(until, next_bill), shape, progress)):
            end = min(_next_midnight(start), next_bill, until)
            if not _span(plan, led, end, shape):
                _consume(plan, led, min(_slot_start(start) + SLOT, end), progress)
            # Midnight and billing work belongs to arriving at the instant, never to leaving it.
            if _is_midnight(led.at):
                _midnight(plan, led, progress)
        if led.at == next_bill:
            progress.billing.append(billing_record(led, BillingTrigger.CALENDAR))
            led.period = 0
            next_bill = plan.calendar.next_after(led.at)
    return progress


def walk_on(plan: Plan, walked: Progress, until: datetime) -> Progress:
    """``walked`` (a ``run`` of ``plan``) walked on to ``until``: exactly ``run`` from where
    ``walked`` began, since a walk stopped at any instant and resumed is the same walk (its
    steps are split, not moved: every crossing is found from where the ledger stands).
    ``walked`` is left untouched."""
    more = run(plan, walked.ledger, until)
    return Progress(
        more.ledger,
        walked.happenings + more.happenings,
        walked.daily + more.daily,
        walked.billing + more.billing,
        walked.off_periods + more.off_periods,
    )


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


@dataclass(frozen=True, slots=True)
class _Shape:
    """A plan's day, ready for spans: each half hour's TOU rate (0-based) and draws, per µs."""

    rates: tuple[int, ...]
    load: tuple[int, ...]
    export: tuple[int, ...]
    day_ticks: tuple[int, ...]  # a whole day's ticks per TOU rate
    day_export: int


@lru_cache(maxsize=256)
def _shape(load: tuple[int, ...], export: tuple[int, ...], table: tuple[int, ...]) -> _Shape:
    day_ticks = [0] * TOU_RATES
    for watts, rate in zip(load, table, strict=True):
        day_ticks[rate - 1] += watts * SLOT_US
    rates = tuple(rate - 1 for rate in table)
    return _Shape(rates, load, export, tuple(day_ticks), sum(export) * SLOT_US)


def _span(plan: Plan, led: Ledger, end: datetime, shape: _Shape) -> bool:
    """Take ``[led.at, end)`` (inside one UTC day) in one step if nothing can cross in it: no
    block threshold, no credit level, so stepping half hour by half hour would change nothing
    but the sums (integers: the same whatever the grouping). Whether it did."""
    if not led.consuming:
        led.at = end
        return True
    first = _us_of_day(led.at)
    last = first + (end - led.at) // _US
    ticks: Sequence[int]
    if first == 0 and last == _DAY_US:
        ticks, export = shape.day_ticks, shape.day_export
    else:
        ticks, export = _span_ticks(shape, first, last)
    total = sum(ticks)
    threshold = _next_threshold(plan, led)
    if threshold is not None and led.period + total > threshold:
        return False
    block = plan.tariff.block_of(led.period // TICKS_PER_UNIT)
    cost = 0
    if plan.prepayment:
        prices = [row[block - 1] for row in plan.tariff.prices_mp]
        cost = sum(t * p for t, p in zip(ticks, prices, strict=True)) * plan.energy_mult
        # Only a span drawn wholly from a positive balance, short of every level, is safe.
        if led.balance <= 0 or (cost and cost >= (_to_next_level(plan, led, 1) or 0)):
            return False
    for rate, rate_ticks in enumerate(ticks, start=1):
        if rate_ticks:
            led.matrix[cell(rate, block)] += rate_ticks
    led.period += total
    led.energy += total * plan.energy_mult
    led.export += export
    led.balance -= cost
    led.at = end
    return True


def _credit_days(
    plan: Plan, led: Ledger, limit: datetime, shape: _Shape, progress: Progress
) -> bool:
    """In credit mode, from a midnight: take every whole day up to ``limit`` that crosses no
    block threshold, each with its midnight record; whether it took any.

    This is what a whole-day ``_span`` and ``_midnight`` do day after day, in one loop: in
    credit mode time moves no credit level and a midnight only takes its record, whose
    prepayment values are the same every day (one shared value).
    """
    days = (limit - led.at) // _DAY
    day_ticks: Sequence[int] = shape.day_ticks
    total = sum(day_ticks)
    if not led.consuming:
        day_ticks, total = (0,) * TOU_RATES, 0
    threshold = _next_threshold(plan, led)
    if threshold is not None and total:
        days = min(days, (threshold - led.period) // total)
    if days < 1:
        return False
    block = plan.tariff.block_of(led.period // TICKS_PER_UNIT)
    prepay = PrepayValues.of(led)
    ticks = led.matrix
    rows = [sum(ticks[i : i + BLOCKS]) for i in range(0, len(ticks), BLOCKS)]
    energy, energy_step = led.energy, total * plan.energy_mult
    at, daily = led.at, progress.daily
    for _ in range(days):
        at += _DAY
        rows = [row + more for row, more in zip(rows, day_ticks, strict=True)]
        energy += energy_step
        tou = tuple([row // TICKS_PER_UNIT for row in rows])
        daily.append(DailyRecord(at, sum(tou), tou, energy // RAW_PER_WH, prepay))
    for rate, rate_ticks in enumerate(day_ticks, start=1):
        if rate_ticks:
            ticks[cell(rate, block)] += rate_ticks * days
    led.at, led.energy = at, energy
    led.period += total * days
    if led.consuming:
        led.export += shape.day_export * days
    return True


def _span_ticks(shape: _Shape, first: int, last: int) -> tuple[list[int], int]:
    """Ticks per TOU rate, and ticks exported, from µs ``first`` to ``last`` of a day."""
    ticks = [0] * TOU_RATES
    export = 0
    slot = first // SLOT_US
    while slot * SLOT_US < last:
        start = slot * SLOT_US
        us = min(last, start + SLOT_US) - max(first, start)
        ticks[shape.rates[slot]] += shape.load[slot] * us
        export += shape.export[slot] * us
        slot += 1
    return ticks, export


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
    return not (instant.hour or instant.minute or instant.second or instant.microsecond)


def _next_midnight(instant: datetime) -> datetime:
    return instant.replace(hour=0, minute=0, second=0, microsecond=0) + _DAY


def _us_of_day(instant: datetime) -> int:
    return (
        (instant.hour * 60 + instant.minute) * 60 + instant.second
    ) * 1_000_000 + instant.microsecond
