"""The Incident Management Policy (IMP), pure: incident categories, their target response and
resolution times, the one incident status transition table, and live SLA clocks.

An incident is raised in a category from 1 (most severe: the service, or a large part of it, is
down) to 5 (a question or a minor fault). Each category has a *target response time* (raised
until the DCC first acts on it: assigned, updated or put in progress) and a *target resolution
time* (raised until resolved). The resolution clock stops while the incident is **on hold**
(waiting on the User or a third party, as the IMP allows) and between a resolution and a
reopening: that time is *paused time* and not charged to the service. Times are in calendar
minutes (the IMP's working-hours calendars are a deployment's setting to add).

Everything here takes ``now``; nothing reads a clock or a store.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

CATEGORIES = (1, 2, 3, 4, 5)


class ImpError(ValueError):
    """A change the IMP does not allow (an illegal transition, an unknown category)."""


class Status(StrEnum):
    OPEN = "open"  # raised, nobody has acted yet
    IN_PROGRESS = "in_progress"
    ON_HOLD = "on_hold"  # resolution clock paused
    RESOLVED = "resolved"  # the fix is in; the raiser may reopen
    CLOSED = "closed"


# The one transition table: (from, action) -> to.
TRANSITIONS: Mapping[tuple[Status, str], Status] = {
    (Status.OPEN, "respond"): Status.IN_PROGRESS,
    (Status.OPEN, "hold"): Status.ON_HOLD,
    (Status.OPEN, "resolve"): Status.RESOLVED,
    (Status.OPEN, "close"): Status.CLOSED,
    (Status.IN_PROGRESS, "hold"): Status.ON_HOLD,
    (Status.IN_PROGRESS, "resolve"): Status.RESOLVED,
    (Status.IN_PROGRESS, "close"): Status.CLOSED,
    (Status.ON_HOLD, "resume"): Status.IN_PROGRESS,
    (Status.ON_HOLD, "resolve"): Status.RESOLVED,
    (Status.RESOLVED, "close"): Status.CLOSED,
    (Status.RESOLVED, "reopen"): Status.IN_PROGRESS,
    (Status.CLOSED, "reopen"): Status.IN_PROGRESS,
}
ACTIVE = frozenset({Status.OPEN, Status.IN_PROGRESS, Status.ON_HOLD})


def next_status(current: Status, action: str) -> Status:
    try:
        return TRANSITIONS[(current, action)]
    except KeyError:
        raise ImpError(f"an incident that is {current.value} cannot be {action}d") from None


@dataclass(frozen=True, slots=True)
class Target:
    response: timedelta
    resolution: timedelta


# Defaults in the IMP's spirit (category 1: respond within 30 minutes, resolve within 4 hours).
DEFAULT_TARGETS: Mapping[int, Target] = {
    1: Target(timedelta(minutes=30), timedelta(hours=4)),
    2: Target(timedelta(hours=1), timedelta(hours=8)),
    3: Target(timedelta(hours=4), timedelta(hours=24)),
    4: Target(timedelta(hours=8), timedelta(days=3)),
    5: Target(timedelta(days=1), timedelta(days=5)),
}


def check_category(category: int) -> int:
    if category not in CATEGORIES:
        raise ImpError(f"an incident's category is 1 to 5, not {category}")
    return category


class ClockState(StrEnum):
    RUNNING = "running"
    PAUSED = "paused"
    MET = "met"
    BREACHED = "breached"  # past the target, still running or stopped late


@dataclass(frozen=True, slots=True)
class Clock:
    """One SLA clock: time charged so far against its target."""

    target: timedelta
    elapsed: timedelta
    state: ClockState

    @property
    def remaining(self) -> timedelta:
        return self.target - self.elapsed

    @property
    def share(self) -> float:
        """Elapsed as a share of the target (1.0 = at the target)."""
        total = self.target.total_seconds()
        return self.elapsed.total_seconds() / total if total else 1.0


@dataclass(frozen=True, slots=True)
class Timing:
    """What an incident's SLA clocks are computed from (its row, in short)."""

    raised_at: datetime
    responded_at: datetime | None = None
    resolved_at: datetime | None = None
    paused_since: datetime | None = None  # on hold (or resolved) since
    paused_seconds: int = 0  # paused time already ended


def paused(timing: Timing, now: datetime) -> timedelta:
    """All paused time up to ``now``, the current pause included."""
    ongoing = (now - timing.paused_since) if timing.paused_since is not None else timedelta(0)
    return timedelta(seconds=timing.paused_seconds) + max(ongoing, timedelta(0))


def response_clock(timing: Timing, target: Target, now: datetime) -> Clock:
    end = timing.responded_at or now
    elapsed = max(end - timing.raised_at, timedelta(0))
    if timing.responded_at is not None:
        state = ClockState.MET if elapsed <= target.response else ClockState.BREACHED
    else:
        state = ClockState.RUNNING if elapsed <= target.response else ClockState.BREACHED
    return Clock(target.response, elapsed, state)


def resolution_clock(timing: Timing, target: Target, now: datetime) -> Clock:
    end = timing.resolved_at or now
    # A resolved incident's clock stopped at its resolution; paused time before it is not charged.
    pause_until = end if timing.resolved_at is not None else now
    elapsed = max(end - timing.raised_at - paused(timing, pause_until), timedelta(0))
    if timing.resolved_at is not None:
        state = ClockState.MET if elapsed <= target.resolution else ClockState.BREACHED
    elif elapsed > target.resolution:
        state = ClockState.BREACHED
    elif timing.paused_since is not None:
        state = ClockState.PAUSED
    else:
        state = ClockState.RUNNING
    return Clock(target.resolution, elapsed, state)


def fmt(delta: timedelta) -> str:
    """A duration as a person reads it on a clock: ``-1h 05m`` past the target."""
    seconds = int(delta.total_seconds())
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{sign}{days}d {hours:02d}h {minutes:02d}m"
    if hours:
        return f"{sign}{hours}h {minutes:02d}m"
    return f"{sign}{minutes}m {secs:02d}s"


REPEAT_WINDOW = timedelta(days=30)


def is_repeat(
    device_or_signal: str | None,
    earlier: Mapping[str, datetime],
    now: datetime,
    window: timedelta = REPEAT_WINDOW,
) -> bool:
    """Whether an incident about ``device_or_signal`` repeats one raised within ``window``
    (``earlier``: the same key's last incident time)."""
    if not device_or_signal or device_or_signal not in earlier:
        return False
    return now - earlier[device_or_signal] <= window
