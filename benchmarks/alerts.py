"""Alert benchmark: device alerts from head-end intake to delivery at the Users, 1 million devices.

The GB network carries about 1.6 billion device alerts a month, some 600 a second on average.
This benchmark measures how far above that one machine goes: alerts per second from the
head-ends to signed DUIS (DCC User Interface Specification) Device Alerts at the Users'
callbacks, and their latency, with a million devices in the inventory.

The estate: a hub store (SQLite, the hub's migrations run first) filled directly with sqlite3
with ``--devices`` commissioned ESMEs (electricity meters), each with its own MPAN (metering
point), spread over three cohorts, one per head-end protocol: landis (binary APDUs, pushed),
itron (REST/JSON, pushed) and elster (SOAP/XML, polled by the hub). Each MPAN's Import Supplier
(IS) is the ZAZ1 supplier 90-B3-D5-1F-30-01-00-00 and its Electricity Distributor (ED) the
network operator 90-B3-D5-1F-30-02-00-00; both Users' callbacks are this benchmark's own
keep-alive HTTP server (``cohorts.Callbacks``). One head-end simulator process per cohort (WAN
latency zero) and the hub process (``python -m opendcc serve``) run beside it.

The load: the head-ends' control API (``POST /alerts``, ``opendcc.sim.keypad``) publishes
synthetic alerts for any device of the million, as the head-end publishes a meter's own. Each
carries ``sent`` (the wall clock when the benchmark posted it) and ``seq`` (which alert it is)
as values; the hub renders them into the Device Alert's ``AlertDescription``, where the callback
finds them. Codes are critical (8F34 power outage, 8F35 restored, 8F20 tamper), so storm
protection never holds them, and each goes to both Users: two deliveries per alert.

Steps: each offered rate (``--rates``, alerts/s spread evenly over the cohorts and over random
devices, lowest first) for ``--seconds``, then a flood of ``--flood`` alerts posted as fast as
the head-ends take them. Per step it reports offered/s, deliveries/s (every User's copy) and
alerts/s (alerts whose every copy arrived) over the step after its first ``--settle`` seconds
(the pipeline filling: the SOAP poll, the intake's batching), p50/p99 latency (posted to
arrival), the backlog of copies undelivered when the last post was answered (and how many of
them wait in the hub's outbox), how long they took to drain, copies never delivered, and the
CPU of the hub (summed over all its processes, children included), the head-ends and this
benchmark, which share the machine. Rates stop rising once deliveries fall below 80% of the
copies offered, after one more step halfway between that rate and the fastest that kept up (at
least 90%): the fastest step that kept up is the sustained rate, and is compared with the GB
average. The flood and the sustained step are also broken down by cohort.
Run with ``make bench-alerts``:

    .venv/bin/python benchmarks/alerts.py [--quick] [--devices 1000000]
        [--rates 50,100,150,200,300,600,1200,2400] [--seconds 20] [--flood 12000] [--settle 3]
        [--cohorts landis,itron,elster] [--keep DIR]

The hub's log and each head-end's output are kept in the run's directory (``--keep``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import re
import signal
import sqlite3
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from rich.table import Table

from cohorts import KEYS, Callbacks, Delivery, console, pct, say, self_cpu
from front_door import tree_cpu
from opendcc.alerts.codes import Recipient, device_alert_spec
from opendcc.core.eui import Eui64
from opendcc.s1sp.cohorts import register_all
from opendcc.s1sp.contract import Registry
from opendcc.sim import fleet, scenario
from opendcc.sim.keypad import ALERTS_PATH, MAX_ALERTS
from opendcc.sim.processes import HeadEndProcess, HubProcess, Process, free_port
from opendcc.store import create_engine_for, upgrade

PROFILES = {p.name: p for p in register_all(Registry()).profiles()}
COHORTS = ("landis", "itron", "elster")  # APDU, REST/JSON, SOAP/XML
CODES = ("8F34", "8F35", "8F20")  # critical: never throttled; supplier and network operator
# Offered alerts/s, low first: the hub's capacity is found where deliveries fall behind.
RATES = (50, 100, 150, 200, 300, 600, 1200, 2400)
GB_AVERAGE = 600.0  # device alerts a second: ~1.6 billion a month
FIRST_DEVICE = 0x00DB_1600_0000_0000  # EUI-64 of device 0; clear of the scenario's devices
FIRST_MPAN = 10_000_000  # fleet.mpan(FIRST_MPAN + n): clear of the scenario's MPANs
FILL_AT = "2026-01-01 00:00:00.000000"  # SQLite's text for the hub's UTC date-times
REGISTERED_FROM = "2020-01-01 00:00:00.000000"
TICK_S = 0.1  # the load generator posts what is due this often
POSTS_IN_FLIGHT = 4  # per head-end
KEPT_UP = 0.9  # deliveries at least this share of the copies offered: the step kept up
GIVE_UP = 0.8  # below this share, rates stop rising
QUIET_S = 15.0  # draining ends when nothing has arrived for this long
HUB_START_S = 120.0
ROLE_HOLDERS = {Recipient.SUPPLIER, Recipient.NETWORK}  # IS and ED registered for every MPAN
# The hub renders the values in name order: "Power outage: sent=1717243200.5; seq=3-1234".
_DESCRIPTION = re.compile(rb"AlertDescription>[^<]*?sent=([0-9.]+); seq=(\d+)-(\d+)<")


# --------------------------------------------------------------------------- the estate


def device_id(n: int) -> str:
    return str(Eui64(FIRST_DEVICE + n))


def fill(database: Path, count: int, cohorts: Sequence[str]) -> float:
    """``count`` commissioned ESMEs (device n in cohort n mod len(cohorts)), each with its
    own MPAN registered to the supplier (IS) and the network operator (ED); seconds taken."""
    started = time.perf_counter()
    supplier, operator = str(scenario.SUPPLIER), str(scenario.NETWORK_OPERATOR)
    mpans = [fleet.mpan(FIRST_MPAN + n) for n in range(count)]
    with contextlib.closing(sqlite3.connect(database)) as conn:
        conn.execute("PRAGMA synchronous=OFF")
        conn.executemany(
            "INSERT INTO devices (device_id, device_type, smi_status, cohort, mpxn, manufacturer,"
            " model, firmware_version, created_at, smets_generation, serial_number,"
            " status_since, commissioned_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                (
                    device_id(n),
                    "ESME",
                    "commissioned",
                    cohorts[n % len(cohorts)],
                    mpans[n],
                    PROFILES[cohorts[n % len(cohorts)]].manufacturer,
                    "bench",
                    "1.0.0",
                    FILL_AT,
                    "SMETS1",
                    f"A{n}",
                    FILL_AT,
                    FILL_AT,
                )
                for n in range(count)
            ),
        )
        conn.executemany(
            "INSERT INTO registrations (mpxn, role, user_id, effective_from) VALUES (?,?,?,?)",
            (
                (mpan, role, user, REGISTERED_FROM)
                for mpan in mpans
                for role, user in (("IS", supplier), ("ED", operator))
            ),
        )
        conn.commit()
    return time.perf_counter() - started


def prepare(directory: Path, count: int, cohorts: Sequence[str]) -> Path:
    """A hub database with its migrations run, then the estate."""
    database = directory / "hub.db"
    engine = create_engine_for(f"sqlite:///{database}")
    upgrade(engine)
    engine.dispose()
    seconds = fill(database, count, cohorts)
    say(
        f"filled {count:,} devices and {2 * count:,} registrations in {seconds:.1f} s"
        f" ({database.stat().st_size / 1e6:,.0f} MB)"
    )
    return database


def write_config(
    directory: Path, database: Path, endpoints: dict[str, str], callback_url: str
) -> Path:
    first, *others = endpoints
    extra = "".join(f'\n[[s1sp]]\ncohort = "{n}"\nendpoint = "{endpoints[n]}"\n' for n in others)
    return scenario.write_config(
        directory / "hub.toml",
        keys=KEYS,
        cohort=first,
        headend=endpoints[first],
        callback_url=callback_url,
        database_url=f"sqlite:///{database}",
        extra=extra,
    )


def keep_output(process: HeadEndProcess, path: Path) -> None:
    """Copy a head-end's piped output to ``path`` in the background, so it never blocks and
    its warnings (pushes given up ...) can be read afterwards."""
    source = process.popen.stdout
    if source is None:
        return

    def copy() -> None:
        with path.open("wb") as sink:
            for line in source:
                sink.write(line)
                sink.flush()

    threading.Thread(target=copy, daemon=True).start()


class Hub(HubProcess):
    """The hub process, known to the clean-up list before it is waited for."""

    def __init__(self, config: Path, port: int, log: Path, started: list[Process]) -> None:
        args = ["-m", "opendcc", "serve", "--config", str(config), "--port", str(port)]
        Process.__init__(self, args, log)
        started.append(self)
        self.url = f"http://127.0.0.1:{port}"
        self.wait_ready(HUB_START_S)


# --------------------------------------------------------------------------- the Users' side


@dataclass(frozen=True, slots=True)
class Copy:
    """One delivery of a benchmark alert at a User's callback."""

    at: float  # wall clock on arrival
    step: int
    seq: int
    latency: float  # s, posted to arrival


