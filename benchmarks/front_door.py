"""Front-door benchmark: the running hub over real HTTP, from signed request to delivered response.

Brings up the scenario's estate in a temporary directory — the head-end simulator and the hub
(`python -m opendcc serve`, embedded mode on SQLite, no XSD) as processes, and the Users'
callback endpoint — pre-signs signed SRV 4.1.1 requests from the scenario's two Users over its
commissioned meters (signing is the User's cost, so it happens before timing), drives them at
the hub over concurrent keep-alive HTTP/1.1 connections, and prints throughput, acknowledgement
and end-to-end latency, every refusal by HTTP status and DUIS code, the per-stage latencies read
back from the hub's `request_transitions` table, and the CPU each process spent (the hub's
summed over all its processes, children included). Run with `make bench-front-door`:

    .venv/bin/python benchmarks/front_door.py [--modes burst,ordered,open,accept]
        [--requests 1000] [--concurrency 16] [--open-rate 100] [--users both|supplier]
        [--callback fast|stdlib] [--gateways N] [--stall 20] [--profile] [--sqlite-immediate]
        [--keep DIR] [--scale [--scale-gateways 2] [--scale-workers 2]] [--reuseport]

`--scale` runs the same hub in scale mode: a fresh PostgreSQL database each mode
(`OPENDCC_TEST_POSTGRES_URL`) and RabbitMQ (`OPENDCC_TEST_RABBITMQ_URL`, or the project's node,
started), `opendcc serve` with that many gateways and workers; the CPU of this database's
PostgreSQL backends and of the RabbitMQ node is printed beside the hub's (`make bench-scale`).

Three modes, each on a fresh hub, one after another (all three by default): **burst** (every
request as fast as `--concurrency` connections take them, the Users interleaved), **ordered**
(one request in flight per User) and **open** (an open loop at `--open-rate` requests/s: the
end-to-end p50/p99 at a given rate). **accept** (only when asked for: ``--modes accept``) is
the burst against the gateways alone: the store prepared as ``opendcc serve`` prepares it, then
``--gateways`` gateway processes on one socket and no worker, deliverer or scheduler, so the
figures are the accept path's own: accepted/s and the gateways' CPU per accept (e.g.
``--modes accept --requests 20000``), and each gateway's own account of its group commits
(pieces per batch, writer CPU per piece, how often its BEGIN found the write lock taken by the
other; warm-up included). The gateways share one listening socket, as under ``opendcc serve``
(the first to wake accepts what is waiting: a burst of connections often goes mostly to one);
``--reuseport`` gives each its own (SO_REUSEPORT: the kernel spreads them). A summary closes
the run with each mode's accepted/s, refusals, delivered/s, e2e p50/p99 and hub CPU per
request, beside the floors measured in the same run (``floors.py``: a bare ECDSA verify, an
XMLDSig verify, a raw HTTP server's CPU per POST, raw SQLite executemany rows/s). `--ordered`
or `--rate R` alone run that one mode.

If the hub stops answering or delivering for `--stall` seconds, the run gives up, says so and
still prints what it measured (with the hub's /health and a count of hub.log tracebacks).
`--sqlite-immediate` is an experiment, not the hub as shipped: the same `opendcc serve` with every
SQLite transaction begun IMMEDIATE, to measure what that change would give.

Replay protection: each User's counters are pre-signed in increasing order and the senders take
them from one shared iterator, so with several in flight they arrive slightly out of order. The
hub accepts an unseen counter inside its replay window (docs/access-control.md), so none of
these honest requests should be refused; any refusal is counted and reported by code.

The callback endpoint: by default a raw asyncio HTTP/1.1 server in its own process (the stdlib
ThreadingHTTPServer of `opendcc.sim.user.CallbackServer`, one thread per connection in this
process, competes for this process's GIL with the sender; `--callback stdlib` uses it anyway).
Arrival times are `time.monotonic()` (CLOCK_MONOTONIC: one clock for every process on Linux).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import json
import multiprocessing
import os
import pstats
import re
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Protocol, TypeVar

import aiohttp
import httpx

import floors
from floors import Floors
from opendcc.core.eui import Eui64
from opendcc.s1sp.cohorts import register_all
from opendcc.s1sp.contract import Registry
from opendcc.sim import scenario
from opendcc.sim.processes import HeadEndProcess, HubProcess, Process, free_port
from opendcc.sim.user import CallbackServer, SimulatedUser
from opendcc.smki import SigningCredentials, TrustStore

REPO = Path(__file__).resolve().parents[1]
REFERENCE = Path(os.environ.get("OPENDCC_REFERENCE", REPO.parent / "shared/reference/duis"))
T = TypeVar("T")
KEYS = REFERENCE / "keys/dccboxed-signing-tool"
SRV = "4.1.1"
STAGES = (
    ("received", "accepted"),
    ("accepted", "dispatched"),
    ("dispatched", "instructed"),
    ("instructed", "sent_to_s1sp"),
    ("sent_to_s1sp", "responded"),
    ("responded", "delivered"),
)
CLK_TCK = os.sysconf("SC_CLK_TCK")
HUB_TREE = "hub, all its processes"


# --------------------------------------------------------------------------- requests


@dataclass(frozen=True, slots=True)
class Signed:
    user: int  # index into the Users
    request_id: str
    key: str  # the X-DCC-Message-ID its response is delivered under
    body: bytes


def user(key: str) -> SimulatedUser:
    return SimulatedUser(SigningCredentials.from_files(KEYS / f"{key}.key", KEYS / f"{key}.pem"))


def spread(count: int) -> list[Eui64]:
    """``count`` meters beyond the scenario's eight (``--meters``), made for the run."""
    return [
        Eui64.parse(f"00-DB-20-00-00-{n >> 16:02X}-{n >> 8 & 0xFF:02X}-{n & 0xFF:02X}")
        for n in range(count)
    ]


