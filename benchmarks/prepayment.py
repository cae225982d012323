"""Prepayment benchmark: UTRN issuance per algorithm, and top-up latency alone and under a read
backlog, with the WAN at zero and realistic.

1. **Issuance**: UTRNs per second per algorithm on one core (``benchmarks/utrn.py``), and the
   hub's own issuing (algorithm + ledger row, one SQLite transaction each).
2. **Top-ups** through the running hub (``python -m opendcc serve`` on SQLite) and one
   simulated head-end process per cohort. Three cohorts (landis, secure, edmi: one per
   protocol) hold the prepayment meters topped up; the other three (aclara, elster, itron) hold
   the meters the bulk reads go to. Each top-up is timed from the request to the moment the
   hub knows the meter has credited it:

   - **one-step**: ``POST /utrn/v1/utrns`` with ``route: one-step``; its 201 answer (state
     ``applied``) comes once the meter has taken the token;
   - **two-step**: a UTRN issued first (untimed), then DUIS SRV 2.2 Top Up Device, timed from
     its POST to the signed Response (I0) at the supplier's callback.

   **Alone**: nothing else runs. **Under backlog**: ``--read-lanes`` closed loops keep posting
   SRV 4.1.1 reads to the bulk meters (one POST at a time, shared with the 2.2s: the supplier's
   counters must arrive in order), whose head-ends add ``--bulk-latency-ms`` (a congested WAN;
   their WAN is realistic in the realistic mode) while the hub runs ``--workers`` workers, so
   the reads queue: the normal read load the hub drains is about (workers - priority workers) /
   bulk latency per second, and top-ups start once the job queue holds ten times that. The job
   queue's depth is sampled at every top-up and reported.

Run with ``make bench-prepayment``:

    .venv/bin/python benchmarks/prepayment.py [--quick] [--top-ups 40] [--modes zero,realistic]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
from rich.table import Table

from cohorts import (
    KEYS,
    PROFILES,
    Callbacks,
    CohortFleet,
    CohortRun,
    Sender,
    console,
    drain,
    pct,
    response_code,
    say,
    write_config,
)
from opendcc.catalogue import DeviceType, UserRole
from opendcc.core.clock import FixedClock
from opendcc.core.eui import Eui64
from opendcc.inventory import Device, InventoryStore, Registration, SmiStatus
from opendcc.prepayment.keys import CohortKeys
from opendcc.prepayment.registers import Kind, Principal, Registers
from opendcc.prepayment.service import TopUps
from opendcc.sim import fleet, scenario
from opendcc.sim.processes import HeadEndProcess, HubProcess, free_port
from opendcc.sim.user import SimulatedUser
from opendcc.smki import SigningCredentials
from opendcc.store import create_engine_for, upgrade
from utrn import issuance_rates

MODES = ("zero", "realistic")
TOP_UP_COHORTS = ("landis", "secure", "edmi")
OPENING_BALANCE_P = 5000
TOP_UP_P = 500


# --------------------------------------------------------------------------- the estate


def write_fleet(directory: Path, per_cohort: int) -> list[CohortFleet]:
    """``per_cohort`` ESMEs per cohort: prepayment meters in the top-up cohorts, credit meters
    (for the bulk reads) in the others."""
    found = []
    for index, profile in enumerate(PROFILES):
        models = fleet.Models.of(profile)
        records = [
            fleet.installation(profile.name, index, n, models, dual_fuel=False)
            for n in range(per_cohort + 1)
        ]
        prepay = profile.name in TOP_UP_COHORTS
        lines = []
        for record in records:
            for meter in fleet.headend_meters(record):
                line = meter.to_json()
                if prepay and line.get("type", "ESME") == "ESME":
                    line |= {"payment_mode": "prepayment", "balance_p": OPENING_BALANCE_P}
                lines.append(json.dumps(line) + "\n")
        path = directory / f"headend-{index}.jsonl"
        path.write_text("".join(lines))
        esmes = [
            Eui64.parse(next(d["device_id"] for d in r["devices"] if d["type"] == "ESME"))
            for r in records
        ]
        mpans = tuple(r["mpan"] for r in records)
        found.append(CohortFleet(profile, tuple(esmes[:-1]), esmes[-1], mpans, path))
    return found


def with_hub_settings(config: Path, workers: int, priority_workers: int) -> None:
    text = config.read_text()
    config.write_text(
        text.replace(
            "[hub]\n", f"[hub]\nworkers = {workers}\npriority_workers = {priority_workers}\n", 1
        )
    )


# --------------------------------------------------------------------------- issuance


def hub_issuance(directory: Path, count: int) -> float:
    """The hub's own issuing, algorithm and ledger row, on SQLite: tokens per second."""
    engine = create_engine_for(f"sqlite:///{directory / 'issuance.db'}")
    upgrade(engine)
    now = datetime.now(UTC)
    supplier = scenario.SUPPLIER
    inventory = InventoryStore(engine)
    meters = [Eui64(0x00DB_1000_0000_0000 + i) for i in range(100)]
    inventory.put_devices(
        [
            Device(m, DeviceType.ESME, SmiStatus.COMMISSIONED, "x", "y", "landis", f"19{i:011d}")
            for i, m in enumerate(meters)
        ],
        now,
    )
    inventory.register(
        [Registration(f"19{i:011d}", UserRole.IS, supplier, now) for i in range(len(meters))]
    )
    service = TopUps(
        engine=engine,
        clock=FixedClock(now),
        inventory=inventory,
        profiles={p.name: p for p in PROFILES},
        keys=CohortKeys,
    )
    principal = Principal(str(supplier), Kind.SUPPLIER)
    targets = [service.target(principal, device=str(m)) for m in meters]
    started = time.perf_counter()
    for i in range(count):
        service.issue(principal, targets[i % len(targets)], TOP_UP_P)
    elapsed = time.perf_counter() - started
    engine.dispose()
    return count / elapsed


