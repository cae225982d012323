"""When a DCC schedule runs: its occurrences, and the spread that keeps a million of them apart.

A DSP schedule (SRV 5.1) names a ``ScheduleFrequency`` (Daily, Weekly, Monthly, Quarterly,
Half-Yearly, Yearly), a ``ScheduleStartDate``, an optional ``ScheduleEndDate`` (inclusive) and
an optional ``ScheduleExecutionStartTime`` (UTC, default 00:00:00). Occurrence ``k`` falls on
the start date plus ``k`` days, weeks or months; a month-based schedule that starts on the 31st
runs on the last day of shorter months and on the 31st again when the month has one (each
occurrence is counted from the start date, never from the previous occurrence).

Each occurrence is a *nominal* instant. The run itself is made at ``nominal + offset``, where the
offset lies in ``[0, spread)`` and is fixed per schedule by a multiplicative hash of its id: a
million schedules all set for 01:00 are spread evenly over the spread window, and each one
always runs at the same place within it. Pure: no clock, no store.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum


class Frequency(StrEnum):
    """DUIS ``ScheduleFrequency``."""

    DAILY = "Daily"
    WEEKLY = "Weekly"
    MONTHLY = "Monthly"
    QUARTERLY = "Quarterly"
    HALF_YEARLY = "Half-Yearly"
    YEARLY = "Yearly"


_DAYS = {Frequency.DAILY: 1, Frequency.WEEKLY: 7}
_MONTHS = {
    Frequency.MONTHLY: 1,
    Frequency.QUARTERLY: 3,
    Frequency.HALF_YEARLY: 6,
    Frequency.YEARLY: 12,
}
_GOLDEN = 2654435761  # Knuth's multiplicative hash constant (2^32 / phi, odd)
_HASH_BITS = 32


def add_months(start: date, months: int) -> date:
    """``start`` plus ``months``, the day clamped to the length of the month reached."""
    index = start.year * 12 + start.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(start.day, last))


@dataclass(frozen=True, slots=True)
class Recurrence:
    """A schedule's occurrences: ``start`` + k steps at ``at`` (UTC), until ``end`` inclusive."""

    frequency: Frequency
    start: date
    end: date | None = None
    at: time = time(0, 0)

    def __post_init__(self) -> None:
        if self.end is not None and self.end < self.start:
            raise ValueError(f"the end date {self.end} is before the start date {self.start}")
        if self.at.tzinfo is not None:
            raise ValueError("the execution time is naive UTC")

    def occurrence(self, k: int) -> datetime | None:
        """The ``k``-th nominal instant (k >= 0), or None when it falls after the end date."""
        nominal = self._unbounded(k)
        if self.end is not None and nominal.date() > self.end:
            return None
        return nominal

    def _index_at_or_after(self, instant: datetime) -> int:
        """The smallest k whose occurrence (ignoring the end date) is at or after ``instant``."""
        day = instant.astimezone(UTC).date()
        if self.frequency in _DAYS:
            estimate = (day - self.start).days // _DAYS[self.frequency]
        else:
            months = (day.year - self.start.year) * 12 + day.month - self.start.month
            estimate = months // _MONTHS[self.frequency]
        k = max(estimate - 1, 0)
        while self._unbounded(k) < instant:
            k += 1
        return k

    def _unbounded(self, k: int) -> datetime:
        """Occurrence ``k`` as if the schedule never ended."""
        if k < 0:
            raise ValueError("occurrences are counted from 0")
        if self.frequency in _DAYS:
            day = self.start + timedelta(days=k * _DAYS[self.frequency])
        else:
            day = add_months(self.start, k * _MONTHS[self.frequency])
        return datetime.combine(day, self.at, tzinfo=UTC)

    def first_at_or_after(self, instant: datetime) -> datetime | None:
        """The first occurrence at or after ``instant``; None when the schedule has ended."""
        return self.occurrence(self._index_at_or_after(instant))

    def next_after(self, instant: datetime) -> datetime | None:
        """The first occurrence strictly after ``instant``; None when the schedule has ended."""
        return self.first_at_or_after(instant + timedelta(microseconds=1))

    def latest_at_or_before(self, instant: datetime) -> datetime | None:
        """The last occurrence at or before ``instant``; None before the first one."""
        k = self._index_at_or_after(instant)
        if self._unbounded(k) == instant:
            return self.occurrence(k)
        if k == 0:
            return None
        found = self.occurrence(k - 1)
        if found is None and self.end is not None:  # past the end: the last one there was
            return self.latest_at_or_before(datetime.combine(self.end, self.at, tzinfo=UTC))
        return found


def spread_offset(schedule_id: int, spread: timedelta) -> timedelta:
    """Where in ``[0, spread)`` this schedule's runs are made after each nominal instant:
    fixed per schedule, and even across consecutive ids (a multiplicative hash)."""
    microseconds = spread // timedelta(microseconds=1)
    if microseconds <= 0:
        return timedelta(0)
    fraction = (schedule_id * _GOLDEN) % (1 << _HASH_BITS)
    return timedelta(microseconds=microseconds * fraction >> _HASH_BITS)
