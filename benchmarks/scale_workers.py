"""Scale mode: jobs completed per second by one worker process against two, on PostgreSQL and
RabbitMQ, with the CPU each job costs summed over every process of the hub.

The scale-mode estate of the tests (PostgreSQL, RabbitMQ, two gateways, a deliverer, a
scheduler, a head-end simulator with no WAN delay: the workers are the bottleneck) with the
production ``[processes]`` settings and no worker running: a backlog of signed SRV 4.1.1
requests is accepted through both gateways (and published to the broker), then ``W`` worker
processes start and the time from the first job leaving the table until the table is empty is
measured (a job leaves with its signed response, in one commit). Once with one worker, once with
two, each on a fresh backlog of the same size. Workers' start-up is excluded.

CPU is read from /proc for: the hub (gateways, workers, deliverer, scheduler: every process of
it), and beside it what the hub runs on (this database's PostgreSQL backends, the RabbitMQ node,
the head-end simulator). On a shared machine the CPU per job is the figure that does not depend
on what else runs; the rate is bounded by the cores all of them share.

    OPENDCC_TEST_POSTGRES_URL=$(scripts/test-postgres.sh) \\
    OPENDCC_TEST_RABBITMQ_URL=$(scripts/test-rabbitmq.sh) \\
        .venv/bin/python benchmarks/scale_workers.py [--requests 600]
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select, text

import floors

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.processes.scale import ScaleEstate, rabbitmq_dir, scale_estate
from tests.reference import KEYS

from opendcc.sim import scenario
from opendcc.smki import TrustStore
from opendcc.store.tables import jobs

CLK_TCK = os.sysconf("SC_CLK_TCK")
# The defaults of [processes] (config.ProcessSettings), written out: what a deployment runs.
PRODUCTION = "lease_seconds = 15\nredeliver_seconds = 30\nsweep_seconds = 0.5\npoll_seconds = 0.1\n"


def cpu_of(pid: int) -> float:
    """User + system CPU seconds of one live process (0 if it has gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def pending(estate: ScaleEstate) -> int:
    with estate.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(jobs)).scalar_one())


def unpublished(estate: ScaleEstate) -> int:
    with estate.engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count()).select_from(jobs).where(jobs.c.lease_owner.is_(None))
            ).scalar_one()
        )


def backlog(estate: ScaleEstate, count: int) -> float:
    """Accept ``count`` requests through both gateways in turn; the seconds it took."""
    started = time.monotonic()
    sent = 0
    while sent < count:
        if estate.send_one(estate.gateways[sent % 2]) is not None:
            sent += 1
    return time.monotonic() - started


def backends(estate: ScaleEstate) -> list[int]:
    """The PostgreSQL server processes serving this estate's database."""
    with estate.engine.connect() as conn:
        return [
            int(pid)
            for (pid,) in conn.execute(
                text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
            )
        ]


def rabbitmq_pid() -> int | None:
    try:
        return int((rabbitmq_dir() / "node.pid").read_text().strip())
    except (OSError, ValueError):
        return None


@dataclass
class Round:
    workers: int
    jobs: int
    seconds: float
    cpu: dict[str, float]  # seconds, by group of processes

    @property
    def rate(self) -> float:
        return self.jobs / self.seconds

    def ms_per_job(self, group: str) -> float:
        return self.cpu[group] * 1e3 / self.jobs


class Meter:
    """CPU seconds of groups of processes between ``start`` and ``stop`` (a process that
    appears in between counts from zero)."""

    def __init__(self, groups: dict[str, list[int]]) -> None:
        self.groups = groups
        self.before = {pid: cpu_of(pid) for pids in groups.values() for pid in pids}

    def stop(self, groups: dict[str, list[int]]) -> dict[str, float]:
        return {
            name: sum(cpu_of(pid) - self.before.get(pid, 0.0) for pid in set(pids))
            for name, pids in groups.items()
        }


def groups(estate: ScaleEstate, workers: list[int]) -> dict[str, list[int]]:
    mq = rabbitmq_pid()
    return {
        "workers": workers,
        "gateways": [n.popen.pid for n in estate.gateways],
        **{n.kind: [n.popen.pid] for n in estate.others},  # deliverer, scheduler
        "PostgreSQL (this database)": backends(estate),
        "RabbitMQ": [mq] if mq else [],
        "head-end simulator": [estate.headend.popen.pid],
        "this benchmark (the User's callback)": [os.getpid()],
    }


HUB = ("workers", "gateways", "deliverer", "scheduler")
HUB_TOTAL = ("hub (all its processes)",)


