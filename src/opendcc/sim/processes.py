"""Start the head-end simulator and the hub as separate processes, and wait until they serve.

Real processes, real sockets: what the demo, the end-to-end tests and the benchmark run.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

from opendcc.core.eui import Eui64

_LISTENING = re.compile(r"listening on [\d.]+:\d+ (\S+)")
_CONTROL = re.compile(r"control on (\S+)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Process:
    def __init__(self, args: list[str], log: Path | None = None) -> None:
        self.args = args
        self.log = log
        out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115
        self.popen = subprocess.Popen(
            [sys.executable, *args],
            stdout=subprocess.PIPE if log is None else out,
            stderr=subprocess.STDOUT if log is None else out,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

    def kill(self) -> None:
        """SIGKILL: no clean-up, as a crash."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGKILL)
            self.popen.wait(10)

    # Seconds to wait after SIGTERM before SIGKILL.
    stop_timeout = 10.0

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                self.kill()


class HeadEndProcess(Process):
    """One cohort's simulated head-end (``python -m opendcc.sim.headends``).

    ``endpoint`` is where its wire protocol listens; ``control_url`` its control API
    (``opendcc.sim.keypad``), unless started without one. Its meters take the UTRNs made with
    ``key_seed`` (None: the simulation's default seed).
    """

    def __init__(
        self,
        cohort: str,
        *,
        meters: Sequence[Eui64] = (),
        fleet: Path | None = None,
        latency_ms: int = 0,
        realistic_wan: bool = False,
        key_seed: bytes | None = None,
        control: bool = True,
        log: Path | None = None,
    ) -> None:
        args = ["-m", "opendcc.sim.headends", "--cohort", cohort, "--port", "0"]
        args += ["--latency-ms", str(latency_ms)]
        if meters:
            args += ["--meters", ",".join(str(m) for m in meters)]
        if fleet is not None:
            args += ["--fleet", str(fleet)]
        if realistic_wan:
            args.append("--realistic-wan")
        if key_seed is not None:
            args += ["--key-seed", key_seed.hex()]
        if control:
            args += ["--control-port", "0"]
        super().__init__(args)
        self.cohort = cohort
        self.endpoint = self._announced(_LISTENING)
        self.control_url = self._announced(_CONTROL) if control else None

    def _announced(self, pattern: re.Pattern[str]) -> str:
        assert self.popen.stdout is not None
        line = self.popen.stdout.readline().decode()
        found = pattern.search(line)
        if not found:
            self.stop()
            raise RuntimeError(f"the {self.cohort} head-end simulator did not start: {line!r}")
        return found.group(1)


class HubProcess(Process):
    """``opendcc serve``: the embedded default's processes (a supervisor and its children),
    or with ``single_process`` the whole hub in one process."""

    # The supervisor stops its gateways, then the rest, each group within 10 s.
    stop_timeout = 25.0

    def __init__(
        self, config: Path, port: int, log: Path | None = None, *, single_process: bool = False
    ) -> None:
        args = ["-m", "opendcc", "serve", "--config", str(config), "--port", str(port)]
        super().__init__([*args, "--single-process"] if single_process else args, log)
        self.url = f"http://127.0.0.1:{port}"
        self.wait_ready()

    def wait_ready(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise RuntimeError(f"the hub exited with {self.popen.returncode}; see {self.log}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError("the hub did not come up")