def presign(
    users: Sequence[SimulatedUser], count: int, meters: Sequence[Eui64] = ()
) -> list[Signed]:
    """``count`` signed requests, Users interleaved, each User's counters strictly increasing,
    over ``meters`` (default the scenario's eight) in turn."""
    spread = bool(meters)  # then a meter a request, as on a fleet
    meters = list(meters) or [m.device_id for m in scenario.METERS]
    out = []
    for i in range(count):
        u = i % len(users)
        target = meters[(i if spread else i // len(users)) % len(meters)]
        counter = users[u].next_counter()
        body = users[u].request(SRV, target, counter=counter)
        originator = users[u].user_id
        out.append(
            Signed(
                u, f"{originator}:{target}:{counter}", f"R:{target}:{originator}:{counter}", body
            )
        )
    return out


def fleet_file(directory: Path, meters: Sequence[Eui64]) -> Path:
    """The head-end simulator's ``--fleet`` file for the spread meters."""
    from opendcc.sim.headends import FleetMeter

    path = directory / "fleet.jsonl"
    path.write_text("".join(json.dumps(FleetMeter(m).to_json()) + "\n" for m in meters))
    return path


def install(url: str, meters: Sequence[Eui64]) -> None:
    """Put the spread meters in the hub's inventory before it starts, each on its own MPAN
    registered to the scenario's supplier (IS) and network operator (ED), as the scenario's."""
    from opendcc.catalogue import DeviceType, UserRole
    from opendcc.inventory import Device, InventoryStore, Registration, SmiStatus
    from opendcc.store import create_engine_for as engine_for
    from opendcc.store.engine import upgrade

    engine = engine_for(url)
    try:
        upgrade(engine)
        inventory = InventoryStore(engine)
        since = datetime(2020, 1, 1, tzinfo=UTC)
        devices = [
            Device(
                m,
                DeviceType.ESME,
                SmiStatus.COMMISSIONED,
                "Simulated",
                "S1-ESME",
                cohort(),
                f"18{n:011d}",
                "1.0.0",
            )
            for n, m in enumerate(meters)
        ]
        inventory.put_devices(devices, since)
        inventory.register(
            Registration(d.mpxn or "", role, holder, since)
            for d in devices
            for role, holder in (
                (UserRole.IS, scenario.SUPPLIER),
                (UserRole.ED, scenario.NETWORK_OPERATOR),
            )
        )
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- callback endpoint


class Receiver(Protocol):
    url: str

    def count(self) -> int: ...

    def arrivals(self) -> tuple[dict[str, float], int]: ...

    def pid(self) -> int | None: ...

    def close(self) -> None: ...


_OK = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"


async def _serve_callbacks(control: Connection) -> None:
    arrivals: dict[str, float] = {}
    duplicates = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal duplicates
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
                if length:
                    await reader.readexactly(length)
                at = time.monotonic()
                if key in arrivals:
                    duplicates += 1
                else:
                    arrivals[key] = at
                writer.write(_OK)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=1024)
    control.send(server.sockets[0].getsockname()[1])
    loop = asyncio.get_running_loop()
    while True:
        command = await loop.run_in_executor(None, control.recv)
        if command == "count":
            control.send(len(arrivals))
        elif command == "arrivals":
            control.send((arrivals, duplicates))
        else:
            break
    server.close()


def _callback_process(control: Connection) -> None:
    with contextlib.suppress(ImportError):
        import uvloop  # uvicorn[standard] brings it

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    asyncio.run(_serve_callbacks(control))


class FastReceiver:
    """Raw asyncio HTTP/1.1 (keep-alive, Content-Length bodies) in a process of its own."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self._control, child = context.Pipe()
        self._process = context.Process(target=_callback_process, args=(child,), daemon=True)
        self._process.start()
        self.url = f"http://127.0.0.1:{self._control.recv()}/duis"

    def count(self) -> int:
        self._control.send("count")
        return int(self._control.recv())

    def arrivals(self) -> tuple[dict[str, float], int]:
        self._control.send("arrivals")
        arrivals, duplicates = self._control.recv()
        return arrivals, duplicates

    def pid(self) -> int | None:
        return self._process.pid

    def close(self) -> None:
        self._control.send("stop")
        self._process.join(5)
        if self._process.is_alive():
            self._process.kill()


class NoReceiver:
    """The accept mode's: nothing is delivered (no worker runs), so nothing listens."""

    url = "http://127.0.0.1:9/duis"

    def count(self) -> int:
        return 0

    def arrivals(self) -> tuple[dict[str, float], int]:
        return {}, 0

    def pid(self) -> int | None:
        return None

    def close(self) -> None:
        pass


class StdlibReceiver:
    """opendcc.sim.user.CallbackServer: ThreadingHTTPServer, in this process."""

    def __init__(self) -> None:
        self._server = CallbackServer().__enter__()
        self.url = self._server.url

    def count(self) -> int:
        return len(self._server.deliveries)

    def arrivals(self) -> tuple[dict[str, float], int]:
        arrivals: dict[str, float] = {}
        for delivery in list(self._server.deliveries):
            arrivals.setdefault(delivery.key, delivery.at)
        return arrivals, len(self._server.deliveries) - len(arrivals)

    def pid(self) -> int | None:
        return None  # shares this process

    def close(self) -> None:
        self._server.__exit__()


# --------------------------------------------------------------------------- sending


@dataclass
class Sent:
    at: list[float]  # monotonic, when the POST began (open loop: when it was due)
    at_wall: list[float]  # time.time() at the same instant, to line up with the hub's clock
    acked: list[float]
    status: list[int]
    code: list[str]
    reason: list[str]
    start: float = 0.0
    end: float = 0.0


async def drive(
    url: str,
    items: Sequence[Signed],
    *,
    concurrency: int,
    rate: float,
    ordered: bool,
    stall: float,
) -> Sent:
    """POST every item; give up on the rest after ``stall`` seconds without an answer."""
    n = len(items)
    sent = Sent([0.0] * n, [0.0] * n, [0.0] * n, [0] * n, ["unanswered"] * n, [""] * n)
    headers = {"Content-Type": "application/xml"}
    progress = time.monotonic()
    # aiohttp, not httpx: the sender (a User's system) shares the hub's 2 cores, and httpx
    # costs it about three times aiohttp's CPU per POST (benchmarks/http_client.py).
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=max(stall, 5.0))
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as client:
        await open_connections(client, url.rsplit("/api/", 1)[0], concurrency)

        async def post(i: int) -> None:
            nonlocal progress
            try:
                async with client.post(url, data=items[i].body, headers=headers) as answer:
                    await answer.read()
                    sent.status[i] = answer.status
                    sent.code[i] = answer.headers.get("X-DUIS-Response-Code", "")
                    sent.reason[i] = answer.headers.get("X-OpenDCC-Reason", "")
            except (aiohttp.ClientError, TimeoutError) as exc:
                sent.code[i] = type(exc).__name__
            sent.acked[i] = progress = time.monotonic()

        async def worker(queue: Callable[[], int | None]) -> None:
            while (i := queue()) is not None:
                sent.at[i], sent.at_wall[i] = time.monotonic(), time.time()
                await post(i)

        def take(indices: Iterable[int]) -> Callable[[], int | None]:
            source = iter(indices)
            return lambda: next(source, None)

        async def open_loop() -> None:
            tasks = []
            for i in range(n):
                due = sent.start + i / rate
                if (wait := due - time.monotonic()) > 0:
                    await asyncio.sleep(wait)
                sent.at[i], sent.at_wall[i] = due, time.time() - (time.monotonic() - due)
                tasks.append(asyncio.create_task(post(i)))
            try:
                await asyncio.gather(*tasks)
            finally:
                for task in tasks:
                    task.cancel()

        sent.start = progress = time.monotonic()
        main: asyncio.Future[Any]
        if rate > 0:
            main = asyncio.ensure_future(open_loop())
        elif ordered:
            lanes = sorted({item.user for item in items})
            main = asyncio.gather(
                *(worker(take([i for i, it in enumerate(items) if it.user == u])) for u in lanes)
            )
        else:
            shared = take(range(n))
            main = asyncio.gather(*(worker(shared) for _ in range(concurrency)))
        gave_up = await watch(main, stall, lambda: progress)
        sent.end = time.monotonic() if gave_up else progress
    return sent


