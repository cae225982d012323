"""A migration test rig: a real store, a real head-end simulator over TCP, a fixed clock."""

from __future__ import annotations

import asyncio
import json
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from tests.s1sp.dco_key import DCO, OPTIONS

from opendcc.catalogue import DeviceType, UserRole
from opendcc.core.clock import FixedClock
from opendcc.core.eui import Eui64
from opendcc.inventory import CplEntry, CplStore, InventoryStore, Registration
from opendcc.inventory.cpl import parse_cpl
from opendcc.migration.lifecycle import RetryPolicy
from opendcc.migration.pipeline import LoadSummary, Migration
from opendcc.s1sp.cohorts import register_all
from opendcc.s1sp.contract import Registry
from opendcc.sim import fleet
from opendcc.sim.headends import HeadEndServer, core_for_fleet, start_headend
from opendcc.sim.headends.core import Faults

REGISTRY = register_all(Registry())
COHORT = next(p for p in REGISTRY.profiles() if p.protocol == "apdu")
MODELS = fleet.Models.of(COHORT)
SUPPLIER = Eui64.parse("90-B3-D5-1F-30-01-00-00")
T0 = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
SPARE_MODEL = "Spare E"  # an ESME model on the CPL that is in no eligible combination


def record(n: int, **options: Any) -> dict[str, Any]:
    return fleet.installation(COHORT.name, 0, n, MODELS, **options)


class Rig:
    def __init__(self, engine: Engine, directory: Path) -> None:
        self.engine = engine
        self.directory = directory
        self.clock = FixedClock(T0)
        self.inventory = InventoryStore(engine)
        self.cpl = CplStore(engine)
        entries, combinations = parse_cpl(
            tomllib.loads(fleet.cpl_document([(COHORT.name, MODELS)]))
        )
        spare = CplEntry(DeviceType.ESME, MODELS.manufacturer, SPARE_MODEL, fleet.FIRMWARE, T0)
        self.cpl.put([*entries, spare], combinations)
        self.files = 0

    def register(self, records: Iterable[Mapping[str, Any]], user: Eui64 = SUPPLIER) -> None:
        since = T0 - timedelta(days=30)
        registrations = []
        for r in records:
            if r.get("mpan"):
                registrations.append(Registration(r["mpan"], UserRole.IS, user, since))
            if r.get("mprn"):
                registrations.append(Registration(r["mprn"], UserRole.GS, user, since))
        self.inventory.register(registrations)

    def file(self, lines: Iterable[Mapping[str, Any] | str]) -> Path:
        self.files += 1
        path = self.directory / f"migration-{self.files}.jsonl"
        path.write_text(
            "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)
        )
        return path

    def migration(self, endpoint: str | None, policy: RetryPolicy | None = None) -> Migration:
        adapters = (
            {COHORT.name: REGISTRY.adapter_for(COHORT.name, endpoint, OPTIONS)} if endpoint else {}
        )
        return Migration(
            self.engine,
            self.inventory,
            self.cpl.snapshot,
            adapters,
            self.clock,
            seal=DCO.seal,
            policy=policy,
        )

    def load(self, path: Path, submitter: Eui64 = SUPPLIER) -> LoadSummary:
        return self.migration(None).load(path, submitter, [COHORT.name])


class HeadEnd:
    """The cohort's head-end simulator serving the meters of ``records``."""

    def __init__(
        self,
        records: Iterable[Mapping[str, Any]],
        faults: Mapping[str, Faults] | None = None,
        firmware: Mapping[str, str] | None = None,
        clock: FixedClock | None = None,
    ) -> None:
        versions = firmware or {}
        self.meters = [
            replace(m, firmware_version=versions.get(str(m.device_id), m.firmware_version))
            for r in records
            for m in fleet.headend_meters(r)
        ]
        self.faults = {Eui64.parse(k): v for k, v in (faults or {}).items()}
        self.clock = clock or FixedClock(T0)
        self.server: HeadEndServer | None = None

    async def __aenter__(self) -> HeadEndServer:
        core = core_for_fleet(
            COHORT, self.meters, commissioned=datetime(2020, 1, 1, tzinfo=UTC), clock=self.clock
        )
        core.meter_faults.update(self.faults)
        self.server = await start_headend(core)
        return self.server

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        await self.server.aclose()


def run(rig: Rig, headend: HeadEnd, rounds: Iterable[timedelta] = (timedelta(0),)) -> None:
    """Run the migration once per round, moving the clock by each round's delta first."""

    async def main() -> None:
        async with headend as server:
            migration = rig.migration(server.endpoint)
            try:
                for delta in rounds:
                    rig.clock.advance(delta)
                    await migration.run()
            finally:
                for adapter in migration.adapters.values():
                    await adapter.aclose()

    asyncio.run(main())
