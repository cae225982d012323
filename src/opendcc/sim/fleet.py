"""A simulated SMETS1 fleet: installations to migrate, the CPL they need, their head-end meters.

Used by the demo, the tests and the migration benchmark. Everything is derived from a cohort
profile and a sequence number, so the same arguments always give the same fleet:

- ``installation(...)``: one migration-file record (a CHF, an ESME with its MPAN and, for every
  other installation, a GSME and GPF with an MPRN);
- ``cpl_document(...)``: a CPL (Central Products List) TOML naming each cohort's models and
  their eligible combinations;
- ``headend_meters(...)``: a record's meters for its head-end simulator's ``--fleet`` file, with
  any injected fault; about one meter in eight (chosen by its EUI-64, ``prepayment``) is in
  prepayment mode with ``PREPAYMENT_BALANCE_P`` of opening credit, the rest in credit mode.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from opendcc.core.eui import Eui64
from opendcc.migration.validate import mpan_check_digit
from opendcc.s1sp.contract import CohortProfile
from opendcc.sim.headends import FleetMeter
from opendcc.sim.state import PaymentMode

FIRMWARE = "1.0"
PREPAYMENT_SHARE = 8  # one meter in this many is a prepayment meter
# Opening credit of a prepayment meter: weeks of the simulated households' use, so a meter
# commissioned weeks before the simulator starts still has its supply on.
PREPAYMENT_BALANCE_P = 50_000
_BASE = 0x00DB_1200_0000_0000  # simulated devices' EUI-64s start here
KINDS = ("CHF", "ESME", "GSME", "GPF", "IHD")


def mpan(n: int) -> str:
    """A valid 13-digit MPAN core: 12 digits from ``n`` and the check digit."""
    digits = f"19{n:010d}"
    return f"{digits}{mpan_check_digit(digits)}"


def mprn(n: int) -> str:
    return f"{7_000_000_000 + n:010d}"[-10:]


@dataclass(frozen=True, slots=True)
class Models:
    """The (manufacturer, model) of each device type in one cohort's installations."""

    manufacturer: str
    esme: str
    chf: str
    gsme: str
    gpf: str
    ihd: str

    @classmethod
    def of(cls, profile: CohortProfile) -> Models:
        esme = profile.device_models[0] if profile.device_models else "E1"
        return cls(profile.manufacturer, esme, "S1 CHF", "S1 GSME", "S1 GPF", "S1 IHD")

    def model(self, kind: str) -> str:
        return str(getattr(self, kind.lower()))

    def key(self, kind: str) -> str:
        return f"{self.manufacturer}/{self.model(kind)}"


def device_id(cohort_index: int, n: int, kind: str) -> Eui64:
    """A deterministic EUI-64 for device ``kind`` of installation ``n`` of a cohort."""
    return Eui64(_BASE + (cohort_index << 36) + n * 8 + KINDS.index(kind))


def installation(
    cohort: str,
    cohort_index: int,
    n: int,
    models: Models,
    *,
    authorisation: str = "MA-0001",
    dual_fuel: bool | None = None,
    scheduled_for: datetime | None = None,
) -> dict[str, Any]:
    """Migration record ``n`` of a cohort; dormant when ``scheduled_for`` is given."""
    gas = (n % 2 == 1) if dual_fuel is None else dual_fuel
    kinds = ["CHF", "ESME", "IHD"] + (["GSME", "GPF"] if gas else [])
    devices = [
        {
            "device_id": str(device_id(cohort_index, n, kind)),
            "type": kind,
            "manufacturer": models.manufacturer,
            "model": models.model(kind),
            "firmware_version": FIRMWARE,
            "serial_number": f"S{cohort_index}{kind}{n:08d}",
        }
        for kind in kinds
    ]
    record: dict[str, Any] = {
        "installation": f"INS-{cohort_index}-{n:08d}",
        "authorisation": authorisation,
        "mode": "dormant" if scheduled_for else "active",
        "cohort": cohort,
        "mpan": mpan(cohort_index * 100_000_000 + n),
        "devices": devices,
    }
    if gas:
        record["mprn"] = mprn(cohort_index * 100_000_000 + n)
    if scheduled_for:
        record["scheduled_for"] = scheduled_for.isoformat()
    return record


