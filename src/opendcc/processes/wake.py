"""Wake-ups across the embedded hub's processes: work one process commits is taken at once by
the process that does it, not at its next poll.

Two kinds of work cross a process: **jobs** (a gateway commits a request with its job; the
workers take it) and **outbox** messages (a worker, the scheduler or a gateway commits a signed
response or alert; the deliverer posts it). ``opendcc serve`` makes one Linux eventfd for each
(a kernel counter, no file, no buffer to fill) and hands both down to every child it starts
(``--wake jobs=FD,outbox=FD``; a restarted child gets the same two).

- A process that *makes* work rings the kind's bell after the commit that made it: one
  ``eventfd_write``, at most one per event-loop iteration however many commits ran in it
  (``Bell.ring`` coalesces), so at 1,500 requests/s in group-committed batches it is a few
  hundred 8-byte writes a second.
- A process that *takes* work watches the kind's eventfd in its event loop (``listen``): when it
  becomes readable the loop reads it once (the read drains the counter: every ring since the last
  read is one wake-up) and sets the asyncio event its claim loop waits on. Several workers watch
  one eventfd: each one whose loop sees it readable wakes (the first read empties it, so one may
  miss it); one worker taking a batch is what is needed.

The database stays the truth and each taker still polls (``[processes] woken_poll_seconds``, a
second by default, where a taker without wake-ups polls every ``poll_seconds``): a lost wake-up
(a taker restarting, a ring before its loop watched) only delays work to the next poll, never
loses it. Why an eventfd: its write and read are one syscall each and need no path, no
per-process socket to find, bind or clean up after a kill -9, and the kernel keeps one counter
however many rings wait; a UNIX datagram socket per taker needs a directory listing to address
and a datagram per ring; polling SQLite's ``data_version`` costs a query per look in every idle
process. Scale mode needs none of this: RabbitMQ delivers the jobs to the workers, and the
deliverer keeps polling.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Mapping

JOBS = "jobs"
OUTBOX = "outbox"
KINDS = (JOBS, OUTBOX)


def create() -> dict[str, int]:
    """The supervisor's eventfds, one per kind, inheritable and non-blocking."""
    return {kind: os.eventfd(0, os.EFD_NONBLOCK) for kind in KINDS}


def encode(fds: Mapping[str, int]) -> str:
    """The ``--wake`` argument a child is started with: ``jobs=5,outbox=6``."""
    return ",".join(f"{kind}={fd}" for kind, fd in sorted(fds.items()))


def decode(text: str | None) -> dict[str, int]:
    """The ``--wake`` argument back into eventfds by kind (unknown kinds refused)."""
    fds: dict[str, int] = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        kind, _, fd = part.partition("=")
        if kind.strip() not in KINDS or not fd.strip().isdigit():
            raise ValueError(f"--wake takes {', '.join(KINDS)}=FD pairs, not {part!r}")
        fds[kind.strip()] = int(fd)
    return fds


class Bell:
    """Rings one eventfd at most once per event-loop iteration (call ``ring`` on the loop)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.rung = 0  # eventfd writes made (tests and the benchmark read it)
        self._due = False

    def ring(self) -> None:
        if self._due:
            return
        self._due = True
        asyncio.get_running_loop().call_soon(self._write)

    def _write(self) -> None:
        self._due = False
        with contextlib.suppress(BlockingIOError):  # counter at its maximum: already rung
            os.eventfd_write(self.fd, 1)
            self.rung += 1


def listen(loop: asyncio.AbstractEventLoop, fd: int, event: asyncio.Event) -> None:
    """Set ``event`` each time the eventfd is rung (until ``unlisten``)."""

    def woken() -> None:
        with contextlib.suppress(BlockingIOError):  # another process read it first
            os.eventfd_read(fd)
        event.set()

    loop.add_reader(fd, woken)


def unlisten(loop: asyncio.AbstractEventLoop, fd: int) -> None:
    loop.remove_reader(fd)


class Wakes:
    """A process's bells and what it listens to, from its ``--wake`` eventfds."""

    def __init__(self, fds: Mapping[str, int]) -> None:
        self.fds = dict(fds)
        self.bells = {kind: Bell(fd) for kind, fd in self.fds.items()}
        self._listening: list[tuple[asyncio.AbstractEventLoop, int]] = []

    def ring(self, kind: str) -> None:
        """On the loop: the work of ``kind`` this process just committed wakes its takers."""
        bell = self.bells.get(kind)
        if bell is not None:
            bell.ring()

    def listen(self, kind: str, event: asyncio.Event) -> bool:
        """On the loop: ``event`` is set when another process rings ``kind``; False when this
        process has no eventfd for it (nothing will ring: keep polling)."""
        fd = self.fds.get(kind)
        if fd is None:
            return False
        loop = asyncio.get_running_loop()
        listen(loop, fd, event)
        self._listening.append((loop, fd))
        return True

    def close(self) -> None:
        for loop, fd in self._listening:
            with contextlib.suppress(Exception):
                unlisten(loop, fd)
        self._listening = []