async def open_connections(client: aiohttp.ClientSession, base: str, count: int) -> None:
    """Open every connection before timing."""

    async def health() -> None:
        async with client.get(f"{base}/health") as answer:
            await answer.read()

    await asyncio.gather(*(health() for _ in range(count)), return_exceptions=True)


def run_loop(main: Awaitable[T]) -> T:
    """The sender's loop: uvloop's when it is there (uvicorn's extra brings it), as the hub's."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)  # type: ignore[arg-type]
    return uvloop.run(main)  # type: ignore[arg-type]


async def watch(main: asyncio.Future[Any], stall: float, last: Callable[[], float]) -> bool:
    """Await ``main``; cancel it (and say so) once ``stall`` seconds pass without progress."""
    while not main.done():
        await asyncio.wait([main], timeout=0.5)
        if not main.done() and time.monotonic() - last() > stall:
            main.cancel()  # the hub stopped answering: report what came back
            with contextlib.suppress(asyncio.CancelledError):
                await main
            return True
    return False


def wait_for_deliveries(receiver: Receiver, expected: int, timeout: float, stall: float) -> bool:
    """Until ``expected`` deliveries, ``timeout`` in all, or ``stall`` seconds without one."""
    deadline = time.monotonic() + timeout
    seen, progress = receiver.count(), time.monotonic()
    while (now := time.monotonic()) < deadline and now - progress < stall:
        count = receiver.count()
        if count >= expected:
            return True
        if count > seen:
            seen, progress = count, now
        time.sleep(0.02)
    return False


def hub_health(url: str) -> str:
    try:
        return httpx.get(f"{url}/health", timeout=5).text.strip()
    except httpx.HTTPError as exc:
        return f"no answer ({type(exc).__name__})"


@dataclass(frozen=True)
class GatewayCommits:
    """One gateway's group commits over its life (warm-up included), as it logs them at its
    stop (``opendcc.processes.gateway.log_commits``)."""

    batches: int
    pieces: int
    rolled_back: int
    writer_cpu: float
    lock_taken: int
    polls: int


_COMMITS = re.compile(
    r"gateway commits: (\d+) batches, (\d+) pieces, (\d+) rolled back, writer CPU ([\d.]+) s;"
    r" lock found taken (\d+) times, (\d+) polls"
)


def gateway_commits(log: Path) -> list[GatewayCommits]:
    text = log.read_text(errors="replace") if log.exists() else ""
    return [
        GatewayCommits(int(a), int(b), int(c), float(d), int(e), int(f))
        for a, b, c, d, e, f in _COMMITS.findall(text)
    ]


def log_summary(log: Path) -> str:
    text = log.read_text(errors="replace") if log.exists() else ""
    return (
        f"{text.count('Traceback (most recent call last)')} tracebacks,"
        f" {text.count('OperationalError: database is locked')} 'database is locked',"
        f" {text.count('Exception in ASGI application')} HTTP 500s"
    )


# The --sqlite-immediate experiment: the same `opendcc serve`, but every SQLite transaction
# starts with BEGIN IMMEDIATE (SQLAlchemy's documented pysqlite recipe), so a writer waits for the
# lock (busy timeout) instead of failing with SQLITE_BUSY when its read snapshot went stale.
_IMMEDIATE = """
import sys
from sqlalchemy import event
import opendcc.hub, opendcc.store, opendcc.store.engine as store_engine
plain = store_engine.create_engine_for
def create_engine_for(url=None):
    engine = plain(url)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", lambda dbapi, _: setattr(dbapi, "isolation_level", None))
        event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
    return engine
