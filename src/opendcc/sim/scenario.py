"""A small estate to run the hub against: the demo's, the end-to-end tests' and the benchmark's.

Two Users from the ZAZ1 test PKI (DCC Boxed's: test use only) — an import supplier and an
electricity distributor — a handful of SMETS1 electricity meters behind one cohort's head-end
simulator, and the registration data that makes the supplier responsible for most of them.
Some devices exist to be refused: one not yet commissioned (E5), one comms hub (E11), one whose
metering point belongs to another supplier (E4).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from opendcc.core.eui import Eui64

SUPPLIER = Eui64.parse("90-B3-D5-1F-30-01-00-00")
NETWORK_OPERATOR = Eui64.parse("90-B3-D5-1F-30-02-00-00")
OTHER_SUPPLIER = Eui64.parse("90-B3-D5-1F-30-03-00-00")
UNREGISTERED = Eui64.parse("00-DB-12-34-56-78-00-04")  # in the SMKI repository, not a User

SUPPLIER_KEY = "xml-sign-90B3D51F30010000-ds"
NETWORK_OPERATOR_KEY = "xml-sign-90B3D51F30020000-ds"
UNREGISTERED_KEY = "xml-sign-00DB123456780004-ds"
DSP_KEY = "dsp-xml-sign-90B3D51F30000002-ds"
S1SP_KEY = "xml-sign-00DB123456780004-ds"  # stands in for the S1SP's own signing key


@dataclass(frozen=True, slots=True)
class Meter:
    device_id: Eui64
    device_type: str
    status: str
    mpxn: str | None
    supplier: Eui64 | None


METERS = tuple(
    Meter(
        Eui64.parse(f"00-DB-12-34-56-78-90-{n:02X}"),
        "ESME",
        "commissioned",
        f"1900000000{n:03d}",
        SUPPLIER,
    )
    for n in range(0xA0, 0xA8)
)
NOT_COMMISSIONED = Meter(
    Eui64.parse("00-DB-12-34-56-78-91-00"),
    "ESME",
    "installed_not_commissioned",
    "1900000000100",
    SUPPLIER,
)
COMMS_HUB = Meter(Eui64.parse("00-DB-12-34-56-78-92-00"), "CHF", "commissioned", None, None)
OTHERS_METER = Meter(
    Eui64.parse("00-DB-12-34-56-78-93-00"), "ESME", "commissioned", "1900000000300", OTHER_SUPPLIER
)
UNKNOWN_DEVICE = Eui64.parse("00-DB-12-34-56-78-99-99")
DEVICES = (*METERS, NOT_COMMISSIONED, COMMS_HUB, OTHERS_METER)


def headend_meters() -> list[Eui64]:
    """The devices the head-end simulator holds."""
    return [m.device_id for m in DEVICES if m.device_type == "ESME"]


def _certificates(xml_signing: Path, gbcs: Path | None) -> list[str]:
    return [str(xml_signing)] + ([str(gbcs)] if gbcs is not None else [])


def write_config(
    path: Path,
    *,
    keys: Path,
    cohort: str,
    headend: str,
    callback_url: str,
    database_url: str,
    port: int = 8079,
    xsd: Path | None = None,
    anomaly_max: int = 3,
    cpl: Path | None = None,
    registrations: Iterable[tuple[str, str, str]] = (),  # (MPxN, role, User ID)
    extra: str = "",  # more TOML, appended
    response_time_scale: float = 1.0,
    gbcs_certificate: Path | None = None,  # the supplier's GBCS digital-signing certificate
    broker_url: str | None = None,  # scale mode: RabbitMQ carries the jobs
    supplier_roles: Iterable[str] = ("IS", "GS"),
    operator_roles: Iterable[str] = ("ED",),
) -> Path:
    """Write the hub's TOML configuration for this estate (TOML written as JSON values)."""

    def q(value: object) -> str:
        return json.dumps(str(value))

    lines = [
        "[hub]",
        f"database_url = {q(database_url)}",
        'host = "127.0.0.1"',
        f"port = {port}",
        f"dsp_key = {q(keys / f'{DSP_KEY}.key')}",
        f"dsp_certificate = {q(keys / f'{DSP_KEY}.pem')}",
        f"s1sp_key = {q(keys / f'{S1SP_KEY}.key')}",
        f"s1sp_certificate = {q(keys / f'{S1SP_KEY}.pem')}",
        f"smki_repository = {q(keys)}",
        f"response_time_scale = {response_time_scale}",
    ]
    if xsd is not None:
        lines.append(f"xsd = {q(xsd)}")
    if broker_url is not None:
        lines.append(f"broker_url = {q(broker_url)}")
    lines += ["", "[[s1sp]]", f"cohort = {q(cohort)}", f"endpoint = {q(headend)}", ""]
    for user, roles, key, gbcs in (
        (SUPPLIER, list(supplier_roles), SUPPLIER_KEY, gbcs_certificate),
        (NETWORK_OPERATOR, list(operator_roles), NETWORK_OPERATOR_KEY, None),
    ):
        lines += [
            "[[users]]",
            f"id = {q(user)}",
            f"roles = {json.dumps(roles)}",
            f"callback_url = {q(callback_url)}",
            f"certificates = {json.dumps(_certificates(keys / f'{key}.pem', gbcs))}",
        ]
        if user == NETWORK_OPERATOR:
            lines += [
                "[[users.anomaly_thresholds]]",
                'srv = "4.1.1"',
                f"max_requests = {anomaly_max}",
                "window_seconds = 3600",
            ]
        lines.append("")
    for meter in DEVICES:
        lines += [
            "[[devices]]",
            f"id = {q(meter.device_id)}",
            f"type = {q(meter.device_type)}",
            f"status = {q(meter.status)}",
            'manufacturer = "Simulated"',
            'model = "S1-ESME"',
            'firmware_version = "1.0.0"',
            f"cohort = {q(cohort)}",
        ]
        if meter.mpxn:
            lines.append(f"mpxn = {q(meter.mpxn)}")
        lines.append("")
    for meter in DEVICES:
        if meter.mpxn and meter.supplier:
            for role, user in (("IS", meter.supplier), ("ED", NETWORK_OPERATOR)):
                lines += [
                    "[[registrations]]",
                    f"mpxn = {q(meter.mpxn)}",
                    f"role = {q(role)}",
                    f"user = {q(user)}",
                    'from = "2020-01-01T00:00:00+00:00"',
                    "",
                ]
    for mpxn, role, holder in registrations:
        lines += [
            "[[registrations]]",
            f"mpxn = {q(mpxn)}",
            f"role = {q(role)}",
            f"user = {q(holder)}",
            'from = "2020-01-01T00:00:00+00:00"',
            "",
        ]
    if cpl is not None:
        lines += ["[inventory]", f"cpl = {q(cpl)}", ""]
    path.write_text("\n".join(lines) + extra, encoding="utf-8")
    return path
