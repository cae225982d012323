"""Future-dated requests after acceptance: their outcome, their time-out and their cancelling.

A future-dated request (DUIS ExecutionDateTime) is held until its time either by the DSP (it
waits in the job queue, ``run_after`` its execution time) or, where the SRV's catalogue pattern
is Device and the cohort's head-end dates commands on the device, by the head-end: the router
hands it over at once and the request is HELD (``opendcc.dsp.route``). This module finishes a
HELD request:

- **executed**: the meter's alert 0x8F66 (executed) or 0x8F67 (failed) names the request; the
  alert itself reaches the supplier through alert routing, and the request is answered with it
  (RESPONDED or FAILED, then DELIVERED with the alert);
- **timed out**: no outcome by its execution time plus ``grace``: the User gets a Response
  with E30 and the request EXPIRES (the head-end may still carry it out; its late alert is then
  delivered as an alert and changes nothing here);
- **cancelled** by its User (``cancel``): a request still waiting in the queue is taken out; a
  HELD one is withdrawn from the head-end by notice 99.2, which succeeds only while the head-end
  still holds it. Either way it ends CANCELLED, and requests sequenced after it fail (E31).
  Users cancel the DUIS way (``cancel_like``): the same SRV to the same device with
  ExecutionDateTime 3000-12-31T00:00:00Z (``CANCEL_AT``) cancels every future-dated request of
  theirs for that SRV and device that still waits, and is itself answered I0 with one status per
  request (0 cancelled, 1 not: the device has it already). The admin API's DELETE cancels one.

Each outcome releases the requests sequenced after it (``WorkQueue.release_waiting_in``). The
run loop also frees sequenced jobs whose predecessor finished while they were being accepted.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Engine, delete

from opendcc.core.clock import Clock
from opendcc.core.errors import ResponseCode
from opendcc.core.eui import Eui64
from opendcc.core.request_id import RequestId
from opendcc.core.woken import woken
from opendcc.dsp.lifecycle import TERMINAL, UNFINISHED, RequestState
from opendcc.duis.request import ServiceRequest, parse_request
from opendcc.duis.response import (
    Smets1Payload,
    Smets1Status,
    sign_document,
    smets1_response,
    to_bytes,
)
from opendcc.inventory import InventoryStore
from opendcc.queue.jobs import JobQueue
from opendcc.queue.outbox import Message, Outbox
from opendcc.s1sp.contract import DeviceAlert, Instruction, Outcome, OutcomeStatus
from opendcc.smki.credentials import SigningCredentials
from opendcc.store.peek import Peek
from opendcc.store.requests import RequestStore
from opendcc.store.tables import jobs
from opendcc.store.users import UserStore

log = logging.getLogger(__name__)

S = RequestState
EXECUTED, NOT_EXECUTED = 0x8F66, 0x8F67
CANCEL_NOTICE = "99.2"
# DUIS: a request executing at this moment cancels the User's waiting ones like it.
CANCEL_AT = datetime(3000, 12, 31, tzinfo=UTC)
# Where a request is finished, for the sequencing safety net.
FINISHED = frozenset(state.value for state in TERMINAL) | {
    S.RESPONDED.value,
    S.FAILED.value,
    S.EXPIRED.value,
    S.CANCELLED.value,
}

Submit = Callable[[str, Instruction], Awaitable[Outcome]]

# The sweep's looks (``store.peek``), so that an idle pass writes nothing and locks nothing: a
# HELD request past its time; a job waiting for a finished request (read from the jobs that
# wait, each one's request by its key: not every finished request, as ``IN (SELECT ...)``
# makes SQLite do).
_HELD_DUE = "SELECT 1 FROM service_requests WHERE state = {p} AND execute_at < {p} LIMIT 1"
_FINISHED = sorted(FINISHED)
_ORPHANS = (  # noqa: S608 - placeholders only
    "SELECT 1 FROM jobs WHERE waits_for IS NOT NULL AND EXISTS (SELECT 1 FROM service_requests"
    " AS r WHERE r.request_id = jobs.waits_for AND r.state IN ({states})) LIMIT 1"
).format(states=", ".join(["{p}"] * len(_FINISHED)))


def outcome_pending(state: RequestState) -> bool:
    """Whether a successor must wait for a predecessor in ``state``: accepted and its outcome
    not yet known. One whose outcome is known (RESPONDED, FAILED ...) is not waited for, though
    its Response may not be delivered yet: the successor goes on, or is refused E31, at once
    (the door and the route alike)."""
    return state in UNFINISHED and state.value not in FINISHED


def is_cancellation(execute_at: datetime | None) -> bool:
    """Whether a request's execution time makes it DUIS's cancel of the ones like it."""
    return execute_at == CANCEL_AT


class CancelRefused(Exception):
    """The request cannot be cancelled; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class Cancelled:
    request_id: RequestId
    was: RequestState  # ACCEPTED (taken out of the queue) or HELD (withdrawn from the head-end)