# --------------------------------------------------------------------------- top-ups


@dataclass
class Phase:
    one_step: list[float] = field(default_factory=list)
    two_step: list[float] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)
    backlog: list[int] = field(default_factory=list)  # jobs queued, sampled at each top-up


@dataclass
class Estate:
    hub: HubProcess
    http: httpx.AsyncClient
    sender: Sender
    callbacks: Callbacks
    key: str
    topup_meters: list[Eui64]
    bulk_meters: list[Eui64]


async def queued(estate: Estate) -> int:
    answer = await estate.http.get(f"{estate.hub.url}/health")
    return int(answer.json()["jobs"])


async def one_step(estate: Estate, device: Eui64, phase: Phase) -> None:
    started = time.monotonic()
    answer = await estate.http.post(
        f"{estate.hub.url}/utrn/v1/utrns",
        json={"device": str(device), "amount_p": TOP_UP_P, "route": "one-step", "wait_s": 60},
        headers={"Authorization": f"Bearer {estate.key}"},
    )
    elapsed = time.monotonic() - started
    state = answer.json().get("state", f"HTTP {answer.status_code}")
    phase.outcomes[f"one-step {state}"] += 1
    if state == "applied":
        phase.one_step.append(elapsed)


async def two_step(estate: Estate, device: Eui64, phase: Phase) -> None:
    issued = await estate.http.post(
        f"{estate.hub.url}/utrn/v1/utrns",
        json={"device": str(device), "amount_p": TOP_UP_P},
        headers={"Authorization": f"Bearer {estate.key}"},
    )
    utrn = issued.json()["utrn"]
    user = estate.sender.user
    body = f"<sr:TopUpDevice><sr:UTRN>{utrn}</sr:UTRN></sr:TopUpDevice>"
    async with estate.sender._posting:  # the supplier's POSTs go one at a time, in order
        counter = user.next_counter()
        request = user.request("2.2", device, counter=counter, body=body)
        started = time.monotonic()
        answer = await estate.http.post(
            f"{estate.hub.url}/api/v1/serviceS",
            content=request,
            headers={"Content-Type": "application/xml"},
        )
    if answer.headers.get("X-DUIS-Response-Code") != "I99":
        phase.outcomes[f"two-step HTTP {answer.status_code}"] += 1
        return
    delivery = await estate.callbacks.wait(f"R:{device}:{user.user_id}:{counter}", 120)
    if delivery is None:
        phase.outcomes["two-step no response"] += 1
        return
    code = response_code(delivery.body)
    phase.outcomes[f"two-step {code}"] += 1
    if code == "I0":
        phase.two_step.append(delivery.at - started)


