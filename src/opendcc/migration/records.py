"""Migration file records: one SMETS1 installation per line of JSON, parsed strictly.

A migration file is JSON Lines (UTF-8, one JSON object per line, blank lines ignored); the
format is documented in ``docs/migration.md``. Each record names one installation: its comms
hub (CHF, Communications Hub Function), its meters (ESME electricity, GSME gas, with the GPF,
Gas Proxy Function, that serves the GSME) and any IHDs (In-Home Displays) or PPMIDs
(Pre-Payment Meter Interface Devices), the MPAN/MPRN the meters serve, the cohort whose S1SP
(SMETS1 Service Provider) runs them, the supplier's migration authorisation reference, and
whether the installation is active or dormant (the supplier no longer has a contract with the
original operator, so opendcc migrates it at a scheduled time).

Parsing is pure and never raises on bad input: it returns every reason a record is wrong.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from opendcc.catalogue import DeviceType
from opendcc.core.eui import Eui64

RECORD_FIELDS = frozenset(
    {
        "installation",
        "authorisation",
        "mode",
        "cohort",
        "scheduled_for",
        "mpan",
        "mprn",
        "devices",
    }
)
DEVICE_FIELDS = frozenset(
    {
        "device_id",
        "type",
        "manufacturer",
        "model",
        "hardware_version",
        "firmware_version",
        "serial_number",
    }
)
MIGRATABLE_TYPES = frozenset(
    {
        DeviceType.CHF,
        DeviceType.ESME,
        DeviceType.GSME,
        DeviceType.GPF,
        DeviceType.IHD,
        DeviceType.PPMID,
        DeviceType.HCALCS,
        DeviceType.IHD_PPMID,
    }
)


_NOT_STRUCTURAL = frozenset({"missing_authorisation", "missing_schedule"})


class Mode(StrEnum):
    ACTIVE = "active"
    DORMANT = "dormant"


class RejectionCode(StrEnum):
    """Why data validation refused an installation (a record may carry several)."""

    MALFORMED = "malformed"  # not a JSON object, unknown field or wrong type
    MISSING_FIELD = "missing_field"
    MISSING_AUTHORISATION = "missing_authorisation"
    DUPLICATE_INSTALLATION = "duplicate_installation"  # installation id repeated in the file
    INVALID_MODE = "invalid_mode"
    MISSING_SCHEDULE = "missing_schedule"  # dormant without scheduled_for
    UNKNOWN_COHORT = "unknown_cohort"
    INVALID_DEVICE_ID = "invalid_device_id"
    INVALID_DEVICE_TYPE = "invalid_device_type"
    DUPLICATE_DEVICE = "duplicate_device"  # a Device ID twice in the file
    ALREADY_ENROLLED = "already_enrolled"  # in the inventory and not withdrawn
    INCOMPLETE_INSTALLATION = "incomplete_installation"  # no CHF, no meter, GSME without GPF
    INVALID_MPAN = "invalid_mpan"
    INVALID_MPRN = "invalid_mprn"
    MODEL_NOT_ON_CPL = "model_not_on_cpl"
    FIRMWARE_NOT_ON_CPL = "firmware_not_on_cpl"
    MISSING_FIRMWARE_VERSION = "missing_firmware_version"  # active installations must say
    COMBINATION_NOT_ELIGIBLE = "combination_not_eligible"
    SUPPLIER_NOT_RESPONSIBLE = "supplier_not_responsible"


@dataclass(frozen=True, slots=True)
class Rejection:
    code: RejectionCode
    detail: str

    def as_json(self) -> dict[str, str]:
        return {"code": self.code.value, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class DeviceRecord:
    device_id: Eui64
    device_type: DeviceType
    manufacturer: str
    model: str
    hardware_version: str | None = None
    firmware_version: str | None = None
    serial_number: str | None = None


@dataclass(frozen=True, slots=True)
class InstallationRecord:
    number: int  # 1-based record number in the file
    installation_id: str
    authorisation: str
    mode: Mode
    cohort: str
    devices: tuple[DeviceRecord, ...]
    mpan: str | None = None
    mprn: str | None = None
    scheduled_for: datetime | None = None

    def of_type(self, device_type: DeviceType) -> list[DeviceRecord]:
        return [d for d in self.devices if d.device_type is device_type]

    @property
    def meters(self) -> list[DeviceRecord]:
        """The devices device testing reaches: the electricity and gas meters."""
        return [d for d in self.devices if d.device_type in (DeviceType.ESME, DeviceType.GSME)]


@dataclass(frozen=True, slots=True)
class Parsed:
    """One line of the file: the record when it parsed, and what was wrong with it."""

    number: int
    record: InstallationRecord | None
    rejections: tuple[Rejection, ...]
    installation_id: str | None = None  # what the line named itself, even when invalid


def parse_line(number: int, line: str | bytes) -> Parsed:
    """Parse one line; shape errors only (the domain checks are ``validate``'s)."""
    try:
        raw = json.loads(line)
    except ValueError as exc:
        return _bad(number, RejectionCode.MALFORMED, f"not JSON: {exc}")
    if not isinstance(raw, dict):
        return _bad(number, RejectionCode.MALFORMED, "a record is a JSON object")
    reasons: list[Rejection] = []
    installation_id = raw.get("installation")
    name = installation_id if isinstance(installation_id, str) and installation_id else None
    unknown = sorted(set(raw) - RECORD_FIELDS)
    if unknown:
        reasons.append(Rejection(RejectionCode.MALFORMED, f"unknown fields {unknown}"))
    for required in ("installation", "mode", "cohort", "devices"):
        if raw.get(required) in (None, "", []):
            reasons.append(Rejection(RejectionCode.MISSING_FIELD, f"{required} is required"))
    authorisation = raw.get("authorisation")
    if not isinstance(authorisation, str) or not authorisation.strip():
        reasons.append(
            Rejection(RejectionCode.MISSING_AUTHORISATION, "no migration authorisation reference")
        )
    strings = ("installation", "authorisation", "cohort", "mpan", "mprn", "scheduled_for")
    for key in strings:
        if key in raw and raw[key] is not None and not isinstance(raw[key], str):
            reasons.append(Rejection(RejectionCode.MALFORMED, f"{key} must be a string"))
    mode = _mode(raw.get("mode"), reasons)
    scheduled_for = _instant(raw.get("scheduled_for"), reasons)
    if mode is Mode.DORMANT and scheduled_for is None:
        reasons.append(
            Rejection(RejectionCode.MISSING_SCHEDULE, "a dormant installation needs scheduled_for")
        )
    devices = _devices(raw.get("devices"), reasons)
    # A missing authorisation or schedule still leaves a record the domain checks can read.
    if any(r.code not in _NOT_STRUCTURAL for r in reasons) or mode is None:
        return Parsed(number, None, tuple(reasons), name)
    record = InstallationRecord(
        number=number,
        installation_id=str(raw["installation"]),
        authorisation=str(authorisation or ""),
        mode=mode,
        cohort=str(raw["cohort"]),
        devices=tuple(devices),
        mpan=raw.get("mpan") or None,
        mprn=raw.get("mprn") or None,
        scheduled_for=scheduled_for,
    )
    return Parsed(number, record, tuple(reasons), name)


def _bad(number: int, code: RejectionCode, detail: str) -> Parsed:
    return Parsed(number, None, (Rejection(code, detail),))


def _mode(value: object, reasons: list[Rejection]) -> Mode | None:
    if value is None:
        return None
    try:
        return Mode(str(value))
    except ValueError:
        reasons.append(
            Rejection(RejectionCode.INVALID_MODE, f"mode is active or dormant, not {value!r}")
        )
        return None


def _instant(value: object, reasons: list[Rejection]) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        reasons.append(Rejection(RejectionCode.MALFORMED, f"scheduled_for {value!r} is not ISO"))
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _devices(value: object, reasons: list[Rejection]) -> list[DeviceRecord]:
    if value is None:
        return []
    if not isinstance(value, list):
        reasons.append(Rejection(RejectionCode.MALFORMED, "devices must be a list"))
        return []
    return [d for d in (_device(i, raw, reasons) for i, raw in enumerate(value)) if d]


def _device(index: int, raw: Any, reasons: list[Rejection]) -> DeviceRecord | None:
    where = f"devices[{index}]"
    if not isinstance(raw, dict):
        reasons.append(Rejection(RejectionCode.MALFORMED, f"{where} must be an object"))
        return None
    ok = True
    unknown = sorted(set(raw) - DEVICE_FIELDS)
    if unknown:
        reasons.append(Rejection(RejectionCode.MALFORMED, f"{where}: unknown fields {unknown}"))
        ok = False
    for key in DEVICE_FIELDS:
        if key in raw and raw[key] is not None and not isinstance(raw[key], str):
            reasons.append(Rejection(RejectionCode.MALFORMED, f"{where}.{key} must be a string"))
            ok = False
    for key in ("device_id", "type", "manufacturer", "model"):
        if not raw.get(key):
            reasons.append(Rejection(RejectionCode.MISSING_FIELD, f"{where}.{key} is required"))
            ok = False
    device_id = _eui(raw.get("device_id"), where, reasons)
    device_type = _type(raw.get("type"), where, reasons)
    if not ok or device_id is None or device_type is None:
        return None
    return DeviceRecord(
        device_id,
        device_type,
        str(raw["manufacturer"]),
        str(raw["model"]),
        raw.get("hardware_version") or None,
        raw.get("firmware_version") or None,
        raw.get("serial_number") or None,
    )


def _eui(value: object, where: str, reasons: list[Rejection]) -> Eui64 | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return Eui64.parse(value)
    except ValueError:
        reasons.append(
            Rejection(RejectionCode.INVALID_DEVICE_ID, f"{where}: {value!r} is not an EUI-64")
        )
        return None


def _type(value: object, where: str, reasons: list[Rejection]) -> DeviceType | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        device_type = DeviceType(value)
    except ValueError:
        device_type = None
    if device_type not in MIGRATABLE_TYPES:
        reasons.append(
            Rejection(RejectionCode.INVALID_DEVICE_TYPE, f"{where}: no device type {value!r}")
        )
        return None
    return device_type
