"""Schedules benchmark: a minute's DCC schedules all falling due, and on-demand reads meanwhile.

Suppliers schedule daily reads for millions of meters at the same time of day (SRV 5.1). This
benchmark measures how long ``--schedules`` DCC schedules whose runs fall due in the same
minute take to run through the hub (each run a real instruction to a head-end over its wire
protocol and a signed Response at the User's callback), and the latency of on-demand reads sent
meanwhile, against the same reads before the schedules fire.

The estate: the hub's store (SQLite) filled directly with ``--schedules`` commissioned ESMEs
(``alerts.fill``: each with its MPAN, registered to the ZAZ1 supplier) over three cohorts, one
per head-end protocol (landis APDU, itron REST/JSON, elster SOAP/XML), and one daily 4.6.1
Retrieve Import Daily Read Log schedule per meter, every one due at the same minute. One
head-end simulator process per cohort serves its share of the meters (WAN latency zero); the
hub runs as its own process (``opendcc serve``) and the runs are made by ``--runners`` runner
processes beside it (``opendcc schedules run``, at a lower CPU priority; 0: by the hub process
itself), each with ``--concurrency`` runs in flight, the runs of a minute spread over
``--spread`` seconds (0: all at once, the worst case; the hub's default is 1,800).

Measured: from the minute the schedules fall due until the last run's Response arrives, runs
answered per second, and their codes; the on-demand 4.1.1 reads (``--rate`` a second, as the
supplier, signed, over HTTP) before and during the runs: p50 and p99 from POST to Response at
the callback. With fewer schedules than a million (``--quick``: 20,000), the time a million
would take at the measured rate is printed as a projection, marked as one.

    .venv/bin/python benchmarks/schedules.py [--quick] [--schedules 1000000] [--rate 5]
        [--runners 2] [--concurrency 16] [--spread 0] [--lead 30] [--keep DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from rich.table import Table

from alerts import COHORTS, Hub, device_id, keep_output, prepare
from alerts import write_config as alerts_config
from cohorts import KEYS, Callbacks, CohortRun, Delivery, Sender, console, pct, say
from opendcc.core.eui import Eui64
from opendcc.schedules.store import ScheduleStore
from opendcc.sim import scenario
from opendcc.sim.processes import HeadEndProcess, Process, free_port
from opendcc.sim.user import SimulatedUser
from opendcc.smki import SigningCredentials
from opendcc.store import create_engine_for

SQLITE_AT = "%Y-%m-%d %H:%M:%S.%f"
BODY = (
    '<sr:CreateSchedule xmlns:sr="http://www.dccinterface.co.uk/ServiceUserGateway">'
    "<sr:ScheduleFrequency>Daily</sr:ScheduleFrequency>"
    "<sr:ScheduleStartDate>{day}</sr:ScheduleStartDate>"
    "<sr:ScheduleExecutionStartTime>{time}</sr:ScheduleExecutionStartTime>"
    "<sr:DSPScheduledServiceReference>4.6</sr:DSPScheduledServiceReference>"
    "<sr:DSPScheduledServiceReferenceVariant>4.6.1</sr:DSPScheduledServiceReferenceVariant>"
    "<sr:DeviceID>{device}</sr:DeviceID>"
    "<sr:DSPRetrieveImportDailyReadLog><sr:StartDateOffset>-1</sr:StartDateOffset>"
    "<sr:StartTime>00:00:00</sr:StartTime><sr:EndDateOffset>0</sr:EndDateOffset>"
    "<sr:EndTime>00:00:00</sr:EndTime></sr:DSPRetrieveImportDailyReadLog></sr:CreateSchedule>"
)
ONE_MILLION = 1_000_000
QUIET_S = 60.0  # the runs are over when no Response has arrived for this long
WAIT_S = 600.0  # the longest an on-demand read is waited for


def add_schedules(database: Path, count: int, nominal: datetime, spread: timedelta) -> float:
    """One daily 4.6.1 schedule per benchmark meter, all nominally due at ``nominal``."""
    started = time.perf_counter()
    engine = create_engine_for(f"sqlite:///{database}")
    store = ScheduleStore(engine, spread)
    supplier = str(scenario.SUPPLIER)
    creator = f"{supplier}:90-B3-D5-1F-30-00-00-02:1"
    day, clock = nominal.date().isoformat(), nominal.strftime("%H:%M:%S")
    text = nominal.astimezone(UTC).strftime(SQLITE_AT)

    def rows() -> object:
        for n in range(count):
            due = store.due(n + 1, nominal) or nominal
            yield (
                n + 1,
                supplier,
                device_id(n),
                "4.6.1",
                "Daily",
                day,
                clock,
                BODY.format(day=day, time=clock, device=device_id(n)),
                creator,
                text,
                "active",
                text,
                due.astimezone(UTC).strftime(SQLITE_AT),
            )

    engine.dispose()
    with contextlib.closing(sqlite3.connect(database)) as conn:
        conn.execute("PRAGMA synchronous=OFF")
        conn.executemany(
            "INSERT INTO schedules (schedule_id, user_id, device_id, srv, frequency, start_date,"
            " execution_time, body, created_by, created_at, state, next_run_at, due_at, runs)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,0)",
            rows(),  # type: ignore[arg-type]
        )
        conn.commit()
    return time.perf_counter() - started


def write_fleets(directory: Path, count: int, cohorts: Sequence[str]) -> dict[str, Path]:
    files = {}
    for index, cohort in enumerate(cohorts):
        path = directory / f"fleet-{cohort}.jsonl"
        with path.open("w") as out:
            for n in range(index, count, len(cohorts)):
                out.write(json.dumps({"device_id": device_id(n), "type": "ESME"}) + "\n")
        files[cohort] = path
    return files


RESPONSE_CODE = re.compile(rb"<(?:\w+:)?ResponseCode>([^<]*)<")


def _code_of_runs(key: str, body: bytes) -> bytes:
    """A scheduled run's Response is kept as its response code only (a million of them)."""
    if not key.startswith("S:"):
        return body
    found = RESPONSE_CODE.search(body)
    return found.group(1) if found else b"?"


