"""A simulated SMETS1 meter's state and machinery (reads: ``reads``; operations: ``device``).

A meter is one mutable object per simulated device, but every method is a function of its
arguments and the calls made before: time comes in as an explicit, timezone-aware ``now`` and
nothing reads the wall clock. The meter holds a ``Ledger`` settled at some instant; a read at
``now`` projects it forward (``walk.run``) without changing anything, so reading at 10:00 and
then at 11:00 gives exactly what reading at 11:00 alone would. An operation first settles the
meter to ``now`` (as ``advance`` does), then changes it, then re-applies the credit rules, and
returns every alert raised on the way, oldest first. ``now`` never goes backwards: an instant
before the last settled one raises ``MeterError`` (``time_reversed``).

Reads of the daily, billing and profile logs hide data from before the change-of-tenancy
restriction instant (3.2). A decommissioned meter refuses everything but ``decommissioned``.
An alert code the Supplier disabled (6.22) is logged but not raised. Beside the meter's own
state sits the head-end's record of its MP169 restricted mode (``restriction``), which nothing
the meter does reads.

SMETS1: Smart Metering Equipment Technical Specifications, first edition. SRV: Service
Reference Variant, a DUIS (DCC User Interface Specification) request type. TOU: time of use.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Self

from opendcc.core.eui import Eui64
from opendcc.sim.meter import EPOCH
from opendcc.sim.state.config import FirmwareImage, HanDevice, Identity
from opendcc.sim.state.errors import MeterError, Reason
from opendcc.sim.state.events import EVENTS, Alert, EventCode, Happening, LogEntry, LogKind
from opendcc.sim.state.history import History, record
from opendcc.sim.state.household import TICKS_PER_UNIT, Household
from opendcc.sim.state.ledger import ENERGY_SCALE, BillingTrigger, Ledger, cell
from opendcc.sim.state.restriction import Restriction
from opendcc.sim.state.tariff import (
    BLOCKS,
    DEFAULT_TARIFF,
    TOU_RATES,
    BillingCalendar,
    PaymentMode,
    PrepayConfig,
    Tariff,
)
from opendcc.sim.state.walk import Plan, Progress, check_levels, run, walk_on

FACTORY_FIRMWARE = FirmwareImage.of("1.0.0", b"opendcc simulated meter firmware 1.0.0")


@dataclass(slots=True)
class Operation:
    """One operation in progress: its instant, the live ledger, what it has made happen."""

    at: datetime
    progress: Progress
    alerts: tuple[Alert, ...] = ()

    @property
    def ledger(self) -> Ledger:
        return self.progress.ledger

    def happen(self, code: EventCode, *values: tuple[str, int | str]) -> None:
        self.progress.happenings.append(Happening(self.at, code, values))


@dataclass(frozen=True, slots=True)
class View:
    """A projection of a meter: its settled ledger (as of ``revision``) walked to ``at``."""

    revision: int  # the meter's count of operations when it was made
    at: datetime
    progress: Progress


class MeterCore:
    """State and settling shared by both kinds of meter, and its configuration reads."""

    gas = False

    def __init__(
        self,
        *,
        device_id: Eui64,
        household: Household,
        identity: Identity,
        commissioned: datetime = EPOCH,
        clock_drift_ppm: float = 0.0,
        tariff: Tariff = DEFAULT_TARIFF,
        payment_mode: PaymentMode = PaymentMode.CREDIT,
        prepay: PrepayConfig | None = None,
        balance_p: int = 0,
        calendar: BillingCalendar | None = None,
    ) -> None:
        start = utc(commissioned)
        self.device_id = device_id
        self.household = household
        self._identity = identity
        self.commissioned = start
        self._drift_ppm = clock_drift_ppm
        self._clock_set_at = start
        self._tariff = tariff
        self._mode = payment_mode
        self._prepay = prepay or PrepayConfig()
        self._debt_rates_p = (0, 0)
        self._calendar = calendar or BillingCalendar()
        self._mpxn = ""
        self._supplier_name = ""
        self._message = ""
        self._restricted_before: datetime | None = None
        self._firmware = FACTORY_FIRMWARE
        self._pending_firmware: FirmwareImage | None = None
        self._han: tuple[HanDevice, ...] = ()
        self._decommissioned = False
        self._outage_since: datetime | None = None
        self._disabled_alerts: frozenset[int] = frozenset()  # logged, not raised (6.22)
        # Configuration held as written (6.4.1 load limiting, 6.7 gas flow ...), by item, and
        # when each counter was last reset (6.4.2, 6.18.2, 6.27 ...); see ``settings``.
        self._settings: dict[str, tuple[tuple[str, str], ...]] = {}
        self._counter_resets: dict[str, datetime] = {}
        self._privacy_pin = True  # 3.5 Disable Privacy PIN switches it off
        self._restriction = Restriction()  # the head-end's record (99.1)
        self._restriction_notices = 0
        self._history = History()
        self._unreported: list[Alert] = []  # raised while an operation was refused
        self._revision = 0
        self._cache: View | None = None
        matrix = self._opening_matrix()
        energy = sum(matrix) * self._energy_mult()
        self._ledger = Ledger.opening(at=start, matrix=matrix, energy=energy, balance_p=balance_p)
        # The credit rules apply from the start; what they raise is reported by the first call.
        opening = Progress(self._ledger)
        check_levels(self._plan(), self._ledger, start, opening)
        self._commit(opening)
        self._unreported = self._record(opening.happenings)

    @classmethod
    def for_device(
        cls,
        device_id: Eui64,
        *,
        commissioned: datetime = EPOCH,
        clock_drift_ppm: float = 0.0,
        tariff: Tariff = DEFAULT_TARIFF,
        payment_mode: PaymentMode = PaymentMode.CREDIT,
        prepay: PrepayConfig | None = None,
        balance_p: int = 0,
    ) -> Self:
        """A meter whose household, opening reading and identity are seeded by its EUI-64."""
        return cls(
            device_id=device_id,
            household=cls.household_for(device_id),
            identity=Identity.simulated(device_id, cls.model),
            commissioned=commissioned,
            clock_drift_ppm=clock_drift_ppm,
            tariff=tariff,
            payment_mode=payment_mode,
            prepay=prepay,
            balance_p=balance_p,
        )

    # ------------------------------------------------------------------ kind hooks

    model = "SIM-METER"

    @classmethod
    def household_for(cls, device_id: Eui64) -> Household:
        return Household.electricity(device_id)

    def _energy_mult(self) -> int:
        return ENERGY_SCALE

    # ------------------------------------------------------------------ machinery

    def _instant(self, now: datetime) -> datetime:
        self._check_live()
        at = utc(now)
        if at < self._ledger.at:
            raise MeterError(Reason.TIME_REVERSED, f"{at} is before {self._ledger.at}")
        return at

    def _check_live(self) -> None:
        if self._decommissioned:
            raise MeterError(Reason.DECOMMISSIONED, f"{self.device_id} is decommissioned")

    def _plan(self) -> Plan:
        return Plan(
            load=self.household.load.slot_watts,
            export=self.household.export.slot_watts,
            energy_mult=self._energy_mult(),
            tariff=self._tariff,
            mode=self._mode,
            prepay=self._prepay,
            debt_rates_p=self._debt_rates_p,
            calendar=self._calendar,
        )

    def forget_view(self) -> None:
        """Drop the cached projection (about 22 KB): a head-end serving hundreds of thousands
        of meters forgets it after each command rather than keep one for every meter."""
        self._cache = None

    def take_view(self) -> View | None:
        """Hand over the cached projection and forget it (see ``Projections``)."""
        view, self._cache = self._cache, None
        return view

    def resume_view(self, view: View) -> None:
        """Take back a projection handed over by ``take_view``: later reads walk on from it,
        unless an operation has changed the meter since (then it is dropped)."""
        if view.revision == self._revision:
            self._cache = view

    def _view(self, now: datetime) -> Progress:
        """The meter projected to ``now``: nothing is changed, the result is cached.

        A cached projection to an earlier instant is walked on from (``walk_on``), not walked
        again from the settled ledger: reads of a meter a head-end keeps hot cost the time
        since its last read, not since its last operation.
        """
        at = self._instant(now)
        cached = self._cache
        if cached is not None and cached.revision == self._revision:
            if cached.at == at:
                return cached.progress
            if cached.at < at:
                progress = walk_on(self._plan(), cached.progress, at)
                self._cache = View(self._revision, at, progress)
                return progress
        progress = run(self._plan(), self._ledger, at)
        self._cache = View(self._revision, at, progress)
        return progress

    @contextmanager
    def _operation(self, now: datetime) -> Iterator[Operation]:
        """Settle to ``now``, let the body change the meter, re-apply the credit rules.

        Alerts end up in ``Operation.alerts``; if the body raises, what time passing raised
        is kept and returned by the next operation, so no alert is ever lost.
        """
        walked = self._view(now)
        at = walked.ledger.at
        self._ledger, self._cache = walked.ledger.copy(), None
        self._commit(walked)
        # Stamp what time passing raised before the body can reset the clock.
        self._unreported.extend(self._record(walked.happenings))
        op = Operation(at, Progress(self._ledger))
        try:
            yield op
        finally:
            check_levels(self._plan(), self._ledger, at, op.progress)
            self._commit(op.progress)
            self._unreported.extend(self._record(op.progress.happenings))
            self._revision += 1
        op.alerts, self._unreported = tuple(self._unreported), []

    def _commit(self, progress: Progress) -> None:
        history = self._history
        record(history.daily, progress.daily)
        for billing in progress.billing:
            calendar = billing.trigger is BillingTrigger.CALENDAR
            record(history.calendar_billing if calendar else history.triggered_billing, [billing])
        history.off_periods.extend(progress.off_periods)

    def _record(self, happenings: Sequence[Happening]) -> list[Alert]:
        alerts = []
        for happening in happenings:
            spec = EVENTS[happening.code]
            entry = self._entry(happening)
            log = (
                self._history.event_log if spec.log is LogKind.EVENT else self._history.security_log
            )
            record(log, [entry])
            if happening.code is EventCode.CREDIT_ADDED:
                self._record_credit(entry.at, dict(happening.values))
            if spec.alert and happening.code not in self._disabled_alerts:
                alerts.append(Alert(happening.code, self.device_id, entry.at, happening.values))
        return alerts

    def _record_credit(self, at: datetime, values: dict[str, int | str]) -> None:
        """A top-up into the prepayment credits log, its debt share into the debt payments."""
        amount, to_debt = values.get("amount_p"), values.get("to_debt_p")
        if isinstance(amount, int):
            record(self._history.prepayment_credits, [(at, amount)])
        if isinstance(to_debt, int) and to_debt > 0:
            record(self._history.debt_payments, [(at, to_debt)])

    def _entry(self, happening: Happening) -> LogEntry:
        return LogEntry(self._clock_at(happening.at), happening.code, EVENTS[happening.code].text)

    def _clock_at(self, at: datetime) -> datetime:
        return at + (at - self._clock_set_at) * (self._drift_ppm / 1_000_000)

    def _opening_matrix(self) -> list[int]:
        # Split the opening reading by each rate's share of a day's load, remainder on rate 1.
        daily = [0] * TOU_RATES
        load = self.household.load.slot_watts
        for watts, rate in zip(load, self._tariff.switching_table, strict=True):
            daily[rate - 1] += watts
        opening, total = self.household.opening, sum(daily) or 1
        units = [0] * (TOU_RATES * BLOCKS)
        for rate, share in enumerate(daily, start=1):
            units[cell(rate, 1)] = opening * share // total
        units[cell(1, 1)] += opening - sum(units)  # whole units, so the opening reads exactly
        return [u * TICKS_PER_UNIT for u in units]

    # ------------------------------------------------------------------ configuration reads

    @property
    def tariff(self) -> Tariff:
        """4.11.1 Read Tariff."""
        self._check_live()
        return self._tariff

    @property
    def payment_mode(self) -> PaymentMode:
        """6.2.9 Read Device Configuration (Payment Mode)."""
        self._check_live()
        return self._mode

    @property
    def prepay_config(self) -> PrepayConfig:
        """4.13 Read Prepayment Configuration."""
        self._check_live()
        return self._prepay

    @property
    def debt_recovery_rates_p(self) -> tuple[int, int]:
        """Daily recovery rate of each time-based debt register (set by 2.3)."""
        self._check_live()
        return self._debt_rates_p

    @property
    def billing_calendar(self) -> BillingCalendar:
        """6.2.3 Read Device Configuration (Billing Calendar)."""
        self._check_live()
        return self._calendar

    @property
    def identity(self) -> Identity:
        """6.2.4 Read Device Configuration (Identity); see ``firmware`` for the version."""
        self._check_live()
        return self._identity

    @property
    def mpxn(self) -> str:
        """6.2.7 Read Device Configuration (MPxN); empty until 6.20.1 sets it."""
        self._check_live()
        return self._mpxn

    @property
    def supplier_name(self) -> str:
        self._check_live()
        return self._supplier_name

    @property
    def displayed_message(self) -> str:
        self._check_live()
        return self._message

    @property
    def restricted_before(self) -> datetime | None:
        """The change-of-tenancy instant (3.2): earlier logged data is hidden."""
        self._check_live()
        return self._restricted_before

    @property
    def firmware(self) -> FirmwareImage:
        """11.2 Read Firmware Version: the active image."""
        self._check_live()
        return self._firmware

    @property
    def pending_firmware(self) -> FirmwareImage | None:
        """A distributed image waiting for activation."""
        self._check_live()
        return self._pending_firmware

    @property
    def han_devices(self) -> tuple[HanDevice, ...]:
        """8.9 Read Device Log: the devices joined to this meter's HAN (home area network)."""
        self._check_live()
        return self._han

    def setting(self, item: str) -> dict[str, str]:
        """A configuration item as last written (empty if never)."""
        self._check_live()
        return dict(self._settings.get(item, ()))

    def counter_reset_at(self, counter: str) -> datetime | None:
        """When ``counter`` was last reset (None: never since commissioning)."""
        self._check_live()
        return self._counter_resets.get(counter)

    @property
    def privacy_pin(self) -> bool:
        """Whether the consumer's privacy PIN protects the meter's display."""
        self._check_live()
        return self._privacy_pin

    @property
    def disabled_alerts(self) -> frozenset[int]:
        """The alert codes switched off by 6.22 Configure Alert Behaviour."""
        self._check_live()
        return self._disabled_alerts

    # ------------------------------------------------------------------ the head-end's record

    @property
    def restriction(self) -> Restriction:
        """The head-end's view of the meter's MP169 restricted mode (the latest 99.1)."""
        return self._restriction

    @property
    def restricted(self) -> bool:
        return self._restriction.restricted

    @property
    def restricted_since(self) -> datetime | None:
        return self._restriction.since

    @property
    def restricted_by(self) -> str:
        return self._restriction.set_by

    @property
    def restricted_reason(self) -> str:
        return self._restriction.reason

    @property
    def restriction_notices(self) -> int:
        """How many restriction notices the head-end carried out on this meter (repeats too)."""
        return self._restriction_notices

    def note_restriction(self, restriction: Restriction) -> bool:
        """99.1: record a restriction notice; False when it repeats the record (idempotent).

        The head-end's record, not the meter's: nothing is settled, logged or raised, and a
        decommissioned meter's record still takes it.
        """
        self._restriction_notices += 1
        changed = restriction != self._restriction
        self._restriction = restriction
        return changed


def utc(instant: datetime) -> datetime:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise MeterError(Reason.INVALID_TIME, "the meter model needs timezone-aware datetimes")
    return instant.astimezone(UTC)
