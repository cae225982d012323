"""UTRN issuance throughput: how many top-up tokens per second each algorithm makes on one core.

The S1SP (SMETS1 Service Provider) makes a UTRN (Unique Transaction Reference Number) for every
prepayment top-up, so issuance sits on the top-up path. For each algorithm a fresh
``CohortKeys`` issues tokens round-robin to 1,000 meters, each with the counter its
``next_counter`` gives after the meter's last one, as the hub does. The meters are visited once,
untimed, first: on a real estate the same meters top up again and again, so GBCS's ECDH
(Elliptic-Curve Diffie-Hellman) shared secret per meter is in its cache. The ``gbcs (cold)``
line gives every token a meter never seen before: the key agreement (and, in the simulation,
deriving the meter's key) on every token. Run with:

    .venv/bin/python benchmarks/utrn.py [--seconds 2]
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

from opendcc.core.eui import Eui64
from opendcc.prepayment.keys import CohortKeys
from opendcc.prepayment.utrn import UtrnAlgorithm, algorithm, algorithms

METERS = 1000
AMOUNT_P = 2000
NOW = datetime(2024, 6, 1, tzinfo=UTC)
BATCH = 100


def rate(seconds: float, op: Callable[[], object]) -> float:
    """Operations per second over about ``seconds``."""
    n, start = 0, time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(BATCH):
            op()
        n += BATCH
        now = time.perf_counter()
        if now >= deadline:
            return n / (now - start)


def warm(alg: UtrnAlgorithm, cohort: str) -> Callable[[], object]:
    """Issue to the same 1,000 meters in turn, each visited once before timing."""
    keys = CohortKeys(f"bench-{cohort}")
    meters = [Eui64(0x00DB_0000_0000_0000 + i) for i in range(METERS)]
    last: dict[Eui64, int] = {}
    turns = itertools.cycle(meters)

    def issue() -> str:
        meter = next(turns)
        last[meter] = counter = alg.next_counter(last.get(meter), NOW)
        return alg.issue(keys, meter, counter, AMOUNT_P)

    for _ in meters:
        issue()
    return issue


def cold(alg: UtrnAlgorithm) -> Callable[[], object]:
    """Issue each token to a meter never seen before."""
    keys = CohortKeys("bench-cold")
    fresh: Iterator[int] = itertools.count(0x00DC_0000_0000_0000)
    first = alg.next_counter(None, NOW)

    def issue() -> str:
        return alg.issue(keys, Eui64(next(fresh)), first, AMOUNT_P)

    return issue


def issuance_rates(seconds: float = 2.0) -> dict[str, float]:
    """UTRNs per second by algorithm name, plus ``gbcs (cold)``: every token to a new meter."""
    rates = {name: rate(seconds, warm(alg, name)) for name, alg in sorted(algorithms().items())}
    rates["gbcs (cold)"] = rate(seconds, cold(algorithm("gbcs")))
    return rates


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="time per measurement")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core
    print(f"UTRN issuance, one core, {METERS:,} meters round-robin (cold: a new meter each time)")
    print(f"{'algorithm':<14}{'UTRNs/s':>12}{'µs/UTRN':>10}")
    for name, per_second in issuance_rates(args.seconds).items():
        print(f"{name:<14}{per_second:>12,.0f}{1e6 / per_second:>10.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