class FutureDated:
    def __init__(
        self,
        *,
        engine: Engine,
        clock: Clock,
        requests: RequestStore,
        jobs: JobQueue,
        users: UserStore,
        inventory: InventoryStore,
        dsp: SigningCredentials,
        s1sp: SigningCredentials,
        submit: Submit,
        grace: timedelta,
        on_outbox: Callable[[], None] = lambda: None,
        on_jobs: Callable[[], None] = lambda: None,
        poll: float = 0.5,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.requests = requests
        self.jobs = jobs
        self.users = users
        self.inventory = inventory
        self.dsp = dsp
        self.s1sp = s1sp
        self.submit = submit
        self.grace = grace
        self.on_outbox = on_outbox
        # After the sweep freed sequenced jobs: the workers look now, not at their next poll.
        self.on_jobs = on_jobs
        self.poll = poll
        self.wake = asyncio.Event()
        self._held_due = Peek(engine, _HELD_DUE)
        self._orphans = Peek(engine, _ORPHANS)

    # ------------------------------------------------------------------ outcomes

    def executed(self, alert: DeviceAlert) -> bool:
        """Finish the HELD request alert 0x8F66/0x8F67 names (after the alert's own commit).
        True when it finished one."""
        if alert.code not in (EXECUTED, NOT_EXECUTED):
            return False
        try:
            rid = RequestId.parse(str(alert.values.get("request_id", "")))
        except ValueError:
            return False
        now = self.clock.now()
        succeeded = alert.code == EXECUTED
        with self.engine.begin() as conn:
            stored = self.requests.outcome_in(conn, rid)
            if stored is None or stored.state is not S.HELD:
                return False  # a late alert after E30, or not ours: it was delivered as is
            self.requests.transition_in(conn, rid, S.RESPONDED if succeeded else S.FAILED, now)
            self.requests.answered_in(conn, rid, "I0" if succeeded else f"{alert.code:04X}")
            self.requests.transition_in(conn, rid, S.DELIVERED, now)
            self.jobs.release_waiting_in(conn, rid)
        return True

    def expire_due(self) -> int:
        """E30 for every HELD request whose outcome is more than ``grace`` late."""
        now = self.clock.now()
        expired = 0
        for rid in self.requests.held_until(now - self.grace):
            if self._expire(rid):
                expired += 1
        if expired:
            self.on_outbox()
        return expired

    def _expire(self, rid: RequestId) -> bool:
        request = parse_request(self.requests.document(rid))
        user = self.users.get(rid.originator)
        if user is None:
            return False
        why = "future-dated command: no outcome from the device by its time (E30)"
        answer = smets1_response(
            rid,
            service_reference=request.service_reference,
            srv=request.srv,
            code=ResponseCode.FUTURE_DATED_TIMEOUT,
            now=self.clock.now(),
            s1sp_credentials=self.s1sp,
            payload=Smets1Payload(statuses=(Smets1Status(30, why),)),
        )
        body = to_bytes(sign_document(answer, self.dsp))
        key = f"E30:{rid.response_id()}"
        message = Message(key, str(rid.originator), user.callback_url, body, rid)
        moment = self.clock.now()
        with self.engine.begin() as conn:
            stored = self.requests.outcome_in(conn, rid)
            if stored is None or stored.state is not S.HELD:
                return False
            self.requests.transition_in(conn, rid, S.EXPIRED, moment)
            self.requests.answered_in(conn, rid, ResponseCode.FUTURE_DATED_TIMEOUT.value)
            Outbox.put_in(conn, message, moment)
            self.jobs.release_waiting_in(conn, rid)
        return True

    # ------------------------------------------------------------------ cancelling

    async def cancel(self, rid: RequestId, by: Eui64) -> Cancelled:
        """Cancel ``rid`` for its User ``by``: refused (``CancelRefused``) when it is not theirs,
        not waiting any more, or already carried out by the device."""
        if rid.originator != by:
            raise CancelRefused(f"request {rid} is not yours to cancel", 403)
        stored = await asyncio.to_thread(self.requests.outcome, rid)
        if stored is None:
            raise CancelRefused(f"no request {rid}", 404)
        if stored.state is S.ACCEPTED:
            if await asyncio.to_thread(self._take_out, rid):
                return Cancelled(rid, S.ACCEPTED)
            raise CancelRefused(f"request {rid} is being carried out now")
        if stored.state is S.HELD:
            await self._withdraw(rid)
            return Cancelled(rid, S.HELD)
        raise CancelRefused(f"request {rid} is {stored.state}: nothing waits to be cancelled")

    async def cancel_like(self, request: ServiceRequest) -> tuple[Smets1Status, ...]:
        """DUIS's cancel: every future-dated ``request.srv`` of the same User for the same device
        that still waits is cancelled. One status per request: 0 cancelled, 1 not (and why)."""
        rid = request.request_id
        waiting = await asyncio.to_thread(self.requests.pending_future, rid, request.srv, CANCEL_AT)
        statuses: list[Smets1Status] = []
        for each in waiting:
            try:
                done = await self.cancel(each, rid.originator)
            except CancelRefused as exc:
                statuses.append(Smets1Status(1, f"not cancelled {each}: {exc}"[:250]))
            else:
                statuses.append(Smets1Status(0, f"cancelled {each} ({done.was.value})"))
        if not statuses:
            why = f"no future-dated SRV {request.srv} of yours for {rid.target} waits"
            statuses.append(Smets1Status(0, f"nothing to cancel: {why}"))
        return tuple(statuses)

    def _take_out(self, rid: RequestId) -> bool:
        now = self.clock.now()
        with self.engine.begin() as conn:
            taken = conn.execute(
                delete(jobs)
                .where(jobs.c.request_id == str(rid))
                .where(jobs.c.lease_owner.is_(None))
            )
            if taken.rowcount != 1:
                return False
            self._cancelled_in(conn, rid, now)
        return True

    async def _withdraw(self, rid: RequestId) -> None:
        device = await asyncio.to_thread(self.inventory.device, rid.target)
        if device is None or device.cohort is None:
            raise CancelRefused(f"no S1SP serves {rid.target}", 409)
        notice = Instruction(f"CANCEL-{rid}", CANCEL_NOTICE, rid.target, {"request_id": str(rid)})
        outcome = await self.submit(device.cohort, notice)
        if outcome.status is not OutcomeStatus.SUCCESS:
            raise CancelRefused(
                f"the head-end no longer holds {rid}: {outcome.detail or outcome.status}"
            )

        def write() -> None:
            with self.engine.begin() as conn:
                stored = self.requests.outcome_in(conn, rid)
                if stored is not None and stored.state is S.HELD:
                    self._cancelled_in(conn, rid, self.clock.now())

        await asyncio.to_thread(write)

    def _cancelled_in(self, conn: Connection, rid: RequestId, now: datetime) -> None:
        self.requests.transition_in(conn, rid, S.CANCELLED, now)
        self.requests.answered_in(conn, rid, "cancelled")
        self.requests.transition_in(conn, rid, S.DELIVERED, now)
        self.jobs.release_waiting_in(conn, rid)

    # ------------------------------------------------------------------ the loop

    async def run(self) -> None:
        while True:
            try:
                expired = freed = 0
                if await self._held_due.found(S.HELD.value, self.clock.now() - self.grace):
                    expired = await asyncio.to_thread(self.expire_due)
                if await self._orphans.found(*_FINISHED):
                    freed = await asyncio.to_thread(self.jobs.release_orphans, FINISHED)
                    if freed:
                        self.on_jobs()
                if expired or freed:
                    log.info("future-dated: %d timed out (E30), %d sequenced freed", expired, freed)
            except Exception:
                log.exception("future-dated sweep failed; trying again shortly")
            self.wake.clear()
            await woken(self.wake, self.poll)
