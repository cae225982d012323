"""One fresh read of a device's registry facts for a dispatch step, shared by route and DCO.

When the worker takes a request as far as its sealed instruction (``Dispatcher._prepare``), two
checks need the target device's facts read fresh from the registry (never the front door's
cache): the DSP's route (which S1SP serves the device, its restriction flag) and the DCO's
re-check of the User's authority (check 6 of ``opendcc.dco``). They run one after the other
in the same thread, a few hundred microseconds apart. Reading the same row twice in that time
cost a statement and a pool checkout a request, and told the DCO nothing the route's read did
not: the facts are as fresh either way, and a change committed after both reads (before the
S1SP has the instruction) is missed either way. So inside a step the first read of a device
is kept, and every later read of it in that step gets the same facts. Outside a step (a
schedule's runs, the admin API, any other caller of the DCO) every call reads afresh.

A worker claims several jobs at once and takes them through their steps one after the other
in the claim's thread (``opendcc.queue.worker``). Their devices' facts are then read together
as the claim's steps begin (``ahead``: one SELECT for up to ``PREPARED_PER_CLAIM`` devices,
instead of one each), and each step starts from that read. It is as fresh for every step as a
read of its own at its start, but for the few milliseconds the steps before it took: a change
committed meanwhile is missed as one committed just after a step's own read would be, and the
next claim reads afresh.

The DCO's own checks stay its own: it verifies the User's signature over the bytes it is
given and re-derives the instruction itself; only the registry row is read once, fresh, for
both. docs/access-control.md.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager

from opendcc.core.eui import Eui64
from opendcc.inventory.facts import DeviceFacts

Fresh = Callable[[Eui64], DeviceFacts | None]
FreshMany = Callable[[Collection[Eui64]], Mapping[Eui64, DeviceFacts | None]]


class StepFacts:
    """``fresh`` read at most once a device per step (``step()``), in the thread running it."""

    def __init__(self, fresh: Fresh, fresh_many: FreshMany | None = None) -> None:
        self._fresh = fresh
        self._fresh_many = fresh_many
        self._local = threading.local()

    @contextmanager
    def ahead(self, device_ids: Collection[Eui64]) -> Iterator[None]:
        """Read the facts of ``device_ids`` now, together, for the steps this thread runs until
        the block ends (a claim's jobs); one device alone is left to its step's own read."""
        if self._fresh_many is None or len(set(device_ids)) < 2:
            yield
            return
        outer = getattr(self._local, "ahead", None)
        self._local.ahead = dict(self._fresh_many(device_ids))
        try:
            yield
        finally:
            self._local.ahead = outer

    @contextmanager
    def step(self) -> Iterator[None]:
        """Share reads made in this thread until the block ends (starting from ``ahead``'s)."""
        outer = getattr(self._local, "read", None)
        self._local.read = dict(getattr(self._local, "ahead", None) or {})
        try:
            yield
        finally:
            self._local.read = outer

    def __call__(self, device_id: Eui64) -> DeviceFacts | None:
        read: dict[Eui64, DeviceFacts | None] | None = getattr(self._local, "read", None)
        if read is None:
            return self._fresh(device_id)
        if device_id not in read:
            read[device_id] = self._fresh(device_id)
        return read[device_id]
