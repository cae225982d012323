"""Routing a stored device request to its S1SP and its outcome back to the User.

For each job a worker claims: the DSP (Data Service Provider) rebuilds the request from the
signed document in the store, derives the SMETS1 instruction, countersigns it, has the DCO
(Dual Control Organisation) check it, hands it to the device's S1SP (SMETS1 Service Provider)
adapter, and writes the signed outcome to the outbox, in the same transaction as the request's
RESPONDED (or FAILED) step and the job's removal. A job resumed after a crash picks up from the
request's recorded state; the S1SP treats the RequestID as an idempotency key, so an instruction
sent twice is carried out once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping

from lxml import etree
from sqlalchemy import Engine

from opendcc.core.clock import Clock
from opendcc.core.errors import ResponseCode
from opendcc.core.request_id import RequestId
from opendcc.dco import DcoRejected, DualControl, countersign
from opendcc.dsp.lifecycle import RequestState
from opendcc.duis.request import ServiceRequest, parse_request
from opendcc.duis.response import (
    Smets1Payload,
    Smets1Status,
    sign_document,
    smets1_response,
    to_bytes,
)
from opendcc.inventory import InventoryStore
from opendcc.queue.jobs import WorkQueue
from opendcc.queue.outbox import Message, Outbox
from opendcc.s1sp.contract import Instruction, Outcome, OutcomeStatus, S1spAdapter
from opendcc.smki.credentials import SigningCredentials
from opendcc.store.requests import RequestStore
from opendcc.store.users import UserStore

log = logging.getLogger(__name__)

S = RequestState
BEFORE_INSTRUCTION = frozenset({S.ACCEPTED, S.DISPATCHED})
OUTCOME_CODES = {
    OutcomeStatus.SUCCESS: ResponseCode.SUCCESS,
    OutcomeStatus.DEVICE_UNREACHABLE: ResponseCode.DEVICE_UNREACHABLE,
    OutcomeStatus.NO_RESPONSE: ResponseCode.NO_DEVICE_RESPONSE,
    OutcomeStatus.REJECTED: ResponseCode.NO_DEVICE_RESPONSE,
    OutcomeStatus.KEYS_MISSING: ResponseCode.NO_DEVICE_RESPONSE,
    OutcomeStatus.HAN_ERROR: ResponseCode.DEVICE_UNREACHABLE,
    OutcomeStatus.UNKNOWN_DEVICE: ResponseCode.DEVICE_UNREACHABLE,
}

# Builds the MMC (Message Mapping Catalogue) response element for an SRV's successful outcome.
SmetsData = Callable[[str, Outcome], etree._Element | None]


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
        on_outbox: Callable[[], None] = lambda: None,
    ) -> None:
        self.engine = engine
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
        self.on_outbox = on_outbox

    async def process(self, rid: RequestId) -> None:
        state = await asyncio.to_thread(self.requests.state, rid)
        if state not in (S.ACCEPTED, S.DISPATCHED, S.INSTRUCTED, S.SENT_TO_S1SP):
            await asyncio.to_thread(self._drop_job, rid)  # the outcome is already committed
            return
        document = await asyncio.to_thread(self.requests.document, rid)
        request = parse_request(document)
        device = await asyncio.to_thread(self.inventory.device, rid.target)
        adapter = self.adapters.get(device.cohort or "") if device else None
        if device is None or adapter is None:
            await asyncio.to_thread(
                self._finish,
                request,
                S.FAILED,
                ResponseCode.DEVICE_UNREACHABLE,
                Smets1Payload(statuses=(Smets1Status(20, "no S1SP serves this device"),)),
            )
            return
        instruction = Instruction(str(rid), request.srv, rid.target)
        if state in BEFORE_INSTRUCTION:
            try:
                self.dco.check(
                    countersign(instruction, document, self.dsp), document, self.clock.now()
                )
            except DcoRejected as exc:
                log.warning("DCO rejected %s: %s", rid, exc)
                code = exc.code or ResponseCode.NOT_RESPONSIBLE_PARTY
                await asyncio.to_thread(
                    self._finish,
                    request,
                    S.FAILED,
                    code,
                    Smets1Payload(
                        statuses=(Smets1Status(int(code.value[1:]), f"DCO: {exc}"[:250]),)
                    ),
                )
                return
            await asyncio.to_thread(self._instructed, rid, state)
        outcome = await adapter.submit(instruction)
        code = OUTCOME_CODES[outcome.status]
        if code is ResponseCode.SUCCESS:
            payload = Smets1Payload(smets_data=self.smets_data(request.srv, outcome))
            await asyncio.to_thread(self._finish, request, S.RESPONDED, code, payload)
        else:
            status = Smets1Status(int(code.value[1:]), (outcome.detail or outcome.status)[:250])
            await asyncio.to_thread(
                self._finish, request, S.FAILED, code, Smets1Payload(statuses=(status,))
            )

    # ------------------------------------------------------------------ store steps

    def _instructed(self, rid: RequestId, state: RequestState) -> None:
        with self.engine.begin() as conn:
            if state is S.ACCEPTED:
                self.requests.transition_in(conn, rid, S.DISPATCHED, self.clock.now())
            self.requests.transition_in(conn, rid, S.INSTRUCTED, self.clock.now())
            self.requests.transition_in(conn, rid, S.SENT_TO_S1SP, self.clock.now())

    def _finish(
        self,
        request: ServiceRequest,
        target: RequestState,
        code: ResponseCode,
        payload: Smets1Payload,
    ) -> None:
        rid = request.request_id
        now = self.clock.now()
        user = self.users.get(rid.originator)
        if user is None:
            raise RuntimeError(f"User {rid.originator} left the registry with work in flight")
        answer = smets1_response(
            rid,
            service_reference=request.service_reference,
            srv=request.srv,
            code=code,
            now=now,
            s1sp_credentials=self.s1sp,
            payload=payload,
        )
        body = to_bytes(sign_document(answer, self.dsp))
        message = Message(
            f"R:{rid.response_id()}", str(rid.originator), user.callback_url, body, rid
        )
        with self.engine.begin() as conn:
            self.requests.transition_in(conn, rid, target, now)
            Outbox.put_in(conn, message, now)
            self.jobs.complete_in(conn, rid)
        self.on_outbox()

    def _drop_job(self, rid: RequestId) -> None:
        with self.engine.begin() as conn:
            self.jobs.complete_in(conn, rid)