store_engine.create_engine_for = opendcc.store.create_engine_for = create_engine_for
opendcc.hub.create_engine_for = create_engine_for
from opendcc.cli import app
app(sys.argv[1:], prog_name="opendcc")
"""


class ImmediateHubProcess(HubProcess):
    def __init__(self, config: Path, port: int, log: Path | None = None) -> None:
        Process.__init__(
            self,
            ["-c", _IMMEDIATE, "serve", "--config", str(config), "--port", str(port)],
            log,
        )
        self.url = f"http://127.0.0.1:{port}"
        self.wait_ready()


# The accept mode's hub: the store prepared as `opendcc serve` prepares it, then only its
# gateways, on one listening socket, until SIGTERM (no worker: accepted jobs wait).
_GATEWAYS_ONLY = """
import signal, sys, time
from pathlib import Path
from opendcc.config import load
from opendcc.processes import supervisor
from opendcc.processes.gateway import listening
from opendcc.processes.run import setup_logging
setup_logging()
source, port, count = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
supervisor.prepare(load(source))
# As `opendcc serve`: one listening socket all gateways accept from; or (--reuseport) a socket
# each on the same port, the kernel spreading the connections between them (SO_REUSEPORT).
each = sys.argv[4] == "reuseport"
socks = [listening("127.0.0.1", port) for _ in range(count if each else 1)]
every = [
    supervisor.Child(
        "gateway",
        ["--config", str(source), "--fd", str(socks[i % len(socks)].fileno())],
        fds=(socks[i % len(socks)].fileno(),),
    )
    for i in range(count)
]
for child in every:
    child.start()
stopping = []
signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
while not stopping:
    time.sleep(0.2)
supervisor._stop_all(every)
"""


class GatewaysOnly(HubProcess):
    def __init__(
        self, config: Path, port: int, log: Path | None, gateways: int, listen: str = "shared"
    ) -> None:
        args = ["-c", _GATEWAYS_ONLY, str(config), str(port), str(gateways), listen]
        Process.__init__(self, args, log)
        self.url = f"http://127.0.0.1:{port}"
        self.wait_ready()


# --------------------------------------------------------------------------- measuring


def cpu_seconds(pid: int | None) -> float:
    if pid is None:
        return 0.0
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return float("nan")
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def tree_cpu(pid: int | None) -> float:
    """CPU seconds of ``pid`` and every process under it (live ones from their own stat, reaped
    ones through the parent's cutime + cstime): a hub of several processes counts whole."""
    if pid is None:
        return 0.0
    parents: dict[int, list[int]] = defaultdict(list)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(fields[1])].append(int(entry.name))
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(f) for f in fields[11:15]) / CLK_TCK  # utime stime cutime cstime
        todo += parents.get(current, [])
    return total


def kinds_cpu(pid: int | None) -> dict[str, float]:
    """CPU seconds of the hub's live children by kind (``opendcc process KIND``): where the
    hub's CPU goes, the deliverer's per delivery among it."""
    totals: dict[str, float] = defaultdict(float)
    if pid is None:
        return totals
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if int(fields[1]) != pid or b"process" not in argv:
            continue
        kind = argv[argv.index(b"process") + 1].decode()
        totals[f"  hub: {kind}"] += sum(int(f) for f in fields[11:13]) / CLK_TCK
    return totals


def self_cpu() -> float:
    times = os.times()
    return times.user + times.system


