"""The front door from the event loop: one hop to a pool thread, and the commit awaited there.

``FrontDoor.handle`` blocks its thread until the group commit has committed the request, so
every accept cost a pool thread's wait and two more hops (writer -> pool thread -> loop). Here
the pool thread runs the door up to the commit (``FrontDoor.begin``: parse, verify, access, the
I99 signed in advance), hands the write to the group commit itself (``GroupCommit.submit``) and
is free at once; the writer's done callback wakes the event loop, which answers. The answer is
still sent only after the commit (durability), a replay still gets its signed E1 and audit
record (made in a pool thread: it commits through the group too), and any other failure is
answered as a malformed request, as before.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import Future
from typing import Any

from opendcc.dsp.access import Endpoint
from opendcc.dsp.frontdoor import Answer, FrontDoor, Pending
from opendcc.gateway.threads import RecycledPool
from opendcc.httpserver import Reply
from opendcc.store.requests import Replay

log = logging.getLogger(__name__)

# What the pool thread hands the loop: the answer, or an accept and how its commit ended.
_Outcome = Reply | tuple[Pending, BaseException | None]


class DuisAnswers:
    def __init__(self, door: FrontDoor, pool: RecycledPool) -> None:
        self.door = door
        self.pool = pool

    async def answer(self, endpoint: Endpoint, body: bytes) -> Reply:
        loop = asyncio.get_running_loop()
        outcome: asyncio.Future[_Outcome] = loop.create_future()
        # Its accept is on its way to the group commit: a batch may wait for it (see _begin).
        self.door.group.coming()
        try:
            self.pool.submit(len(body), lambda: self._begin(loop, outcome, endpoint, body))
        except BaseException:
            self.door.group.not_coming()
            raise
        found = await outcome
        if isinstance(found, Reply):
            return found
        pending, failed = found
        if failed is None:
            return reply(pending.accepted())
        if isinstance(failed, Replay):
            return await self.pool.run(0, lambda: reply(pending.refused(failed)))
        return await self.pool.run(len(body), lambda: self._unreadable(endpoint, body, failed))

    def _unreadable(self, endpoint: Endpoint, body: bytes, exc: BaseException) -> Reply:
        log.warning("%s: answered as malformed: %r", endpoint.value, exc)
        failure = exc if isinstance(exc, Exception) else RuntimeError(repr(exc))
        return reply(self.door.unreadable(endpoint, body, failure))

    def _begin(
        self,
        loop: asyncio.AbstractEventLoop,
        outcome: asyncio.Future[_Outcome],
        endpoint: Endpoint,
        body: bytes,
    ) -> None:
        """In a pool thread: the door up to the commit, the write handed to the group (which
        was told it was coming: once submitted, or answered without a write, it is not)."""
        group = self.door.group
        announced = True
        try:
            with group.carrying():  # its own writes meanwhile do not wait for its accept
                try:
                    found = self.door.begin(endpoint, body)
                except Exception as exc:
                    log.warning("%s: answered as malformed: %r", endpoint.value, exc)
                    found = self.door.unreadable(endpoint, body, exc)
            if isinstance(found, Answer):
                announced = False
                group.not_coming()
                loop.call_soon_threadsafe(_settle, outcome, reply(found))
                return
            pending = found
            announced = False  # from here the piece is either in the group's queue or lost
            committed = group.submit(pending.write, announced=True)

            def done(future: Future[Any]) -> None:  # in the writer thread: only a wake-up
                failed = future.exception()
                loop.call_soon_threadsafe(_settle, outcome, (pending, failed))

            committed.add_done_callback(done)
        except BaseException as exc:  # the loop must hear, whatever happened here
            if announced:
                group.not_coming()
            loop.call_soon_threadsafe(_fail, outcome, exc)


def _settle(outcome: asyncio.Future[_Outcome], value: _Outcome) -> None:
    if not outcome.done():
        outcome.set_result(value)


def _fail(outcome: asyncio.Future[_Outcome], exc: BaseException) -> None:
    if not outcome.done():
        outcome.set_exception(exc)


def reply(found: Answer) -> Reply:
    """The front door's answer as HTTP: its status, headers and body."""
    headers = [
        (b"content-length", str(len(found.body)).encode()),
        (b"content-type", found.content_type.encode("latin-1")),
        (b"x-duis-response-code", found.code.encode("latin-1")),
        *((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in found.headers.items()),
    ]
    return Reply(found.status, headers, found.body)
