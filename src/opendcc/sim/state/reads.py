"""Time-dependent reads of a simulated meter: registers, prepayment values, logs, profile.

Each read at ``now`` projects the meter forward without changing it (see ``core``), so it sees
exactly what ``advance(now)`` would leave behind, and the same instant always reads the same.
Logs are newest first; the half-hourly profile is oldest first, as DUIS (DCC User Interface
Specification) returns them. Data from before the change-of-tenancy instant (3.2 Restrict
Access For Change Of Tenancy) is hidden. TOU: time of use.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TypeVar

from opendcc.sim.state.core import MeterCore, utc
from opendcc.sim.state.events import EVENTS, LogEntry, LogKind
from opendcc.sim.state.history import (
    DailyConsumption,
    ProfileEntry,
    daily_consumption,
    half_hourly,
    newest_first,
    off_periods,
)
from opendcc.sim.state.ledger import (
    RAW_PER_WH,
    BillingRecord,
    BillingTrigger,
    DailyRecord,
    PrepayValues,
    Registers,
    pence,
)
from opendcc.sim.state.supply import Supply
from opendcc.sim.state.tariff import check_rate

T = TypeVar("T")


class MeterReads(MeterCore):
    """The reads DUIS service requests make of a meter, at an instant."""

    @property
    def decommissioned(self) -> bool:
        return self._decommissioned

    def clock(self, now: datetime) -> datetime:
        """What the meter's clock shows at the true instant ``now`` (it drifts; 6.11 sets it)."""
        return self._clock_at(self._instant(now))

    def import_registers(self, now: datetime) -> Registers:
        """4.1.1 / 4.1.2: total, TOU and block registers and the TOU x block matrix."""
        return Registers.of(self._view(now).ledger.matrix)

    def tou_register(self, now: datetime, rate: int) -> int:
        """One TOU register (``rate`` 1-8), Wh or litres."""
        return self.import_registers(now).tou[check_rate(rate) - 1]

    def energy_wh(self, now: datetime) -> int:
        """Energy imported, Wh: the import register for electricity, converted for gas."""
        return self._view(now).ledger.energy // RAW_PER_WH

    def prepay_values(self, now: datetime) -> PrepayValues:
        """4.3 Read Instantaneous Prepay Values."""
        return PrepayValues.of(self._view(now).ledger)

    def meter_balance(self, now: datetime) -> int:
        """4.18 Read Meter Balance: credit in pence (negative after non-disablement hours)."""
        return pence(self._view(now).ledger.balance)

    def supply_state(self, now: datetime) -> Supply:
        """7.4 Read Supply Status."""
        return self._view(now).ledger.supply

    def power_w(self, now: datetime) -> int:
        """Instantaneous demand: W (or litres per hour of gas); zero with the supply off."""
        view = self._view(now)
        slot = view.ledger.at.hour * 2 + view.ledger.at.minute // 30
        return self.household.load.slot_watts[slot] if view.ledger.consuming else 0

    def daily_reads(self, now: datetime) -> tuple[DailyRecord, ...]:
        """4.6.1 Import Daily Read Log and 4.14 Prepayment Daily Read Log, newest first."""
        reads = newest_first(self._history.daily, self._view(now).daily)
        return self._visible(reads, lambda r: r.at)

    def daily_consumption(self, now: datetime) -> tuple[DailyConsumption, ...]:
        """4.17 Retrieve Daily Consumption Log: whole days between midnight reads, newest first."""
        return daily_consumption(self.daily_reads(now))

    def calendar_billing_log(self, now: datetime) -> tuple[BillingRecord, ...]:
        """4.4.3 Billing Calendar Triggered Billing Data Log, newest first."""
        added = [b for b in self._view(now).billing if b.trigger is BillingTrigger.CALENDAR]
        log = newest_first(self._history.calendar_billing, added)
        return self._visible(log, lambda b: b.at)

    def triggered_billing_log(self, now: datetime) -> tuple[BillingRecord, ...]:
        """4.4.2 Change Of Mode / Tariff Triggered Billing Data Log, newest first."""
        self._instant(now)
        # Only operations add to this log, so there is nothing to project.
        return self._visible(self._history.triggered_billing, lambda b: b.at)

    def prepayment_credits(self, now: datetime) -> tuple[tuple[datetime, int], ...]:
        """4.4.5: the last top-ups (meter clock instant, pence), newest first."""
        self._instant(now)
        return self._visible(self._history.prepayment_credits, lambda c: c[0])

    def debt_payments(self, now: datetime) -> tuple[tuple[datetime, int], ...]:
        """4.4.4: the last payment-based debt repayments (instant, pence), newest first."""
        self._instant(now)
        return self._visible(self._history.debt_payments, lambda c: c[0])

    def profile(self, now: datetime, *, start: datetime, end: datetime) -> tuple[ProfileEntry, ...]:
        """4.8.1 Read Active Import Profile Data: finished half hours in ``[start, end)``."""
        return self._half_hours(self.household.load.slot_watts, now, start=start, end=end)

    def export_profile(
        self, now: datetime, *, start: datetime, end: datetime
    ) -> tuple[ProfileEntry, ...]:
        """4.8.3 Read Export Profile Data: what the household exported (its solar shape) in
        each finished half hour in ``[start, end)`` while the supply was on (an inverter
        stops without the grid), Wh."""
        return self._half_hours(self.household.export.slot_watts, now, start=start, end=end)

    def _half_hours(
        self, watts: tuple[int, ...], now: datetime, *, start: datetime, end: datetime
    ) -> tuple[ProfileEntry, ...]:
        view = self._view(now)
        at = view.ledger.at
        committed = self._history.off_periods
        off = off_periods(
            self.commissioned, committed, view.off_periods, open_since=view.ledger.off_since, now=at
        )
        cutoff = max(utc(start), self._restricted_before or self.commissioned)
        return half_hourly(watts, off, start=cutoff, end=utc(end), now=at)

    def event_log(self, now: datetime) -> tuple[LogEntry, ...]:
        """6.13 Read Event Or Security Log (event log), newest first."""
        return self._log(now, LogKind.EVENT, self._history.event_log)

    def security_log(self, now: datetime) -> tuple[LogEntry, ...]:
        """6.13 Read Event Or Security Log (security log), newest first."""
        return self._log(now, LogKind.SECURITY, self._history.security_log)

    def _log(
        self, now: datetime, kind: LogKind, committed: deque[LogEntry]
    ) -> tuple[LogEntry, ...]:
        added = [self._entry(h) for h in self._view(now).happenings if EVENTS[h.code].log is kind]
        return newest_first(committed, added)

    def _visible(self, items: Sequence[T], when: Callable[[T], datetime]) -> tuple[T, ...]:
        cutoff = self._restricted_before
        return tuple(items if cutoff is None else (i for i in items if when(i) >= cutoff))
