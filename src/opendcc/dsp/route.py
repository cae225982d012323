"""Routing a stored device request to its S1SP and its outcome back to the User.

For each job a worker claims: the DSP (Data Service Provider) rebuilds the request from the
signed document in the store, derives the SMETS1 instruction (``Instructions``: SRV, target and
parameters, or the signed pre-command of a critical request), countersigns it, has the DCO (Dual
Control Organisation) check and seal it, hands the sealed instruction to the device's S1SP
(SMETS1 Service Provider) adapter, and writes the signed outcome to the outbox, in the same
transaction as the request's RESPONDED (or FAILED) step and the job's removal. A job resumed
after a crash picks up from the request's recorded state; the S1SP treats the RequestID as an
idempotency key, so an instruction sent twice is carried out once.

A DCO refusal fails the request with the code of the failed check (E4 when the instruction
does not match what the User signed) and is raised as a security alert (``on_security``).

A future-dated request reaches the router when it is due (the DSP pattern) or at once when the
device's head-end dates it on the device (the Device pattern): the head-end then answers that it
holds it (``held_until``), the request is HELD and the User has an I0 acknowledgement; its
outcome comes later as alert 0x8F66/0x8F67 (``opendcc.dsp.future``). A DSP-held request found
more than ``grace`` past its execution time (the hub was down) is not carried out: it EXPIRES
with E30. A sequenced request runs only after its predecessor succeeded, else it FAILS with E31;
every outcome releases the requests waiting for it. A request executing at 3000-12-31 is DUIS's
cancel (``cancel_like``): it goes to no device; the User's waiting requests like it are cancelled
and it is answered I0 with one status per request.

An SRV whose room keeps its own record of the work (``settlements``: SRV 2.2 Top Up Device and
the UTRN ledger) claims it in the transaction that records the instruction, and settles it
with the outcome in the transaction that records the answer, so the two never disagree.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Protocol, TypeVar

from lxml import etree
from sqlalchemy import Connection, Engine

from opendcc.alerts.codes import DccEvent
from opendcc.core.clock import Clock
from opendcc.core.errors import DuisError, ResponseCode
from opendcc.core.eui import Eui64
from opendcc.core.request_id import RequestId
from opendcc.dco import DcoRejected, DualControl, countersign
from opendcc.dsp.ending import Advance, End
from opendcc.dsp.future import is_cancellation, outcome_pending
from opendcc.dsp.instruct import Instructions, execute_at
from opendcc.dsp.lifecycle import RequestState
from opendcc.dsp.stepfacts import StepFacts
from opendcc.duis.fastsign import signed_smets1_response
from opendcc.duis.request import ServiceRequest
from opendcc.duis.response import Smets1Payload, Smets1Status
from opendcc.inventory import InventoryStore
from opendcc.inventory.facts import DeviceFacts
from opendcc.queue.jobs import JobQueue, WorkQueue
from opendcc.queue.outbox import Message, Outbox
from opendcc.queue.worker import Rest, raising
from opendcc.s1sp.contract import Instruction, Outcome, OutcomeStatus, S1spAdapter, Sealed
from opendcc.smki.credentials import SigningCredentials
from opendcc.store.group import GroupCommit
from opendcc.store.requests import Loaded, RequestStore, StoredOutcome, UnknownRequest
from opendcc.store.users import User, UserStore

log = logging.getLogger(__name__)

S = RequestState
E4 = ResponseCode.NOT_RESPONSIBLE_PARTY
E11 = ResponseCode.SRV_NOT_FOR_DEVICE_TYPE  # parameters the device cannot take (as at the door)
BEFORE_INSTRUCTION = frozenset({S.ACCEPTED, S.DISPATCHED})
_TO_S1SP = (S.INSTRUCTED, S.SENT_TO_S1SP)
# A device (or its head-end) that answered and refused the command did respond: its refusal is
# E11, what the device cannot take, as the front door answers a body SMETS1 cannot carry out,
# with the device's reason in the status text; E21 is kept for no (usable) answer in time, and
# only E20/E21 raise the DCC alert that a command was not delivered. docs/duis.md.
OUTCOME_CODES = {
    OutcomeStatus.SUCCESS: ResponseCode.SUCCESS,
    OutcomeStatus.DEVICE_UNREACHABLE: ResponseCode.DEVICE_UNREACHABLE,
    OutcomeStatus.NO_RESPONSE: ResponseCode.NO_DEVICE_RESPONSE,
    OutcomeStatus.REJECTED: E11,
    OutcomeStatus.KEYS_MISSING: ResponseCode.NO_DEVICE_RESPONSE,
    OutcomeStatus.HAN_ERROR: ResponseCode.DEVICE_UNREACHABLE,
    OutcomeStatus.UNKNOWN_DEVICE: ResponseCode.DEVICE_UNREACHABLE,
}

# Builds the MMC (Message Mapping Catalogue) response element for an SRV's successful outcome.
SmetsData = Callable[[str, Outcome], etree._Element | None]
# Told of each DCO refusal: the request and why.
SecurityAlert = Callable[[ServiceRequest, DcoRejected], None]
# The DCC alert a failed command raises for its User (``alerts.messages``), signed.
CommandAlert = Callable[[ServiceRequest, DccEvent, str], Message | None]
# Outcomes that mean the command never reached the device: the User also gets a DCC alert.
UNDELIVERED = frozenset({ResponseCode.DEVICE_UNREACHABLE, ResponseCode.NO_DEVICE_RESPONSE})
# DUIS's cancel: cancels the User's waiting requests like this one, a status for each.
CancelLike = Callable[[ServiceRequest], Awaitable[tuple[Smets1Status, ...]]]
# Why the request may not reach its restricted meter, or None; given the restriction flag when it
# was read with the device (None: the callable reads it).
Restricted = Callable[[ServiceRequest, bool | None], str | None]
# The target device's registry facts in one read (``opendcc.inventory.facts``).
Facts = Callable[[Eui64], DeviceFacts | None]


class Settlement(Protocol):
    """A room's own record of an SRV's work, kept in step with the request's."""

    def claim_in(self, conn: Connection, instruction: Instruction) -> str | None:
        """Claim the work for this instruction; the reason it cannot go ahead, or None."""
        ...

    def settle_in(self, conn: Connection, instruction: Instruction, outcome: Outcome) -> None: ...