async def top_ups(estate: Estate, count: int, phase: Phase) -> None:
    for i in range(count):
        device = estate.topup_meters[i % len(estate.topup_meters)]
        phase.backlog.append(await queued(estate))
        await one_step(estate, device, phase)
        await two_step(estate, device, phase)


async def bulk_reads(estate: Estate, lanes: int, stop: asyncio.Event) -> CohortRun:
    run = CohortRun()

    async def lane(n: int) -> None:
        i = n
        while not stop.is_set():
            await estate.sender.send(estate.bulk_meters[i % len(estate.bulk_meters)], run, 600)
            i += lanes

    tasks = [asyncio.create_task(lane(n)) for n in range(lanes)]
    await stop.wait()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return run


@dataclass
class ModeResult:
    mode: str
    alone: Phase
    backlog: Phase
    target_backlog: int
    reads: CohortRun


async def run_mode(
    mode: str, args: argparse.Namespace, cohorts: Sequence[CohortFleet], directory: Path
) -> ModeResult:
    directory.mkdir(parents=True, exist_ok=True)
    callbacks = Callbacks()
    async with contextlib.AsyncExitStack() as stack:
        url = await callbacks.start()
        stack.push_async_callback(callbacks.aclose)
        endpoints = {}
        for cohort in cohorts:
            bulk = cohort.profile.name not in TOP_UP_COHORTS
            process = HeadEndProcess(
                cohort.profile.name,
                fleet=cohort.headend_file,
                realistic_wan=mode == "realistic",
                latency_ms=args.bulk_latency_ms if bulk and mode == "zero" else 0,
                control=False,
            )
            stack.callback(process.stop)
            drain(process.popen)
            endpoints[cohort.profile.name] = process.endpoint
        config = write_config(directory, cohorts, endpoints, url, 1.0)
        with_hub_settings(config, args.workers, args.priority_workers)
        hub = HubProcess(config, free_port(), directory / "hub.log")
        stack.callback(hub.stop)
        engine = create_engine_for(f"sqlite:///{directory / 'hub.db'}")
        key = Registers(engine).make_key(str(scenario.SUPPLIER), Kind.SUPPLIER, datetime.now(UTC))
        engine.dispose()
        user = SimulatedUser(
            SigningCredentials.from_files(
                KEYS / f"{scenario.SUPPLIER_KEY}.key", KEYS / f"{scenario.SUPPLIER_KEY}.pem"
            )
        )
        limits = httpx.Limits(max_connections=args.read_lanes + 8)
        async with httpx.AsyncClient(limits=limits, timeout=120) as http:
            sender = Sender(http, f"{hub.url}/api/v1/serviceS", user, callbacks, target_s=30.0)
            estate = Estate(
                hub,
                http,
                sender,
                callbacks,
                key,
                [m for c in cohorts if c.profile.name in TOP_UP_COHORTS for m in c.meters],
                [m for c in cohorts if c.profile.name not in TOP_UP_COHORTS for m in c.meters],
            )
            say(f"[dim]{mode} WAN: warming up, then {args.top_ups} top-ups alone…[/dim]")
            await top_ups(estate, 3, Phase())
            alone = Phase()
            await top_ups(estate, args.top_ups, alone)
            drain_rate = (args.workers - args.priority_workers) / max(
                args.bulk_latency_ms / 1000, 0.5
            )
            target = int(10 * drain_rate)
            stop = asyncio.Event()
            reads = asyncio.create_task(bulk_reads(estate, args.read_lanes, stop))
            deadline = time.monotonic() + 120
            while await queued(estate) < target and time.monotonic() < deadline:
                await asyncio.sleep(0.5)
            say(f"[dim]{mode} WAN: {await queued(estate)} reads queued; top-ups again…[/dim]")
            under = Phase()
            await top_ups(estate, args.top_ups, under)
            stop.set()
            read_run = await reads
    return ModeResult(mode, alone, under, target, read_run)