def spy(pids: list[int], directory: Path | None, workers: int) -> list[subprocess.Popen[bytes]]:
    """py-spy (``pip install py-spy``) sampling each worker, collapsed stacks into
    ``directory``, when asked for."""
    if directory is None:
        return []
    directory.mkdir(parents=True, exist_ok=True)
    return [
        subprocess.Popen(
            [
                str(Path(sys.executable).with_name("py-spy")),
                "record",
                "--format",
                "raw",
                "--threads",
                "--nonblocking",
                "-p",
                str(pid),
                "-o",
                str(directory / f"workers-{workers}-{n}.txt"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for n, pid in enumerate(pids)
    ]


def measure(estate: ScaleEstate, workers: int, count: int, profile: Path | None) -> Round:
    took = backlog(estate, count)
    deadline = time.monotonic() + 60
    while unpublished(estate) and time.monotonic() < deadline:  # the publishers catch up
        time.sleep(0.1)
    print(f"  backlog of {count} accepted in {took:.1f} s ({count / took:.0f}/s), published")
    assert pending(estate) == count, pending(estate)
    started = [estate.start("worker") for _ in range(workers)]
    try:
        while pending(estate) == count:
            time.sleep(0.005)
        pids = [node.popen.pid for node in started]
        meter = Meter(groups(estate, pids))
        first, left_at_first = time.monotonic(), pending(estate)
        spies = spy(pids, profile, workers)
        while pending(estate) > 0:
            time.sleep(0.02)
        elapsed = time.monotonic() - first
        cpu = meter.stop(groups(estate, pids))
        for process in spies:
            process.send_signal(signal.SIGINT)
            process.wait(30)
    finally:
        for node in started:
            node.stop()
    cpu[HUB_TOTAL[0]] = sum(cpu[g] for g in HUB)
    return Round(workers, left_at_first, elapsed, cpu)


def report(rounds: dict[int, Round], cores: int, floor_lines: list[tuple[str, str]]) -> None:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    print(
        f"\n{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, commit {commit}, {platform.node()},"
        f" {cores} CPUs, load average {os.getloadavg()[0]:.2f}"
    )
    for r in rounds.values():
        print(
            f"{r.workers} worker process(es): {r.rate:,.1f} jobs/s ({r.jobs} in {r.seconds:.1f} s)"
        )
        for group, seconds in r.cpu.items():
            print(f"    CPU ms/job {group:<38} {seconds * 1e3 / r.jobs:7.2f}")
        every = sum(v for k, v in r.cpu.items() if k not in HUB_TOTAL)
        print(f"    CPU ms/job {'everything above':<38} {every * 1e3 / r.jobs:7.2f}")
        print(f"    cores busy {every / r.seconds:.2f} of {cores}")
    one, two = rounds[1], rounds[2]
    print(f"two workers against one: {two.rate / one.rate:.2f}x (target >= 1.7x)")
    # What these CPU costs allow on this many cores, whatever else runs: one worker is one
    # Python process (one core at most); every process of the path shares the cores.
    worker_ms = one.ms_per_job("workers")
    every_ms = sum(v for k, v in one.cpu.items() if k not in HUB_TOTAL) * 1e3 / one.jobs
    box = cores / every_ms * 1e3
    ceiling = min(2e3 / worker_ms, box) / min(1e3 / worker_ms, box)
    print(
        f"ceiling on {cores} cores at these costs: one worker <= {1e3 / worker_ms:,.0f} jobs/s,"
        f" the whole path <= {box:,.0f} jobs/s: two workers <= {ceiling:.2f}x one"
    )
    for label, value in floor_lines:
        print(f"{label}: {value}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=600, help="the backlog of each round")
    parser.add_argument("--keep", type=Path, help="run in this directory and keep its logs")
    parser.add_argument("--py-spy", type=Path, help="sample the workers into this directory")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="scale-workers-") as tmp:
        directory = args.keep or Path(tmp)
        directory.mkdir(parents=True, exist_ok=True)
        with scale_estate(directory, latency_ms=0, processes=PRODUCTION, workers=0) as estate:
            estate.send_one(estate.gateways[0])  # warm both gateways' first request
            estate.send_one(estate.gateways[1])
            rounds = {}
            for workers in (1, 2):
                while pending(estate):  # the warm-up's, or a previous round's stragglers
                    one = estate.start("worker")
                    while pending(estate):
                        time.sleep(0.1)
                    one.stop()
                print(f"round: {workers} worker process(es)")
                rounds[workers] = measure(estate, workers, args.requests, args.py_spy)
            body = estate.supplier.request("4.1.1", scenario.METERS[0].device_id)
    trust = TrustStore.from_directory(KEYS)
    floor_lines = [
        ("floor: ECDSA P-256 verify", f"{floors.ecdsa_verify_us():,.0f} µs"),
        (
            "floor: XMLDSig verify of a signed request",
            f"{floors.xml_verify_us(body, trust):,.0f} µs",
        ),
    ]
    report(rounds, os.cpu_count() or 0, floor_lines)


if __name__ == "__main__":
    main()