Also = Callable[[Connection], None]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class _Ready:
    """A request taken as far as its DCO-sealed instruction, for its S1SP adapter."""

    request: ServiceRequest
    instruction: Instruction
    sealed: Sealed
    settlement: Settlement | None
    adapter: S1spAdapter
    state: RequestState  # as committed before the adapter was called (once ``advance`` is)
    # The advance to SENT_TO_S1SP, still to be committed (from the event loop), or None.
    advance: Advance | None = None
    user: User | None = None  # the originator, read with the request (its callback URL)


@dataclass(frozen=True, slots=True)
class _Cancel:
    """DUIS's cancel (3000-12-31): carried out on the event loop (``cancel_like``)."""

    request: ServiceRequest


def _nothing(conn: Connection) -> None:
    pass


class Dispatcher:
    def __init__(
        self,
        *,
        engine: Engine,
        clock: Clock,
        requests: RequestStore,
        inventory: InventoryStore,
        users: UserStore,
        jobs: WorkQueue,
        dsp: SigningCredentials,
        s1sp: SigningCredentials,
        dco: DualControl,
        adapters: Mapping[str, S1spAdapter],
        smets_data: SmetsData,
        instructions: Instructions,
        on_outbox: Callable[[], None] = lambda: None,
        on_security: SecurityAlert = lambda request, exc: None,
        settlements: Mapping[str, Settlement] | None = None,
        command_alert: CommandAlert = lambda request, event, url: None,
        restricted: Restricted = lambda request, flag: None,
        facts: Facts | None = None,
        grace: timedelta = timedelta(hours=1),
        cancel_like: CancelLike | None = None,
        group: GroupCommit | None = None,
    ) -> None:
        self.engine = engine
        self.group = group
        self.clock = clock
        self.requests = requests
        self.inventory = inventory
        self.users = users
        self.jobs = jobs
        self.dsp = dsp
        self.s1sp = s1sp
        self.dco = dco
        self.adapters = adapters
        self.smets_data = smets_data
        self.instructions = instructions
        self.on_outbox = on_outbox
        self.on_security = on_security
        self.settlements = dict(settlements or {})
        self.command_alert = command_alert
        self.restricted = restricted
        self.facts = facts
        self.grace = grace
        self.cancel_like = cancel_like
        # The job table's own statements end a job (dsp.ending runs them for a batch of ends).
        queue = type(jobs)
        self._ends_batch = (
            getattr(queue, "complete_in", None) is JobQueue.complete_in
            and getattr(queue, "release_waiting_in", None) is JobQueue.release_waiting_in
        )

    async def process(self, rid: RequestId, loaded: Loaded | None = None) -> None:
        """Carry one claimed request on; ``loaded``: its stored request when the claim read it
        (``JobQueue.claim_loaded``), else it is read here."""
        # One thread hop a request (the embedded worker pool's claims take one for all their
        # jobs instead: ``prepared``): everything up to the instruction (the reads, the DCO's
        # check) in a pool thread; its SENT_TO_S1SP write and the end are
        # group-commit work awaited from the event loop, so no pool thread sits blocked on a
        # batch and no second hop comes back from one (``_commit``).
        await self._go_on(await asyncio.to_thread(self._prepare, rid, loaded))

    def prepared(self, claimed: list[tuple[RequestId, Loaded]]) -> list[Rest]:
        """``process``'s blocking first part for each claimed job, run here (the worker pool's
        claim thread runs it: ``WorkerPool``'s ``prepare_loaded``), their devices' facts read
        together (``StepFacts.ahead``); what is left of each, for the event loop, in order (one
        that raises for a job whose first part raised)."""
        ahead = (
            self.facts.ahead([rid.target for rid, _ in claimed])
            if isinstance(self.facts, StepFacts)
            else nullcontext()
        )
        rests: list[Rest] = []
        with ahead:
            for rid, loaded in claimed:
                try:
                    rests.append(partial(self._go_on, self._prepare(rid, loaded)))
                except Exception as exc:
                    rests.append(raising(exc))
        return rests

    async def _go_on(self, ready: _Ready | _Cancel | None) -> bool | None:
        """From the sealed instruction on: its advance, the S1SP, the end. Whether the end
        released a job waiting for it (False: it released none, so the worker pool need not
        claim for it; None: not known, as on every path but the common end's)."""
        if ready is None:
            return None
        if isinstance(ready, _Cancel):
            await self._cancel_like(ready.request)
            return None
        if ready.advance is not None:
            await self._commit(ready.advance)
        outcome = await ready.adapter.submit(ready.sealed)
        end = self._end_on_loop(ready, outcome)
        if end is None:
            await asyncio.to_thread(self._outcome, ready, outcome)
            return None
        released = await self._commit(end)
        self.on_outbox()
        return released

    async def _commit(self, work: Callable[[Connection], T]) -> T:
        """``work`` committed in the group commit's next batch, awaited without a thread."""
        if self.group is None:
            return await asyncio.to_thread(self._write, work)
        return await asyncio.wrap_future(self.group.submit(work))

    def _end_on_loop(self, ready: _Ready, outcome: Outcome) -> End | None:
        """The common outcomes' end (a SUCCESS, or the device's refusal), built on the event
        loop: signing the Response is CPU only, and the User was read with the request. None
        for what needs the store first (held, a settlement, a DCC alert): ``_outcome``."""
        code = OUTCOME_CODES[outcome.status]
        if (
            ready.user is None
            or ready.settlement is not None
            or self.group is None
            or not self._ends_batch
            or code not in (ResponseCode.SUCCESS, E11)
            or "held_until" in outcome.data
        ):
            return None
        request = ready.request
        if code is ResponseCode.SUCCESS:
            payload = Smets1Payload(smets_data=self.smets_data(request.srv, outcome))
            target = S.RESPONDED
        else:
            payload = coded(code, reason(outcome))
            target = S.FAILED
        now = self.clock.now()
        message = self._response(request, code, payload, ready.user, now)
        return End(request.request_id, ready.state, target, code.value, now, (message,))

    def _prepare(self, rid: RequestId, loaded: Loaded | None = None) -> _Ready | _Cancel | None:
        """Read the request once (unless the claim did) and take it as far as its sealed
        instruction; None when it ended here (its answer is committed). The device's facts
        are read fresh once for the step, the route's and the DCO's checks alike
        (``opendcc.dsp.stepfacts``)."""
        with self.facts.step() if isinstance(self.facts, StepFacts) else nullcontext():
            return self._prepare_step(rid, loaded)

    def _prepare_step(self, rid: RequestId, loaded: Loaded | None) -> _Ready | _Cancel | None:
        if loaded is None:
            loaded = self.requests.load(rid)
        if loaded is None:
            raise UnknownRequest(f"no request {rid}")
        state, document = loaded.outcome.state, loaded.document
        if state not in (S.ACCEPTED, S.DISPATCHED, S.INSTRUCTED, S.SENT_TO_S1SP):
            self._drop_job(rid)  # the outcome is already committed
            return None
        request = self.dco.read(document)  # the DCO's parse, which its check verifies
        # One read of the device with its restriction (the DCO's re-check shares it).
        if self.facts is not None:
            facts = self.facts(rid.target)
            device, flag = (facts.device, facts.restricted) if facts else (None, None)
        else:
            device, flag = self.inventory.device(rid.target), None
        adapter = self.adapters.get(device.cohort or "") if device else None
        if device is None or adapter is None:
            self._refused(request, ResponseCode.DEVICE_UNREACHABLE, "no S1SP serves this device")
            return None
        if state in BEFORE_INSTRUCTION and (
            stop := self._stop(request, state, loaded.outcome, flag)
        ):
            self._finish_coded(request, *stop)
            return None
        sealed = self._sealed(request, state, document)
        if sealed is None or isinstance(sealed, _Cancel):
            return sealed
        instruction = sealed.instruction
        settlement = self.settlements.get(instruction.srv)
        advance = None
        if state in BEFORE_INSTRUCTION:
            if settlement is None and self.group is not None:  # committed from the loop
                steps = ((S.DISPATCHED,) if state is S.ACCEPTED else ()) + _TO_S1SP
                advance = Advance(rid, state, steps, self.clock.now())
            elif refusal := self._instructed(rid, state, instruction, settlement):
                self._refused(request, E11, refusal)
                return None
        current = S.SENT_TO_S1SP if state in BEFORE_INSTRUCTION else state
        user = self.users.get(rid.originator)
        return _Ready(request, instruction, sealed, settlement, adapter, current, advance, user)

    def _sealed(
        self, request: ServiceRequest, state: RequestState, document: bytes
    ) -> Sealed | _Cancel | None:
        """The instruction, countersigned by the DSP and checked and sealed by the DCO; None
        when the DCO (or a changed rule) refused it (the refusal is committed)."""
        try:
            instruction = self.instructions.read(request)
            if state in BEFORE_INSTRUCTION and is_cancellation(execute_at(instruction)):
                return _Cancel(request)
            return self.dco.check(
                countersign(instruction, document, self.dsp), document, self.clock.now()
            )
        except DcoRejected as exc:
            log.warning("DCO rejected %s: %s", request.request_id, exc)
            self.on_security(request, exc)
            self._refused(request, exc.code or E4, f"DCO: {exc}", event=DccEvent.DCO_REFUSED)
        except DuisError as exc:  # the front door read it; only a changed rule gets here
            self._refused(request, exc.code or E4, str(exc))
        return None

    def _outcome(self, ready: _Ready, outcome: Outcome) -> None:
        request, instruction, settlement = ready.request, ready.instruction, ready.settlement
        code = OUTCOME_CODES[outcome.status]

        def settle_in(conn: Connection) -> None:
            if settlement is not None:
                settlement.settle_in(conn, instruction, outcome)

        settle = _nothing if settlement is None else settle_in

        if code is ResponseCode.SUCCESS and "held_until" in outcome.data:
            self._held(request, str(outcome.data["held_until"]), settle)
        elif code is ResponseCode.SUCCESS:
            payload = Smets1Payload(smets_data=self.smets_data(request.srv, outcome))
            self._finish(request, S.RESPONDED, code, payload, settle, current=ready.state)
        else:
            event = DccEvent.COMMAND_UNDELIVERED if code in UNDELIVERED else None
            self._refused(request, code, reason(outcome), settle, event=event, current=ready.state)

    async def _cancel_like(self, request: ServiceRequest) -> None:
        if self.cancel_like is None:
            why = "this hub cannot cancel future-dated requests"
            await asyncio.to_thread(self._refused, request, E11, why)
            return
        statuses = await self.cancel_like(request)
        payload = Smets1Payload(statuses=statuses)
        success = ResponseCode.SUCCESS
        await asyncio.to_thread(self._finish, request, S.RESPONDED, success, payload)

    # ------------------------------------------------------------------ store steps

    def _stop(
        self,
        request: ServiceRequest,
        state: RequestState,
        stored: StoredOutcome,
        restricted: bool | None = None,
    ) -> tuple[RequestState, ResponseCode, str] | None:
        """Why a request not yet instructed stops here, if it does: see ``_ended``; or its
        meter was restricted after the request was accepted (the consumer's choice holds)."""
        if state is S.ACCEPTED and (ended := self._ended(request, stored)) is not None:
            code, reason = ended
            target = S.EXPIRED if code is ResponseCode.FUTURE_DATED_TIMEOUT else S.FAILED
            return target, code, reason
        if (why := self.restricted(request, restricted)) is not None:
            return S.FAILED, ResponseCode.DEVICE_RESTRICTED, why
        return None

    def _ended(
        self, request: ServiceRequest, stored: StoredOutcome
    ) -> tuple[ResponseCode, str] | None:
        """Why an accepted request will not be carried out after all: its predecessor failed
        (E31), or its execution time passed more than ``grace`` ago (E30). None: go ahead.
        A predecessor still unfinished (it finished while this one was being accepted, or a
        restart) makes the job wait for it again."""
        rid = request.request_id
        preceding = stored.preceding_request_id
        if preceding is not None:
            before = self.requests.outcome(preceding)
            # A predecessor whose outcome is known (the end that released this job) is not
            # waited for again: parked again, this job would wait for the sequencing sweep.
            if before is not None and outcome_pending(before.state):
                self.jobs.park(rid, preceding)
                return ResponseCode.ACKNOWLEDGED, "waiting"
            if before is None or not before.succeeded:
                state = before.state if before else "unknown"
                return ResponseCode.SEQUENCE_BROKEN, f"the preceding request {preceding} {state}"
        due = stored.execute_at
        if due is not None and self.clock.now() > due + self.grace:
            return ResponseCode.FUTURE_DATED_TIMEOUT, f"not carried out by {due + self.grace}"
        return None

    def _finish_coded(
        self, request: ServiceRequest, target: RequestState, code: ResponseCode, why: str
    ) -> None:
        if code is ResponseCode.ACKNOWLEDGED:  # parked again: nothing to answer yet
            return
        self._finish(request, target, code, coded(code, why))

    def _held(self, request: ServiceRequest, held_until: str, also: Also) -> None:
        """The head-end holds the future-dated command until ``held_until``: the User gets an
        I0 acknowledgement now (not tied to the request, which is not finished)."""
        rid = request.request_id
        now = self.clock.now()
        user = self.users.get(rid.originator)
        if user is None:
            raise RuntimeError(f"User {rid.originator} left the registry with work in flight")
        status = Smets1Status(0, f"future-dated: held by the device until {held_until}")
        body = signed_smets1_response(
            rid,
            service_reference=request.service_reference,
            srv=request.srv,
            code=ResponseCode.SUCCESS,
            now=now,
            s1sp_credentials=self.s1sp,
            dcc_credentials=self.dsp,
            payload=Smets1Payload(statuses=(status,)),
        )
        key = f"R:{rid.response_id()}"
        with self.engine.begin() as conn:
            self.requests.transition_in(conn, rid, S.HELD, now)
            Outbox.put_in(conn, Message(key, str(rid.originator), user.callback_url, body), now)
            self.jobs.complete_in(conn, rid)
            also(conn)
        self.on_outbox()

    def _refused(
        self,
        request: ServiceRequest,
        code: ResponseCode,
        why: str,
        also: Also = _nothing,
        *,
        event: DccEvent | None = None,
        current: RequestState | None = None,
    ) -> None:
        self._finish(request, S.FAILED, code, coded(code, why), also, event=event, current=current)

    def _instructed(
        self,
        rid: RequestId,
        state: RequestState,
        instruction: Instruction,
        settlement: Settlement | None,
    ) -> str | None:
        steps = [S.DISPATCHED] if state is S.ACCEPTED else []
        steps += _TO_S1SP
        now = self.clock.now()
        if settlement is None:  # batched with other workers' advances (dsp.ending)
            self._write(Advance(rid, state, tuple(steps), now))
            return None

        def write(conn: Connection) -> str | None:
            if refusal := settlement.claim_in(conn, instruction):
                return refusal
            self.requests.advance_in(conn, rid, state, steps, now=now)
            return None

        return self._write(write)

    def _write(self, write: Callable[[Connection], T]) -> T:
        """One write transaction: in the group commit's next batch when there is one."""
        if self.group is not None:
            return self.group.run(write)
        with self.engine.begin() as conn:
            return write(conn)

    def _finish(
        self,
        request: ServiceRequest,
        target: RequestState,
        code: ResponseCode,
        payload: Smets1Payload,
        also: Also = _nothing,
        *,
        event: DccEvent | None = None,
        current: RequestState | None = None,
    ) -> None:
        """The outcome, its Response in the outbox, the job done, in one write; ``current``:
        the request's state when known (it saves reading it)."""
        rid = request.request_id
        now = self.clock.now()
        user = self.users.get(rid.originator)
        if user is None:
            raise RuntimeError(f"User {rid.originator} left the registry with work in flight")
        message = self._response(request, code, payload, user, now)
        alert = self.command_alert(request, event, user.callback_url) if event else None
        if current is not None and also is _nothing and self._ends_batch:
            # Batched with other workers' ends (dsp.ending).
            messages = tuple(m for m in (message, alert) if m is not None)
            self._write(End(rid, current, target, code.value, now, messages))
            self.on_outbox()
            return

        def write(conn: Connection) -> None:
            if current is None:
                self.requests.transition_in(conn, rid, target, now, code=code.value)
            else:
                self.requests.advance_in(conn, rid, current, [target], now=now, code=code.value)
            Outbox.put_many_in(conn, [(m, None) for m in (message, alert) if m is not None], now)
            self.jobs.complete_in(conn, rid)
            self.jobs.release_waiting_in(conn, rid)
            also(conn)

        self._write(write)
        self.on_outbox()

    def _response(
        self,
        request: ServiceRequest,
        code: ResponseCode,
        payload: Smets1Payload,
        user: User,
        now: datetime,
    ) -> Message:
        """The signed Response to ``request``, for the outbox."""
        rid = request.request_id
        # Written as strings (the same bytes as building and signing the tree).
        body = signed_smets1_response(
            rid,
            service_reference=request.service_reference,
            srv=request.srv,
            code=code,
            now=now,
            s1sp_credentials=self.s1sp,
            dcc_credentials=self.dsp,
            payload=payload,
        )
        return Message(f"R:{rid.response_id()}", str(rid.originator), user.callback_url, body, rid)

    def _drop_job(self, rid: RequestId) -> None:
        with self.engine.begin() as conn:
            self.jobs.complete_in(conn, rid)


def reason(outcome: Outcome) -> str:
    """Why an outcome other than SUCCESS ended its request, as its Response's status says: a
    device's refusal named as such, with the device's own words."""
    why = outcome.detail or outcome.status
    return f"the device refused it: {why}" if outcome.status is OutcomeStatus.REJECTED else why


def coded(code: ResponseCode, why: str) -> Smets1Payload:
    """A failed request's Response body: one status, its code and why (250 characters)."""
    return Smets1Payload(statuses=(Smets1Status(int(code.value[1:]), why[:250]),))
