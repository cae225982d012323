"""Data validation of migration records: every reason an installation cannot be migrated.

The checks, all applied so that a supplier sees every problem of a record at once:

- the record parses (``records.parse_line``) and its cohort is one opendcc serves;
- the installation is complete: exactly one CHF (Communications Hub Function), at least one
  meter, at most one ESME (electricity meter) and one GSME (gas meter), and a GSME has its GPF
  (Gas Proxy Function);
- an ESME comes with a valid MPAN (13 digits, check digit right), a GSME with a valid MPRN
  (6 to 10 digits);
- no Device ID or installation appears twice in the file, and no device is already enrolled
  (in the inventory and not Withdrawn);
- every CHF, ESME, GSME and GPF model is on the CPL (Central Products List) with that device
  type, and its firmware version is on the CPL and Active; active installations must state
  firmware versions, dormant ones may leave them to device testing;
- the model combination with the cohort is a SMETS1 Eligible Product Combination;
- the submitting supplier is the registered import supplier of the MPAN and the gas supplier
  of the MPRN at the moment of submission (the migration authorisation is theirs to give).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from opendcc.catalogue import DeviceType, UserRole
from opendcc.core.eui import Eui64
from opendcc.inventory.cpl import Cpl, CplStatus, model_key
from opendcc.inventory.status import SmiStatus
from opendcc.migration.records import (
    DeviceRecord,
    InstallationRecord,
    Mode,
    Parsed,
    Rejection,
    RejectionCode,
)

CPL_TYPES = frozenset({DeviceType.CHF, DeviceType.ESME, DeviceType.GSME, DeviceType.GPF})
_MPAN_WEIGHTS = (3, 5, 7, 13, 17, 19, 23, 29, 31, 37, 41, 43)


def mpan_check_digit(first12: str) -> int:
    """The check digit of an MPAN core's first 12 digits."""
    return sum(int(d) * w for d, w in zip(first12, _MPAN_WEIGHTS, strict=True)) % 11 % 10


def mpan_valid(mpan: str) -> bool:
    """A 13-digit MPAN core whose last digit is its check digit."""
    if len(mpan) != 13 or not mpan.isascii() or not mpan.isdigit():
        return False
    return mpan_check_digit(mpan[:12]) == int(mpan[12])


def mprn_valid(mprn: str) -> bool:
    return 6 <= len(mprn) <= 10 and mprn.isascii() and mprn.isdigit()


@dataclass(frozen=True, slots=True)
class Context:
    """What validation needs to know beyond the record itself."""

    submitter: Eui64
    cpl: Cpl
    cohorts: Collection[str]
    enrolled: Mapping[Eui64, SmiStatus]  # the inventory status of the records' devices
    suppliers: Mapping[tuple[str, UserRole], Eui64]  # (MPxN, role) -> registered supplier


@dataclass(slots=True)
class Seen:
    """Installations and devices already met earlier in the same file."""

    installations: set[str] = field(default_factory=set)
    devices: set[int] = field(default_factory=set)


def validate(parsed: Parsed, context: Context, seen: Seen) -> list[Rejection]:
    """Every reason ``parsed`` cannot be migrated; empty when it can. Updates ``seen``."""
    reasons = list(parsed.rejections)
    if parsed.installation_id is not None:
        if parsed.installation_id in seen.installations:
            reasons.append(
                Rejection(
                    RejectionCode.DUPLICATE_INSTALLATION,
                    f"installation {parsed.installation_id} appears earlier in the file",
                )
            )
        seen.installations.add(parsed.installation_id)
    record = parsed.record
    if record is None:
        return reasons
    if record.cohort not in context.cohorts:
        reasons.append(Rejection(RejectionCode.UNKNOWN_COHORT, f"no S1SP cohort {record.cohort!r}"))
    reasons += _composition(record)
    reasons += _metering_points(record)
    reasons += _uniqueness(record, context, seen)
    reasons += _cpl(record, context.cpl)
    reasons += _responsibility(record, context)
    return reasons


def combination_of(record: InstallationRecord) -> tuple[str, str, str, str, str]:
    def model(device_type: DeviceType) -> str:
        found = record.of_type(device_type)
        return model_key(found[0].manufacturer, found[0].model) if found else ""

    return (
        record.cohort,
        model(DeviceType.CHF),
        model(DeviceType.ESME),
        model(DeviceType.GSME),
        model(DeviceType.GPF),
    )