# --------------------------------------------------------------------------- reporting


def ms(values: Sequence[float], p: float) -> str:
    return f"{pct(values, p) * 1e3:,.0f}" if values else "-"


def report(
    args: argparse.Namespace,
    rates: dict[str, float],
    hub_rate: float,
    results: Sequence[ModeResult],
) -> None:
    issuance = Table(title="UTRN issuance, one core")
    issuance.add_column("algorithm")
    issuance.add_column("UTRNs/s", justify="right")
    for name, value in rates.items():
        issuance.add_row(name, f"{value:,.0f}")
    issuance.add_row("hub: gbcs + ledger row (SQLite)", f"{hub_rate:,.0f}")
    console.print(issuance)
    table = Table(title=f"Top-up latency, request to credit on the meter ({args.top_ups} each)")
    for column in (
        "WAN",
        "load",
        "route",
        "p50 ms",
        "p99 ms",
        "max ms",
        "queued reads (median/max)",
        "outcomes",
    ):
        table.add_column(column, justify="right" if "ms" in column else "left")
    for result in results:
        for label, phase in (("alone", result.alone), ("10x read backlog", result.backlog)):
            depth = (
                f"{statistics.median(phase.backlog):,.0f} / {max(phase.backlog):,}"
                if phase.backlog
                else "-"
            )
            for route, values in (("one-step", phase.one_step), ("two-step (2.2)", phase.two_step)):
                outcomes = ", ".join(
                    f"{k.split(' ', 1)[1]} {v}"
                    for k, v in sorted(phase.outcomes.items())
                    if k.startswith(route.split(" ")[0])
                )
                table.add_row(
                    result.mode,
                    label,
                    route,
                    ms(values, 50),
                    ms(values, 99),
                    f"{max(values) * 1e3:,.0f}" if values else "-",
                    depth,
                    outcomes,
                )
    console.print(table)
    for result in results:
        say(
            f"{result.mode}: backlog target {result.target_backlog} reads (10 x the"
            f" {result.target_backlog / 10:g}/s the bulk slots drain); reads answered during the"
            f" run: {result.reads.responses}"
        )


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--top-ups", type=int, default=40, help="per route, load and WAN mode")
    parser.add_argument("--meters-per-cohort", type=int, default=20)
    parser.add_argument("--read-lanes", type=int, default=300)
    parser.add_argument("--bulk-latency-ms", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=24)
    parser.add_argument("--priority-workers", type=int, default=4)
    parser.add_argument("--issuance-seconds", type=float, default=2.0)
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--quick", action="store_true", help="10 top-ups, 1 s per algorithm")
    parser.add_argument("--keep", type=Path, help="run in this directory and keep it")
    args = parser.parse_args()
    if args.quick:
        args.top_ups, args.issuance_seconds, args.read_lanes = 10, 1.0, 150
    args.modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    return args


def main() -> int:
    args = arguments()
    if not (KEYS / f"{scenario.SUPPLIER_KEY}.key").exists():
        print(f"ZAZ1 keys not found under {KEYS} (set OPENDCC_REFERENCE)", file=sys.stderr)
        return 2
    with contextlib.ExitStack() as stack:
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            directory = args.keep
        else:
            directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="prepay-")))
        say("issuance: each algorithm on one core…")
        rates = issuance_rates(args.issuance_seconds)
        hub_rate = hub_issuance(directory, 500 if args.quick else 2000)
        cohorts = write_fleet(directory, args.meters_per_cohort)
        results = [
            asyncio.run(run_mode(mode, args, cohorts, directory / mode)) for mode in args.modes
        ]
    report(args, rates, hub_rate, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
