"""Scale mode: requests completed per second by one worker process against two.

The scale-mode estate of the tests (PostgreSQL, RabbitMQ, two gateways, a deliverer, a
scheduler, a head-end simulator with no WAN delay) with no worker running: a backlog of signed
SRV 4.1.1 requests is accepted through both gateways, then ``W`` worker processes start and the
time from their start until the job table is empty is measured (a job leaves the table with its
signed response, in one commit). Once with one worker, once with two, each on a fresh backlog.
Workers' start-up (imports, the hub) is excluded: the clock starts when the first job leaves.
The workers' CPU per request is printed beside the rate: on a shared machine it is the figure
that does not depend on what else runs.

    OPENDCC_TEST_POSTGRES_URL=$(scripts/test-postgres.sh) \\
        .venv/bin/python benchmarks/scale_workers.py [--requests 400]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.processes.scale import ScaleEstate, scale_estate

from opendcc.store.tables import jobs


def pending(estate: ScaleEstate) -> int:
    with estate.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(jobs)).scalar_one())


def backlog(estate: ScaleEstate, count: int) -> None:
    """Accept ``count`` requests (one User, so one sender: counters stay in order)."""
    sent = 0
    while sent < count:
        if estate.send_one(estate.gateways[sent % 2]) is not None:
            sent += 1


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of these processes so far."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / ticks


def measure(estate: ScaleEstate, workers: int, count: int) -> tuple[float, float]:
    """Requests completed per second, and the workers' CPU milliseconds per request."""
    backlog(estate, count)
    assert pending(estate) == count, pending(estate)
    started = [estate.start("worker") for _ in range(workers)]
    try:
        while pending(estate) == count:
            time.sleep(0.01)
        pids = [node.popen.pid for node in started]
        first, cpu = time.monotonic(), cpu_seconds(pids)
        left_at_first = pending(estate)
        while pending(estate) > 0:
            time.sleep(0.05)
        elapsed, cpu = time.monotonic() - first, cpu_seconds(pids) - cpu
    finally:
        for node in started:
            node.stop()
    return left_at_first / elapsed, cpu * 1000 / left_at_first


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, scale_estate(Path(tmp), latency_ms=0) as estate:
        for node in estate.workers:
            node.stop()
        estate.workers = []
        rates = {}
        for workers in (1, 2):
            rates[workers], cpu_ms = measure(estate, workers, args.requests)
            print(
                f"{workers} worker process(es): {rates[workers]:.1f} requests completed/s,"
                f" {cpu_ms:.1f} ms of worker CPU per request"
            )
        print(f"two against one: {rates[2] / rates[1]:.2f}x (target >= 1.7x)")


if __name__ == "__main__":
    main()
