"""The CPL (Central Products List) and the SMETS1 Eligible Product Combinations.

The CPL lists the device models opendcc supports and, for each, the firmware versions that
passed assurance, with a status (Active, Cancelled, Expired, Withdrawn) and the date each was
added. A SMETS1 installation is more than its parts: the DCC must have tested the combination
of CHF (Communications Hub Function), ESME (electricity meter), GSME (gas meter) and GPF (Gas
Proxy Function) models with the comms provider (the cohort's S1SP, SMETS1 Service Provider)
before it will enrol it. Those tested combinations are the SMETS1 Eligible Product
Combinations; migration refuses an installation whose combination is not on the list.

``Cpl`` is a pure in-memory snapshot that validation reads; ``CplStore`` keeps the list in the
store and loads it from a TOML file (format in ``docs/migration.md``)::

    [[device]]
    type = "ESME"
    manufacturer = "Acme Metering"
    model = "E100"
    firmware_versions = ["2.10", "2.11"]
    added = 2026-01-15

    [[combination]]
    cohort = "acme"
    chf = "Acme Metering/H1"
    esme = "Acme Metering/E100"
    added = 2026-01-15
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, delete, insert, select

from opendcc.catalogue import DeviceType
from opendcc.inventory.status import InventoryError
from opendcc.store.tables import cpl_entries, eligible_combinations

FIRMWARE_VERSION_MAX = 8
_KEY = (
    "cohort",
    "chf_model",
    "esme_model",
    "gsme_model",
    "gpf_model",
)  # sr:FirmwareVersion maxLength


class CplStatus(StrEnum):
    """A CPL entry's status as DUIS spells it (``sr:CPLStatus``)."""

    ACTIVE = "Active"
    CANCELLED = "Cancelled"
    EXPIRED = "Expired"
    WITHDRAWN = "Withdrawn"


class InvalidCpl(InventoryError):
    """A CPL file or entry that cannot be right."""


def model_key(manufacturer: str, model: str) -> str:
    """How a device model is named in combinations: ``manufacturer/model``."""
    return f"{manufacturer}/{model}"


@dataclass(frozen=True, slots=True)
class CplEntry:
    device_type: DeviceType
    manufacturer: str
    model: str
    firmware_version: str
    added_on: datetime
    status: CplStatus = CplStatus.ACTIVE
    hardware_version: str = ""  # "" when the entry holds for any hardware version

    def __post_init__(self) -> None:
        if not 0 < len(self.firmware_version) <= FIRMWARE_VERSION_MAX:
            raise InvalidCpl(
                f"firmware version {self.firmware_version!r} must be 1-8 characters (DUIS)"
            )


@dataclass(frozen=True, slots=True)
class EligibleCombination:
    """A tested SMETS1 product combination; absent parts are ``""``."""

    cohort: str
    chf_model: str
    added_on: datetime
    esme_model: str = ""
    gsme_model: str = ""
    gpf_model: str = ""

    @property
    def key(self) -> tuple[str, str, str, str, str]:
        return (self.cohort, self.chf_model, self.esme_model, self.gsme_model, self.gpf_model)


class Cpl:
    """A snapshot of the CPL and the eligible combinations, for fast lookups."""

    def __init__(
        self, entries: Iterable[CplEntry], combinations: Iterable[EligibleCombination]
    ) -> None:
        self.entries = tuple(entries)
        self.combinations = tuple(combinations)
        self._models: dict[str, DeviceType] = {}
        self._firmware: dict[tuple[str, str], CplEntry] = {}
        for entry in self.entries:
            key = model_key(entry.manufacturer, entry.model)
            self._models[key] = entry.device_type
            self._firmware[(key, entry.firmware_version)] = entry
        self._eligible = {c.key: c for c in self.combinations}

    def model_type(self, manufacturer: str, model: str) -> DeviceType | None:
        """The device type a listed model has, or None when the model is not on the CPL."""
        return self._models.get(model_key(manufacturer, model))

    def firmware(self, manufacturer: str, model: str, version: str) -> CplEntry | None:
        return self._firmware.get((model_key(manufacturer, model), version))

    def firmware_status(self, manufacturer: str, model: str, version: str) -> CplStatus | None:
        entry = self.firmware(manufacturer, model, version)
        return None if entry is None else entry.status

    def eligible(self, combination: tuple[str, str, str, str, str]) -> EligibleCombination | None:
        """The eligible combination ``(cohort, chf, esme, gsme, gpf)``, if it was tested."""
        return self._eligible.get(combination)


class CplStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def put(
        self, entries: Iterable[CplEntry], combinations: Iterable[EligibleCombination] = ()
    ) -> None:
        """Add or replace entries and combinations."""
        entry_rows = [
            {
                "manufacturer": e.manufacturer,
                "model": e.model,
                "hardware_version": e.hardware_version,
                "firmware_version": e.firmware_version,
                "device_type": e.device_type.value,
                "status": e.status.value,
                "added_on": e.added_on,
            }
            for e in entries
        ]
        combination_rows = [
            {**dict(zip(_KEY, c.key, strict=True)), "added_on": c.added_on} for c in combinations
        ]
        with self.engine.begin() as conn:
            for row in entry_rows:
                conn.execute(
                    delete(cpl_entries)
                    .where(cpl_entries.c.manufacturer == row["manufacturer"])
                    .where(cpl_entries.c.model == row["model"])
                    .where(cpl_entries.c.hardware_version == row["hardware_version"])
                    .where(cpl_entries.c.firmware_version == row["firmware_version"])
                )
            if entry_rows:
                conn.execute(insert(cpl_entries), entry_rows)
            for combination in combination_rows:
                conn.execute(
                    delete(eligible_combinations).where(
                        *(eligible_combinations.c[name] == combination[name] for name in _KEY)
                    )
                )
            if combination_rows:
                conn.execute(insert(eligible_combinations), combination_rows)

    def set_status(self, manufacturer: str, model: str, version: str, status: CplStatus) -> None:
        snapshot = self.snapshot()
        entry = snapshot.firmware(manufacturer, model, version)
        if entry is None:
            raise InvalidCpl(f"{model_key(manufacturer, model)} {version} is not on the CPL")
        self.put([replace(entry, status=status)])

    def snapshot(self) -> Cpl:
        with self.engine.connect() as conn:
            entries = [
                CplEntry(
                    DeviceType(row.device_type),
                    row.manufacturer,
                    row.model,
                    row.firmware_version,
                    row.added_on,
                    CplStatus(row.status),
                    row.hardware_version,
                )
                for row in conn.execute(select(cpl_entries))
            ]
            combinations = [
                EligibleCombination(
                    row.cohort,
                    row.chf_model,
                    row.added_on,
                    row.esme_model,
                    row.gsme_model,
                    row.gpf_model,
                )
                for row in conn.execute(select(eligible_combinations))
            ]
        return Cpl(entries, combinations)

    def load_file(self, path: Path) -> tuple[int, int]:
        """Load a CPL TOML file; returns (entries, combinations) loaded."""
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise InvalidCpl(f"{path}: {exc}") from exc
        entries, combinations = parse_cpl(raw)
        self.put(entries, combinations)
        return len(entries), len(combinations)


def parse_cpl(raw: Mapping[str, Any]) -> tuple[list[CplEntry], list[EligibleCombination]]:
    """Entries and combinations from a parsed CPL TOML document."""
    try:
        entries = [
            CplEntry(
                DeviceType(str(d["type"])),
                str(d["manufacturer"]),
                str(d["model"]),
                str(version),
                _instant(d.get("added")),
                CplStatus(str(d.get("status", "Active"))),
                str(d.get("hardware_version", "")),
            )
            for d in raw.get("device", [])
            for version in d["firmware_versions"]
        ]
        combinations = [
            EligibleCombination(
                str(c["cohort"]),
                str(c["chf"]),
                _instant(c.get("added")),
                str(c.get("esme", "")),
                str(c.get("gsme", "")),
                str(c.get("gpf", "")),
            )
            for c in raw.get("combination", [])
        ]
    except (KeyError, ValueError, TypeError) as exc:
        raise InvalidCpl(f"not a valid CPL document: {exc!r}") from exc
    return entries, combinations


def _instant(value: object) -> datetime:
    if value is None:
        return datetime(2020, 1, 1, tzinfo=UTC)
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