class AlertCallbacks(Callbacks):
    """Both Users' callback: reads ``seq`` and ``sent`` from each Device Alert's description
    and keeps only that (a long run would otherwise hold gigabytes of signed documents)."""

    def __init__(self) -> None:
        super().__init__()
        self.copies: list[Copy] = []
        self.done: list[tuple[float, int, int]] = []  # every copy of an alert arrived: when
        self.expected: dict[tuple[int, int], int] = {}  # copies per alert, set by the sender
        self.other = 0  # deliveries that are not benchmark alerts
        self._keys: set[str] = set()
        self._seen: Counter[tuple[int, int]] = Counter()

    def _arrive(self, key: str, delivery: Delivery) -> None:
        now = time.time()
        if key in self._keys:
            self.duplicates += 1  # at-least-once delivery: a redelivery
            return
        self._keys.add(key)
        found = _DESCRIPTION.search(delivery.body)
        if found is None:
            self.other += 1
            return
        sent, step, seq = float(found[1]), int(found[2]), int(found[3])
        self.copies.append(Copy(now, step, seq, now - sent))
        alert = (step, seq)
        self._seen[alert] += 1
        if self._seen[alert] == self.expected.get(alert, 0):
            self.done.append((now, step, seq))

    @property
    def received(self) -> int:
        """Benchmark alert copies delivered so far."""
        return len(self.copies)


