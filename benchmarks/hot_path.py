"""One request's path, counted: what the hub spends per signed DUIS request, end to end.

Runs the hub in this process (no HTTP server: the gateway's own call, ``front_door.handle`` in a
thread, then the worker pool, the DCO, the cohort adapter against a real head-end simulator
process and the deliverer POSTing to a real callback endpoint process), sends ``--requests``
signed SRV 4.1.1 requests one at a time, waits for each Response to be delivered, and counts per
request: SQL statements (SQLAlchemy's, and apart those run straight on the DBAPI cursor), BEGINs,
commits, ``asyncio.to_thread`` hops, ECDSA operations (signs + verifies), canonicalisations
(C14N), and, with ``--strace``, fsync/fdatasync calls (the run is
re-executed under ``strace -f -c``). ``--profile`` adds a profile of the same run (yappi, CPU
clock, every thread and coroutine: the worker's threads and the group commit's writer included),
and ``--stages`` a table of CPU per request in each stage of the path, the worker half (job
claimed to outbox row committed) broken down step by step. Run:

    .venv/bin/python benchmarks/hot_path.py [--requests 200] [--together 1] [--profile]
        [--stages] [--strace] [--trace]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yappi
from cryptography.hazmat.primitives.asymmetric import ec
from lxml import etree
from sqlalchemy import event

sys.path.insert(0, str(Path(__file__).resolve().parent))
import front_door as fd
from opendcc.config import load
from opendcc.dsp.access import Endpoint
from opendcc.hub import Hub
from opendcc.sim import scenario
from opendcc.sim.processes import HeadEndProcess

COUNTS = Counter[str]()

# The stages of one request's path whose CPU ``--stages`` counts: (label, module, attribute path).
# Each is timed with its thread's CPU clock around every call (inclusive of what it calls);
# indented labels are parts of the stage above them. The event loop's own CPU (the adapters'
# wire work, the deliverer's POSTs, task switching) is measured as that thread's total.
STAGES = (
    ("front door (gateway's call, a thread)", "opendcc.dsp.frontdoor", "FrontDoor.handle"),
    ("worker: claim jobs", "opendcc.queue.worker", "WorkerPool._claim"),
    ("worker: prepare (read, DCO, INSTRUCTED)", "opendcc.dsp.route", "Dispatcher._prepare"),
    ("  read the stored request", "opendcc.store.requests", "RequestStore.load"),
    ("  read the instruction (DSP and DCO)", "opendcc.dsp.instruct", "Instructions.read"),
    ("  DSP: countersign", "opendcc.dsp.route", "countersign"),
    ("  DCO: check and seal", "opendcc.dco.check", "DualControl.check"),
    ("    parse the User's request", "opendcc.dco.check", "parse_request"),
    ("    verify the User's signature", "opendcc.dco.check", "verify"),
    ("    the User still authorised", "opendcc.hub", "Hub._authorise"),
    ("    seal", "opendcc.dco.check", "DualControl.seal"),
    ("  record INSTRUCTED, SENT_TO_S1SP", "opendcc.dsp.route", "Dispatcher._instructed"),
    ("worker: outcome (response, outbox)", "opendcc.dsp.route", "Dispatcher._outcome"),
    ("  build and sign the Response", "opendcc.dsp.route", "signed_smets1_response"),
    ("  wait for the group commit", "opendcc.store.group", "GroupCommit.run"),
    ("group commit writer (all batches)", "opendcc.store.group", "GroupCommit._commit"),
)
STAGE_CPU = Counter[str]()


def _time_stages() -> None:
    """Wrap each stage's function to add its thread's CPU time to ``STAGE_CPU``."""
    import importlib

    for label, module_name, path in STAGES:
        owner: Any = importlib.import_module(module_name)
        *parents, name = path.split(".")
        for parent in parents:
            owner = getattr(owner, parent, None)
        plain = getattr(owner, name, None)
        if plain is None:
            continue  # not in this version of the hub (a comparison with an older one)

        def timed(*args: Any, _plain: Any = plain, _label: str = label, **kwargs: Any) -> Any:
            started = time.thread_time()
            try:
                return _plain(*args, **kwargs)
            finally:
                STAGE_CPU[_label] += time.thread_time() - started

        setattr(owner, name, timed)


class _CountedEcdsa(ec.ECDSA):
    """An ``ec.ECDSA`` that counts the signs and verifies it serves: each reads its hash
    algorithm once (cryptography's sign and verify alike)."""

    @property
    def algorithm(self) -> Any:
        COUNTS["ECDSA"] += 1
        return super().algorithm


def _count_ecdsa() -> None:
    """Count ECDSA signs and verifies: the algorithm objects the hot path made once (the DCO's,
    XMLDSig's, the adapter's) and every one built per call."""
    import opendcc.dco.check
    import opendcc.duis.xmldsig
    import opendcc.s1sp.adapter

    plain = ec.ECDSA

    def counted(algorithm: Any, *args: Any, **kwargs: Any) -> Any:
        return _CountedEcdsa(algorithm, *args, **kwargs)

    ec.ECDSA = counted  # type: ignore[assignment,misc]
    for module, name in (
        (opendcc.dco.check, "ECDSA_SHA256"),
        (opendcc.duis.xmldsig, "_ECDSA_SHA256"),
        (opendcc.s1sp.adapter, "_ECDSA_SHA256"),
    ):
        made: Any = getattr(module, name)
        assert isinstance(made, plain)
        setattr(module, name, _CountedEcdsa(made.algorithm))


def _count_c14n() -> None:
    plain = etree.tostring

    def tostring(element: Any, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("method") == "c14n":
            COUNTS["C14N"] += 1
        return plain(element, *args, **kwargs)

    etree.tostring = tostring  # type: ignore[assignment]


def _count_threads() -> None:
    plain = asyncio.to_thread

    async def to_thread(func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        COUNTS["thread hops"] += 1
        return await plain(func, *args, **kwargs)

    asyncio.to_thread = to_thread


TRACE: list[str] = []


REGISTRY = ("FROM devices", "FROM registrations", "FROM restrictions")
AT_THE_DOOR = threading.local()  # set while the front door handles a request in this thread


def _registry_read(sql: str) -> None:
    """Count a read of the device registry (devices, registrations, restrictions), by side."""
    if sql.lstrip().upper().startswith("SELECT") and any(t in sql for t in REGISTRY):
        side = "front door" if getattr(AT_THE_DOOR, "on", False) else "worker"
        COUNTS[f"registry reads ({side})"] += 1


def _count_sql(hub: Hub) -> None:
    def statement(_conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
        COUNTS["SQL statements"] += 1
        _registry_read(sql)
        TRACE.append(f"{threading.current_thread().name:<14} {' '.join(sql.split())[:100]}")

    # Reads run on a raw DBAPI connection (``inventory.facts``) pass no Core event: count them
    # where they take their connection.
    raw_connection = hub.engine.raw_connection

    class Cursor:
        def __init__(self, cursor: Any) -> None:
            self._cursor = cursor

        def execute(self, sql: str, *args: Any) -> Any:
            statement(None, None, sql)
            return self._cursor.execute(sql, *args)

        def __getattr__(self, name: str) -> Any:
            return getattr(self._cursor, name)

    class Raw:
        def __init__(self, raw: Any) -> None:
            self._raw = raw

        def cursor(self) -> Cursor:
            return Cursor(self._raw.cursor())

        def __getattr__(self, name: str) -> Any:
            return getattr(self._raw, name)

    hub.engine.raw_connection = lambda: Raw(raw_connection())  # type: ignore[method-assign]
    handle = hub.front_door.handle

    def at_the_door(*args: Any, **kwargs: Any) -> Any:
        AT_THE_DOOR.on = True
        try:
            return handle(*args, **kwargs)
        finally:
            AT_THE_DOOR.on = False

    hub.front_door.handle = at_the_door  # type: ignore[method-assign]

    def begin(*_: Any) -> None:
        COUNTS["BEGINs"] += 1
        TRACE.append(f"{threading.current_thread().name:<14} BEGIN")

    def commit(*_: Any) -> None:
        COUNTS["commits"] += 1
        TRACE.append(f"{threading.current_thread().name:<14} COMMIT")

    event.listen(hub.engine, "before_cursor_execute", statement)
    event.listen(hub.engine, "begin", begin)
    event.listen(hub.engine, "commit", commit)
    _count_dbapi()
    _count_writer(begin, commit)


def _count_writer(begin: Callable[..., None], commit: Callable[..., None]) -> None:
    """Count the group commit writer's transactions: begun and committed on its DBAPI
    connection (``store.writer``), which SQLAlchemy's begin and commit events never see. Its
    one SQLAlchemy begin a connection is counted there (a checkout)."""
    from opendcc.store.writer import WriterConnection

    plain_begin, plain_commit = WriterConnection.begin, WriterConnection.commit

    def begun(self: WriterConnection) -> None:
        begin()
        plain_begin(self)

    def committed(self: WriterConnection) -> None:
        commit()
        plain_commit(self)

    WriterConnection.begin = begun  # type: ignore[method-assign]
    WriterConnection.commit = committed  # type: ignore[method-assign]


class _CountedCursor:
    """A DBAPI cursor counting the statements given it (an ``executemany`` counts once)."""

    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor

    def _note(self, sql: str) -> None:
        COUNTS["DBAPI statements"] += 1
        TRACE.append(f"{threading.current_thread().name:<14} (raw) {' '.join(sql.split())[:94]}")

    def execute(self, sql: str, *args: Any) -> Any:
        self._note(sql)
        return self._cursor.execute(sql, *args)

    def executemany(self, sql: str, *args: Any) -> Any:
        self._note(sql)
        return self._cursor.executemany(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)


def _count_dbapi() -> None:
    """Count the statements run straight on the DBAPI cursor (``opendcc.store.raw``'s hot-path
    SQL and savepoints), which SQLAlchemy's events never see."""
    from opendcc.store import raw, requests

    real = raw.dbapi_cursor

    def counted(conn: Any) -> Any:
        return _CountedCursor(real(conn))

    for module in (raw, requests):  # requests imported the function by name
        module.dbapi_cursor = counted  # type: ignore[attr-defined]


async def drive(
    hub: Hub, items: list[fd.Signed], receiver: fd.Receiver, base: int = 0, together: int = 1
) -> float:
    """Send ``together`` requests at once (each in a thread, as the gateway does), wait until
    their Responses are delivered, then the next ``together``."""
    started = time.perf_counter()
    done = base
    for start in range(0, len(items), together):
        TRACE.clear()
        group = items[start : start + together]
        answers = await asyncio.gather(
            *(asyncio.to_thread(hub.front_door.handle, Endpoint.SEND, i.body) for i in group)
        )
        for answer in answers:
            COUNTS[f"answer {answer.code}"] += 1
        done += sum(1 for answer in answers if answer.code == "I99")  # refused: no Response
        deadline = time.monotonic() + 30
        while receiver.count() < done and time.monotonic() < deadline:
            await asyncio.sleep(0.002)
    return time.perf_counter() - started


async def measure(
    hub: Hub,
    warm: list[fd.Signed],
    items: list[fd.Signed],
    receiver: fd.Receiver,
    profiling: bool,
    *,
    together: int = 1,
) -> tuple[float, float, float]:
    # Counters go in before any thread uses the engine (SQLAlchemy's listener lists are not
    # safe to change while another thread runs them); the warm-up's counts are dropped.
    _count_ecdsa()
    _count_c14n()
    _count_threads()
    _count_sql(hub)
    await hub.start()
    try:
        await drive(hub, warm, receiver)
        COUNTS.clear()
        STAGE_CPU.clear()
        PIECE_CPU.clear()
        cpu = time.process_time()
        loop_cpu = time.thread_time()
        if profiling:
            yappi.set_clock_type("cpu")
            yappi.start(profile_threads=True)
        wall = await drive(hub, items, receiver, len(warm), together)
        if profiling:
            yappi.stop()
        return wall, time.process_time() - cpu, time.thread_time() - loop_cpu
    finally:
        await hub.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--profile", action="store_true", help="profile the timed requests")
    parser.add_argument("--stages", action="store_true", help="CPU per stage of the path")
    parser.add_argument("--strace", action="store_true", help="count fsyncs under strace -f -c")
    parser.add_argument("--trace", action="store_true", help="print the last request's SQL")
    parser.add_argument(
        "--together", type=int, default=1, help="requests sent at once (group commit's batches)"
    )
    parser.add_argument(
        "--meters", type=int, default=0, help="a meter a request, over this many (0: the 8)"
    )
    args = parser.parse_args()
    if args.strace and "OPENDCC_UNDER_STRACE" not in os.environ:
        return _under_strace(args)
    users = [fd.user(scenario.SUPPLIER_KEY), fd.user(scenario.NETWORK_OPERATOR_KEY)]
    fleet = fd.spread(args.meters)
    warm = fd.presign(users, args.warmup, fleet)
    items = fd.presign(users, args.requests, fleet[args.warmup :] + fleet[: args.warmup])
    with contextlib.ExitStack() as stack:
        directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="hot-path-")))
        receiver = fd.FastReceiver()
        stack.callback(receiver.close)
        headend = HeadEndProcess(
            fd.cohort(),
            meters=scenario.headend_meters(),
            fleet=fd.fleet_file(directory, fleet) if fleet else None,
        )
        stack.callback(headend.stop)
        if fleet:
            fd.install(f"sqlite:///{directory / 'hub.db'}", fleet)
        config = scenario.write_config(
            directory / "hub.toml",
            keys=fd.KEYS,
            cohort=fd.cohort(),
            headend=headend.endpoint,
            callback_url=receiver.url,
            database_url=f"sqlite:///{directory / 'hub.db'}",
            anomaly_max=10**9,
        )
        if args.stages:
            _time_stages()  # before the hub is built: it binds some of these
            _time_pieces()
        hub = Hub(load(config))
        hub.seed()
        run = measure(hub, warm, items, receiver, args.profile, together=args.together)
        wall, cpu, loop_cpu = asyncio.run(run)
        hub.engine.dispose()
    n = len(items)
    print(
        f"hot path, in-process, {args.together} request(s) at a time: {n} signed SRV 4.1.1 requests"
    )
    print(f"{'per request':<40}{'value':>10}")
    print(f"{'hub CPU ms (this process)':<40}{cpu / n * 1e3:>10.2f}")
    print(f"{'wall ms (accept -> delivered)':<40}{wall / n * 1e3:>10.2f}")
    counted = (
        "SQL statements",
        "DBAPI statements",
        "registry reads (front door)",
        "registry reads (worker)",
        "BEGINs",
        "commits",
        "thread hops",
    )
    for name in (*counted, "ECDSA", "C14N"):
        print(f"{name:<40}{COUNTS[name] / n:>10.2f}")
    for name, count in sorted(COUNTS.items()):
        if name.startswith("answer"):
            print(f"{name:<40}{count:>10}")
    if args.trace:
        print("\nthe last request's SQL, by thread:")
        print("\n".join(TRACE))
    if args.stages:
        _print_stages(n, loop_cpu)
    if args.profile:
        _print_profile(yappi.get_func_stats(), n)
    return 0


def _where(stat: Any) -> str:
    return "/".join(Path(stat.module).parts[-2:]) if stat.module else ""


PIECE_CPU = Counter[str]()


def _time_pieces() -> None:
    """Split the group commit writer's CPU by the piece of work it runs (its function), the
    batch's BEGIN/COMMIT and savepoints left over."""
    from opendcc.store.group import GroupCommit

    one, many = GroupCommit._one, GroupCommit._many

    def timed_one(self: Any, session: Any, tx: Any, work: Any, *args: Any, **kwargs: Any) -> Any:
        started = time.thread_time()
        try:
            return one(self, session, tx, work, *args, **kwargs)
        finally:
            name = getattr(work, "__qualname__", type(work).__qualname__)
            PIECE_CPU[name.replace(".<locals>", "")] += time.thread_time() - started

    def timed_many(self: Any, session: Any, tx: Any, kind: Any, *args: Any, **kwargs: Any) -> Any:
        started = time.thread_time()
        try:
            return many(self, session, tx, kind, *args, **kwargs)
        finally:
            PIECE_CPU[f"{kind.__qualname__} (batched)"] += time.thread_time() - started

    GroupCommit._one = timed_one  # type: ignore[method-assign]
    GroupCommit._many = timed_many  # type: ignore[method-assign]


def _print_stages(n: int, loop_cpu: float) -> None:
    print(f"\n{'stage (thread CPU, inclusive)':<44}{'ms/req':>8}")
    for label, _module, _path in STAGES:
        print(f"{label:<44}{STAGE_CPU[label] / n * 1e3:>8.3f}")
        if label.startswith("group commit writer"):
            for piece, cpu in PIECE_CPU.most_common():
                print(f"{'  ' + piece[:60]:<62}{cpu / n * 1e3:>8.3f}")
    label = "event loop (adapters' wire, deliverer, tasks)"
    print(f"{label:<44}{loop_cpu / n * 1e3:>8.3f}")


def _print_profile(stats: Any, n: int) -> None:
    rows = sorted(stats, key=lambda stat: stat.tsub, reverse=True)[:30]
    print(f"\n{'calls':>8}{'own s':>9}{'µs/req':>9}  function (by own CPU time, all threads)")
    for stat in rows:
        where = _where(stat)
        label = f"{where}:{stat.lineno}({stat.name})" if where else stat.name
        print(f"{stat.ncall:>8}{stat.tsub:>9.3f}{stat.tsub / n * 1e6:>9.0f}  {label}")


def _under_strace(args: argparse.Namespace) -> int:
    """Re-run this benchmark under ``strace -f -c``; fsyncs per request from its summary."""
    if shutil.which("strace") is None:
        print("strace not found", file=sys.stderr)
        return 2
    with tempfile.NamedTemporaryFile(prefix="strace-", suffix=".txt") as out:
        command = [
            "strace",
            "-f",
            "-c",
            "-e",
            "trace=fsync,fdatasync",
            "-o",
            out.name,
            sys.executable,
            __file__,
            f"--requests={args.requests}",
            f"--warmup={args.warmup}",
            f"--together={args.together}",
        ]
        env = {**os.environ, "OPENDCC_UNDER_STRACE": "1"}
        subprocess.run(command, env=env, check=True)
        summary = Path(out.name).read_text()
    print(summary)
    calls = 0
    for line in summary.splitlines():
        parts = line.split()
        if parts and parts[-1] in ("fsync", "fdatasync"):
            calls += int(parts[3])  # % time, seconds, usecs/call, calls, [errors,] syscall
    total = args.requests + args.warmup
    print(f"fsync + fdatasync (warm-up included): {calls} = {calls / total:.2f} per request")
    print("(the counts above are from the run under strace: slower, so fewer grouped commits)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
