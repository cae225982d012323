"""Monthly availability of a service component, as the SEC measures it: the minutes it was
unavailable in the month, less those inside planned maintenance, against the month's minutes.

Pure interval arithmetic over ``(start, end)`` pairs; an open outage is given with ``end`` None
and runs to ``now``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

Interval = tuple[datetime, datetime]


def month_bounds(year: int, month: int) -> Interval:
    start = datetime(year, month, 1, tzinfo=UTC)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
    return start, end


def clip(
    intervals: Iterable[tuple[datetime, datetime | None]], bounds: Interval, now: datetime
) -> list[Interval]:
    """The parts of ``intervals`` inside ``bounds`` (and before ``now``), merged."""
    lo, hi = bounds
    hi = min(hi, now)
    parts = sorted(
        (max(s, lo), min(e or now, hi)) for s, e in intervals if max(s, lo) < min(e or now, hi)
    )
    merged: list[Interval] = []
    for s, e in parts:
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], e))
        else:
            merged.append((s, e))
    return merged


def total(intervals: Sequence[Interval]) -> timedelta:
    return sum((e - s for s, e in intervals), timedelta(0))


def overlap(a: Sequence[Interval], b: Sequence[Interval]) -> timedelta:
    """Total time in both merged interval lists."""
    out, i, j = timedelta(0), 0, 0
    while i < len(a) and j < len(b):
        s, e = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if s < e:
            out += e - s
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


@dataclass(frozen=True, slots=True)
class Availability:
    component: str
    month: str  # YYYY-MM
    minutes: float  # in the month (to now, for the month in progress)
    unavailable: float  # minutes down
    planned: float  # of those, inside planned maintenance
    percent: float  # 100 * (1 - (unavailable - planned) / minutes)


def availability(  # noqa: PLR0917
    component: str,
    year: int,
    month: int,
    outages: Iterable[tuple[datetime, datetime | None]],
    maintenance: Iterable[tuple[datetime, datetime | None]],
    now: datetime,
) -> Availability:
    bounds = month_bounds(year, month)
    down = clip(outages, bounds, now)
    planned = clip(maintenance, bounds, now)
    minutes = max((min(bounds[1], now) - bounds[0]).total_seconds() / 60, 0.0)
    unavailable = total(down).total_seconds() / 60
    excused = overlap(down, planned).total_seconds() / 60
    percent = 100.0 * (1 - (unavailable - excused) / minutes) if minutes else 100.0
    return Availability(
        component, f"{year:04d}-{month:02d}", minutes, unavailable, excused, percent
    )