# --------------------------------------------------------------------------- the load


def copies_of(code: str) -> int:
    """Deliveries one alert makes: its recipients among the roles every MPAN has holders for."""
    return len(device_alert_spec(int(code, 16)).recipients & ROLE_HOLDERS)


@dataclass
class Offered:
    step: int
    label: str
    started: float = 0.0  # wall clock
    ended: float = 0.0  # every post answered
    posted: int = 0  # alerts the head-ends said they published
    copies: int = 0  # deliveries those should make
    failed: int = 0  # alerts in posts that failed
    by_cohort: Counter[str] = field(default_factory=Counter)

    @property
    def seconds(self) -> float:
        return max(self.ended - self.started, 1e-9)


class Load:
    """Posts synthetic alerts to the head-ends' control APIs."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        controls: dict[str, str],
        callbacks: AlertCallbacks,
        devices: int,
    ) -> None:
        self.client = client
        self.controls = controls
        self.cohorts = list(controls)
        self.callbacks = callbacks
        self.devices = devices
        self.rng = random.Random(7)
        self._slots = {name: asyncio.Semaphore(POSTS_IN_FLIGHT) for name in controls}

    def _device(self, cohort_index: int) -> str:
        k = len(self.cohorts)
        return device_id(self.rng.randrange(self.devices // k) * k + cohort_index)

    async def _post(self, cohort: str, alerts: list[dict[str, object]], run: Offered) -> None:
        async with self._slots[cohort]:
            stamp = f"{time.time():.6f}"
            for alert in alerts:
                alert["values"] = {"seq": alert.pop("seq"), "sent": stamp}
            try:
                answer = await self.client.post(
                    f"{self.controls[cohort]}{ALERTS_PATH}", json={"alerts": alerts}
                )
                published = int(answer.json()["published"]) if answer.status_code == 200 else 0
            except (httpx.HTTPError, ValueError, KeyError):
                published = 0
        if published != len(alerts):  # the control API publishes all of a post or none
            run.failed += len(alerts)
            return
        run.posted += published
        run.by_cohort[cohort] += published
        run.copies += sum(copies_of(str(alert["code"])) for alert in alerts)

    def _make(self, run: Offered, first: int, count: int) -> dict[str, list[dict[str, object]]]:
        """Alerts ``first`` .. ``first + count - 1`` of the step, by cohort (seq mod cohorts)."""
        batches: dict[str, list[dict[str, object]]] = {name: [] for name in self.cohorts}
        for seq in range(first, first + count):
            index = seq % len(self.cohorts)
            code = self.rng.choice(CODES)
            self.callbacks.expected[(run.step, seq)] = copies_of(code)
            batches[self.cohorts[index]].append(
                {"device": self._device(index), "code": code, "seq": f"{run.step}-{seq}"}
            )
        return batches

    def _send(self, run: Offered, first: int, count: int) -> list[asyncio.Task[None]]:
        tasks = []
        for cohort, alerts in self._make(run, first, count).items():
            for start in range(0, len(alerts), MAX_ALERTS):
                chunk = alerts[start : start + MAX_ALERTS]
                tasks.append(asyncio.create_task(self._post(cohort, chunk, run)))
        return tasks

    async def at_rate(self, run: Offered, rate: float, seconds: float) -> None:
        """``rate`` alerts/s for ``seconds``, posted every ``TICK_S``."""
        run.started = time.time()
        begun = time.monotonic()
        made = 0
        tasks: list[asyncio.Task[None]] = []
        while (elapsed := time.monotonic() - begun) < seconds:
            due = int(rate * elapsed) - made
            if due > 0:
                tasks += self._send(run, made, due)
                made += due
            await asyncio.sleep(TICK_S)
        tasks += self._send(run, made, int(rate * seconds) - made)
        await asyncio.gather(*tasks)
        run.ended = time.time()

    async def flood(self, run: Offered, count: int) -> None:
        """``count`` alerts at once, in the largest posts the control API takes."""
        run.started = time.time()
        await asyncio.gather(*self._send(run, 0, count))
        run.ended = time.time()


# --------------------------------------------------------------------------- measuring


@dataclass
class Cpu:
    pids: dict[str, list[int]]
    before: dict[str, float] = field(default_factory=dict)

    def read(self) -> dict[str, float]:
        # The hub is ``opendcc serve`` and its children (gateways, workers, deliverer,
        # scheduler): each process counts with everything under it.
        seconds = {name: sum(tree_cpu(p) for p in pids) for name, pids in self.pids.items()}
        return seconds | {"benchmark": self_cpu()}

    def start(self) -> None:
        self.before = self.read()

    def shares(self, wall: float, after: dict[str, float] | None = None) -> dict[str, float]:
        """CPU used since ``start`` (until ``after``, a ``read``), as shares of ``wall``."""
        after = after or self.read()
        return {name: (after[name] - self.before[name]) / wall for name in after}


@dataclass
class StepResult:
    run: Offered
    window: float  # s the rates are over: a step's steady part, or a flood until drained
    backlog: int  # copies posted and not yet delivered once every post was answered
    outbox: int  # of them, rows undelivered in the hub's outbox
    deliveries: int = 0  # copies (of any step) arriving in the window
    completed: int = 0  # alerts whose last copy arrived in the window
    cpu: dict[str, float] = field(default_factory=dict)  # share of one CPU, by process
    latencies: list[float] = field(default_factory=list)  # this step's copies, s
    lost: int = 0  # this step's copies never delivered
    drain_s: float = 0.0  # from the last post answered to the step's last copy
    flood: bool = False

    @property
    def offered_rate(self) -> float:
        return self.run.posted / self.run.seconds

    @property
    def delivery_rate(self) -> float:
        return self.deliveries / self.window

    @property
    def alert_rate(self) -> float:
        return self.completed / self.window

    @property
    def kept_up(self) -> float:
        """Deliveries over the copies offered in the same length of time; for a flood, the
        share of its copies delivered."""
        offered = self.run.copies * (1 if self.flood else self.window / self.run.seconds)
        return self.deliveries / offered if offered else 0.0


class Bench:
    def __init__(
        self, hub: Hub, load: Load, callbacks: AlertCallbacks, cpu: Cpu, settle_s: float
    ) -> None:
        self.hub = hub
        self.load = load
        self.callbacks = callbacks
        self.cpu = cpu
        self.settle_s = settle_s
        self.copies_offered = 0
        self.copies_lost = 0  # by the steps before: not waited for again
        self._cpu_at_last: dict[str, float] = {}

    @property
    def copies_due(self) -> int:
        """Copies that should arrive by the end of this step."""
        return self.copies_offered - self.copies_lost

    async def outbox(self) -> int:
        try:
            answer = await self.load.client.get(f"{self.hub.url}/health", timeout=30)
            return int(answer.json()["undelivered"])
        except (httpx.HTTPError, ValueError, KeyError):
            return -1

    async def step(
        self, run: Offered, offer: Awaitable[None], *, flood: bool = False
    ) -> StepResult:
        """Offer the load (``Load.at_rate`` or ``Load.flood`` for ``run``) and measure: a step
        at a rate over its steady part (after ``settle_s``), a flood until it has drained."""
        self.cpu.start()
        await offer
        self.copies_offered += run.copies
        result = StepResult(
            run,
            window=run.ended - run.started - self.settle_s,
            backlog=self.copies_due - self.callbacks.received,
            outbox=await self.outbox(),
            flood=flood,
        )
        if not flood:
            result.cpu = self.cpu.shares(time.time() - run.started)
        await self.drain(result)
        mine = [c.at for c in self.callbacks.copies if c.step == run.step]
        start = run.started + self.settle_s
        if flood:
            start, result.window = run.started, max(mine, default=run.ended) - run.started
            result.cpu = self.cpu.shares(result.window, self._cpu_at_last)
        end = start + result.window
        result.deliveries = sum(1 for c in self.callbacks.copies if start <= c.at < end)
        result.completed = sum(1 for at, _, _ in self.callbacks.done if start <= at < end)
        return result

    async def drain(self, result: StepResult) -> None:
        """Wait until every copy posted so far arrived, or nothing arrived for ``QUIET_S``."""
        cb = self.callbacks
        waited_from = time.time()
        last, seen = time.monotonic(), cb.received
        self._cpu_at_last = self.cpu.read()
        while cb.received < self.copies_due and time.monotonic() - last < QUIET_S:
            await asyncio.sleep(0.2)
            if (now_seen := cb.received) != seen:
                last, seen = time.monotonic(), now_seen
                self._cpu_at_last = self.cpu.read()  # a flood's CPU: until its last delivery
        mine = [c for c in cb.copies if c.step == result.run.step]
        result.latencies = [c.latency for c in mine]
        result.lost = result.run.copies - len(mine)
        self.copies_lost += result.lost
        result.drain_s = max(max((c.at for c in mine), default=0.0) - waited_from, 0.0)


# --------------------------------------------------------------------------- reporting


def ms(values: Sequence[float], p: float) -> str:
    return f"{pct(values, p) * 1e3:,.0f}" if values else "-"


STEP_COLUMNS = (
    "offered/s",
    "deliveries/s",
    "alerts/s",
    "kept up",
    "p50 ms",
    "p99 ms",
    "backlog (outbox)",
    "drain s",
    "lost",
    "CPU hub/HE/bench",
)


def steps_table(results: Sequence[StepResult]) -> Table:
    table = Table(title="Alerts through the hub, step by step", title_justify="left")
    table.add_column("step")
    for column in STEP_COLUMNS:
        table.add_column(column, justify="right")
    for r in results:
        table.add_row(
            r.run.label,
            f"{r.offered_rate:,.0f}",
            f"{r.delivery_rate:,.0f}",
            f"{r.alert_rate:,.0f}",
            "-" if r.flood else f"{r.kept_up:.0%}",
            ms(r.latencies, 50),
            ms(r.latencies, 99),
            f"{r.backlog:,} ({r.outbox:,})",
            f"{r.drain_s:,.1f}",
            f"{r.lost:,}",
            "/".join(f"{share * 100:.0f}" for share in r.cpu.values()) + "%",
        )
    return table


def cohort_table(result: StepResult, callbacks: AlertCallbacks, cohorts: Sequence[str]) -> Table:
    """One step by cohort: rates from the step's first post to the cohort's last delivery."""
    step, k = result.run.step, len(cohorts)
    table = Table(
        title=f"{result.run.label}: by cohort, first post to last delivery", title_justify="left"
    )
    table.add_column("cohort")
    table.add_column("protocol")
    for column in ("alerts", "alerts/s", "deliveries/s", "p50 ms", "p99 ms", "lost copies"):
        table.add_column(column, justify="right")
    for index, name in [*enumerate(cohorts), (-1, "all")]:
        if index < 0:
            table.add_section()

        def ours(seq: int, index: int = index) -> bool:
            return index < 0 or seq % k == index

        mine = [c for c in callbacks.copies if c.step == step and ours(c.seq)]
        done = [at for at, s, q in callbacks.done if s == step and ours(q)]
        copies = sum(n for (s, q), n in callbacks.expected.items() if s == step and ours(q))
        wall = max((c.at for c in mine), default=result.run.started) - result.run.started
        table.add_row(
            name,
            PROFILES[name].protocol if name in PROFILES else "",
            f"{result.run.by_cohort[name] if index >= 0 else result.run.posted:,}",
            f"{len(done) / wall:,.0f}" if wall > 0 else "-",
            f"{len(mine) / wall:,.0f}" if wall > 0 else "-",
            ms([c.latency for c in mine], 50),
            ms([c.latency for c in mine], 99),
            f"{copies - len(mine):,}",
        )
    return table


@dataclass(frozen=True)
class Headline:
    sustained: StepResult | None  # the fastest step that kept up
    flood: StepResult | None

    def text(self, devices: int) -> str:
        parts = [f"alerts, {devices:,} devices:"]
        if (s := self.sustained) is not None:
            parts.append(
                f"sustained {s.alert_rate:,.0f} alerts/s ({s.delivery_rate:,.0f} deliveries/s,"
                f" p50 {ms(s.latencies, 50)} ms, p99 {ms(s.latencies, 99)} ms)"
                f" = {s.alert_rate / GB_AVERAGE:.2f}x the GB average of {GB_AVERAGE:,.0f}/s;"
            )
        else:
            parts.append("no step kept up;")
        if (f := self.flood) is not None:
            parts.append(
                f"a flood of {f.run.posted:,} drained at {f.alert_rate:,.0f} alerts/s"
                f" = {f.alert_rate / GB_AVERAGE:.2f}x, {f.lost:,} copies lost"
            )
        return " ".join(parts)


def headline(steps: Sequence[StepResult], flood: StepResult | None) -> Headline:
    kept = [r for r in steps if r.kept_up >= KEPT_UP]
    return Headline(max(kept, key=lambda r: r.alert_rate, default=None), flood)


def log_counts(path: Path) -> str:
    text = path.read_text(errors="replace") if path.exists() else ""
    tracebacks = text.count("Traceback (most recent call last)")
    return f"{path.name}: {tracebacks} tracebacks, {text.count(' WARNING ')} warnings"


def report(
    args: argparse.Namespace,
    steps: Sequence[StepResult],
    flood: StepResult | None,
    callbacks: AlertCallbacks,
    directory: Path,
) -> None:
    console.print()
    console.print(steps_table([*steps, *([flood] if flood else [])]))
    say(
        f"  offered/s: alerts the head-ends published over the posting time; deliveries/s (every"
        f" User's copy) and alerts/s (alerts whose every copy arrived) over the step after its"
        f" first {args.settle:g} s (a flood: from its first post to its last delivery); kept up:"
        f" deliveries over the copies offered in that time; backlog: copies undelivered when the"
        f" last post was answered (outbox: of them, rows in the hub's outbox; the rest in the"
        f" head-ends and the hub's intake); drain: from then to the step's last copy; lost: never"
        f" delivered; CPU: hub (all its processes) / {len(args.cohorts)} head-ends / benchmark,"
        f" share of one CPU"
        f" ({os.cpu_count()} CPUs)"
    )
    best = headline(steps, flood)
    for result in (best.sustained, flood):
        if result is not None:
            console.print()
            console.print(cohort_table(result, callbacks, args.cohorts))
    if failed := sum(r.run.failed for r in [*steps, *([flood] if flood else [])]):
        say(f"  alerts the head-ends' control APIs did not take (not counted above): {failed:,}")
    logs = [directory / "hub.log", *(directory / f"headend-{c}.log" for c in args.cohorts)]
    say(
        f"  duplicate deliveries: {callbacks.duplicates}; other deliveries: {callbacks.other};"
        f" {'; '.join(log_counts(path) for path in logs)}"
    )
    console.print()
    say(best.text(args.devices))


# --------------------------------------------------------------------------- running


async def run(args: argparse.Namespace, directory: Path, started: list[Process]) -> None:
    database = prepare(directory, args.devices, args.cohorts)
    callbacks = AlertCallbacks()
    async with contextlib.AsyncExitStack() as stack:
        url = await callbacks.start()
        stack.push_async_callback(callbacks.aclose)  # last: once the hub has stopped
        headends: dict[str, HeadEndProcess] = {}
        for index, cohort in enumerate(args.cohorts):
            meters = [Eui64.parse(device_id(index + k * len(args.cohorts))) for k in range(3)]
            process = HeadEndProcess(cohort, meters=meters, control=True)
            started.append(process)
            stack.callback(process.stop)
            keep_output(process, directory / f"headend-{cohort}.log")
            headends[cohort] = process
        endpoints = {name: process.endpoint for name, process in headends.items()}
        config = write_config(directory, database, endpoints, url)
        begun = time.monotonic()
        hub = Hub(config, free_port(), directory / "hub.log", started)
        stack.callback(hub.stop)
        say(
            f"[dim]hub up in {time.monotonic() - begun:.1f} s (pid {hub.popen.pid}); head-ends"
            f" {', '.join(f'{n} pid {p.popen.pid}' for n, p in headends.items())}[/dim]"
        )
        controls = {name: p.control_url or "" for name, p in headends.items()}
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
        client = await stack.enter_async_context(httpx.AsyncClient(limits=limits, timeout=120))
        load = Load(client, controls, callbacks, args.devices)
        cpu = Cpu({"hub": [hub.popen.pid], "head-ends": [p.popen.pid for p in headends.values()]})
        bench = Bench(hub, load, callbacks, cpu, args.settle)
        await warm_up(bench)
        steps = await offered_steps(args, bench)
        flood = None
        if args.flood:
            say(f"[dim]flood: {args.flood:,} alerts at once…[/dim]")
            run = Offered(len(steps) + 1, f"flood {args.flood:,}")
            flood = await bench.step(run, load.flood(run, args.flood), flood=True)
        report(args, steps, flood, callbacks, directory)


async def warm_up(bench: Bench) -> None:
    """A few alerts through every cohort first (step 0, not reported)."""
    run = Offered(0, "warm-up")
    await bench.step(run, bench.load.at_rate(run, 30, 1))


async def offered_steps(args: argparse.Namespace, bench: Bench) -> list[StepResult]:
    """The rates in turn until deliveries fall behind; then once more halfway between the
    fastest rate that kept up and that one, to narrow the sustained rate down."""
    results: list[StepResult] = []
    pending, kept_rate, narrowed = list(args.rates), 0.0, False
    while pending:
        rate = pending.pop(0)
        say(f"[dim]step {len(results) + 1}: {rate:,.0f} alerts/s for {args.seconds:g} s…[/dim]")
        run = Offered(len(results) + 1, f"{rate:,.0f}/s")
        result = await bench.step(run, bench.load.at_rate(run, rate, args.seconds))
        results.append(result)
        if result.kept_up >= KEPT_UP:
            kept_rate = max(kept_rate, rate)
        if result.kept_up < GIVE_UP:
            say(f"[dim]deliveries fell to {result.kept_up:.0%} of the offered: no higher[/dim]")
            pending = [] if narrowed or not kept_rate else [(kept_rate + rate) / 2]
            narrowed = True
    return results


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=1_000_000)
    parser.add_argument(
        "--rates", default=",".join(map(str, RATES)), help="offered alerts/s, in turn"
    )
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each step")
    parser.add_argument("--flood", type=int, default=12_000, help="alerts at once; 0: none")
    parser.add_argument(
        "--settle", type=float, default=3.0, help="s of each step left out of its rates"
    )
    parser.add_argument("--cohorts", default=",".join(COHORTS), help="cohorts to spread over")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="100,000 devices, 10 s steps of 50 and 100 alerts/s, a flood of 1,500",
    )
    parser.add_argument("--keep", type=Path, help="run in this directory and keep it")
    args = parser.parse_args()
    if args.quick:
        args.devices, args.rates, args.seconds, args.flood = 100_000, "50,100", 10.0, 1_500
    args.rates = [float(r) for r in args.rates.split(",") if r.strip()]
    args.cohorts = [c.strip() for c in args.cohorts.split(",") if c.strip()]
    if unknown := set(args.cohorts) - set(PROFILES):
        parser.error(f"unknown cohorts {sorted(unknown)}")
    return args


def stop_all(processes: Sequence[Process]) -> None:
    for process in processes:
        process.stop()


def main() -> int:
    args = arguments()
    if not (KEYS / f"{scenario.SUPPLIER_KEY}.key").exists():
        print(f"ZAZ1 keys not found under {KEYS} (set OPENDCC_REFERENCE)", file=sys.stderr)
        return 2
    say(
        f"alert benchmark: {args.devices:,} devices over {', '.join(args.cohorts)}; steps of"
        f" {args.seconds:g} s at {', '.join(f'{r:,.0f}' for r in args.rates)} alerts/s, then a"
        f" flood of {args.flood:,}; codes {', '.join(CODES)} (two Users each); hub on SQLite"
        f" (WAL); {os.cpu_count()} CPUs"
    )
    if not sys.stdout.isatty():
        console.width = 150  # the tables' columns, unwrapped in a log
    # SIGTERM ends the run as Ctrl-C does: every process is stopped on the way out.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    started: list[Process] = []
    try:
        with contextlib.ExitStack() as stack:
            if args.keep:
                args.keep.mkdir(parents=True, exist_ok=True)
                directory = args.keep
            else:
                directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="alerts-")))
            # Before the directory goes, whatever happened in the run.
            stack.callback(stop_all, started)
            asyncio.run(run(args, directory, started))
    except KeyboardInterrupt:
        say("interrupted: every process stopped")
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