def pct(values: Sequence[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


def ms(values: Sequence[float]) -> str:
    if not values:
        return f"{'-':>9}{'-':>9}{'-':>9}"
    return (
        f"{pct(values, 50) * 1e3:>9.1f}{pct(values, 99) * 1e3:>9.1f}"
        f"{statistics.fmean(values) * 1e3:>9.1f}"
    )


@dataclass
class Stages:
    deltas: dict[tuple[str, str], list[float]] = field(default_factory=lambda: defaultdict(list))
    received_wall: dict[str, float] = field(default_factory=dict)
    delivered_wall: dict[str, float] = field(default_factory=dict)
    responded_wall: dict[str, float] = field(default_factory=dict)


def read_stages(database: Path, request_ids: set[str]) -> Stages:
    stages = Stages()
    history: dict[str, list[tuple[str, float]]] = defaultdict(list)
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
        rows = db.execute("SELECT request_id, target, at FROM request_transitions ORDER BY id")
        for request_id, target, at in rows:
            if request_id in request_ids:
                # Stored as naive UTC text ("YYYY-MM-DD HH:MM:SS.ffffff").
                when = datetime.fromisoformat(f"{at}+00:00").timestamp()
                history[request_id].append((target, when))
    for request_id, steps in history.items():
        times = dict(steps)
        for source, target in STAGES:
            if source in times and target in times:
                stages.deltas[(source, target)].append(times[target] - times[source])
        if "received" in times:
            stages.received_wall[request_id] = times["received"]
        if "delivered" in times:
            stages.delivered_wall[request_id] = times["delivered"]
        if "responded" in times:
            stages.responded_wall[request_id] = times["responded"]
    return stages


def read_stages_from(url: str, request_ids: set[str]) -> Stages:
    """``read_stages`` from a PostgreSQL database (scale mode)."""
    from sqlalchemy import select

    from opendcc.store import create_engine_for as engine_for
    from opendcc.store.tables import request_transitions as transitions

    stages = Stages()
    history: dict[str, list[tuple[str, float]]] = defaultdict(list)
    engine = engine_for(url)
    try:
        with engine.connect() as conn:
            query = select(transitions.c.request_id, transitions.c.target, transitions.c.at)
            for request_id, target, at in conn.execute(query.order_by(transitions.c.id)):
                if request_id in request_ids:
                    history[request_id].append((target, at.timestamp()))
    finally:
        engine.dispose()
    for request_id, steps in history.items():
        times = dict(steps)
        for source, target in STAGES:
            if source in times and target in times:
                stages.deltas[(source, target)].append(times[target] - times[source])
        if "received" in times:
            stages.received_wall[request_id] = times["received"]
        if "delivered" in times:
            stages.delivered_wall[request_id] = times["delivered"]
    return stages


@dataclass
class Store:
    """Where the hub keeps its truth: a SQLite file (embedded), or in scale mode a fresh
    PostgreSQL database and the RabbitMQ broker, with ``[processes]`` gateways and workers."""

    url: str
    broker_url: str | None = None
    extra: str = ""
    directory: Path | None = None  # SQLite's

    @classmethod
    def bring_up(
        cls, args: argparse.Namespace, directory: Path, stack: contextlib.ExitStack
    ) -> Store:
        if not args.scale:  # `opendcc serve` with --gateways gateways (default a core each)
            gateways = f"\n[processes]\ngateways = {args.gateways}\n"
            return cls(f"sqlite:///{directory / 'hub.db'}", extra=gateways, directory=directory)
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' estate
        from tests.processes.scale import fresh_database, postgres_url, rabbitmq_url

        broker = rabbitmq_url()
        return cls(
            stack.enter_context(fresh_database(postgres_url())),
            broker,
            f"\n[processes]\ngateways = {args.scale_gateways}\nworkers = {args.scale_workers}\n",
        )

    def stages(self, request_ids: set[str]) -> Stages:
        if self.directory is not None:
            return read_stages(self.directory / "hub.db", request_ids)
        return read_stages_from(self.url, request_ids)

    def engines_cpu(self, before: dict[str, float] | None = None) -> dict[str, float]:
        """Scale mode: CPU seconds of this database's PostgreSQL backends and of the RabbitMQ
        node, by process; with ``before`` (an earlier call's answer), the two totals since."""
        if self.directory is not None:
            return {}
        from sqlalchemy import text
        from tests.processes.scale import rabbitmq_dir

        from opendcc.store import create_engine_for as engine_for

        engine = engine_for(self.url)
        try:
            with engine.connect() as conn:
                backends = conn.execute(
                    text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
                ).scalars()
                now = {f"pg {pid}": cpu_seconds(int(pid)) for pid in backends}
        finally:
            engine.dispose()
        try:
            now["rabbitmq"] = cpu_seconds(int((rabbitmq_dir() / "node.pid").read_text()))
        except (OSError, ValueError):
            now["rabbitmq"] = 0.0
        if before is None:
            return now
        since = {k: v - before.get(k, 0.0) for k, v in now.items()}
        return {
            "PostgreSQL (this database)": sum(v for k, v in since.items() if k != "rabbitmq"),
            "RabbitMQ": since["rabbitmq"],
        }


# --------------------------------------------------------------------------- profile


def profile_front_door(config: Path, users: Sequence[SimulatedUser], count: int) -> None:
    """cProfile ``hub.front_door.handle`` in this process on ``count`` requests."""
    from opendcc.config import load
    from opendcc.dsp.access import Endpoint
    from opendcc.hub import Hub

    hub = Hub(load(config))
    hub.seed()
    warm, timed, profiled = (presign(users, k) for k in (50, count, count))
    for item in warm:
        hub.front_door.handle(Endpoint.SEND, item.body)
    start = time.perf_counter()
    codes = Counter(hub.front_door.handle(Endpoint.SEND, item.body).code for item in timed)
    plain = (time.perf_counter() - start) / count
    profiler = cProfile.Profile()
    profiler.enable()
    for item in profiled:
        hub.front_door.handle(Endpoint.SEND, item.body)
    profiler.disable()
    hub.engine.dispose()
    print()
    print(
        f"front_door.handle in-process, one thread, no HTTP: {plain * 1e6:,.0f} µs/request"
        f" ({1 / plain:,.0f}/s; answers {dict(codes)}); cProfile of {count} more, top 15 by"
        " cumulative time:"
    )
    stats = pstats.Stats(profiler)
    table = stats.stats  # type: ignore[attr-defined]
    rows = sorted(table.items(), key=lambda kv: kv[1][3], reverse=True)[:15]
    print(f"{'calls':>8}{'tottime s':>11}{'cumtime s':>11}{'µs/req':>9}  function")
    for (path, line, name), (_, calls, tottime, cumtime, _) in rows:
        where = "/".join(Path(path).parts[-2:]) if path != "~" else ""
        label = f"{where}:{line}({name})" if where else name
        print(f"{calls:>8}{tottime:>11.3f}{cumtime:>11.3f}{cumtime / count * 1e6:>9.0f}  {label}")


# --------------------------------------------------------------------------- main


def cohort() -> str:
    return register_all(Registry()).profiles()[0].name


@dataclass
class Run:
    users: int
    items: list[Signed]
    warmup: int
    signing: float
    sent: Sent
    accepted: list[int]
    drained: bool
    drain_end: float
    arrivals: dict[str, float]
    duplicates: int
    stages: Stages
    cpu: dict[str, float]
    health: str
    log: str
    warm_answers: Counter[str]
    # Each gateway's own account at its stop (accept mode): see ``gateway_commits``.
    commits: list[GatewayCommits] = field(default_factory=list)


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000, help="timed requests a mode")
    parser.add_argument("--warmup", type=int, default=100, help="untimed requests first")
    parser.add_argument("--concurrency", type=int, default=16, help="HTTP connections")
    parser.add_argument(
        "--modes",
        help=f"comma-separated, from {','.join(MODES)} (default: all three, one after another)",
    )
    parser.add_argument("--rate", type=float, default=0.0, help="only an open loop at this rate")
    parser.add_argument("--open-rate", type=float, default=100.0, help="the open loop's rate /s")
    parser.add_argument(
        "--ordered", action="store_true", help="one request in flight per User (no replays)"
    )
    parser.add_argument("--users", choices=("both", "supplier"), default="both")
    parser.add_argument(
        "--meters",
        type=int,
        default=0,
        help="spread the requests over this many meters made for the run (0: the scenario's 8),"
        " so the registry reads miss their caches as on a real fleet",
    )
    parser.add_argument("--callback", choices=("fast", "stdlib"), default="fast")
    parser.add_argument("--latency-ms", type=int, default=0, help="head-end WAN latency")
    parser.add_argument("--drain-timeout", type=float, default=300.0, help="seconds, at most")
    parser.add_argument(
        "--stall", type=float, default=20.0, help="give up after this long without a delivery"
    )
    parser.add_argument(
        "--sqlite-immediate",
        action="store_true",
        help="experiment: run the hub with BEGIN IMMEDIATE on every SQLite transaction",
    )
    parser.add_argument(
        "--scale",
        action="store_true",
        help="scale mode: PostgreSQL (OPENDCC_TEST_POSTGRES_URL) + RabbitMQ"
        " (OPENDCC_TEST_RABBITMQ_URL), a fresh database each mode",
    )
    parser.add_argument("--scale-gateways", type=int, default=2, help="gateways in scale mode")
    parser.add_argument("--scale-workers", type=int, default=2, help="workers in scale mode")
    parser.add_argument(
        "--gateways", type=int, default=os.cpu_count() or 1, help="embedded: gateway processes"
    )
    parser.add_argument(
        "--reuseport",
        action="store_const",
        dest="listen",
        const="reuseport",
        default="shared",
        help="accept mode: a listening socket per gateway (SO_REUSEPORT), not one shared",
    )
    parser.add_argument("--profile", action="store_true", help="cProfile front_door.handle")
    parser.add_argument("--profile-requests", type=int, default=500)
    parser.add_argument("--keep", type=Path, help="run in this directory and keep it")
    return parser.parse_args()


MODES = ("burst", "ordered", "open")
EXTRA_MODES = ("accept",)  # only when named


def mode_args(args: argparse.Namespace, mode: str) -> argparse.Namespace:
    """The run's settings for one mode: a burst over ``--concurrency`` connections, one request
    in flight per User, or an open loop at ``--open-rate``."""
    settings = argparse.Namespace(**vars(args))
    settings.ordered = mode == "ordered"
    settings.rate = args.open_rate if mode == "open" else 0.0
    settings.accept_only = mode == "accept"
    return settings


def main() -> int:
    args = arguments()
    if not (KEYS / f"{scenario.SUPPLIER_KEY}.key").exists():
        print(f"ZAZ1 keys not found under {KEYS} (set OPENDCC_REFERENCE)", file=sys.stderr)
        return 2
    keys = [scenario.SUPPLIER_KEY, scenario.NETWORK_OPERATOR_KEY]
    users = [user(k) for k in keys[: 1 if args.users == "supplier" else 2]]
    if args.modes:
        modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    elif args.ordered or args.rate > 0:
        modes = ["ordered" if args.ordered else "open"]
        args.open_rate = args.rate or args.open_rate
    else:
        modes = list(MODES)
    if unknown := set(modes) - set(MODES + EXTRA_MODES):
        known = MODES + EXTRA_MODES
        print(f"unknown modes {sorted(unknown)}; choose from {known}", file=sys.stderr)
        return 2
    summary: list[tuple[str, Run, argparse.Namespace]] = []
    with contextlib.ExitStack() as stack:
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            directory = args.keep
        else:
            directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="fd-bench-")))
        for mode in modes:
            settings = mode_args(args, mode)
            here = directory / mode
            here.mkdir(exist_ok=True)
            with contextlib.ExitStack() as processes:
                result = run(settings, users, here, processes)
            report(settings, result)
            summary.append((mode, result, settings))
            print()
        floors = measure_floors(users)
        report_summary(summary, floors)
        if args.profile:
            config = scenario.write_config(
                directory / "profile.toml",
                keys=KEYS,
                cohort=cohort(),
                headend="http://127.0.0.1:9",  # never reached: no worker runs
                callback_url="http://127.0.0.1:9/duis",
                database_url=f"sqlite:///{directory / 'profile.db'}",
                anomaly_max=10**9,
            )
            profile_front_door(config, users, args.profile_requests)
    return 0


