"""Cohort benchmark: every cohort behind one running hub, with the WAN at zero and realistic.

For each WAN (wide area network) mode — ``zero``: the head-end simulators answer at once;
``realistic``: each cohort's own log-normal WAN latency, WAN loss, SMS (Short Message Service)
wake-up of an idle comms hub and gas HAN (Home Area Network) wake-up, from its profile — the
benchmark brings up one head-end simulator process per registered cohort, each serving
``--meters-per-cohort`` ESMEs (electricity meters), and the hub (``python -m opendcc serve``,
embedded mode on SQLite in a temporary directory, no XSD) with those meters commissioned and
their metering points registered to the supplier. Then, for every cohort at once, it sends
``--requests`` signed SRV (Service Reference Variant) 4.1.1 requests (Read Instantaneous Import
Registers) spread over the cohort's meters, and times each from its POST to the signed DUIS
(DCC User Interface Specification) Response arriving at the supplier's callback endpoint. Run
with ``make bench-cohorts``:

    .venv/bin/python benchmarks/cohorts.py [--quick] [--meters-per-cohort 200] [--requests 300]
        [--concurrency 64] [--posts-in-flight 1] [--modes zero,realistic]
        [--response-time-scale 1.0] [--keep DIR]

Per cohort it reports requests, responses/s (delivered responses over the cohort's wall time,
its first POST to its last response), end-to-end latency p50/p99 and the DUIS response codes:
I0 is success; E21 ("no response from the device") is a command the WAN lost, or one with no
answer within the SRV's target response time (times ``--response-time-scale``).

How load is applied: at most ``--concurrency`` requests are in flight (POSTed, or waiting their
turn to be, and not yet answered at the callback), split evenly across the cohorts, each cohort a
closed loop of its own, so a cohort's responses/s is about its share of the concurrency over
its latency. Requests are signed when sent, by the one supplier User, and POSTed one at a time
(``--posts-in-flight``): the hub accepts a request only if its originator counter is above the
last one it accepted from the User (else HTTP 409), and concurrent POSTs reach it out of order.
The hub acknowledges in milliseconds, which bounds the rate at one over the mean
acknowledgement time (printed): with the WAN at zero that, not the WAN, is the limit. The wait
for the turn to POST is reported, not counted in the latency. A 409 all the same is signed again
with a new counter and resent, timed from the first POST, and counted.
Each mode runs on fresh processes and a fresh database, after a few untimed requests per cohort
to a meter of its own that the timed requests do not use.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

from front_door import tree_cpu  # the hub's whole process tree, as alerts.py counts it
from opendcc.core.eui import Eui64
from opendcc.duis.xml import parse_xml, sr
from opendcc.s1sp.cohorts import register_all
from opendcc.s1sp.contract import CohortProfile, Registry
from opendcc.s1sp.services import DEFAULT_RESPONSE_TIME_S, SERVICES
from opendcc.sim import fleet, scenario
from opendcc.sim.processes import HeadEndProcess, HubProcess, free_port
from opendcc.sim.user import SimulatedUser
from opendcc.smki import SigningCredentials

REPO = Path(__file__).resolve().parents[1]
REFERENCE = Path(os.environ.get("OPENDCC_REFERENCE", REPO.parent / "shared/reference/duis"))
KEYS = REFERENCE / "keys/dccboxed-signing-tool"
SRV = "4.1.1"
MODES = ("zero", "realistic")
PROFILES = register_all(Registry()).profiles()
WARMUP = 3  # untimed requests per cohort, to its own meter, all at once
WARM_WAIT_S = 5.0  # warm-up responses later than this are not waited for
REPLAY_ATTEMPTS = 20
CLK_TCK = os.sysconf("SC_CLK_TCK")
console = Console(highlight=False, width=None if sys.stdout.isatty() else 120)


def say(text: str) -> None:
    console.print(text)


def target_s() -> float:
    """SRV 4.1.1's target response time: the adapter answers E21 once it has passed."""
    service = SERVICES.get(SRV)
    return service.response_time_s if service is not None else DEFAULT_RESPONSE_TIME_S


# --------------------------------------------------------------------------- the estate


