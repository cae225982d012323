"""The embedded default as processes: ``opendcc serve`` starts a gateway a core, a worker, a
deliverer and a scheduler on SQLite; a killed child is started again and nothing acknowledged is
lost; SIGTERM stops them all."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from tests.gateway.harness import estate, response_code
from tests.gateway.test_durability import send

from opendcc.config import cores
from opendcc.processes.supervisor import CHECK_S


def children(pid: int) -> dict[int, str]:
    """The supervisor's children: pid -> process kind."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid and b"process" in cmdline:
            found[int(entry.name)] = cmdline[cmdline.index(b"process") + 1].decode()
    return found


def wait_for_kinds(pid: int, kinds: list[str], timeout: float = 60) -> dict[int, str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        running = children(pid)
        if sorted(running.values()) == sorted(kinds):
            return running
        time.sleep(0.1)
    raise AssertionError(f"children {children(pid)} are not {kinds}")


def test_serve_runs_each_kind_restarts_a_killed_worker_and_loses_nothing(tmp_path: Path) -> None:
    kinds = ["deliverer", *["gateway"] * cores(), "scheduler", "worker"]  # a gateway a core
    # The head-end takes a second: with wake-ups across processes the last requests sent are
    # still at the head-end when the worker is killed, however fast the rest went.
    with estate(tmp_path, latency_ms=1000, xsd=False) as hub:
        supervisor = hub.hub.popen.pid
        running = wait_for_kinds(supervisor, kinds)
        keys = send(hub, 12)
        worker = next(p for p, kind in running.items() if kind == "worker")
        in_flight = keys - hub.callback.keys()
        killed = time.monotonic()
        os.kill(worker, signal.SIGKILL)
        assert in_flight, "the kill came too late to test anything"
        restarted = wait_for_kinds(supervisor, kinds)
        # Its death (SIGCHLD) wakes the supervisor: well before its 5 s look.
        assert time.monotonic() - killed < CHECK_S - 2
        assert worker not in restarted
        keys |= send(hub, 6)
        # The killed worker's leases run out first (15 s); a loaded box takes longer still.
        assert hub.callback.wait_for(keys, timeout=120), keys - hub.callback.keys()
        for key in keys:
            assert response_code(hub.callback.body_of(key)) == "I0"
        hub.hub.popen.send_signal(signal.SIGTERM)
        assert hub.hub.popen.wait(30) == 0
        assert children(supervisor) == {}