class RunCallbacks(Callbacks):
    """The User's callback, counting the scheduled runs' Responses as they arrive (counting
    a million keys every two seconds would cost the benchmark's own CPU)."""

    def __init__(self) -> None:
        super().__init__(keep=_code_of_runs)
        self.runs = 0

    def _arrive(self, key: str, delivery: Delivery) -> None:
        fresh = key not in self.arrived
        super()._arrive(key, delivery)
        if fresh and key.startswith("S:"):
            self.runs += 1


class Runs:
    """The scheduled runs' Responses as they arrive at the callback."""

    def __init__(self, callbacks: Callbacks) -> None:
        self.callbacks = callbacks

    def arrived(self) -> list[tuple[str, float, bytes]]:
        return [
            (key, d.at, d.body) for key, d in self.callbacks.arrived.items() if key.startswith("S:")
        ]


async def on_demand(
    sender: Sender, targets: Sequence[Eui64], rate: float, seconds: float
) -> CohortRun:
    """``rate`` reads a second for ``seconds``, each waited for."""
    run = CohortRun()
    tasks = []
    for n in range(int(rate * seconds)):
        tasks.append(asyncio.create_task(sender.send(targets[n % len(targets)], run, WAIT_S)))
        await asyncio.sleep(1 / rate)
    await asyncio.gather(*tasks)
    return run


async def bench(args: argparse.Namespace, directory: Path, started: list[Process]) -> int:
    cohorts = COHORTS
    database = prepare(directory, args.schedules, cohorts)
    fleets = write_fleets(directory, args.schedules, cohorts)
    callbacks = RunCallbacks()
    url = await callbacks.start()
    headends = {}
    for cohort in cohorts:
        process = HeadEndProcess(cohort, fleet=fleets[cohort], control=False)
        started.append(process)
        keep_output(process, directory / f"headend-{cohort}.log")
        headends[cohort] = process
    config = alerts_config(directory, database, {c: p.endpoint for c, p in headends.items()}, url)
    extra = (
        f"\n[schedules]\nspread_seconds = {args.spread}\nconcurrency = {args.concurrency}\n"
        f"batch = 1000\nin_hub = {'false' if args.runners else 'true'}\n"
    )
    config.write_text(config.read_text() + extra)
    # Every schedule nominally due at the same minute, a little after the hub is up.
    nominal = (datetime.now(UTC) + timedelta(seconds=args.lead)).replace(second=0, microsecond=0)
    nominal += timedelta(minutes=1)
    seconds = add_schedules(database, args.schedules, nominal, timedelta(seconds=args.spread))
    say(f"{args.schedules:,} schedules due at {nominal:%H:%M:%S} written in {seconds:.1f} s")
    hub = Hub(config, free_port(), directory / "hub.log", started)
    for n in range(args.runners):  # runner processes of their own, beside the hub
        runner = Process(
            ["-m", "opendcc", "schedules", "run", "--config", str(config)],
            directory / f"runner-{n}.log",
        )
        started.append(runner)
    key = scenario.SUPPLIER_KEY
    user = SimulatedUser(SigningCredentials.from_files(KEYS / f"{key}.key", KEYS / f"{key}.pem"))
    targets = [Eui64.parse(device_id(n)) for n in range(min(300, args.schedules))]
    runs = Runs(callbacks)
    async with httpx.AsyncClient(timeout=60) as client:
        sender = Sender(client, f"{hub.url}/api/v1/serviceS", user, callbacks, target_s=30.0)
        before_due = max(5.0, (nominal - datetime.now(UTC)).total_seconds() - 5)
        say(f"on-demand reads before the schedules fall due ({before_due:.0f} s)")
        baseline = await on_demand(sender, targets, args.rate, before_due)
        await asyncio.sleep(max(0.0, (nominal - datetime.now(UTC)).total_seconds()))
        due_at = time.monotonic()  # the callback stamps arrivals with time.monotonic()
        say("the schedules are due: on-demand reads while they run")
        during = CohortRun()
        sending = asyncio.create_task(_steady(sender, targets, args.rate, during))
        last_count, last_change = 0, time.monotonic()
        while True:
            await asyncio.sleep(2)
            count = callbacks.runs
            if count != last_count:
                last_count, last_change = count, time.monotonic()
                console.print(f"  {count:,} of {args.schedules:,} runs answered", end="\r")
            if count >= args.schedules or time.monotonic() - last_change > QUIET_S:
                break
        sending.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sending
    await callbacks.aclose()
    report(args, runs.arrived(), due_at, baseline, during)
    return 0