@dataclass(frozen=True)
class CohortFleet:
    """One cohort's meters: the timed ones, the warm-up one, their head-end fleet file."""

    profile: CohortProfile
    meters: tuple[Eui64, ...]
    warmup: Eui64
    mpans: tuple[str, ...]  # of meters + (warmup,)
    headend_file: Path


def write_fleet(directory: Path, per_cohort: int) -> list[CohortFleet]:
    """``per_cohort`` + 1 single-fuel installations per cohort; the last is for warming up."""
    found = []
    for index, profile in enumerate(PROFILES):
        models = fleet.Models.of(profile)
        records = [
            fleet.installation(profile.name, index, n, models, dual_fuel=False)
            for n in range(per_cohort + 1)
        ]
        path = directory / f"headend-{index}.jsonl"
        path.write_text(
            "".join(
                json.dumps(meter.to_json()) + "\n"
                for record in records
                for meter in fleet.headend_meters(record)
            )
        )
        esmes = [
            Eui64.parse(next(d["device_id"] for d in r["devices"] if d["type"] == "ESME"))
            for r in records
        ]
        mpans = tuple(r["mpan"] for r in records)
        found.append(CohortFleet(profile, tuple(esmes[:-1]), esmes[-1], mpans, path))
    return found


def devices_toml(cohorts: Sequence[CohortFleet]) -> str:
    lines: list[str] = []
    for cohort in cohorts:
        models = fleet.Models.of(cohort.profile)
        for device, mpan in zip((*cohort.meters, cohort.warmup), cohort.mpans, strict=True):
            lines += [
                "[[devices]]",
                f'id = "{device}"',
                'type = "ESME"',
                'status = "commissioned"',
                f"manufacturer = {json.dumps(models.manufacturer)}",
                f"model = {json.dumps(models.model('ESME'))}",
                f'firmware_version = "{fleet.FIRMWARE}"',
                f'cohort = "{cohort.profile.name}"',
                f'mpxn = "{mpan}"',
                "",
            ]
    return "\n".join(lines)


def write_config(
    directory: Path,
    cohorts: Sequence[CohortFleet],
    endpoints: dict[str, str],
    callback_url: str,
    response_time_scale: float,
) -> Path:
    first = cohorts[0].profile.name
    extra = "".join(
        f'\n[[s1sp]]\ncohort = "{name}"\nendpoint = "{endpoint}"\n'
        for name, endpoint in endpoints.items()
        if name != first
    )
    return scenario.write_config(
        directory / "hub.toml",
        keys=KEYS,
        cohort=first,
        headend=endpoints[first],
        callback_url=callback_url,
        database_url=f"sqlite:///{directory / 'hub.db'}",
        registrations=[
            (mpan, "IS", str(scenario.SUPPLIER)) for cohort in cohorts for mpan in cohort.mpans
        ],
        extra=extra + "\n" + devices_toml(cohorts),
        response_time_scale=response_time_scale,
    )


def drain(process: subprocess.Popen[bytes]) -> None:
    """Read a head-end's piped output in the background, so a chatty one never blocks."""
    if process.stdout is not None:
        threading.Thread(target=process.stdout.read, daemon=True).start()


def cpu_seconds(pid: int) -> float:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return float("nan")
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def cpu_of(name: str, pid: int) -> float:
    return tree_cpu(pid) if name == "hub" else cpu_seconds(pid)


def self_cpu() -> float:
    times = os.times()
    return times.user + times.system


# --------------------------------------------------------------------------- the callback


@dataclass(frozen=True, slots=True)
class Delivery:
    body: bytes
    at: float  # time.monotonic() once the POST's body had arrived


_OK = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"


