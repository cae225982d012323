"""``opendcc serve``, the embedded default: the hub as several processes, one command.

The supervisor prepares the store (schema, the configuration's seed data, every lease freed:
nothing else of this hub runs yet), then starts ``[processes] gateways`` gateways sharing the
port, ``workers`` workers, one deliverer and one scheduler, each ``python -m opendcc process
KIND``. A child that dies is started again (its jobs' leases run out and another worker, or
its successor, takes them); one that keeps dying (``MAX_RESTARTS`` within ``RESTART_WINDOW_S``)
stops everything, exit 1. SIGTERM or Ctrl-C stops the gateways first (no new accepts), then the
rest. Children die with the supervisor (PR_SET_PDEATHSIG): a killed supervisor leaves nothing
behind to hold the port or the leases.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import select
import signal
import subprocess
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from opendcc.config import HubConfig
from opendcc.hub import Hub
from opendcc.processes import wake
from opendcc.processes.gateway import listening
from opendcc.processes.run import setup_logging

log = logging.getLogger(__name__)

MAX_RESTARTS = 5
RESTART_WINDOW_S = 60.0
# A look at the children with no signal, a safety net: a child's death (SIGCHLD) or a stop
# (SIGTERM, SIGINT) wakes the supervisor at once through the signal wake-up pipe, so an idle
# hub's supervisor does not wake five times a second to find every child still running.
CHECK_S = 5.0
STOP_TIMEOUT_S = 10.0
PR_SET_PDEATHSIG = 1


@dataclass
class Child:
    kind: str
    args: list[str]
    popen: subprocess.Popen[bytes] | None = None
    restarts: deque[float] = field(default_factory=deque)
    fds: tuple[int, ...] = ()  # inherited: a gateway's listening socket

    def start(self) -> None:
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "opendcc", "process", self.kind, *self.args],
            preexec_fn=_die_with_parent,  # noqa: PLW1509 - only prctl, before exec
            pass_fds=self.fds,
        )
        log.info("started %s (pid %d)", self.kind, self.popen.pid)

    @property
    def name(self) -> str:
        return f"{self.kind} (pid {self.popen.pid if self.popen else '-'})"


def _die_with_parent() -> None:
    """In the child, before exec: SIGKILL when the supervisor dies, as it would crash."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def children(
    config: HubConfig, source: Path, listener: int, wakes: dict[str, int] | None = None
) -> list[Child]:
    """Gateways last: they answer /health, so the hub is up when they are. Every gateway
    serves on the supervisor's one listening socket (``listener``, a file descriptor). Every
    child inherits the wake-up eventfds (``processes.wake``): the supervisor holds them, so a
    restarted child gets the same ones."""
    common = ["--config", str(source)]
    shared: tuple[int, ...] = ()
    if wakes:
        common += ["--wake", wake.encode(wakes)]
        shared = tuple(sorted(wakes.values()))
    kinds = [Child("scheduler", common, fds=shared), Child("deliverer", common, fds=shared)]
    kinds += [Child("worker", common, fds=shared) for _ in range(config.processes.workers)]
    return kinds + [
        Child("gateway", [*common, "--fd", str(listener)], fds=(listener, *shared))
        for _ in range(config.processes.gateways)
    ]


def prepare(config: HubConfig) -> None:
    """Schema, seed data, and every lease freed (no other process of this hub runs yet)."""
    hub = Hub(config, roles=frozenset())
    try:
        hub.seed()
        freed = hub.release_leases()
        log.info("store ready (%d jobs' leases freed)", freed)
    finally:
        hub.engine.dispose()


def main(config: HubConfig, port: int | None = None) -> int:
    setup_logging()
    if config.source is None:
        raise ValueError("the supervisor's children read the configuration file")
    prepare(config)
    stopping = False

    def stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGCHLD, lambda _signum, _frame: None)  # only to wake the wait below
    woken, wake_up = os.pipe()  # a byte in it for every signal, written as the signal arrives
    os.set_blocking(woken, False)
    os.set_blocking(wake_up, False)
    signal.set_wakeup_fd(wake_up, warn_on_full_buffer=False)
    sock = listening(config.host, port if port is not None else config.port)
    log.info("listening on %s:%d", *sock.getsockname()[:2])
    wakes = wake.create()
    every = children(config, config.source, sock.fileno(), wakes)
    for child in every:
        child.start()
    failed = False
    try:
        while not stopping and not failed:
            # A signal between the test above and this wait is not lost: its byte is waiting.
            select.select([woken], [], [], CHECK_S)
            _drain(woken)
            failed = not _restart_dead(every)
    finally:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.close(woken)
        os.close(wake_up)
    _stop_all(every)
    sock.close()
    for fd in wakes.values():
        os.close(fd)
    return 1 if failed else 0


def _drain(fd: int) -> None:
    with contextlib.suppress(BlockingIOError):
        while os.read(fd, 512):
            pass


def _restart_dead(every: list[Child]) -> bool:
    """Start again each child that died; False when one keeps dying."""
    now = time.monotonic()
    for child in every:
        assert child.popen is not None
        code = child.popen.poll()
        if code is None:
            continue
        while child.restarts and now - child.restarts[0] > RESTART_WINDOW_S:
            child.restarts.popleft()
        if len(child.restarts) >= MAX_RESTARTS:
            log.error("%s keeps dying (exit %s); stopping the hub", child.name, code)
            return False
        log.warning("%s died (exit %s); starting it again", child.name, code)
        child.restarts.append(now)
        child.start()
    return True


def _stop_all(every: list[Child]) -> None:
    gateways = [c for c in every if c.kind == "gateway"]
    others = [c for c in every if c.kind != "gateway"]
    for group in (gateways, others):
        for child in group:
            if child.popen is not None and child.popen.poll() is None:
                child.popen.terminate()
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for child in group:
            if child.popen is None:
                continue
            try:
                child.popen.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop; killing it", child.name)
                child.popen.kill()
                child.popen.wait()
    log.info("every process stopped")