def measure_floors(users: Sequence[SimulatedUser]) -> Floors:
    body = presign(users, 1)[0].body
    receiver = FastReceiver()  # its own: its arrivals are not the hub's deliveries
    try:
        pid = receiver.pid()
        assert pid is not None
        return floors.measure(body, TrustStore.from_directory(KEYS), receiver.url, pid)
    finally:
        receiver.close()


def report_summary(summary: list[tuple[str, Run, argparse.Namespace]], floor: Floors) -> None:
    """Each mode's headline figures, and the floors measured in this run beside them."""
    print("summary (hub CPU summed over every hub process; floors measured in this run)")
    print(f"{'figure':<52}{'value':>16}")
    rows: list[tuple[str, str]] = []
    for mode, r, settings in summary:
        sent = r.sent
        wall = sent.end - sent.start
        label = {
            "burst": f"burst, {settings.concurrency} connections",
            "ordered": "ordered",
            "accept": f"accept only, {settings.gateways} gateway(s)",
        }.get(mode, f"open loop {settings.rate:,.0f}/s")
        if mode == "accept":
            rows += accept_rows(label, r)
            continue
        delivered = [i for i in r.accepted if r.items[i].key in r.arrivals]
        last = max((r.arrivals[r.items[i].key] for i in delivered), default=sent.end)
        e2e = [r.arrivals[r.items[i].key] - sent.at[i] for i in delivered]
        refused = Counter(
            f"{sent.status[i]} {sent.code[i]}" for i in range(len(r.items)) if sent.code[i] != "I99"
        )
        hub_cpu = r.cpu.get(HUB_TREE, 0.0) / max(len(r.accepted), 1) * 1e3
        rows += [
            (f"{label}: accepted/s", f"{len(r.accepted) / wall:,.0f}"),
            (f"{label}: refused", ", ".join(f"{k} x{v}" for k, v in refused.items()) or "0"),
            (f"{label}: delivered/s", f"{len(delivered) / max(last - sent.start, 1e-9):,.0f}"),
            (
                f"{label}: e2e p50 / p99 ms",
                f"{pct(e2e, 50) * 1e3:,.0f} / {pct(e2e, 99) * 1e3:,.0f}",
            ),
            (f"{label}: hub CPU ms/request", f"{hub_cpu:.2f}"),
        ]
        if "  hub: deliverer" in r.cpu:
            per = r.cpu["  hub: deliverer"] / max(len(delivered), 1) * 1e3
            rows.append((f"{label}: deliverer CPU ms/delivery", f"{per:.2f}"))
    rows += floor.lines()
    for label, value in rows:
        print(f"{label[:52]:<52}{value:>16}")


