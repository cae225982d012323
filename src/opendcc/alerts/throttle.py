"""Storm protection: a device or a cohort flooding alerts is throttled; critical alerts never are.

The policy (``[alerts]`` in the configuration) counts **non-critical** alerts in fixed windows
of the hub's clock:

- a device may send ``device_limit`` of them per ``window_s`` seconds;
- a cohort may send ``cohort_limit`` of them per second (a head-end replaying a backlog, a
  firmware fault across a model).

Beyond either limit an alert is *held*: recorded (disposition ``throttled``), not delivered.
Critical alerts (0x8Fxx) pass whatever the counts. When a device's window with held alerts
closes, the device's Users get one DCC alert saying how many were held and when
(``ThrottledAlertCount`` and a per-device ``ThrottledAlertSequenceId``).

The counts live in the hub's memory: after a restart every window starts afresh, which at
worst lets one more window's worth through.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from opendcc.core.eui import Eui64


@dataclass(frozen=True, slots=True)
class StormPolicy:
    device_limit: int = 10
    window_s: float = 60.0
    cohort_limit: int = 2_000

    def __post_init__(self) -> None:
        if self.device_limit < 1 or self.cohort_limit < 1 or self.window_s <= 0:
            raise ValueError("alert limits are at least 1 and the window is positive")


@dataclass(slots=True)
class HeldWindow:
    """Non-critical alerts of one device held back in one window."""

    device_id: Eui64
    cohort: str
    start: datetime
    end: datetime
    count: int = 0
    sequence: int = 0  # per device, 1 for its first throttled window


@dataclass(slots=True)
class _Counts:
    window: int = -1
    sent: int = 0
    held: HeldWindow | None = None


@dataclass
class Throttle:
    policy: StormPolicy = field(default_factory=StormPolicy)
    _devices: dict[Eui64, _Counts] = field(default_factory=dict)
    _cohorts: dict[str, tuple[int, int]] = field(default_factory=dict)  # second, count
    _sequences: dict[Eui64, int] = field(default_factory=dict)
    _closed: list[HeldWindow] = field(default_factory=list)
    _open: int = 0  # windows holding alerts, not yet closed

    @property
    def holding(self) -> bool:
        """Whether some window holds alerts (open, or closed and not yet taken by ``closed``):
        until none does, nothing is due from ``closed`` and the intake need not look.
        A plain count, so the event loop may read it while a batch is routed in a thread."""
        return self._open > 0 or bool(self._closed)

    def admit(self, device_id: Eui64, cohort: str, critical: bool, at: datetime) -> bool:
        """Whether this alert goes out now; a held one is counted in its device's window."""
        if critical:
            return True
        window = int(at.timestamp() // self.policy.window_s)
        counts = self._devices.setdefault(device_id, _Counts())
        if counts.window != window:
            self._close(counts)
            counts.window, counts.sent = window, 0
        second = int(at.timestamp())
        seen, cohort_count = self._cohorts.get(cohort, (second, 0))
        if seen != second:
            cohort_count = 0
        if counts.sent < self.policy.device_limit and cohort_count < self.policy.cohort_limit:
            counts.sent += 1
            self._cohorts[cohort] = (second, cohort_count + 1)
            return True
        if counts.held is None:
            start = datetime.fromtimestamp(window * self.policy.window_s, at.tzinfo)
            end = start + timedelta(seconds=self.policy.window_s)
            sequence = self._sequences.get(device_id, 0) + 1
            self._sequences[device_id] = sequence
            counts.held = HeldWindow(device_id, cohort, start, end, 0, sequence)
            self._open += 1
        counts.held.count += 1
        return False

    def closed(self, now: datetime) -> list[HeldWindow]:
        """Windows with held alerts that have ended by ``now`` (each returned once)."""
        current = int(now.timestamp() // self.policy.window_s)
        for device_id, counts in list(self._devices.items()):
            if counts.window < current:
                self._close(counts)
                del self._devices[device_id]
        done, self._closed = self._closed, []
        return done

    def _close(self, counts: _Counts) -> None:
        if counts.held is not None:
            self._closed.append(counts.held)
            counts.held = None
            self._open -= 1
