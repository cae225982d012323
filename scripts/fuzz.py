"""The long fuzz run (``make fuzz``): a million hostile inputs or more over the DUIS parser and
the JSON APIs, in process, mutated from real signed requests and real JSON bodies.

Three kinds of input, by share:

- **parser** (the bulk): a mutated signed DUIS request through the front door's parse step
  (hardened XML, XSD, Service Request, Header/Body agreement), and on refusal the header read
  that addresses it. Anything but a ``DuisError`` escaping is a failure.
- **json**: a mutated JSON body through the JSON APIs' body layer (``gateway.fields``):
  anything but ``FieldInvalid`` escaping is a failure.
- **http**: a mutated input through the whole ASGI app of a hub (all three surfaces: DUIS,
  UTRN service, admin API), several in flight; any 5xx, or an exception out of the app, is a
  failure. This is the slow kind (each call is authenticated, answered and audited).

The process's RSS is sampled as it goes; growth past ``--rss-bound`` after the warm-up is a
failure too. It prints inputs, rate, RSS growth and every failure (the first few in full), and
exits non-zero on any. Runs without the hub's processes: the hub is built on a temporary SQLite
file (written without fsync: durability is not what is tested here).

    .venv/bin/python scripts/fuzz.py [--inputs 1000000] [--minutes 0] [--http-share 0.02]
        [--json-share 0.2] [--seed 1] [--rss-bound-mib 64]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import signal
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import event

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' rig and mutators

from tests.hostile.fuzzing import JSON_ROUTES, Fuzzer, signed_seeds
from tests.hostile.mutate import mutate_json
from tests.hostile.rig import make_rig
from tests.hostile.wire import MIB, rss_bytes

from opendcc.gateway import fields
from opendcc.gateway.threads import RecycledPool

IN_FLIGHT = 8
PARSE_SIZE = 8 * 1024  # what a mutated request counts towards recycling the parsing thread
WARM_UP = 5000
SAMPLE_EVERY = 10_000


def _no_fsync(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA synchronous=OFF")
    cursor.close()


def _json_body(rng: random.Random) -> None:
    body = mutate_json(rng, rng.choice(JSON_ROUTES)[3])
    try:
        data = fields.json_object(body)
    except fields.FieldInvalid:
        return
    for name, value in data.items():  # every typed reading of every field: refusal or value
        with contextlib.suppress(fields.FieldInvalid):
            fields.whole(value, name, 1, 9_999_999)
        with contextlib.suppress(fields.FieldInvalid):
            fields.number(value, name, 0, 3600)
        with contextlib.suppress(fields.FieldInvalid):
            fields.text(value, name, 64, min_length=1)
        if isinstance(value, str):
            with contextlib.suppress(fields.FieldInvalid):
                fields.digits(value, name)
            with contextlib.suppress(fields.FieldInvalid):
                fields.instant(value, name)


def _rss() -> int:
    return rss_bytes(os.getpid())


class Run:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        rig = make_rig(Path(tempfile.mkdtemp(prefix="opendcc-fuzz-")))
        event.listen(rig.hub.engine, "connect", _no_fsync)
        rig.hub.engine.dispose()
        self.rig = rig
        self.fuzzer = Fuzzer(rig, signed_seeds(rig.supplier))
        self.counts: Counter[str] = Counter()
        self.failures: list[str] = []
        self.pending: set[asyncio.Task[None]] = set()
        self.baseline = self.peak = 0
        self.threads = RecycledPool(workers=1)

    def failed(self, kind: str, seed: int, exc: BaseException) -> None:
        text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        self.failures.append(f"{kind} seed={seed}: {text[:500]}")

    async def http(self, seed: int) -> None:
        rng = random.Random(seed)  # noqa: S311 - reproducible inputs, not secrets
        try:
            await (self.fuzzer.duis(rng) if rng.random() < 0.4 else self.fuzzer.json_api(rng))
        except Exception as exc:
            self.failed("http", seed, exc)

    async def one(self, seed: int, pick: float) -> None:
        rng = random.Random(seed)  # noqa: S311
        if pick < self.args.http_share:
            self.counts["http"] += 1
            task = asyncio.ensure_future(self.http(seed))
            self.pending.add(task)
            task.add_done_callback(self.pending.discard)
            if len(self.pending) >= IN_FLIGHT:
                await asyncio.wait(self.pending, return_when=asyncio.FIRST_COMPLETED)
            return
        kind = "json" if pick < self.args.http_share + self.args.json_share else "parser"
        self.counts[kind] += 1
        try:
            if kind == "json":
                _json_body(rng)
            else:  # in recycled threads, as the hub parses (see opendcc.gateway.threads)
                await self.threads.run(PARSE_SIZE, lambda: self.fuzzer.parser(rng))
        except Exception as exc:
            self.failed(kind, seed, exc)

    async def sample(self, done: int, started: float) -> None:
        if done == WARM_UP:
            await asyncio.gather(*self.pending)
            self.baseline = _rss()
        elif done > WARM_UP and done % SAMPLE_EVERY == 0:
            self.peak = max(self.peak, _rss() - self.baseline)
            if done % (10 * SAMPLE_EVERY) == 0:
                rate = done / (time.monotonic() - started)
                print(
                    f"  {done:,} inputs, {rate:,.0f}/s, RSS +{self.peak / MIB:.1f} MiB", flush=True
                )
            await asyncio.sleep(0)  # let the HTTP inputs in flight take their turns

    async def __call__(self) -> int:
        args = self.args
        master = random.Random(args.seed)  # noqa: S311
        deadline = time.monotonic() + args.minutes * 60 if args.minutes else None
        started = time.monotonic()
        done = 0
        stop = asyncio.Event()  # SIGTERM or SIGINT: stop, and still print the figures
        for signum in (signal.SIGTERM, signal.SIGINT):
            asyncio.get_running_loop().add_signal_handler(signum, stop.set)
        while (
            done < args.inputs
            and not stop.is_set()
            and (deadline is None or time.monotonic() < deadline)
        ):
            await self.one(master.getrandbits(64), master.random())
            done += 1
            await self.sample(done, started)
        await asyncio.gather(*self.pending)
        elapsed = time.monotonic() - started
        if self.baseline:
            self.peak = max(self.peak, _rss() - self.baseline)
        if self.peak > args.rss_bound_mib * MIB:
            self.failures.append(f"RSS grew {self.peak / MIB:.1f} MiB after the warm-up")
        self.report(done, elapsed)
        self.rig.hub.engine.dispose()
        return 1 if self.failures else 0

    def report(self, done: int, elapsed: float) -> None:
        kinds = ", ".join(f"{k} {v:,}" for k, v in sorted(self.counts.items()))
        print(f"inputs: {done:,} ({kinds})")
        print(f"time: {elapsed:,.0f} s; rate: {done / elapsed:,.0f} inputs/s")
        print(
            f"RSS growth after {WARM_UP:,} warm-up inputs: {self.peak / MIB:.1f} MiB"
            f" (bound {self.args.rss_bound_mib} MiB)"
        )
        print(f"failures: {len(self.failures)}")
        for failure in self.failures[:20]:
            print(f"  {failure}")
        if done < self.args.inputs:
            print(f"stopped early after {done:,} of {self.args.inputs:,} inputs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inputs", type=int, default=1_000_000)
    parser.add_argument("--minutes", type=float, default=0, help="stop early after this long")
    parser.add_argument("--http-share", type=float, default=0.02)
    parser.add_argument("--json-share", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rss-bound-mib", type=int, default=64)
    sys.exit(asyncio.run(Run(parser.parse_args())()))


if __name__ == "__main__":
    main()
