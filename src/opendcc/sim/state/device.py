"""The operations of a simulated SMETS1 meter: what DUIS service requests and the world do to it.

Each method settles the meter to ``now``, validates, changes the meter and returns the alerts
raised on the way (by time passing, then by the operation), oldest first. Methods are named for
the DUIS (DCC User Interface Specification) Service Reference Variant (SRV) they serve. Inputs
are checked before anything changes, so a refused operation (``MeterError``) changes nothing but
the settling; alerts time passing raised before a refusal come back with the next call.

Injected events stand for the world rather than a Supplier: ``power_outage`` and
``power_restore``, ``tamper`` and ``consumer_enable`` (the consumer pressing the button on an
armed meter), and ``flag_low_credit`` (a low credit alert whatever the credit, for tests). A
UTRN (Unique Transaction Reference Number) is taken over the air or at the keypad by
``take_utrn``, with the meter's ``TokenReader`` (``opendcc.sim.state.tokens``).
SMETS1: Smart Metering Equipment Technical Specifications, first edition.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from opendcc.core.eui import Eui64
from opendcc.prepayment.utrn import Credit
from opendcc.sim.state.config import (
    MESSAGE_LIMIT,
    SUPPLIER_NAME_LIMIT,
    DeviceType,
    FirmwareImage,
    HanDevice,
    hash_image,
    join,
    mpxn,
    replace_device,
    text,
    unjoin,
)
from opendcc.sim.state.core import Operation, utc
from opendcc.sim.state.errors import MeterError, Reason
from opendcc.sim.state.events import Alert, EventCode, configure_alerts
from opendcc.sim.state.ledger import (
    RAW_PER_PENNY,
    BillingTrigger,
    activate_emergency_credit,
    adjust_debt,
    billing_record,
    top_up,
)
from opendcc.sim.state.reads import MeterReads
from opendcc.sim.state.supply import SupplyEvent, next_supply
from opendcc.sim.state.tariff import (
    BillingCalendar,
    DebtRegister,
    PaymentMode,
    PrepayConfig,
    Tariff,
)
from opendcc.sim.state.tokens import TokenReader

Alerts = tuple[Alert, ...]
_TIME_DEBTS = (DebtRegister.TIME_1, DebtRegister.TIME_2)


class MeterState(MeterReads):
    """A simulated meter: its reads (``MeterReads``) and the operations below."""

    _token_reader: TokenReader | None = None  # see install_token_reader

    def advance(self, now: datetime) -> Alerts:
        """Let time pass to ``now``; the alerts that raised (low credit, supply disabled ...)."""
        with self._operation(now) as op:
            pass
        return op.alerts

    # ------------------------------------------------------------------ tariff and payment

    def update_tariff(self, now: datetime, tariff: Tariff) -> Alerts:
        """1.1.1 Update Import Tariff; the billing data is snapshotted first."""
        with self._operation(now) as op:
            self._snapshot(op, BillingTrigger.TARIFF_CHANGE)
            self._tariff = tariff
            op.happen(EventCode.TARIFF_UPDATED)
        return op.alerts

    def update_price(
        self, now: datetime, *, prices_mp: Sequence[Sequence[int]], standing_charge_p: int
    ) -> Alerts:
        """1.2.1 Update Price: new prices and standing charge on the same switching table."""
        tariff = Tariff(
            switching_table=self._tariff.switching_table,
            prices_mp=tuple(tuple(row) for row in prices_mp),
            block_thresholds=self._tariff.block_thresholds,
            standing_charge_p=standing_charge_p,
        )
        with self._operation(now) as op:
            self._snapshot(op, BillingTrigger.TARIFF_CHANGE)
            self._tariff = tariff
            op.happen(EventCode.PRICE_UPDATED)
        return op.alerts

    def update_payment_mode(self, now: datetime, mode: PaymentMode) -> Alerts:
        """1.6 Update Payment Mode; a real change snapshots the billing data first."""
        with self._operation(now) as op:
            if mode is not self._mode:
                self._snapshot(op, BillingTrigger.MODE_CHANGE)
                self._mode = mode
                op.happen(EventCode.PAYMENT_MODE_CHANGED, ("mode", mode.value))
        return op.alerts

    def update_billing_calendar(self, now: datetime, calendar: BillingCalendar) -> Alerts:
        """6.8 Update Billing Calendar."""
        with self._operation(now) as op:
            self._calendar = calendar
            op.happen(EventCode.BILLING_CALENDAR_UPDATED)
        return op.alerts

    # ------------------------------------------------------------------ prepayment

    def adjust_balance(self, now: datetime, amount_p: int) -> Alerts:
        """1.5 Update Meter Balance: add (or, if negative, take) ``amount_p`` pence of credit."""
        if amount_p == 0:
            raise MeterError(Reason.INVALID_VALUE, "a balance adjustment is not zero")
        with self._operation(now) as op:
            op.ledger.balance += amount_p * RAW_PER_PENNY
            op.happen(EventCode.BALANCE_ADJUSTED, ("amount_p", amount_p))
        return op.alerts

    def top_up(self, now: datetime, amount_p: int) -> Alerts:
        """A consumer's top-up (2.2, or a UTRN at the meter): debt and emergency credit first."""
        _positive(amount_p, "a top-up")
        self._require_prepayment()
        with self._operation(now) as op:
            self._credit(op, amount_p)
        return op.alerts

    @property
    def token_reader(self) -> TokenReader | None:
        """How the meter reads UTRNs (None: it holds no prepayment keys)."""
        return self._token_reader

    def install_token_reader(self, reader: TokenReader) -> None:
        """Provision the meter's UTRN algorithm, keys and counter memory (at manufacture)."""
        self._token_reader = reader

    def take_utrn(self, now: datetime, utrn: str, *, keypad: bool = False) -> tuple[Credit, Alerts]:
        """A UTRN delivered by 2.2 Top Up Device or keyed in at the meter (``keypad``).

        Authenticated with the meter's own keys, then checked against the counters it used,
        then credited as ``top_up`` does and its counter remembered. A refused UTRN changes
        nothing (``UtrnRefused``; in credit mode ``wrong_payment_mode``). Keyed in, the meter
        also alerts ``UTRN_ACCEPTED_AT_KEYPAD``, so the S1SP hears of the top-up.
        """
        self._check_live()
        reader = self._token_reader
        if reader is None:
            raise MeterError(Reason.UNSUPPORTED, "the meter holds no UTRN keys")
        self._require_prepayment()
        credit = reader.read(self.device_id, utrn)
        with self._operation(now) as op:
            self._credit(op, credit.amount_p)
            if keypad:
                op.happen(
                    EventCode.UTRN_ACCEPTED_AT_KEYPAD,
                    ("utrn", utrn),
                    ("amount_p", credit.amount_p),
                    ("counter", credit.counter),
                    ("channel", "keypad"),
                )
        reader.remember(credit)
        return credit, op.alerts

    def update_prepay_configuration(self, now: datetime, config: PrepayConfig) -> Alerts:
        """2.1 Update Prepay Configuration."""
        with self._operation(now) as op:
            self._prepay = config
            op.happen(EventCode.PREPAY_CONFIG_UPDATED)
        return op.alerts

    def update_debt(
        self,
        now: datetime,
        register: DebtRegister,
        *,
        adjustment_p: int = 0,
        recovery_rate_p_per_day: int | None = None,
    ) -> Alerts:
        """2.3 Update Debt: adjust one register and, for time-based debt, its daily rate."""
        if recovery_rate_p_per_day is not None:
            if register not in _TIME_DEBTS:
                raise MeterError(Reason.INVALID_VALUE, "only time-based debt has a daily rate")
            if recovery_rate_p_per_day < 0:
                raise MeterError(Reason.INVALID_VALUE, "a recovery rate is not negative")
        with self._operation(now) as op:
            value = adjust_debt(op.ledger, register, adjustment_p)
            if recovery_rate_p_per_day is not None:
                rates = list(self._debt_rates_p)
                rates[_TIME_DEBTS.index(register)] = recovery_rate_p_per_day
                self._debt_rates_p = (rates[0], rates[1])
            op.happen(EventCode.DEBT_UPDATED, ("register", register.value), ("debt_p", value))
        return op.alerts

    def activate_emergency_credit(self, now: datetime) -> Alerts:
        """2.5 Activate Emergency Credit; a supply disabled for lack of credit is armed."""
        self._require_prepayment()
        with self._operation(now) as op:
            activate_emergency_credit(op.ledger, self._prepay)
            op.happen(EventCode.EMERGENCY_CREDIT_ACTIVATED)
        return op.alerts

    # ------------------------------------------------------------------ supply

    def enable_supply(self, now: datetime) -> Alerts:
        """7.1 Enable Supply; refused in prepayment mode with all credit exhausted."""
        return self._switch(now, SupplyEvent.ENABLE, EventCode.SUPPLY_ENABLED)

    def disable_supply(self, now: datetime) -> Alerts:
        """7.2 Disable Supply."""
        return self._switch(now, SupplyEvent.DISABLE, EventCode.SUPPLY_DISABLED)

    def arm_supply(self, now: datetime) -> Alerts:
        """7.3 Arm Supply: the consumer may then enable it."""
        return self._switch(now, SupplyEvent.ARM, EventCode.SUPPLY_ARMED)

    def consumer_enable(self, now: datetime) -> Alerts:
        """The consumer presses the button on an armed meter."""
        return self._switch(now, SupplyEvent.CONSUMER_ENABLE, EventCode.SUPPLY_ENABLED)

    def _switch(self, now: datetime, event: SupplyEvent, code: EventCode) -> Alerts:
        with self._operation(now) as op:
            led = op.ledger
            state = next_supply(led.supply, event)
            exhausted = led.balance <= 0 and led.ec_remaining <= 0
            if event in _TURNS_ON and self._mode is PaymentMode.PREPAYMENT and exhausted:
                raise MeterError(Reason.NO_CREDIT, "prepayment credit is exhausted")
            # Whatever the Supplier does replaces the credit rule's disablement.
            led.supply, led.disabled_for_credit = state, False
            op.happen(code, ("cause", "consumer" if event in _BY_CONSUMER else "supplier"))
        return op.alerts

    # ------------------------------------------------------------------ consumer-facing text

    def display_message(self, now: datetime, message: str) -> Alerts:
        """3.1 Display Message."""
        checked = text(message, what="message", limit=MESSAGE_LIMIT)
        with self._operation(now) as op:
            self._message = checked
            op.happen(EventCode.MESSAGE_DISPLAYED)
        return op.alerts

    def restrict_access(self, now: datetime, before: datetime) -> Alerts:
        """3.2 Restrict Access For Change Of Tenancy: hide logged data from before ``before``."""
        cutoff = utc(before)
        if cutoff > utc(now):
            raise MeterError(Reason.INVALID_VALUE, "a tenancy cannot start in the future")
        with self._operation(now) as op:
            self._restricted_before = cutoff
            op.happen(EventCode.ACCESS_RESTRICTED, ("before", cutoff.isoformat()))
        return op.alerts

    def update_supplier_name(self, now: datetime, name: str) -> Alerts:
        """3.4 Update Supplier Name."""
        checked = text(name, what="supplier name", limit=SUPPLIER_NAME_LIMIT)
        with self._operation(now) as op:
            self._supplier_name = checked
            op.happen(EventCode.SUPPLIER_NAME_UPDATED)
        return op.alerts

    # ------------------------------------------------------------------ device

    def synchronise_clock(self, now: datetime) -> Alerts:
        """6.11 Synchronise Clock: set the drifting clock to the true time."""
        with self._operation(now) as op:
            adjustment = op.at - self._clock_at(op.at)
            self._clock_set_at = op.at
            op.happen(EventCode.CLOCK_ADJUSTED, ("adjustment_ms", adjustment // _MS))
        return op.alerts

    def set_mpxn(self, now: datetime, value: str) -> Alerts:
        """6.20.1 Set Import MPxN (an MPAN core, or an MPRN for gas)."""
        checked = mpxn(value, gas=self.gas)
        with self._operation(now) as op:
            self._mpxn = checked
            op.happen(EventCode.MPXN_SET, ("mpxn", checked))
        return op.alerts

    def configure_alerts(self, now: datetime, settings: Mapping[int, bool]) -> Alerts:
        """6.22 Configure Alert Behaviour: switch alert codes on (True) or off. A disabled alert
        is still logged; switching a critical one off is refused and changes nothing."""
        disabled = configure_alerts(self._disabled_alerts, settings)
        with self._operation(now) as op:
            self._disabled_alerts = disabled
            op.happen(EventCode.DEVICE_CONFIG_UPDATED, ("item", "alerts"))
        return op.alerts

    def hold_setting(self, now: datetime, item: str, values: Mapping[str, str]) -> Alerts:
        """Keep configuration ``item`` as written (what the model does not act on)."""
        with self._operation(now) as op:
            self._settings = {**self._settings, item: tuple(sorted(values.items()))}
            op.happen(EventCode.DEVICE_CONFIG_UPDATED, ("item", item))
        return op.alerts

    def reset_counter(self, now: datetime, counter: str) -> Alerts:
        """Reset ``counter`` (load limiting, maximum demand, RMS voltage ...) to zero now."""
        with self._operation(now) as op:
            self._counter_resets = {**self._counter_resets, counter: op.at}
            op.happen(EventCode.DEVICE_CONFIG_UPDATED, ("item", f"reset {counter}"))
        return op.alerts

    def clear_event_log(self, now: datetime) -> Alerts:
        """3.3 Clear Event Log: the event log empties; the clearing is its first entry."""
        with self._operation(now) as op:
            self._history.event_log.clear()
            op.happen(EventCode.DEVICE_CONFIG_UPDATED, ("item", "event log cleared"))
        return op.alerts

    def disable_privacy_pin(self, now: datetime) -> Alerts:
        """3.5 Disable Privacy PIN."""
        with self._operation(now) as op:
            self._privacy_pin = False
            op.happen(EventCode.DEVICE_CONFIG_UPDATED, ("item", "privacy PIN disabled"))
        return op.alerts

    def decommission(self, now: datetime) -> Alerts:
        """8.3 Decommission Device: from now on the meter refuses everything."""
        with self._operation(now) as op:
            op.happen(EventCode.DECOMMISSIONED)
        self._decommissioned = True
        return op.alerts

    def join_device(self, now: datetime, device: Eui64, device_type: DeviceType) -> Alerts:
        """8.7.2 Join Service: add a device (an IHD, a PPMID ...) to the HAN device log."""
        log = join(self._han, HanDevice(device, device_type))
        with self._operation(now) as op:
            self._han = log
            op.happen(EventCode.DEVICE_JOINED, ("device", str(device)))
        return op.alerts

    def unjoin_device(self, now: datetime, device: Eui64) -> Alerts:
        """8.8.2 Unjoin Service."""
        log = unjoin(self._han, device)
        with self._operation(now) as op:
            self._han = log
            op.happen(EventCode.DEVICE_UNJOINED, ("device", str(device)))
        return op.alerts

    def replace_han_device(self, now: datetime, *, old: Eui64, new: Eui64) -> Alerts:
        """8.11 Update HAN Device Log: a replacement device takes the old one's place."""
        log = replace_device(self._han, old, new)
        with self._operation(now) as op:
            self._han = log
            op.happen(EventCode.DEVICE_LOG_UPDATED, ("old", str(old)), ("new", str(new)))
        return op.alerts

    # ------------------------------------------------------------------ firmware

    def distribute_firmware(
        self, now: datetime, *, version: str, image: bytes, image_hash: bytes
    ) -> Alerts:
        """Receive an image and its SHA-256 hash; a mismatch alerts 0x8F1C and keeps nothing."""
        candidate = FirmwareImage.of(version, image)
        with self._operation(now) as op:
            if candidate.hash != image_hash:
                op.happen(EventCode.FIRMWARE_VERIFICATION_FAILED, ("version", version))
            else:
                self._pending_firmware = candidate
                op.happen(EventCode.FIRMWARE_DISTRIBUTED, ("version", version))
        return op.alerts

    def activate_firmware(self, now: datetime, *, image_hash: bytes) -> Alerts:
        """Activate the distributed image with that hash (as 11.3 Activate Firmware names it)."""
        pending = self._pending_firmware
        if pending is None or pending.hash != image_hash:
            raise MeterError(Reason.FIRMWARE_NOT_DISTRIBUTED, "no distributed image has that hash")
        with self._operation(now) as op:
            previous, self._firmware, self._pending_firmware = self._firmware, pending, None
            values = (("version", pending.version), ("previous", previous.version))
            op.happen(EventCode.FIRMWARE_ACTIVATED, *values)
        return op.alerts

    def update_firmware(self, now: datetime, *, version: str, image: bytes) -> Alerts:
        """One-stage firmware update: distribute and activate at once (the hash is computed)."""
        digest = hash_image(image)
        alerts = self.distribute_firmware(now, version=version, image=image, image_hash=digest)
        return alerts + self.activate_firmware(now, image_hash=digest)

    # ------------------------------------------------------------------ the world

    def power_outage(self, now: datetime) -> Alerts:
        """Mains power is lost (injected): the meter draws nothing until it is restored."""
        with self._operation(now) as op:
            if op.ledger.powered:
                op.ledger.powered = False
                self._outage_since = op.at
                op.happen(EventCode.POWER_OUTAGE)
        return op.alerts

    def power_restore(self, now: datetime) -> Alerts:
        """Mains power returns (injected); the alert carries the interruption and restoration."""
        with self._operation(now) as op:
            if not op.ledger.powered:
                op.ledger.powered = True
                since = self._outage_since or op.at
                op.happen(
                    EventCode.POWER_RESTORED,
                    ("interruption", since.isoformat()),
                    ("restoration", op.at.isoformat()),
                    ("duration_s", int((op.at - since).total_seconds())),
                )
        return op.alerts

    def tamper(self, now: datetime, *, detail: str = "terminal cover removed") -> Alerts:
        """Physical tampering (injected)."""
        checked = text(detail, what="tamper detail", limit=MESSAGE_LIMIT)
        with self._operation(now) as op:
            op.happen(EventCode.TAMPER_DETECTED, ("detail", checked))
        return op.alerts

    def flag_low_credit(self, now: datetime) -> Alerts:
        """A low credit alert whatever the credit (injected: a test hook for alert floods)."""
        with self._operation(now) as op:
            op.happen(EventCode.LOW_CREDIT)
        return op.alerts

    # ------------------------------------------------------------------ helpers

    def _credit(self, op: Operation, amount_p: int) -> None:
        to_debt = top_up(op.ledger, self._prepay, amount_p)
        op.happen(EventCode.CREDIT_ADDED, ("amount_p", amount_p), ("to_debt_p", to_debt))

    def _snapshot(self, op: Operation, trigger: BillingTrigger) -> None:
        op.progress.billing.append(billing_record(op.ledger, trigger))

    def _require_prepayment(self) -> None:
        if self._mode is not PaymentMode.PREPAYMENT:
            raise MeterError(Reason.WRONG_PAYMENT_MODE, "the meter is in credit mode")


_MS = timedelta(milliseconds=1)
_TURNS_ON = {SupplyEvent.ENABLE, SupplyEvent.CONSUMER_ENABLE}
_BY_CONSUMER = {SupplyEvent.CONSUMER_ENABLE}


def _positive(amount: int, what: str) -> int:
    if amount <= 0:
        raise MeterError(Reason.INVALID_VALUE, f"{what} is positive, not {amount}")
    return amount
