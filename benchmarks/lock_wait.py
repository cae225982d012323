"""How long a writer waits for SQLite's write lock when several processes write one file.

The embedded hub runs several writer processes on one SQLite database (gateways, workers,
deliverer, scheduler, each with a group-commit writer). Each takes the write lock at BEGIN
(``BEGIN IMMEDIATE``, ``store/engine.py``). This starts ``--processes`` processes, each
committing small transactions (``--rows`` inserts, ``synchronous=FULL`` as the hub runs) in a
loop with a random pause of 0–``--pause-ms`` between them, for ``--seconds``; it reports the
wait from asking for the transaction to holding the lock (p50/p90/p99/max), and commits/s.
Run:

    .venv/bin/python benchmarks/lock_wait.py [--processes 4] [--seconds 10]

The floor beside the wait is the time one commit holds the lock (``hold`` below): a waiter
that wakes the moment the lock is released waits on average about half a hold per writer ahead.
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import Connection, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from opendcc.store import create_engine_for
from opendcc.store import engine as engine_module
from opendcc.store.group import GroupCommit


def sqlite_busy_handler_begin(connection: Connection) -> None:
    """The wait as it was: ``BEGIN IMMEDIATE`` inside SQLite's own busy handler (--compare)."""
    options = connection.get_execution_options()
    if options.get(engine_module.HELD, False):
        return  # the group commit writer's connection: it begins itself (take_write_lock)
    writes = options.get(engine_module.WRITES, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")


def sqlite_busy_handler_lock(raw: sqlite3.Connection) -> bool:
    """The group commit writer's BEGIN as it would be in SQLite's busy handler (--compare)."""
    raw.execute(f"PRAGMA busy_timeout={int(engine_module.LOCK_TIMEOUT * 1000)}")
    raw.execute("BEGIN IMMEDIATE")
    return True


def writer(
    url: str, seconds: float, rows: int, pause_ms: float, out: list[float], *, group: bool
) -> None:
    """Commit small transactions until ``seconds`` pass; append ``wait,hold`` pairs (s). With
    ``group``, through a group commit writer (``store.group``, as the hub's processes write)."""
    engine = create_engine_for(url)
    insert = text("INSERT INTO t (pid, body) VALUES (:pid, :body)")
    params = [{"pid": 0, "body": "x" * 200} for _ in range(rows)]
    commits = GroupCommit(engine) if group else None
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        asked = time.perf_counter()
        stamps: list[float] = []

        def work(conn: Connection) -> None:
            stamps.append(time.perf_counter())  # noqa: B023 (run before the loop moves on)
            conn.execute(insert, params)

        if commits is not None:
            commits.run(work)
        else:
            with engine.begin() as conn:
                work(conn)
        done = time.perf_counter()
        out.extend((stamps[0] - asked, done - stamps[0]))
        if pause_ms:
            time.sleep(random.uniform(0, pause_ms) / 1000)
    if commits is not None:
        commits.close()
    engine.dispose()


def run(
    url: str, shape: tuple[float, int, float], out_path: Path, builtin: bool, group: bool
) -> None:
    """One writer process: ``shape`` is (seconds, rows, pause_ms); its pairs go to ``out_path``,
    then its CPU time (s)."""
    seconds, rows, pause_ms = shape
    if builtin:
        engine_module._sqlite_begin = sqlite_busy_handler_begin  # type: ignore[assignment]
        engine_module.take_write_lock = sqlite_busy_handler_lock
    waits: list[float] = []
    cpu = time.process_time()
    writer(url, seconds, rows, pause_ms, waits, group=group)
    waits.append(time.process_time() - cpu)
    out_path.write_text("\n".join(f"{value:.9f}" for value in waits))


def percentile(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))]


def measure(args: argparse.Namespace, builtin: bool) -> tuple[list[float], list[float], float]:
    """One run of ``--processes`` writers on a fresh file: (waits, holds, CPU of all), s."""
    with tempfile.TemporaryDirectory(prefix="lock-wait-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'db.sqlite'}"
        engine = create_engine_for(url)
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, pid INTEGER, body TEXT)"))
        engine.dispose()
        context = multiprocessing.get_context("spawn")
        outs = [Path(tmp) / f"out{n}" for n in range(args.processes)]
        procs = [
            context.Process(
                target=run,
                args=(url, (args.seconds, args.rows, args.pause_ms), out, builtin, args.group),
            )
            for out in outs
        ]
        for proc in procs:
            proc.start()
        for proc in procs:
            proc.join()
        if any(proc.exitcode for proc in procs):
            raise SystemExit(f"a writer failed: exit codes {[p.exitcode for p in procs]}")
        pairs, cpu = [], 0.0
        for out in outs:
            *values, spent = (float(v) for v in out.read_text().split())
            pairs.extend(values)
            cpu += spent
    return pairs[0::2], pairs[1::2], cpu


def report(label: str, seconds: float, waits: list[float], holds: list[float], cpu: float) -> None:
    ms = 1000.0
    print(f"{label:>14}: CPU per commit (every writer process) {cpu / len(waits) * 1e6:6.0f} µs")
    print(
        f"{label:>14}: {len(waits) / seconds:5.0f} commits/s  lock wait ms p50 "
        f"{percentile(waits, 0.5) * ms:6.2f} p90 {percentile(waits, 0.9) * ms:6.2f} "
        f"p99 {percentile(waits, 0.99) * ms:6.2f} max {max(waits) * ms:7.1f} "
        f"mean {statistics.fmean(waits) * ms:5.2f}  |  hold (floor) p50 "
        f"{percentile(holds, 0.5) * ms:5.2f} p99 {percentile(holds, 0.99) * ms:5.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=5.0, help="per run")
    parser.add_argument("--rows", type=int, default=4, help="inserts per transaction")
    parser.add_argument("--pause-ms", type=float, default=2.0, help="max pause between commits")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument(
        "--group", action="store_true", help="commit through a group commit writer (store.group)"
    )
    parser.add_argument(
        "--compare",
        action="store_true",
        help="also run with SQLite's own busy handler, alternating, each round",
    )
    args = parser.parse_args()
    print(
        f"{args.processes} processes, {args.rows} rows a commit, pause 0-{args.pause_ms} ms, "
        f"{args.rounds} x {args.seconds:.0f} s"
    )
    modes = [("our poll", False)] + ([("busy handler", True)] if args.compare else [])
    totals: dict[str, tuple[list[float], list[float], list[float]]] = {
        m: ([], [], []) for m, _ in modes
    }
    for _ in range(args.rounds):
        for label, builtin in modes:
            waits, holds, cpu = measure(args, builtin)
            totals[label][0].extend(waits)
            totals[label][1].extend(holds)
            totals[label][2].append(cpu)
            report(label, args.seconds, waits, holds, cpu)
    if args.rounds > 1:
        print("all rounds:")
        for label, (waits, holds, cpus) in totals.items():
            report(label, args.seconds * args.rounds, waits, holds, sum(cpus))


if __name__ == "__main__":
    main()