def meters_of(record: Mapping[str, Any]) -> Iterator[str]:
    """The device ids device testing will read in a record."""
    for device in record["devices"]:
        if device["type"] in ("ESME", "GSME"):
            yield str(device["device_id"])


def prepayment(device: Eui64) -> bool:
    """Whether a simulated meter is in prepayment mode: about one in ``PREPAYMENT_SHARE``."""
    digest = hashlib.sha256(b"opendcc prepayment meter " + device.to_bytes()).digest()
    return digest[0] % PREPAYMENT_SHARE == 0


def headend_meters(record: Mapping[str, Any], **faults: bool) -> Iterator[FleetMeter]:
    """The head-end's meters of a record: the ESME answers for the comms hub, the GSME for the
    gas proxy."""
    by_type = {device["type"]: Eui64.parse(device["device_id"]) for device in record["devices"]}
    for meter, alias in (("ESME", "CHF"), ("GSME", "GPF")):
        if meter in by_type:
            device = by_type[meter]
            aliases = (by_type[alias],) if alias in by_type else ()
            entry = FleetMeter(device, meter == "GSME", FIRMWARE, aliases, faults)
            if prepayment(device):
                entry = replace(
                    entry, payment_mode=PaymentMode.PREPAYMENT, balance_p=PREPAYMENT_BALANCE_P
                )
            yield entry


def cpl_document(cohorts: Iterable[tuple[str, Models]], added: str = "2026-01-01") -> str:
    """A CPL TOML: every model of every cohort at ``FIRMWARE``, and their combinations."""
    lines: list[str] = []
    for cohort, models in cohorts:
        for kind in KINDS:
            lines += [
                "[[device]]",
                f'type = "{kind}"',
                f'manufacturer = "{models.manufacturer}"',
                f'model = "{models.model(kind)}"',
                f'firmware_versions = ["{FIRMWARE}"]',
                f"added = {added}",
                "",
            ]
        for gas in (False, True):
            lines += [
                "[[combination]]",
                f'cohort = "{cohort}"',
                f'chf = "{models.key("CHF")}"',
                f'esme = "{models.key("ESME")}"',
            ]
            if gas:
                lines += [f'gsme = "{models.key("GSME")}"', f'gpf = "{models.key("GPF")}"']
            lines += [f"added = {added}", ""]
    return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class FleetFiles:
    """A fleet written to disk: what the supplier submits and what the head-end serves."""

    migration: Path  # the migration file (JSON Lines)
    headends: dict[str, Path]  # each cohort's head-end simulator --fleet file
    cpl: Path  # the CPL TOML
    records: list[dict[str, Any]]
    registrations: list[tuple[str, str, str]]  # (MPxN, role, supplier)


def write_fleet(
    directory: Path,
    cohorts: Iterable[CohortProfile],
    per_cohort: int,
    supplier: str,
    *,
    unreachable_every: int = 0,
) -> FleetFiles:
    """Write a fleet of ``per_cohort`` installations per cohort; every ``unreachable_every``-th
    installation's meters are off the WAN (0: none)."""
    records: list[dict[str, Any]] = []
    entries: dict[str, list[dict[str, Any]]] = {}
    listed = list(cohorts)
    for index, profile in enumerate(listed):
        models = Models.of(profile)
        for n in range(per_cohort):
            r = installation(profile.name, index, n, models)
            records.append(r)
            off = bool(unreachable_every) and n % unreachable_every == unreachable_every - 1
            meters = [m.to_json() for m in headend_meters(r, unreachable=off)]
            entries.setdefault(profile.name, []).extend(meters)
    files = FleetFiles(
        directory / "migration.jsonl",
        {name: directory / f"headend-{name}.jsonl" for name in entries},
        directory / "cpl.toml",
        records,
        [(r["mpan"], "IS", supplier) for r in records]
        + [(r["mprn"], "GS", supplier) for r in records if "mprn" in r],
    )
    files.migration.write_text("".join(json.dumps(r) + "\n" for r in records))
    for name, path in files.headends.items():
        path.write_text("".join(json.dumps(e) + "\n" for e in entries[name]))
    files.cpl.write_text(cpl_document((p.name, Models.of(p)) for p in listed))
    return files