def accept_rows(label: str, r: Run) -> list[tuple[str, str]]:
    sent = r.sent
    refused = Counter(
        f"{sent.status[i]} {sent.code[i]}" for i in range(len(r.items)) if sent.code[i] != "I99"
    )
    ack = [sent.acked[i] - sent.at[i] for i in r.accepted]
    cpu = r.cpu.get(HUB_TREE, 0.0) / max(len(r.accepted), 1) * 1e3
    return [
        (f"{label}: accepted/s", f"{len(r.accepted) / (sent.end - sent.start):,.0f}"),
        (f"{label}: refused", ", ".join(f"{k} x{v}" for k, v in refused.items()) or "0"),
        (f"{label}: ack p50 / p99 ms", f"{pct(ack, 50) * 1e3:,.1f} / {pct(ack, 99) * 1e3:,.1f}"),
        (f"{label}: gateway CPU ms/accept", f"{cpu:.2f}"),
        *(
            (
                f"  gateway {n}: pieces/batch, writer ms/piece, locked/batch",
                f"{c.pieces / max(c.batches, 1):.1f}, {c.writer_cpu / max(c.pieces, 1) * 1e3:.2f},"
                f" {c.lock_taken / max(c.batches, 1):.2f}",
            )
            for n, c in enumerate(r.commits, 1)
        ),
    ]


def run(
    args: argparse.Namespace,
    users: Sequence[SimulatedUser],
    directory: Path,
    stack: contextlib.ExitStack,
) -> Run:
    started = time.perf_counter()
    fleet = spread(args.meters)
    warmup = presign(users, args.warmup, fleet)
    items = presign(users, args.requests, fleet[args.warmup :] + fleet[: args.warmup])
    signing = time.perf_counter() - started

    accept_only = getattr(args, "accept_only", False)
    receiver: Receiver = (
        NoReceiver()
        if accept_only
        else FastReceiver()
        if args.callback == "fast"
        else StdlibReceiver()
    )
    stack.callback(receiver.close)
    headend: Process | None = None
    if not accept_only:
        headend = HeadEndProcess(
            cohort(),
            meters=scenario.headend_meters(),
            fleet=fleet_file(directory, fleet) if fleet else None,
            latency_ms=args.latency_ms,
        )
        stack.callback(headend.stop)
    store = Store.bring_up(args, directory, stack)
    if fleet:
        install(store.url, fleet)
    config = scenario.write_config(
        directory / "hub.toml",
        keys=KEYS,
        cohort=cohort(),
        headend=headend.endpoint if isinstance(headend, HeadEndProcess) else "http://127.0.0.1:9",
        callback_url=receiver.url,
        database_url=store.url,
        anomaly_max=10**9,  # the network operator's 4.1.1 threshold, out of the way
        broker_url=store.broker_url,
        extra=store.extra,
    )
    hub: HubProcess
    if accept_only:
        hub = GatewaysOnly(config, free_port(), directory / "hub.log", args.gateways, args.listen)
    else:
        launcher = ImmediateHubProcess if args.sqlite_immediate else HubProcess
        hub = launcher(config, free_port(), directory / "hub.log")
    stack.callback(hub.stop)
    url = f"{hub.url}/api/v1/serviceS"

    warm_answers: Counter[str] = Counter()
    if warmup:
        warm = run_loop(
            drive(
                url,
                warmup,
                concurrency=args.concurrency,
                rate=0.0,
                ordered=args.ordered,
                stall=args.stall,
            )
        )
        if not accept_only:
            wait_for_deliveries(receiver, warm.code.count("I99"), args.drain_timeout, args.stall)
        warm_answers = Counter(f"{s} {c}" for s, c in zip(warm.status, warm.code, strict=True))
    before_count = receiver.count()
    pids = {
        "hub": hub.popen.pid,
        "head-end": headend.popen.pid if headend else None,
        "callback": receiver.pid(),
    }
    cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    engines_before = store.engines_cpu()
    hub_tree_before = tree_cpu(hub.popen.pid)
    kinds_before = kinds_cpu(hub.popen.pid)
    client_before = self_cpu()

    sent = run_loop(
        drive(
            url,
            items,
            concurrency=args.concurrency,
            rate=args.rate,
            ordered=args.ordered,
            stall=args.stall,
        )
    )
    accepted = [i for i in range(len(items)) if sent.code[i] == "I99"]
    drained = accept_only or wait_for_deliveries(
        receiver, before_count + len(accepted), args.drain_timeout, args.stall
    )
    drain_end = time.monotonic()
    cpu = {name: cpu_seconds(pid) - cpu_before[name] for name, pid in pids.items() if pid}
    cpu[HUB_TREE] = tree_cpu(hub.popen.pid) - hub_tree_before
    for kind, seconds in sorted(kinds_cpu(hub.popen.pid).items()):
        cpu[kind] = seconds - kinds_before.get(kind, 0.0)
    for name, seconds in store.engines_cpu(engines_before).items():
        cpu[name] = seconds
    cpu["benchmark (sender" + (")" if args.callback == "fast" else " + callback)")] = (
        self_cpu() - client_before
    )
    arrivals, duplicates = receiver.arrivals()
    health = "" if drained else hub_health(hub.url)
    stages = store.stages({items[i].request_id for i in accepted})
    hub.stop()
    return Run(
        len(users),
        items,
        len(warmup),
        signing,
        sent,
        accepted,
        drained,
        drain_end,
        arrivals,
        duplicates,
        stages,
        cpu,
        health,
        log_summary(directory / "hub.log"),
        warm_answers,
        gateway_commits(directory / "hub.log"),
    )