async def _steady(sender: Sender, targets: Sequence[Eui64], rate: float, run: CohortRun) -> None:
    tasks: list[asyncio.Task[None]] = []
    n = 0
    try:
        while True:
            tasks.append(asyncio.create_task(sender.send(targets[n % len(targets)], run, WAIT_S)))
            n += 1
            await asyncio.sleep(1 / rate)
    finally:
        await asyncio.gather(*tasks, return_exceptions=True)


def report(
    args: argparse.Namespace,
    arrived: list[tuple[str, float, bytes]],
    due: float,
    baseline: CohortRun,
    during: CohortRun,
) -> None:
    codes = Counter(code.decode() for _, _, code in arrived)
    last = max((at for _, at, _ in arrived), default=due)
    first = min((at for _, at, _ in arrived), default=due)
    took = last - due
    rate = len(arrived) / took if took > 0 else 0.0
    where = f"{args.runners} runner process(es)" if args.runners else "runs in the hub process"
    table = Table(
        title=f"{args.schedules:,} schedules due in the same minute (spread {args.spread} s,"
        f" {where})"
    )
    for column in ("measure", "value"):
        table.add_column(column)
    table.add_row(
        "runs answered",
        f"{len(arrived):,} ({', '.join(f'{c} {n:,}' for c, n in codes.most_common())})",
    )
    table.add_row("lost (never answered)", f"{args.schedules - len(arrived):,}")
    table.add_row("first Response after due", f"{first - due:.1f} s")
    table.add_row("last Response after due", f"{took:,.1f} s ({took / 60:,.1f} min)")
    table.add_row("runs answered per second", f"{rate:,.0f}")
    if args.schedules < ONE_MILLION and rate > 0:
        table.add_row(
            "a million at this rate (projected)",
            f"{ONE_MILLION / rate:,.0f} s ({ONE_MILLION / rate / 3600:.1f} h)",
        )
    for name, run in (("on-demand before", baseline), ("on-demand during", during)):
        lat = run.latencies
        table.add_row(
            f"{name}: p50 / p99 / max",
            f"{pct(lat, 50) * 1000:,.0f} / {pct(lat, 99) * 1000:,.0f} / "
            f"{max(lat, default=0) * 1000:,.0f} ms ({len(lat)} reads; {dict(run.codes)})",
        )
    console.print(table)


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--schedules", type=int, default=ONE_MILLION)
    parser.add_argument("--quick", action="store_true", help="20,000 schedules")
    parser.add_argument("--rate", type=float, default=5.0, help="on-demand reads a second")
    parser.add_argument("--concurrency", type=int, default=16, help="runs in flight in the hub")
    parser.add_argument(
        "--runners", type=int, default=2, help="runner processes beside the hub (0: in the hub)"
    )
    parser.add_argument("--spread", type=int, default=0, help="seconds a minute's runs spread over")
    parser.add_argument("--lead", type=int, default=30, help="seconds of baseline reads, at least")
    parser.add_argument("--keep", type=Path, help="keep the run's files here")
    args = parser.parse_args()
    if args.quick:
        args.schedules = 20_000
    return args


def main() -> int:
    args = arguments()
    started: list[Process] = []
    with contextlib.ExitStack() as stack:
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            directory = args.keep
        else:
            directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-")))
        try:
            return asyncio.run(bench(args, directory, started))
        finally:
            for process in reversed(started):
                process.stop()


if __name__ == "__main__":
    sys.exit(main())