class Callbacks:
    """The supplier's callback endpoint: HTTP/1.1 keep-alive on this process's event loop.

    It hands each response to the request waiting for it. (``opendcc.sim.user.CallbackServer``,
    a stdlib ThreadingHTTPServer, listens with a backlog of 5: the hub's bursts of concurrent
    deliveries overflow it, and the retried connections add a second or more to the latency
    measured here.)
    """

    def __init__(self, keep: Callable[[str, bytes], bytes] | None = None) -> None:
        # ``keep``: what to hold of each body (by key); a million whole bodies would be gigabytes.
        self.keep = keep
        self.arrived: dict[str, Delivery] = {}
        self.duplicates = 0
        self._waiting: dict[str, asyncio.Future[Delivery]] = {}
        self._server: asyncio.Server | None = None
        self._connections: dict[asyncio.Task[None], asyncio.StreamWriter] = {}

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0, backlog=1024)
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}/duis"

    async def aclose(self) -> None:
        """Stop listening and end the open connections (before the event loop ends)."""
        if self._server is not None:
            self._server.close()
        for writer in self._connections.values():
            writer.close()
        await asyncio.gather(*self._connections, return_exceptions=True)

    async def wait(self, key: str, timeout: float) -> Delivery | None:
        if (done := self.arrived.get(key)) is not None:
            return done
        waiter = self._waiting[key] = asyncio.get_running_loop().create_future()
        try:
            return await asyncio.wait_for(waiter, timeout)
        except TimeoutError:
            self._waiting.pop(key, None)
            return None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections[task] = writer
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length, key = 0, ""
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    name = name.strip().lower()
                    if name == b"content-length":
                        length = int(value)
                    elif name == b"x-dcc-message-id":
                        key = value.strip().decode()
                body = await reader.readexactly(length) if length else b""
                if self.keep is not None:
                    body = self.keep(key, body)
                self._arrive(key, Delivery(body, time.monotonic()))
                writer.write(_OK)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        finally:
            self._connections.pop(task, None)
            writer.close()

    def _arrive(self, key: str, delivery: Delivery) -> None:
        if key in self.arrived:
            self.duplicates += 1  # at-least-once delivery: a redelivery
            return
        self.arrived[key] = delivery
        waiter = self._waiting.pop(key, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(delivery)


def response_code(body: bytes) -> str:
    root = parse_xml(body).getroot()
    return root.findtext(f"{sr('Header')}/{sr('ResponseCode')}") or "?"


# --------------------------------------------------------------------------- sending


@dataclass
class CohortRun:
    latencies: list[float] = field(default_factory=list)  # s, first POST to response
    acks: list[float] = field(default_factory=list)  # s, POST to the I99 acknowledgement
    turns: list[float] = field(default_factory=list)  # s, waiting for the turn to POST
    codes: Counter[str] = field(default_factory=Counter)
    past_target: int = 0  # E21 answered once the target response time had passed
    replays: int = 0  # HTTP 409 replay refusals, each signed again and resent
    first: float = float("inf")
    last: float = 0.0

    @property
    def responses(self) -> int:
        return len(self.latencies)


def merged(runs: Iterable[CohortRun]) -> CohortRun:
    total = CohortRun()
    for run in runs:
        total.latencies += run.latencies
        total.acks += run.acks
        total.turns += run.turns
        total.codes += run.codes
        total.past_target += run.past_target
        total.replays += run.replays
        total.first, total.last = min(total.first, run.first), max(total.last, run.last)
    return total


def lanes(concurrency: int, cohorts: int) -> list[int]:
    """``concurrency`` split evenly over ``cohorts`` (at least one each)."""
    widths = [concurrency // cohorts] * cohorts
    for i in range(concurrency % cohorts):
        widths[i] += 1
    return [max(width, 1) for width in widths]


class Sender:
    """Sends the supplier's requests, ``posts_in_flight`` POSTs at a time, and waits for their
    responses."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        url: str,
        user: SimulatedUser,
        callbacks: Callbacks,
        *,
        target_s: float,
        posts_in_flight: int = 1,
    ) -> None:
        self.client = client
        self.url = url
        self.user = user
        self.callbacks = callbacks
        self.target_s = target_s
        self._posting = asyncio.Semaphore(posts_in_flight)

    async def send(self, target: Eui64, run: CohortRun, wait_s: float) -> None:
        """One request, signed now, to ``target``, until its response arrives (or not)."""
        queued = time.monotonic()
        posted = 0.0
        for _ in range(REPLAY_ATTEMPTS):
            async with self._posting:
                if not posted:
                    posted = time.monotonic()
                    run.turns.append(posted - queued)
                    run.first = min(run.first, posted)
                counter = self.user.next_counter()
                body = self.user.request(SRV, target, counter=counter)
                try:
                    answer = await self.client.post(
                        self.url, content=body, headers={"Content-Type": "application/xml"}
                    )
                except httpx.HTTPError as exc:
                    run.codes[f"POST failed: {type(exc).__name__}"] += 1
                    return
            if answer.status_code != 409:
                break
            run.replays += 1
        code = answer.headers.get("X-DUIS-Response-Code", "")
        if answer.status_code != 200 or code != "I99":
            run.codes[f"HTTP {answer.status_code} {code or '-'}"] += 1
            return
        run.acks.append(time.monotonic() - posted)
        key = f"R:{target}:{self.user.user_id}:{counter}"  # "R:" and the ResponseID
        delivery = await self.callbacks.wait(key, wait_s)
        if delivery is None:
            run.codes["no response"] += 1
            return
        latency = delivery.at - posted
        run.latencies.append(latency)
        run.last = max(run.last, delivery.at)
        code = response_code(delivery.body)
        run.codes[code] += 1
        if code == "E21" and latency >= self.target_s:
            run.past_target += 1


async def warm_up(sender: Sender, cohorts: Sequence[CohortFleet]) -> CohortRun:
    warm = CohortRun()
    await asyncio.gather(
        *(sender.send(c.warmup, warm, WARM_WAIT_S) for c in cohorts for _ in range(WARMUP))
    )
    return warm


async def drive(
    sender: Sender,
    cohorts: Sequence[CohortFleet],
    *,
    requests: int,
    widths: Sequence[int],
    wait_s: float,
) -> dict[str, CohortRun]:
    """Send ``requests`` per cohort, every cohort at once, each in ``width`` closed loops."""
    runs = {c.profile.name: CohortRun() for c in cohorts}

    async def closed_loop(cohort: CohortFleet, width: int) -> None:
        queue = iter(range(requests))
        run = runs[cohort.profile.name]

        async def lane() -> None:
            while (i := next(queue, None)) is not None:
                await sender.send(cohort.meters[i % len(cohort.meters)], run, wait_s)

        await asyncio.gather(*(lane() for _ in range(width)))

    await asyncio.gather(*(closed_loop(c, w) for c, w in zip(cohorts, widths, strict=True)))
    return runs


# --------------------------------------------------------------------------- one mode


@dataclass
class ModeResult:
    mode: str
    warm: CohortRun
    runs: dict[str, CohortRun]
    widths: dict[str, int]
    cpu: dict[str, float]  # CPU seconds during the timed requests, by process
    duplicates: int
    hub_log: str


async def run_mode(
    mode: str, args: argparse.Namespace, cohorts: Sequence[CohortFleet], directory: Path
) -> ModeResult:
    """Fresh head-ends (with the ``mode`` WAN), hub and database; warm up, then drive."""
    directory.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    target = target_s() * args.response_time_scale
    widths = lanes(args.concurrency, len(cohorts))
    callbacks = Callbacks()
    async with contextlib.AsyncExitStack() as stack:
        url = await callbacks.start()
        stack.push_async_callback(callbacks.aclose)  # last: once the hub has stopped
        headends = {}
        for cohort in cohorts:
            process = HeadEndProcess(
                cohort.profile.name, fleet=cohort.headend_file, realistic_wan=mode == "realistic"
            )
            stack.callback(process.stop)
            drain(process.popen)
            headends[cohort.profile.name] = process
        endpoints = {name: process.endpoint for name, process in headends.items()}
        config = write_config(directory, cohorts, endpoints, url, args.response_time_scale)
        hub = HubProcess(config, free_port(), directory / "hub.log")
        stack.callback(hub.stop)
        say(
            f"[dim]{mode} WAN: {len(cohorts)} head-ends and the hub up in"
            f" {time.monotonic() - started:.1f} s; sending…[/dim]"
        )
        user = SimulatedUser(
            SigningCredentials.from_files(
                KEYS / f"{scenario.SUPPLIER_KEY}.key", KEYS / f"{scenario.SUPPLIER_KEY}.pem"
            )
        )
        posts = args.posts_in_flight
        limits = httpx.Limits(max_connections=posts, max_keepalive_connections=posts)
        async with httpx.AsyncClient(limits=limits, timeout=60) as client:
            sender = Sender(
                client,
                f"{hub.url}/api/v1/serviceS",
                user,
                callbacks,
                target_s=target,
                posts_in_flight=posts,
            )
            warm = await warm_up(sender, cohorts)
            pids = {"hub": hub.popen.pid} | {n: p.popen.pid for n, p in headends.items()}
            # The hub is a supervisor and its processes (gateways, worker, deliverer,
            # scheduler): counted whole.
            before = {name: cpu_of(name, pid) for name, pid in pids.items()}
            before["benchmark"] = self_cpu()
            runs = await drive(
                sender,
                cohorts,
                requests=args.requests,
                widths=widths,
                # The adapter answers E21 at the target at the latest; allow for the rest.
                wait_s=target + 60.0,
            )
            after = {name: cpu_of(name, pid) for name, pid in pids.items()}
            after["benchmark"] = self_cpu()
    log = directory / "hub.log"
    text = log.read_text(errors="replace") if log.exists() else ""
    headend_cpu = sum(after[name] - before[name] for name in headends)
    return ModeResult(
        mode,
        warm,
        runs,
        {c.profile.name: w for c, w in zip(cohorts, widths, strict=True)},
        {
            "hub": after["hub"] - before["hub"],
            f"{len(headends)} head-ends": headend_cpu,
            "benchmark (sender + callback)": after["benchmark"] - before["benchmark"],
        },
        callbacks.duplicates,
        f"{text.count('Traceback (most recent call last)')} tracebacks in hub.log",
    )


# --------------------------------------------------------------------------- reporting


def pct(values: Sequence[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


def codes_text(run: CohortRun) -> str:
    parts = []
    for code, count in sorted(run.codes.items()):
        late = f" ({run.past_target} past target)" if code == "E21" else ""
        parts.append(f"{code} {count}{late}")
    return ", ".join(parts) or "-"


def wan_table() -> Table:
    table = Table(title="Each cohort's realistic WAN (its profile)", title_justify="left")
    table.add_column("cohort")
    for column in ("latency p50 ms", "latency p99 ms", "loss", "SMS wake ms", "awake s"):
        table.add_column(column, justify="right")
    table.add_column("gas wake ms", justify="right")
    for profile in PROFILES:
        wan = profile.wan
        table.add_row(
            profile.name,
            f"{wan.latency_p50_ms:,}",
            f"{wan.latency_p99_ms:,}",
            f"{wan.failure_rate:.0%}",
            f"{wan.sms_wake_ms:,}" if wan.sms_wake_ms else "-",
            f"{wan.awake_s:g}" if wan.sms_wake_ms else "-",
            f"{wan.gas_wake_ms:,}" if wan.gas_wake_ms else "-",
        )
    return table


def row(name: str, in_flight: int, run: CohortRun) -> list[str]:
    wall = run.last - run.first
    return [
        name,
        str(in_flight),
        str(sum(run.codes.values())),
        f"{run.responses / wall:,.1f}" if run.responses and wall > 0 else "-",
        f"{pct(run.latencies, 50) * 1e3:,.0f}",
        f"{pct(run.latencies, 99) * 1e3:,.0f}",
        codes_text(run),
    ]


def result_table(result: ModeResult) -> Table:
    total = merged(result.runs.values())
    wall = total.last - total.first if total.responses else float("nan")
    table = Table(
        title=f"{result.mode} WAN: every cohort at once, {wall:.1f} s", title_justify="left"
    )
    table.add_column("cohort")
    for column in ("in flight", "requests", "responses/s", "p50 ms", "p99 ms"):
        table.add_column(column, justify="right")
    table.add_column("response codes")
    for name, run in result.runs.items():
        table.add_row(*row(name, result.widths[name], run))
    table.add_section()
    table.add_row(*row("all", sum(result.widths.values()), total))
    return table


def report(args: argparse.Namespace, results: Sequence[ModeResult]) -> None:
    console.print()
    console.print(wan_table())
    for result in results:
        total = merged(result.runs.values())
        wall = total.last - total.first if total.responses else float("nan")
        console.print()
        console.print(result_table(result))
        mean_ack = sum(total.acks) / len(total.acks) if total.acks else float("nan")
        # One POST at a time: the hub's acknowledgement time bounds the rate.
        bound = (
            f" (one at a time: at most {1 / mean_ack:,.0f}/s)" if args.posts_in_flight == 1 else ""
        )
        say(
            f"  POST to I99 p50/p99/mean {pct(total.acks, 50) * 1e3:,.0f}/"
            f"{pct(total.acks, 99) * 1e3:,.0f}/{mean_ack * 1e3:,.0f} ms{bound}; waiting for the"
            f" turn to POST (not in the latency) p50/p99 {pct(total.turns, 50) * 1e3:,.0f}/"
            f"{pct(total.turns, 99) * 1e3:,.0f} ms; 409s resent: {total.replays}"
        )
        say(
            "  CPU while timed: "
            + ", ".join(
                f"{name} {seconds:.1f} s ({seconds / wall:.0%} of a CPU)"
                for name, seconds in result.cpu.items()
            )
        )
        say(
            f"  warm-up (untimed, {WARM_WAIT_S:g} s allowed): {codes_text(result.warm)};"
            f" duplicate deliveries: {result.duplicates}; {result.hub_log}"
        )
    target = target_s()
    say(
        f"\nresponses/s: a cohort's responses over its own wall time (its first POST to its last"
        f" response); p50/p99: POST to the signed Response at the supplier's callback, every"
        f" code included. E21: the WAN lost the command (answered after its WAN delay), or no"
        f" answer came within SRV {SRV}'s target response time of"
        f" {target * args.response_time_scale:g} s ({target:g} s x --response-time-scale"
        f" {args.response_time_scale:g}): those are counted 'past target'."
    )


# --------------------------------------------------------------------------- main


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meters-per-cohort", type=int, default=200)
    parser.add_argument("--requests", type=int, default=300, help="timed requests per cohort")
    parser.add_argument(
        "--concurrency", type=int, default=64, help="requests in flight, across every cohort"
    )
    parser.add_argument(
        "--posts-in-flight",
        type=int,
        default=1,
        help="concurrent POSTs (above 1, the hub may take them out of counter order: 409s)",
    )
    parser.add_argument(
        "--modes", default=",".join(MODES), help=f"WAN modes to run, of {','.join(MODES)}"
    )
    parser.add_argument(
        "--response-time-scale",
        type=float,
        default=1.0,
        help="the hub's response_time_scale: multiplies every SRV's target response time",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="12 meters and 12 requests per cohort, all in flight at once",
    )
    parser.add_argument("--keep", type=Path, help="run in this directory and keep it")
    args = parser.parse_args()
    if args.quick:
        args.meters_per_cohort, args.requests = 12, 12
        args.concurrency = args.requests * len(PROFILES)
    args.modes = [mode.strip() for mode in args.modes.split(",") if mode.strip()]
    if unknown := set(args.modes) - set(MODES):
        parser.error(f"unknown WAN modes {sorted(unknown)}; choose from {', '.join(MODES)}")
    return args


def main() -> int:
    args = arguments()
    if not (KEYS / f"{scenario.SUPPLIER_KEY}.key").exists():
        print(f"ZAZ1 keys not found under {KEYS} (set OPENDCC_REFERENCE)", file=sys.stderr)
        return 2
    say(
        f"cohort benchmark: {len(PROFILES)} cohorts, {args.meters_per_cohort} ESMEs and"
        f" {args.requests} signed SRV {SRV} requests each, {args.concurrency} in flight across"
        f" them, {args.posts_in_flight} POST(s) at a time; hub on SQLite (WAL), no XSD;"
        f" response_time_scale {args.response_time_scale:g}; {os.cpu_count()} CPUs"
    )
    with contextlib.ExitStack() as stack:
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            directory = args.keep
        else:
            directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="cohorts-")))
        cohorts = write_fleet(directory, args.meters_per_cohort)
        results = [
            asyncio.run(run_mode(mode, args, cohorts, directory / mode)) for mode in args.modes
        ]
    report(args, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
