"""Deliverer benchmark: the outbox's deliveries alone, CPU per delivery and delivered/s.

A fresh SQLite store (WAL, synchronous=FULL, the hub's schema) gets ``--backlog`` signed-size
Responses to requests in RESPONDED; the hub's ``Deliverer`` (with its group commit, as in the
deliverer process) POSTs them to the raw callback endpoint of ``front_door.py`` (a process of
its own) until every one is DELIVERED. Printed: delivered/s and this process's CPU per delivery
(the deliverer's: claims, POSTs, records). Then a trickle: ``--rate`` messages/s committed one
by one by another thread, each waking the deliverer as a worker's commit does, for
``--seconds``; printed: commit -> arrival at the callback p50/p99, and CPU per delivery.

    .venv/bin/python benchmarks/deliverer.py [--backlog 5000] [--rate 300] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine

from front_door import FastReceiver, pct
from opendcc.core.clock import SystemClock
from opendcc.core.request_id import RequestId
from opendcc.dsp.lifecycle import RequestState
from opendcc.processes.run import loop_factory
from opendcc.queue.outbox import Deliverer, Message, Outbox
from opendcc.store import create_engine_for, upgrade
from opendcc.store.group import GroupCommit
from opendcc.store.requests import NewRequest, RequestStore

T = TypeVar("T")

BODY = b"<r>" + b"x" * 3000 + b"</r>"  # about a signed Response's size
SUPPLIER = "90-B3-D5-1F-30-01-00-00"
METER = "00-DB-12-34-56-78-90-A0"


def run(main: Coroutine[Any, Any, T]) -> T:
    """On the deliverer process's own event loop (uvloop when installed)."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(main)


def cpu() -> float:
    times = os.times()
    return times.user + times.system


def fill(engine: Engine, requests: RequestStore, url: str, first: int, count: int) -> list[str]:
    """``count`` requests in RESPONDED with their Responses in the outbox; their keys."""
    now = datetime.now(UTC)
    keys = []
    with engine.begin() as conn:
        messages = []
        for counter in range(first, first + count):
            rid = RequestId.parse(f"{SUPPLIER}:{METER}:{counter}")
            requests.accept_in(conn, NewRequest(rid, "4.1.1", 1, b"<doc/>"), now)
            requests.transition_in(conn, rid, RequestState.RESPONDED, now)
            key = f"R:{counter}"
            keys.append(key)
            messages.append((Message(key, SUPPLIER, url, BODY, rid), None))
        Outbox.put_many_in(conn, messages, now)
    return keys


async def drain(deliverer: Deliverer, box: Outbox) -> float:
    """Until every message is recorded delivered (not only arrived)."""
    task = asyncio.create_task(deliverer.run())
    started = time.monotonic()
    while await asyncio.to_thread(box.undelivered):
        await asyncio.sleep(0.01)
    took = time.monotonic() - started
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return took


async def trickle(
    deliverer: Deliverer, box: Outbox, requests: RequestStore, receiver: FastReceiver, args: object
) -> tuple[list[float], int, float]:
    loop = asyncio.get_running_loop()
    task = asyncio.create_task(deliverer.run())
    committed: dict[str, float] = {}
    producing: list[float] = []  # the producer thread's CPU (a worker's, not the deliverer's)
    rate, seconds, first = args.rate, args.seconds, args.backlog + 1  # type: ignore[attr-defined]

    def produce() -> None:
        begun = time.thread_time()
        start = time.monotonic()
        for n in range(int(rate * seconds)):
            due = start + n / rate
            if (wait := due - time.monotonic()) > 0:
                time.sleep(wait)
            [key] = fill(box.engine, requests, receiver.url, first + n, 1)
            committed[key] = time.monotonic()
            loop.call_soon_threadsafe(deliverer.wake.set)  # as the hub's on_outbox does
        producing.append(time.thread_time() - begun)

    before = receiver.count()
    producer = threading.Thread(target=produce)
    producer.start()
    expected = before + int(rate * seconds)
    deadline = time.monotonic() + seconds + 60
    while (receiver.count() < expected or producer.is_alive()) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    producer.join()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    arrivals, _ = receiver.arrivals()
    latencies = [arrivals[k] - at for k, at in committed.items() if k in arrivals]
    return latencies, len(committed), sum(producing)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backlog", type=int, default=5000)
    parser.add_argument("--rate", type=float, default=300.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument(
        "--leasing",
        action="store_true",
        help="lease each claim (scale mode, schedules runners); default: the sole deliverer",
    )
    args = parser.parse_args()
    receiver = FastReceiver()
    with contextlib.ExitStack() as stack, tempfile.TemporaryDirectory() as directory:
        stack.callback(receiver.close)
        engine = create_engine_for(f"sqlite:///{Path(directory) / 'hub.db'}")
        upgrade(engine)
        requests = RequestStore(engine)
        box = Outbox(engine, requests)
        box.group = GroupCommit(engine)
        stack.callback(box.group.close)
        fill(engine, requests, receiver.url, 1, args.backlog)
        mode: dict[str, bool] = {} if args.leasing else {"sole": True}
        deliverer = Deliverer(box, SystemClock(), poll=0.1, **mode)
        before = cpu()
        took = run(drain(deliverer, box))
        spent = cpu() - before
        kind = "leasing each claim" if args.leasing else "the sole deliverer (claims lease nothing)"
        print(f"deliverer benchmark, {kind}; {os.cpu_count()} CPUs, SQLite WAL synchronous=FULL")
        label = f"backlog of {args.backlog}: delivered/s"
        print(f"{label:<48}{args.backlog / took:>12,.0f}")
        print(f"{'  CPU ms per delivery (this process)':<48}{spent / args.backlog * 1e3:>12.2f}")
        print(f"{'  outbox rows left undelivered':<48}{box.undelivered():>12}")
        deliverer = Deliverer(box, SystemClock(), poll=0.1, **mode)
        before = cpu()
        latencies, sent, producing = run(trickle(deliverer, box, requests, receiver, args))
        spent = cpu() - before - producing
        label = f"trickle {args.rate:,.0f}/s for {args.seconds:.0f} s"
        print(f"{label + ': delivered':<48}{f'{len(latencies)} / {sent}':>12}")
        print(
            f"{'  commit -> callback p50 / p99 / mean ms':<48}"
            f"{pct(latencies, 50) * 1e3:>6.1f} / {pct(latencies, 99) * 1e3:.1f}"
            f" / {statistics.fmean(latencies) * 1e3:.1f}"
        )
        print(
            f"{'  CPU ms per delivery (not the producer)':<48}{spent / max(sent, 1) * 1e3:>12.2f}"
        )
        per = f"{deliverer.claims / max(sent, 1):.2f} / {deliverer.records / max(sent, 1):.2f}"
        print(f"{'  claims / records per delivery':<48}{per:>12}")
        engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
