"""Idle benchmark: what an `opendcc serve` with no traffic burns, per process (issue 20).

Brings up the front-door benchmark's estate (the head-end simulator, the Users' callback
endpoint, `python -m opendcc serve` on SQLite in a temporary directory), waits ``--settle``
seconds for start-up work to end, then reads each hub process's CPU (utime + stime from
/proc) over ``--seconds`` and prints it as ms of CPU per second of wall time. At low rates a
hub's timers are a large part of its CPU per request, so this is the figure their cuts move:

    .venv/bin/python benchmarks/idle.py [--seconds 20] [--settle 5]
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import time
from pathlib import Path

from front_door import KEYS, FastReceiver, cohort, cpu_seconds, kinds_cpu
from opendcc.sim import scenario
from opendcc.sim.processes import HeadEndProcess, HubProcess, free_port


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--settle", type=float, default=5.0)
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="idle-bench-")))
        receiver = FastReceiver()
        stack.callback(receiver.close)
        headend = HeadEndProcess(cohort(), meters=scenario.headend_meters())
        stack.callback(headend.stop)
        config = scenario.write_config(
            directory / "hub.toml",
            keys=KEYS,
            cohort=cohort(),
            headend=headend.endpoint,
            callback_url=receiver.url,
            database_url=f"sqlite:///{directory / 'hub.db'}",
        )
        hub = HubProcess(config, free_port(), directory / "hub.log")
        stack.callback(hub.stop)
        time.sleep(args.settle)
        pid = hub.popen.pid
        before = {"  hub: supervisor": cpu_seconds(pid), **kinds_cpu(pid)}
        started = time.monotonic()
        time.sleep(args.seconds)
        wall = time.monotonic() - started
        after = {"  hub: supervisor": cpu_seconds(pid), **kinds_cpu(pid)}
        print(f"idle hub, {wall:.1f} s: ms of CPU per second")
        total = 0.0
        for name in sorted(after):
            used = (after[name] - before.get(name, 0.0)) / wall * 1e3
            total += used
            print(f"{name:<32}{used:>8.2f}")
        print(f"{'hub, all its processes':<32}{total:>8.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
