"""Migration benchmark: validation and loading, the full pipeline, and SRV 8.2 at scale.

    make bench-migration                     # defaults: a quick run
    python benchmarks/migration.py --validate 1000000 --pipeline 100000 --inventory 10000000

1. **Validation and loading**: a realistic fleet file (half the installations dual fuel:
   CHF, ESME, IHD and GSME + GPF) is validated and loaded into a fresh SQLite store, with the
   CPL and the registration data in place. Reports installations/s and devices/s.
2. **Full pipeline**: the same through device testing and commissioning, against each cohort's
   head-end simulator as a separate process over its wire protocol (WAN latency zero). The
   fleet is the first registered cohort's; ``--cohorts N`` shares it among the first N.
3. **SRV 8.2 Read Inventory** with N devices in the inventory: p50/p99 of the DSP's inventory
   search and DSPInventory build (by Device ID and by MPxN), in process, cold cache. The rest of
   the front door's cost for any request (signature check, signed answer, audit) is measured by
   ``benchmarks/front_door.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from opendcc.catalogue import UserRole  # noqa: E402
from opendcc.core.clock import SystemClock  # noqa: E402
from opendcc.core.eui import Eui64  # noqa: E402
from opendcc.inventory import CplStore, InventoryStore, Registration  # noqa: E402
from opendcc.migration.pipeline import Migration  # noqa: E402
from opendcc.s1sp.cohorts import register_all  # noqa: E402
from opendcc.s1sp.contract import (  # noqa: E402
    AdapterOptions,
    Instruction,
    Registry,
    S1spAdapter,
    Sealed,
)
from opendcc.sim import fleet  # noqa: E402
from opendcc.sim.processes import HeadEndProcess  # noqa: E402
from opendcc.store import create_engine_for, upgrade  # noqa: E402

SUPPLIER = Eui64.parse("90-B3-D5-1F-30-01-00-00")
REGISTRY = register_all(Registry())


class Dco:
    """The DCO's part in migration: it seals the DCC's own device tests; adapters trust its key."""

    def __init__(self) -> None:
        self._key = ec.generate_private_key(ec.SECP256R1())
        self.options = AdapterOptions(dco_key=self._key.public_key())

    def seal(self, instruction: Instruction) -> Sealed:
        return Sealed(
            instruction, self._key.sign(instruction.canonical(), ec.ECDSA(hashes.SHA256()))
        )


DCO = Dco()


def say(text: str) -> None:
    print(text, flush=True)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def prepare(
    directory: Path, count: int, *, headend: bool, cohorts: int = 1
) -> tuple[Path, fleet.FleetFiles]:
    """A fresh store with the CPL and registration data for a fleet of ``count`` installations,
    shared equally by the first ``cohorts`` registered cohorts."""
    started = time.perf_counter()
    profiles = REGISTRY.profiles()[:cohorts]
    files = fleet.write_fleet(directory, profiles, count // len(profiles), str(SUPPLIER))
    count = len(files.records)
    say(
        f"  wrote {count:,} installations ({files.migration.stat().st_size / 1e6:,.0f} MB)"
        f" in {time.perf_counter() - started:.1f} s"
    )
    database = directory / "bench.db"
    engine = create_engine_for(f"sqlite:///{database}")
    upgrade(engine)
    CplStore(engine).load_file(files.cpl)
    since = datetime(2020, 1, 1, tzinfo=UTC)
    InventoryStore(engine).register(
        Registration(mpxn, UserRole(role), SUPPLIER, since) for mpxn, role, _ in files.registrations
    )
    engine.dispose()
    if not headend:
        for path in files.headends.values():
            path.unlink()
    return database, files


def bench_validation(count: int) -> None:
    say(f"\n1. Validation and loading: {count:,} installations")
    with tempfile.TemporaryDirectory(prefix="opendcc-bench-") as tmp:
        database, files = prepare(Path(tmp), count, headend=False)
        migration = _migration(database, {})
        devices = sum(len(r["devices"]) for r in files.records)
        started = time.perf_counter()
        summary = migration.load(files.migration, SUPPLIER, [REGISTRY.profiles()[0].name])
        elapsed = time.perf_counter() - started
        assert summary.accepted == count, summary
        say(
            f"  validated and loaded in {elapsed:.1f} s: {count / elapsed:,.0f} installations/s,"
            f" {devices / elapsed:,.0f} devices/s"
        )
        meters = sum(1 for r in files.records for _ in fleet.meters_of(r))
        hours = 15e6 / (meters / elapsed) / 3600
        say(f"  the GB SMETS1 fleet (15 million meters) at this rate: {hours:,.1f} hours")


def bench_pipeline(count: int, cohorts: int) -> None:
    say(
        f"\n2. Full pipeline through the head-end simulators: {count:,} installations"
        f" of {cohorts} cohort(s)"
    )
    with tempfile.TemporaryDirectory(prefix="opendcc-bench-") as tmp:
        database, files = prepare(Path(tmp), count, headend=True, cohorts=cohorts)
        count = len(files.records)
        started = time.perf_counter()
        headends: list[HeadEndProcess] = []
        try:
            for cohort, path in files.headends.items():
                headends.append(HeadEndProcess(cohort, fleet=path))
            say(
                f"  {len(headends)} head-end simulator(s) up with their meters"
                f" in {time.perf_counter() - started:.1f} s"
            )
            adapters = {
                h.cohort: REGISTRY.adapter_for(h.cohort, h.endpoint, DCO.options) for h in headends
            }
            migration = _migration(database, adapters)
            started = time.perf_counter()
            migration.load(files.migration, SUPPLIER, list(adapters))
            loaded = time.perf_counter() - started

            async def run() -> int:
                try:
                    return await migration.run()
                finally:
                    for adapter in adapters.values():
                        await adapter.aclose()

            handled = asyncio.run(run())
            elapsed = time.perf_counter() - started
            commissioned = _count(database, "commissioned")
            say(
                f"  loaded in {loaded:.1f} s; tested and commissioned {commissioned:,}"
                f" (of {handled:,} handled) in {elapsed - loaded:.1f} s more"
            )
            say(f"  end to end: {count / elapsed:,.0f} installations/s")
        finally:
            for headend in headends:
                headend.stop()


def _count(database: Path, state: str) -> int:
    with sqlite3.connect(database) as conn:
        (n,) = conn.execute(
            "SELECT count(*) FROM migration_installations WHERE state = ?", (state,)
        ).fetchone()
    return int(n)


def _migration(database: Path, adapters: Mapping[str, S1spAdapter]) -> Migration:
    engine = create_engine_for(f"sqlite:///{database}")
    cpl = CplStore(engine)
    snapshot = cpl.snapshot()
    return Migration(
        engine,
        InventoryStore(engine),
        lambda: snapshot,
        adapters,
        SystemClock(),
        seal=DCO.seal,
        concurrency=512,
        chunk=2_000,
    )


def bench_inventory(count: int, lookups: int) -> None:
    from opendcc.dsp.inventory_read import InventoryReader

    say(f"\n3. SRV 8.2 with {count:,} devices in the inventory")
    with tempfile.TemporaryDirectory(prefix="opendcc-bench-") as tmp:
        database = Path(tmp) / "inventory.db"
        engine = create_engine_for(f"sqlite:///{database}")
        upgrade(engine)
        engine.dispose()
        started = time.perf_counter()
        _fill(database, count)
        say(f"  {count:,} devices inserted in {time.perf_counter() - started:.1f} s")
        engine = create_engine_for(f"sqlite:///{database}")
        reader = InventoryReader(InventoryStore(engine), CplStore(engine).snapshot, {})
        rng = random.Random(7)
        by_id = [
            _search(f"<sr:DeviceID>{_eui(rng.randrange(count))}</sr:DeviceID>")
            for _ in range(lookups)
        ]
        by_mpxn = [
            _search(f"<sr:MPxN>{fleet.mpan(rng.randrange(count // 4))}</sr:MPxN>")
            for _ in range(lookups)
        ]
        for name, requests in (("by Device ID", by_id), ("by MPxN", by_mpxn)):
            timings = _time_each(reader.read, requests)
            say(
                f"  inventory search {name}: p50 {percentile(timings, 0.5):.3f} ms,"
                f" p99 {percentile(timings, 0.99):.3f} ms ({len(timings):,} lookups)"
            )
        engine.dispose()


def _eui(n: int) -> str:
    return str(Eui64(0x00DB_1300_0000_0000 + n))


def _fill(database: Path, count: int) -> None:
    """Insert ``count`` commissioned devices, four per metering point (as migration would)."""
    now = "2026-01-01 00:00:00.000000"
    kinds = ("CHF", "ESME", "IHD", "GSME")
    with sqlite3.connect(database) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=OFF")
        rows = (
            (
                _eui(n),
                kinds[n % 4],
                "commissioned",
                "bench",
                fleet.mpan(n // 4),
                "Acme",
                "E1",
                "1.0",
                now,
                "SMETS1",
                f"S{n}",
                now,
                now,
            )
            for n in range(count)
        )
        conn.executemany(
            "INSERT INTO devices (device_id, device_type, smi_status, cohort, mpxn, manufacturer,"
            " model, firmware_version, created_at, smets_generation, serial_number,"
            " status_since, commissioned_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            rows,
        )


def _search(criterion: str) -> object:
    from opendcc.duis.request import parse_request
    from opendcc.sim.user import BODIES, REQUEST

    text = REQUEST.format(
        request_id=f"{SUPPLIER}:90-B3-D5-1F-30-00-00-02:1",
        cv=8,
        sr="8.2",
        srv="8.2",
        body=BODIES["8.2"].format(target="X").replace("<sr:DeviceID>X</sr:DeviceID>", criterion),
    )
    return parse_request(text.encode())


def _time_each(call: Callable[[object], object], items: list[object]) -> list[float]:
    timings = []
    for item in items:
        started = time.perf_counter()
        call(item)
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--validate", type=int, default=100_000, help="installations")
    parser.add_argument("--pipeline", type=int, default=20_000, help="installations")
    parser.add_argument(
        "--cohorts", type=int, default=1, help="pipeline: over this many cohorts' head-ends"
    )
    parser.add_argument("--inventory", type=int, default=1_000_000, help="devices")
    parser.add_argument("--lookups", type=int, default=5_000)
    args = parser.parse_args()
    say("opendcc migration benchmark (SQLite, WAL, synchronous=FULL; one process each)")
    if args.validate:
        bench_validation(args.validate)
    if args.pipeline:
        bench_pipeline(args.pipeline, args.cohorts)
    if args.inventory:
        bench_inventory(args.inventory, args.lookups)


if __name__ == "__main__":
    main()