def report(args: argparse.Namespace, r: Run) -> None:
    items, sent, accepted, arrivals = r.items, r.sent, r.accepted, r.arrivals
    n = len(items)
    send_wall = sent.end - sent.start
    delivered = [i for i in accepted if items[i].key in arrivals]
    answered = sum(1 for code in sent.code if code != "unanswered")
    last = max((arrivals[items[i].key] for i in delivered), default=sent.end)
    drain_end = last if r.drained else r.drain_end
    ack = [sent.acked[i] - sent.at[i] for i in accepted]
    e2e = [arrivals[items[i].key] - sent.at[i] for i in delivered]
    refusals = Counter(
        (sent.status[i], sent.code[i], sent.reason[i].split(":", 1)[0])
        for i in range(n)
        if sent.code[i] != "I99"
    )
    received = r.stages.received_wall
    timed = [i for i in accepted if items[i].request_id in received]
    before_door = [received[items[i].request_id] - sent.at_wall[i] for i in timed]
    door_to_ack = [
        sent.at_wall[i] + (sent.acked[i] - sent.at[i]) - received[items[i].request_id]
        for i in timed
    ]
    if args.rate > 0:
        mode = f"open loop at {args.rate:,.0f}/s"
    else:
        mode = "ordered: one in flight per User" if args.ordered else "closed loop"
    hub = "BEGIN IMMEDIATE experiment" if args.sqlite_immediate else "as shipped"
    engines = (
        f"scale mode: PostgreSQL + RabbitMQ, {args.scale_gateways} gateways,"
        f" {args.scale_workers} workers"
        if args.scale
        else "on SQLite (WAL, synchronous=FULL)"
    )
    print(
        f"front-door benchmark: {n} signed SRV {SRV} requests from {r.users} User(s) over"
        f" {len(scenario.METERS)} meters; {args.concurrency} connections, {mode}; hub {hub},"
        f" {engines}, no XSD; callback: {args.callback};"
        f" {os.cpu_count()} CPUs"
    )
    print(
        f"(pre-signing {r.warmup + n} requests took {r.signing:.1f} s, untimed;"
        f" {r.warmup} warm-up requests went through first, untimed:"
        f" {', '.join(f'{k} x{v}' for k, v in sorted(r.warm_answers.items()))})"
    )
    print()
    print(f"{'figure':<48}{'value':>14}")
    rows: list[tuple[str, str]] = [
        ("send phase (first POST to last answer)", f"{send_wall:.2f} s"),
        ("accepted (I99)", f"{len(accepted)} / {n}"),
        ("accepted requests/s", f"{len(accepted) / send_wall:,.0f}"),
        ("answers/s (any status)", f"{answered / send_wall:,.0f}"),
        ("responses delivered", f"{len(delivered)} / {len(accepted)}"),
        ("duplicate deliveries", f"{r.duplicates}"),
        ("drain: last delivery after send phase", f"{last - sent.end:.2f} s"),
        (
            "delivered/s (first POST to last delivery)",
            f"{len(delivered) / (last - sent.start):,.0f}",
        ),
    ]
    for (status, code, reason), count in sorted(refusals.items()):
        rows.append((f"refused: HTTP {status} {code or '-'} {reason}"[:48], f"{count}"))
    if not r.drained:
        rows.append(("NOT DRAINED: gave up waiting for deliveries", ""))
    for label, value in rows:
        print(f"{label:<48}{value:>14}")
    if not r.drained:
        print(f"  hub /health at give-up: {r.health}")
    print(f"  hub.log: {r.log}")

    print()
    print(f"{'latency of accepted requests (ms)':<48}{'p50':>9}{'p99':>9}{'mean':>9}")
    print(f"{'ack: POST -> I99 at the client':<48}{ms(ack)}")
    print(f"{'end-to-end: POST -> response at the callback':<48}{ms(e2e)}")
    print(f"{'  POST -> front door starts (HTTP, queueing)':<48}{ms(before_door)}")
    print(f"{'  front door starts -> I99 at the client':<48}{ms(door_to_ack)}")
    for source, target in STAGES:
        print(
            f"{'  ' + source + ' -> ' + target:<48}{ms(r.stages.deltas.get((source, target), []))}"
        )
    # The deliverer's part as the User sees it: the worker's RESPONDED to the POST's arrival
    # ("delivered" above is when the deliverer recorded it, after the User's answer).
    responded = r.stages.responded_wall
    to_callback = [
        sent.at_wall[i] + (arrivals[items[i].key] - sent.at[i]) - responded[items[i].request_id]
        for i in delivered
        if items[i].request_id in responded
    ]
    print(f"{'  responded -> arrival at the callback':<48}{ms(to_callback)}")

    print()
    elapsed = drain_end - sent.start
    print(f"CPU from first POST to last delivery ({elapsed:.2f} s wall):")
    print(f"{'process':<48}{'CPU s':>9}{'% wall':>9}{'ms/req':>9}")
    for name, seconds in r.cpu.items():
        per = seconds / max(len(accepted), 1) * 1e3
        print(f"{name:<48}{seconds:>9.2f}{seconds / elapsed * 100:>9.0f}{per:>9.2f}")


if __name__ == "__main__":
    sys.exit(main())
