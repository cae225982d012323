"""Event and alert codes of a simulated meter, and the records they produce.

Everything notable that happens to a meter is a ``Happening``: an instant, a 16-bit event code
and a few named values. The ``EVENTS`` table (data, not code) says for each code its short text,
which of the meter's two logs records it (the event log, or the security log for clock,
firmware, HAN (home area network) membership, tamper and access changes) and whether the meter
also raises it as an alert. The meter turns a happening into a ``LogEntry`` and, where the table
says so, an ``Alert``, both stamped by the meter's own (drifting) clock as a real meter would.

Codes follow the GBCS (Great Britain Companion Specification) layout: critical alerts in
``0x8Fxx``, non-critical alerts in ``0x81xx``; ``0x80xx`` is opendcc's range for events that
are logged but never alerted. Two codes are GBCS's own, as the DUIS (DCC User Interface
Specification) schema ties them to their alert payloads: ``0x8F1C`` firmware verification failed
(``FirmwareVerificationDeviceAlertType``) and ``0x8F35`` supply outage restored
(``SupplyOutageRestoreAlertType``, with interruption and restoration instants). The rest are
opendcc's choices in the same style (among them ``0x8F3A``, a UTRN (Unique Transaction Reference
Number) the consumer keyed in and the meter credited); a cohort's alert-code map translates them
at its edge.

A Supplier may switch non-critical alerts off (6.22 Configure Alert Behaviour): the meter still
logs what happens but no longer raises it. Critical alerts can never be switched off
(``configure_alerts``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import Enum, IntEnum

from opendcc.core.eui import Eui64
from opendcc.sim.state.errors import MeterError, Reason

AlertValue = int | str
Values = tuple[tuple[str, AlertValue], ...]


class EventCode(IntEnum):
    """The 16-bit code of everything a simulated meter logs or alerts."""

    # Critical alerts.
    FIRMWARE_VERIFICATION_FAILED = 0x8F1C  # GBCS
    FIRMWARE_ACTIVATED = 0x8F1D
    TAMPER_DETECTED = 0x8F20
    SUPPLY_DISABLED_CREDIT = 0x8F30  # prepayment credit (and emergency credit) exhausted
    SUPPLY_ARMED = 0x8F31  # credit restored, or 7.3 Arm Supply
    POWER_OUTAGE = 0x8F34
    POWER_RESTORED = 0x8F35  # GBCS "supply outage restored"
    # A consumer keyed a UTRN in and the meter credited it: the S1SP learns of a top-up it did
    # not deliver itself (values: utrn, amount_p, counter, channel).
    UTRN_ACCEPTED_AT_KEYPAD = 0x8F3A
    # Non-critical alerts.
    LOW_CREDIT = 0x8101
    EMERGENCY_CREDIT_AVAILABLE = 0x8102
    CLOCK_ADJUSTED = 0x8103
    # Logged only.
    SUPPLY_ENABLED = 0x8001
    SUPPLY_DISABLED = 0x8002
    TARIFF_UPDATED = 0x8010
    PRICE_UPDATED = 0x8011
    PAYMENT_MODE_CHANGED = 0x8012
    PREPAY_CONFIG_UPDATED = 0x8013
    DEBT_UPDATED = 0x8014
    BALANCE_ADJUSTED = 0x8015
    CREDIT_ADDED = 0x8016
    EMERGENCY_CREDIT_ACTIVATED = 0x8017
    BILLING_CALENDAR_UPDATED = 0x8018
    MESSAGE_DISPLAYED = 0x8019
    SUPPLIER_NAME_UPDATED = 0x801A
    MPXN_SET = 0x801B
    DEVICE_CONFIG_UPDATED = 0x801C
    ACCESS_RESTRICTED = 0x8020
    DEVICE_JOINED = 0x8021
    DEVICE_UNJOINED = 0x8022
    DEVICE_LOG_UPDATED = 0x8023
    FIRMWARE_DISTRIBUTED = 0x8030
    DECOMMISSIONED = 0x8040

    @property
    def critical(self) -> bool:
        return critical(self)


def critical(code: int) -> bool:
    """Whether a GBCS-style alert code is critical (``0x8Fxx``)."""
    return code & 0xFF00 == 0x8F00


def configure_alerts(disabled: frozenset[int], settings: Mapping[int, bool]) -> frozenset[int]:
    """The disabled alert codes after switching each code of ``settings`` on (True) or off.

    Any 16-bit code may be configured, raised by this model or not; switching a critical one
    off is refused (``invalid_value``), and then nothing changes.
    """
    for code, on in settings.items():
        if not 0 <= code <= 0xFFFF:
            raise MeterError(Reason.INVALID_VALUE, f"an alert code is 16 bits, not {code:#x}")
        if critical(code) and not on:
            raise MeterError(Reason.INVALID_VALUE, f"critical alert {code:04X} cannot be disabled")
    switched_off = {code for code, on in settings.items() if not on}
    return disabled.difference(settings).union(switched_off)


class LogKind(Enum):
    EVENT = "event"
    SECURITY = "security"


@dataclass(frozen=True, slots=True)
class EventSpec:
    text: str
    log: LogKind
    alert: bool


_E, _S = LogKind.EVENT, LogKind.SECURITY

EVENTS: Mapping[EventCode, EventSpec] = {
    EventCode.FIRMWARE_VERIFICATION_FAILED: EventSpec("Firmware verification failed", _S, True),
    EventCode.FIRMWARE_ACTIVATED: EventSpec("Firmware activated", _S, True),
    EventCode.TAMPER_DETECTED: EventSpec("Tamper detected", _S, True),
    EventCode.SUPPLY_DISABLED_CREDIT: EventSpec("Supply disabled: credit exhausted", _E, True),
    EventCode.SUPPLY_ARMED: EventSpec("Supply armed", _E, True),
    EventCode.POWER_OUTAGE: EventSpec("Power outage", _E, True),
    EventCode.POWER_RESTORED: EventSpec("Power restored", _E, True),
    EventCode.UTRN_ACCEPTED_AT_KEYPAD: EventSpec("UTRN accepted at the keypad", _E, True),
    EventCode.LOW_CREDIT: EventSpec("Credit below low credit threshold", _E, True),
    EventCode.EMERGENCY_CREDIT_AVAILABLE: EventSpec("Emergency credit available", _E, True),
    EventCode.CLOCK_ADJUSTED: EventSpec("Clock adjusted", _S, True),
    EventCode.SUPPLY_ENABLED: EventSpec("Supply enabled", _E, False),
    EventCode.SUPPLY_DISABLED: EventSpec("Supply disabled", _E, False),
    EventCode.TARIFF_UPDATED: EventSpec("Tariff updated", _E, False),
    EventCode.PRICE_UPDATED: EventSpec("Price updated", _E, False),
    EventCode.PAYMENT_MODE_CHANGED: EventSpec("Payment mode changed", _E, False),
    EventCode.PREPAY_CONFIG_UPDATED: EventSpec("Prepayment configuration updated", _E, False),
    EventCode.DEBT_UPDATED: EventSpec("Debt updated", _E, False),
    EventCode.BALANCE_ADJUSTED: EventSpec("Meter balance adjusted", _E, False),
    EventCode.CREDIT_ADDED: EventSpec("Credit added", _E, False),
    EventCode.EMERGENCY_CREDIT_ACTIVATED: EventSpec("Emergency credit activated", _E, False),
    EventCode.BILLING_CALENDAR_UPDATED: EventSpec("Billing calendar updated", _E, False),
    EventCode.MESSAGE_DISPLAYED: EventSpec("Message displayed", _E, False),
    EventCode.SUPPLIER_NAME_UPDATED: EventSpec("Supplier name updated", _E, False),
    EventCode.MPXN_SET: EventSpec("MPxN set", _E, False),
    EventCode.DEVICE_CONFIG_UPDATED: EventSpec("Device configuration updated", _E, False),
    EventCode.ACCESS_RESTRICTED: EventSpec("Access restricted for change of tenancy", _S, False),
    EventCode.DEVICE_JOINED: EventSpec("Device joined", _S, False),
    EventCode.DEVICE_UNJOINED: EventSpec("Device unjoined", _S, False),
    EventCode.DEVICE_LOG_UPDATED: EventSpec("Device log updated", _S, False),
    EventCode.FIRMWARE_DISTRIBUTED: EventSpec("Firmware image distributed", _S, False),
    EventCode.DECOMMISSIONED: EventSpec("Decommissioned", _S, False),
}


@dataclass(frozen=True, slots=True)
class Happening:
    """Something that happened at the true instant ``at`` (UTC), before the meter stamps it."""

    at: datetime
    code: EventCode
    values: Values = ()


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One entry of the event or security log, stamped by the meter's clock."""

    at: datetime
    code: EventCode
    text: str


@dataclass(frozen=True, slots=True)
class Alert:
    """An alert the meter raised, stamped by its clock, with a few named values."""

    code: EventCode
    device: Eui64
    at: datetime
    values: Values = ()

    def value(self, name: str) -> AlertValue:
        for key, value in self.values:
            if key == name:
                return value
        raise KeyError(name)

    @property
    def critical(self) -> bool:
        return self.code.critical