def _composition(record: InstallationRecord) -> list[Rejection]:
    problems = []
    count = Counter(d.device_type for d in record.devices)
    if count[DeviceType.CHF] != 1:
        problems.append(f"{count[DeviceType.CHF]} comms hubs (CHF), not one")
    if not record.meters:
        problems.append("no meter (ESME or GSME)")
    for meter in (DeviceType.ESME, DeviceType.GSME):
        if count[meter] > 1:
            problems.append(f"{count[meter]} of type {meter}, at most one")
    if count[DeviceType.GSME] and count[DeviceType.GPF] != 1:
        problems.append("a GSME needs exactly one GPF")
    return [Rejection(RejectionCode.INCOMPLETE_INSTALLATION, p) for p in problems]


def _metering_points(record: InstallationRecord) -> list[Rejection]:
    reasons = []
    has_esme = bool(record.of_type(DeviceType.ESME))
    has_gsme = bool(record.of_type(DeviceType.GSME))
    if (has_esme or record.mpan) and not (record.mpan and mpan_valid(record.mpan)):
        reasons.append(
            Rejection(RejectionCode.INVALID_MPAN, f"MPAN {record.mpan!r} is not a valid MPAN")
        )
    if (has_gsme or record.mprn) and not (record.mprn and mprn_valid(record.mprn)):
        reasons.append(
            Rejection(RejectionCode.INVALID_MPRN, f"MPRN {record.mprn!r} is not a valid MPRN")
        )
    return reasons


def _uniqueness(record: InstallationRecord, context: Context, seen: Seen) -> list[Rejection]:
    reasons = []
    for device in record.devices:
        key = device.device_id.value
        if key in seen.devices:
            reasons.append(
                Rejection(
                    RejectionCode.DUPLICATE_DEVICE,
                    f"device {device.device_id} appears earlier in the file",
                )
            )
        seen.devices.add(key)
        status = context.enrolled.get(device.device_id)
        if status is not None and status is not SmiStatus.WITHDRAWN:
            reasons.append(
                Rejection(
                    RejectionCode.ALREADY_ENROLLED,
                    f"device {device.device_id} is already in the inventory ({status})",
                )
            )
    return reasons


def _cpl(record: InstallationRecord, cpl: Cpl) -> list[Rejection]:
    reasons = []
    for device in record.devices:
        if device.device_type in CPL_TYPES:
            reasons += _device_on_cpl(device, record.mode, cpl)
    combination = combination_of(record)
    if not reasons and cpl.eligible(combination) is None:
        cohort, *models = combination
        listed = " + ".join(m for m in models if m)
        reasons.append(
            Rejection(
                RejectionCode.COMBINATION_NOT_ELIGIBLE,
                f"{listed} with S1SP {cohort} is not a SMETS1 Eligible Product Combination",
            )
        )
    return reasons


def _device_on_cpl(device: DeviceRecord, mode: Mode, cpl: Cpl) -> list[Rejection]:
    name = model_key(device.manufacturer, device.model)
    listed_type = cpl.model_type(device.manufacturer, device.model)
    if listed_type is not device.device_type:
        return [
            Rejection(
                RejectionCode.MODEL_NOT_ON_CPL,
                f"{device.device_type} model {name} is not on the CPL",
            )
        ]
    version = device.firmware_version
    if version is None:
        if mode is Mode.ACTIVE:
            return [
                Rejection(
                    RejectionCode.MISSING_FIRMWARE_VERSION,
                    f"device {device.device_id}: an active installation states firmware versions",
                )
            ]
        return []
    status = cpl.firmware_status(device.manufacturer, device.model, version)
    if status is not CplStatus.ACTIVE:
        state = "not on the CPL" if status is None else f"{status} on the CPL"
        return [
            Rejection(RejectionCode.FIRMWARE_NOT_ON_CPL, f"{name} firmware {version} is {state}")
        ]
    return []


def _responsibility(record: InstallationRecord, context: Context) -> list[Rejection]:
    reasons = []
    for meter_type, mpxn, role in (
        (DeviceType.ESME, record.mpan, UserRole.IS),
        (DeviceType.GSME, record.mprn, UserRole.GS),
    ):
        if not record.of_type(meter_type) or not mpxn:
            continue
        holder = context.suppliers.get((mpxn, role))
        if holder != context.submitter:
            reasons.append(
                Rejection(
                    RejectionCode.SUPPLIER_NOT_RESPONSIBLE,
                    f"{context.submitter} is not the registered {role} for {mpxn}",
                )
            )
    return reasons
