"""The bounded logs a simulated meter keeps, and the readings derived from them.

A meter records what it cannot recompute: midnight snapshots (the daily read logs), billing
snapshots, its event and security logs, and the periods when it drew nothing (supply off or
mains lost). Each log is bounded like a real meter's and ordered newest first. Half-hourly
profile data is not stored at all: it is the household's load, less the off periods, so it is
recomputed for any window of the last 13 months.

Reads combine what is committed here with what a projection to ``now`` adds (``walk``), so a
pure read sees the same logs an ``advance(now)`` would leave behind.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import TypeVar

from opendcc.sim.meter import SLOT
from opendcc.sim.state.events import LogEntry
from opendcc.sim.state.household import TICKS_PER_UNIT
from opendcc.sim.state.ledger import BillingRecord, DailyRecord

DAILY_LOG_ENTRIES = 731  # two years of midnights
CALENDAR_BILLING_ENTRIES = 12
TRIGGERED_BILLING_ENTRIES = 5
EVENT_LOG_ENTRIES = 100
SECURITY_LOG_ENTRIES = 100
OFF_PERIOD_ENTRIES = 5_000
PREPAYMENT_CREDIT_ENTRIES = 5  # as the MMC's PrepaymentCredits
DEBT_PAYMENT_ENTRIES = 10  # as the MMC's PaymentBasedDebtRepayment
PROFILE_WINDOW = timedelta(days=396)  # 13 months of half-hourly data

_US = timedelta(microseconds=1)
_DAWN = datetime.min.replace(tzinfo=UTC)

T = TypeVar("T")
Period = tuple[datetime, datetime]


def _log(limit: int) -> deque[T]:
    return deque(maxlen=limit)


@dataclass(slots=True)
class History:
    """The committed logs; every deque but ``off_periods`` (oldest first) is newest first."""

    daily: deque[DailyRecord] = field(default_factory=lambda: _log(DAILY_LOG_ENTRIES))
    calendar_billing: deque[BillingRecord] = field(
        default_factory=lambda: _log(CALENDAR_BILLING_ENTRIES)
    )
    triggered_billing: deque[BillingRecord] = field(
        default_factory=lambda: _log(TRIGGERED_BILLING_ENTRIES)
    )
    event_log: deque[LogEntry] = field(default_factory=lambda: _log(EVENT_LOG_ENTRIES))
    security_log: deque[LogEntry] = field(default_factory=lambda: _log(SECURITY_LOG_ENTRIES))
    off_periods: deque[Period] = field(default_factory=lambda: _log(OFF_PERIOD_ENTRIES))
    # The prepayment billing data logs (4.4.5, 4.4.4): each top-up (at, pence) and each
    # payment-based debt repayment taken from one (at, pence).
    prepayment_credits: deque[tuple[datetime, int]] = field(
        default_factory=lambda: _log(PREPAYMENT_CREDIT_ENTRIES)
    )
    debt_payments: deque[tuple[datetime, int]] = field(
        default_factory=lambda: _log(DEBT_PAYMENT_ENTRIES)
    )


def newest_first(committed: deque[T], added: Sequence[T]) -> tuple[T, ...]:
    """A bounded log (newest first) after appending ``added`` (oldest first)."""
    return (*reversed(added), *committed)[: committed.maxlen]


def record(log: deque[T], added: Iterable[T]) -> None:
    log.extendleft(added)  # each goes to the front: the newest ends up first


@dataclass(frozen=True, slots=True)
class ProfileEntry:
    """Consumption in the half hour starting at ``start``: Wh, or litres of gas."""

    start: datetime
    amount: int


@dataclass(frozen=True, slots=True)
class DailyConsumption:
    """Consumption over the day starting at midnight ``day``: Wh, or litres of gas."""

    day: datetime
    amount: int


def half_hourly(
    load: Sequence[int], off: Sequence[Period], *, start: datetime, end: datetime, now: datetime
) -> tuple[ProfileEntry, ...]:
    """The profile for every finished half hour starting in ``[start, end)``, oldest first.

    ``off`` are the ascending, disjoint periods with no consumption (before commissioning
    included); only the last ``PROFILE_WINDOW`` is kept, as on a real meter.
    """
    first = max(start, now - PROFILE_WINDOW)
    slot = first.replace(minute=first.minute - first.minute % 30, second=0, microsecond=0)
    if slot < first:
        slot += SLOT
    entries: list[ProfileEntry] = []
    index = 0
    while slot < end and slot + SLOT <= now:
        slot_end = slot + SLOT
        while index < len(off) and off[index][1] <= slot:
            index += 1
        on_us = SLOT // _US
        for off_start, off_end in off[index:]:
            if off_start >= slot_end:
                break
            on_us -= (min(off_end, slot_end) - max(off_start, slot)) // _US
        watts = load[slot.hour * 2 + slot.minute // 30]
        entries.append(ProfileEntry(slot, watts * on_us // TICKS_PER_UNIT))
        slot = slot_end
    return tuple(entries)


def off_periods(
    commissioned: datetime,
    committed: Iterable[Period],
    added: Iterable[Period],
    *,
    open_since: datetime | None,
    now: datetime,
) -> list[Period]:
    """All periods without consumption up to ``now``, the time before commissioning first."""
    periods = [(_DAWN, commissioned), *committed, *added]
    if open_since is not None:
        periods.append((open_since, now))
    return periods


def daily_consumption(reads: Sequence[DailyRecord]) -> tuple[DailyConsumption, ...]:
    """Each whole day's consumption from consecutive midnight reads (newest first)."""
    return tuple(
        DailyConsumption(older.at, newer.total - older.total) for newer, older in pairwise(reads)
    )
