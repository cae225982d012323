"""The front door: one signed DUIS document in, one signed DUIS answer out, everything audited.

The gateway hands every POSTed body here with the endpoint it arrived on. In order:

1. **Well-formed DUIS Request** (hardened parse; XSD validation when configured; the Body's
   element matches the SRV). Failure: HTTP 400.
2. **Signature** by an XML-signing certificate of the originator, registered with the User or
   in the SMKI repository. Failure: HTTP 401.
3. **Access control** (``opendcc.dsp.access``): E1, E3, E2, E12, E13, E19, E11, E5, E4, then
   whether the device's S1SP offers the SRV (E11). Failure: a signed Response, HTTP 200.
4. **Replay**: the originator counter must not have been accepted from the User before, nor be
   older than the replay window below the newest one accepted (``opendcc.store.requests``).
   Failure: a signed Response with code E1, HTTP 200.
5. **Anomaly detection**: over the User's threshold for the SRV, the request is quarantined
   (stored, never executed), acknowledged, and an AD1 DCC alert goes to the User.

DUIS defines no response code for the failures of steps 1, 2 and 4, which happen before the
DCC can hold the request against a User. opendcc answers them with code **E1** ("not a valid
User / User Role"), tells them apart by HTTP status (400, 401, and 200 for a replay, which a DUIS
client reads like any other coded refusal) and the ``X-OpenDCC-Reason`` header, and
answers a body that is not a DUIS Request with a readable SRV in plain text (a DUIS Response
needs the ServiceReference). Every answer, accepted or refused, leaves one audit record; a
refusal changes nothing else.

Accepted device requests are committed with their job and audit record before the signed I99
acknowledgement is returned; the commits of concurrent requests are grouped (``store.group``:
one writer thread, one transaction and fsync for a batch, a savepoint each, so a replay among
them refuses only itself). Refusals' audit records go the same way: one writer keeps the audit
chain in order. Non-device requests (CV 8) are answered
synchronously with their signed Response.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from lxml import etree
from sqlalchemy import Connection, Engine

from opendcc.catalogue import Catalogue, DeviceType
from opendcc.catalogue.srv import UnknownServiceReferenceVariant
from opendcc.core.clock import Clock
from opendcc.core.errors import DuisError, ResponseCode
from opendcc.core.eui import Eui64
from opendcc.core.request_id import RequestId
from opendcc.dsp.access import AccessControl, AccessDenied, Endpoint, Granted
from opendcc.dsp.anomaly import AnomalyDetector
from opendcc.dsp.future import is_cancellation, outcome_pending
from opendcc.dsp.instruct import SIGNED_PRE_COMMANDS, Instructions, execute_at
from opendcc.dsp.inventory_read import InventoryReader
from opendcc.dsp.lifecycle import RequestState
from opendcc.dsp.notices import queue_in
from opendcc.dsp.offering import Offer, non_device_entry
from opendcc.duis import precommand
from opendcc.duis.alerts import QuarantineBreach, QuarantinedRequest, dcc_alert
from opendcc.duis.fast_response import signed_acknowledgement, signed_refusal
from opendcc.duis.precommand import PreCommandInvalid
from opendcc.duis.request import (
    CommandVariant,
    ServiceRequest,
    read_header,
    request_from_tree,
)
from opendcc.duis.response import response, sign_document, to_bytes
from opendcc.duis.schema import DuisSchema
from opendcc.duis.xml import MalformedDocument, parse_xml, sr
from opendcc.duis.xmldsig import (
    USER_SIGNED,
    CertificateLookup,
    SignatureInvalid,
    SignerPolicy,
    verify,
)
from opendcc.inventory import SmiStatus
from opendcc.inventory.status import TRANSITIONS as SMI_TRANSITIONS
from opendcc.queue.jobs import WorkQueue
from opendcc.queue.outbox import Message, Outbox
from opendcc.s1sp.contract import Instruction
from opendcc.s1sp.services import DECOMMISSION_NOTICE, InvalidParameters
from opendcc.smki.credentials import SigningCredentials
from opendcc.store.audit import AuditLog, AuditRecord, digest
from opendcc.store.group import GroupCommit
from opendcc.store.raw import savepoint
from opendcc.store.requests import NewRequest, Replay, RequestStore

XML = "application/xml"
# What converting hostile text can raise besides a DuisError: answered as malformed input.
CONVERSION_ERRORS = (ValueError, ArithmeticError, RecursionError, UnicodeError)


class HeaderMismatch(DuisError):
    """The Header's ServiceReference, its ServiceReferenceVariant and the Body's element do not
    agree (E1, HTTP 400: see docs/access-control.md)."""


# The devices an S1SP's head-end holds as meters: told when one is decommissioned.
METERS = frozenset({DeviceType.ESME, DeviceType.GSME})


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: bytes
    code: str  # DUIS response code, or HTTP400 when no DUIS answer is possible
    reason: str = ""
    content_type: str = XML
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Pending:
    """A device request that passed every check, not yet committed. ``write`` is its
    transaction's work (for the group commit); once it has committed, ``accepted()`` wakes the
    workers and gives the I99; if it was refused as a replay, ``refused(exc)`` audits and gives
    the signed E1 (it commits an audit record: not from the group commit's own thread). Any
    other failure of the commit is the caller's, as from ``handle``."""

    write: Callable[[Connection], None]
    accepted: Callable[[], Answer]
    refused: Callable[[Replay], Answer]


@dataclass(frozen=True, slots=True)
class Incoming:
    """One POSTed document: where it came in, when, and the digest the audit trail keeps."""

    endpoint: Endpoint
    body: bytes
    received: str
    now: datetime


@dataclass(frozen=True, slots=True)
class NonDeviceAnswer:
    """How a room answers a non-device request (5.1 Create Schedule, 11.1 Update Firmware ...).

    ``write`` runs in the transaction that stores the request and its audit record, and returns
    the Response's payload element (an ``sr`` element of the ResponseMessage choice) or None;
    ``then`` runs after the commit (to wake the room's runner). A handler refuses by raising
    ``AccessDenied`` (or ``InvalidParameters``) before answering: nothing is stored.
    """

    write: Callable[[Connection], etree._Element | None]
    code: ResponseCode = ResponseCode.SUCCESS
    reason: str = "answered"
    then: Callable[[], None] = lambda: None


# Answers one non-device SRV for a User who passed access control, at ``now``.
NonDevice = Callable[[ServiceRequest, Granted, datetime], NonDeviceAnswer]
# Decides whether the device's S1SP offers the SRV; None when it does, else the reason.
SupportCheck = Callable[[Granted], str | None]
# Checks an instruction against what its room knows (a 2.2's UTRN against the ledger); raises
# ``InvalidParameters`` to refuse it.
Vet = Callable[[Instruction], None]


class FrontDoor:
    def __init__(
        self,
        *,
        engine: Engine,
        clock: Clock,
        catalogue: Catalogue,
        certificates: CertificateLookup,
        access: AccessControl,
        requests: RequestStore,
        inventory: InventoryReader,
        jobs: WorkQueue,
        audit: AuditLog,
        dsp: SigningCredentials,
        supports: SupportCheck,
        instructions: Instructions,
        schema: DuisSchema | None = None,
        anomaly: AnomalyDetector | None = None,
        on_accepted: Callable[[], None] = lambda: None,
        on_alert: Callable[[], None] = lambda: None,
        vet: Vet = lambda instruction: None,
        priority: Callable[[str], int] = lambda srv: 0,
        restricted: Callable[[Granted], None] = lambda granted: None,
        non_device: Mapping[str, NonDevice] | None = None,
        device_dates: Callable[[Granted], bool] = lambda granted: False,
        group: GroupCommit | None = None,
    ) -> None:
        self.engine = engine
        # One writer for the requests and every audit record (refusals' too): the chain's order.
        self.group = group or audit.group or GroupCommit(engine, on_rollback=audit.forget_head)
        audit.group = self.group
        self.clock = clock
        self.catalogue = catalogue
        self.certificates = certificates
        self.access = access
        self.requests = requests
        self.inventory = inventory
        self.jobs = jobs
        self.audit = audit
        self.dsp = dsp
        self.supports = supports
        self.instructions = instructions
        self.schema = schema
        self.anomaly = anomaly or AnomalyDetector()
        self.on_accepted = on_accepted
        self.on_alert = on_alert
        self.vet = vet
        self.priority = priority
        self.restricted = restricted
        self.non_device = dict(non_device or {})
        self.device_dates = device_dates

    def handle(self, endpoint: Endpoint, body: bytes) -> Answer:
        found = self.begin(endpoint, body)
        if isinstance(found, Answer):
            return found
        try:
            self.group.run(found.write)
        except Replay as exc:
            return found.refused(exc)
        return found.accepted()

    def begin(self, endpoint: Endpoint, body: bytes) -> Answer | Pending:
        """``handle`` up to a device request's commit: the answer, or the accept still to be
        committed (``Pending``: its write for the group commit, and its answers after). A
        caller that commits it itself (``group.submit``) need not wait in a thread meanwhile."""
        now = self.clock.now()
        incoming = Incoming(endpoint, body, digest(body), now)
        try:
            request = self._parse(body)
        except DuisError as exc:
            return self._malformed(incoming, exc)
        try:
            signer = verify(
                request.document.getroot(),
                self.certificates,
                SignerPolicy(USER_SIGNED, request.request_id.originator),
                now,
            )
        except SignatureInvalid as exc:
            return self._refuse(incoming, request, 401, str(exc))
        try:
            granted = self.access.check(request, endpoint, now)
            if granted.device is not None and (why := self.supports(granted)) is not None:
                raise AccessDenied(ResponseCode.SRV_NOT_FOR_DEVICE_TYPE, why)
            self.restricted(granted)  # MP169: E71 for a disallowed SRV to a restricted meter
            if granted.srv.non_device:
                return self._non_device(incoming, request, granted)
            signer_key = signer.certificate.public_key()
            instruction = self.instructions.read(
                request, signer_key if isinstance(signer_key, ec.EllipticCurvePublicKey) else None
            )
            self.vet(instruction)
            waits_for = self._predecessor(request)
        except (AccessDenied, InvalidParameters, PreCommandInvalid) as exc:
            # A pre-command that does not parse is malformed input: HTTP 400 and E1.
            code = exc.code or ResponseCode.INVALID_USER_ROLE
            return self._refuse(incoming, request, exc.http_status, str(exc), code)
        if request.command_variant is CommandVariant.TRANSFORM:
            return self._transform(incoming, request, granted, instruction)
        return self._device_request(incoming, request, granted, instruction, waits_for)

    # ------------------------------------------------------------------ steps

    def _parse(self, body: bytes) -> ServiceRequest:
        try:
            return self._read(body)
        except DuisError:
            raise
        except CONVERSION_ERRORS as exc:
            # Text the schema allows but Python cannot hold (a 5,000-digit number, the year 1
            # moved by a time zone, ...) is malformed input like any other.
            raise MalformedDocument(f"{type(exc).__name__}: {exc}"[:300]) from None

    def _read(self, body: bytes) -> ServiceRequest:
        document = parse_xml(body)
        if self.schema is not None:
            self.schema.validate(document)
        request = request_from_tree(document)
        srv = self.catalogue.get(request.srv)
        # Header and Body say the same thing: the ServiceReference is the SRV's, and the Body
        # is the SRV's element (the endpoint is held against the Command Variant: E13).
        if request.service_reference != srv.service_reference:
            raise HeaderMismatch(
                f"ServiceReference {request.service_reference} does not name SRV {srv.srv}"
                f" (its ServiceReference is {srv.service_reference})"
            )
        expected = srv.body_element
        if request.command_variant in SIGNED_PRE_COMMANDS:
            expected = "SignedPreCommand"
        if expected is not None and expected != request.body_element:
            raise HeaderMismatch(
                f"SRV {srv.srv} carries sr:{expected}, not sr:{request.body_element}"
            )
        if request.is_future_dated and srv.future_dated_pattern is None:
            raise DuisError(f"SRV {srv.srv} cannot be future-dated: no ExecutionDateTime")
        if request.preceding_request_id is not None and request.first_in_sequence:
            raise DuisError("a request that names its predecessor is not first in its sequence")
        return request

    def _predecessor(self, request: ServiceRequest) -> RequestId | None:
        """Sequencing: the request this one must wait for, if its outcome is still unknown
        (``outcome_pending``: one answered but not yet delivered is not waited for).

        Refused with E31 when the predecessor is not one of the User's requests, or has already
        failed (or been cancelled): this request would be cancelled anyway.
        """
        preceding = request.preceding_request_id
        if preceding is None:
            return None
        found = self.requests.outcome(preceding)
        if found is None or preceding.originator != request.request_id.originator:
            raise AccessDenied(
                ResponseCode.SEQUENCE_BROKEN, f"no request {preceding} of yours precedes this one"
            )
        if outcome_pending(found.state):
            return preceding
        if not found.succeeded:
            raise AccessDenied(
                ResponseCode.SEQUENCE_BROKEN,
                f"the preceding request {preceding} did not succeed ({found.state},"
                f" {found.response_code or 'no code'})",
            )
        return None

    def _transform(
        self,
        incoming: Incoming,
        request: ServiceRequest,
        granted: Granted,
        instruction: Instruction,
    ) -> Answer:
        """CV 4: answer at once with the pre-command the User is to sign (CV 5 sends it): the
        GBCS General Signing message of the SRV's use case for the target's device type."""
        now, rid = incoming.now, request.request_id
        device_type = granted.device.device_type.value if granted.device is not None else "any"
        payload = precommand.issue(
            instruction.srv,
            device_type,
            rid.originator,
            instruction.device_id,
            rid.counter,
            instruction.parameters,
            now,
        )

        def write(conn: Connection) -> None:
            self.requests.accept_in(conn, _new(request, incoming.body), now)
            self.requests.transition_in(conn, rid, RequestState.RESPONDED, now)
            self.requests.transition_in(conn, rid, RequestState.DELIVERED, now)
            self.audit.append(conn, _record(incoming, request, "I0", "pre-command issued"))

        if (replayed := self._commit(incoming, request, write)) is not None:
            return replayed
        answer = response(
            rid,
            service_reference=request.service_reference,
            srv=request.srv,
            code=ResponseCode.SUCCESS,
            now=now,
            payload=precommand.precommand_element(payload),
        )
        return Answer(200, to_bytes(sign_document(answer, self.dsp)), "I0", "pre-command issued")

    def _device_request(
        self,
        incoming: Incoming,
        request: ServiceRequest,
        granted: Granted,
        instruction: Instruction,
        waits_for: RequestId | None,
    ) -> Pending:
        now = incoming.now
        when = execute_at(instruction)
        # A future-dated request waits in the queue until it is due (the DSP pattern), unless the
        # device's head-end dates it on the device: then it goes now (the Device pattern). DUIS's
        # cancel (3000-12-31) goes now too: it cancels the waiting requests like it.
        run_after = now
        if (
            when is not None
            and when > now
            and not is_cancellation(when)
            and not self.device_dates(granted)
        ):
            run_after = when
        user = granted.user
        admitted = self.anomaly.admit(user.user_id, request.srv, user.thresholds, now)
        state = RequestState.ACCEPTED if admitted else RequestState.QUARANTINED
        reason = "accepted" if admitted else "quarantined: anomaly-detection threshold"
        # Signed before the transaction: no signing while holding the database's write lock.
        alert = None if admitted else self._quarantine_alert(request, user.callback_url, now)

        new = _new(request, incoming.body, when)
        record = _record(incoming, request, "I99", reason)
        write: Callable[[Connection], None]
        if alert is None:
            # Batchable: the group commit accepts concurrent ones in a few statements together.
            priority = self.priority(request.srv)
            write = _Accept(self, new, state, now, run_after, priority, waits_for, record)
        else:

            def write(conn: Connection) -> None:
                self.requests.accept_in(conn, new, now, state)
                Outbox.put_in(conn, alert, now)
                self.audit.append(conn, record)

        # Signed before the commit too, in the caller's thread: the I99 is sent only after it.
        acknowledgement = Answer(200, signed_acknowledgement(request, now, self.dsp), "I99", reason)

        def accepted() -> Answer:
            (self.on_accepted if admitted else self.on_alert)()
            return acknowledgement

        def refused(exc: Replay) -> Answer:
            return self._refuse(incoming, request, 200, f"replay: {exc}")

        return Pending(write, accepted, refused)

    def _non_device(self, incoming: Incoming, request: ServiceRequest, granted: Granted) -> Answer:
        now = incoming.now
        if request.srv == "8.3":
            return self._decommission(incoming, request, granted)
        if (handler := self.non_device.get(request.srv)) is not None:
            return self._answered_by(incoming, request, handler(request, granted, now))
        if request.srv != "8.2":
            entry = non_device_entry(granted.srv)  # as the SMETS1 service catalogue says
            if entry.offer is Offer.NOT_APPLICABLE:  # never, for SMETS1
                raise AccessDenied(
                    ResponseCode.SRV_NOT_FOR_DEVICE_TYPE,
                    f"SRV {request.srv} ({entry.name}) is not applicable: {entry.reason}",
                )
            raise AccessDenied(
                ResponseCode.COMMAND_VARIANT_NOT_ALLOWED,
                f"non-device SRV {request.srv} is not offered: {entry.reason}",
            )
        found = self.inventory.read(request)
        if found is None:
            raise AccessDenied(ResponseCode.UNKNOWN_DEVICE, "no device matches the search")
        return self._answered_by(incoming, request, NonDeviceAnswer(write=lambda conn: found))

    def _answered_by(
        self, incoming: Incoming, request: ServiceRequest, answer: NonDeviceAnswer
    ) -> Answer:
        now, rid = incoming.now, request.request_id
        payload: list[etree._Element | None] = []

        def write(conn: Connection) -> None:
            self.requests.accept_in(conn, _new(request, incoming.body), now)
            payload.append(answer.write(conn))
            self.requests.transition_in(conn, rid, RequestState.RESPONDED, now)
            self.requests.transition_in(conn, rid, RequestState.DELIVERED, now)
            self.requests.answered_in(conn, rid, answer.code.value)
            self.audit.append(conn, _record(incoming, request, answer.code.value, answer.reason))

        if (replayed := self._commit(incoming, request, write)) is not None:
            return replayed
        answer.then()
        document = response(
            rid,
            service_reference=request.service_reference,
            srv=request.srv,
            code=answer.code,
            now=now,
            payload=payload[0],
        )
        signed = to_bytes(sign_document(document, self.dsp))
        return Answer(200, signed, answer.code.value, answer.reason)

    def _decommission(
        self, incoming: Incoming, request: ServiceRequest, granted: Granted
    ) -> Answer:
        """8.3 Decommission Device: the device named in the body leaves service (SMI status
        Decommissioned), for the User responsible for it now; answered I0 (no XML data). A
        meter's S1SP is told in the same transaction (notice 99.3, carried by ``dsp.notices``):
        its head-end takes the meter out of service."""
        now, store = incoming.now, self.inventory.inventory
        try:
            device_id = Eui64.parse((request.body.findtext(sr("DeviceID")) or "").strip())
        except DuisError as exc:
            raise AccessDenied(ResponseCode.UNKNOWN_DEVICE, f"no such device: {exc}") from None
        device = store.device(device_id)
        if device is None:
            raise AccessDenied(
                ResponseCode.UNKNOWN_DEVICE, f"no device {device_id} in the inventory"
            )
        self.access.responsible_for(granted, device, now)
        if SmiStatus.DECOMMISSIONED not in SMI_TRANSITIONS[device.smi_status]:
            raise AccessDenied(
                ResponseCode.DEVICE_STATUS_INCOMPATIBLE,
                f"device {device_id} is {device.smi_status}: it cannot be decommissioned",
            )
        reason = f"8.3 Decommission Device by {request.request_id.originator}"

        cohort = device.cohort if device.device_type in METERS else None  # a meter's S1SP

        def write(conn: Connection) -> None:
            store.transition_in(conn, [device_id], SmiStatus.DECOMMISSIONED, now, reason)
            if cohort is not None:
                since = {"since": now.isoformat()}
                queue_in(
                    conn,
                    device_id=device_id,
                    cohort=cohort,
                    srv=DECOMMISSION_NOTICE,
                    parameters=since,
                    now=now,
                )

        decommission = NonDeviceAnswer(write, ResponseCode.SUCCESS, "decommissioned")
        return self._answered_by(incoming, request, decommission)

    def _commit(
        self, incoming: Incoming, request: ServiceRequest, write: Callable[[Connection], None]
    ) -> Answer | None:
        """Run ``write`` in one transaction; a replay is refused (a signed E1 Response, HTTP
        200, like every coded refusal) and changes nothing."""
        try:
            self.group.run(write)  # the group's writer forgets the chain head on a rollback
        except Replay as exc:
            return self._refuse(incoming, request, 200, f"replay: {exc}")
        return None

    # ------------------------------------------------------------------ answers

    def _refuse(
        self,
        incoming: Incoming,
        request: ServiceRequest,
        status: int,
        reason: str,
        code: ResponseCode = ResponseCode.INVALID_USER_ROLE,
    ) -> Answer:
        self.audit.record(_record(incoming, request, code.value, reason))
        body = signed_refusal(
            request.request_id,
            service_reference=request.service_reference,
            srv=request.srv,
            code=code,
            now=incoming.now,
            credentials=self.dsp,
        )
        return Answer(status, body, code.value, reason, headers=_reason(reason))

    def unreadable(self, endpoint: Endpoint, body: bytes, exc: Exception) -> Answer:
        """The answer to a document whose handling failed in a way no step foresaw: as a
        malformed one (E1 signed when its header can be read, else plain text; HTTP 400)."""
        now = self.clock.now()
        failure = MalformedDocument(f"unprocessable: {type(exc).__name__}: {exc}"[:300])
        return self._malformed(Incoming(endpoint, body, digest(body), now), failure)

    def _malformed(self, incoming: Incoming, exc: DuisError) -> Answer:
        endpoint, body, received, now = (
            incoming.endpoint,
            incoming.body,
            incoming.received,
            incoming.now,
        )
        reason = f"{type(exc).__name__}: {exc}"
        readable = _readable_header(body, self.catalogue)
        if readable is None or isinstance(exc, UnknownServiceReferenceVariant):
            self.audit.record(AuditRecord(now, endpoint.value, "HTTP400", reason, received))
            text = f"not a DUIS Service Request opendcc can answer: {reason}\n".encode()
            return Answer(
                400, text, "HTTP400", reason, "text/plain; charset=utf-8", _reason(reason)
            )
        request_id, service_reference, srv = readable
        originator = str(request_id.originator) if request_id else None
        self.audit.record(
            AuditRecord(
                now,
                endpoint.value,
                "E1",
                reason,
                received,
                str(request_id or "") or None,
                originator,
                srv,
            )
        )
        signed = signed_refusal(
            None,
            service_reference=service_reference,
            srv=srv,
            code=ResponseCode.INVALID_USER_ROLE,
            now=now,
            credentials=self.dsp,
        )
        return Answer(400, signed, "E1", reason, headers=_reason(reason))

    def _quarantine_alert(self, request: ServiceRequest, url: str, now: datetime) -> Message:
        rid = request.request_id
        content = QuarantinedRequest(QuarantineBreach.USER_THRESHOLD, rid, rid.counter)
        alert = dcc_alert("AD1", content, now, request_id=None)
        signed = to_bytes(sign_document(alert, self.dsp))
        return Message(f"AD1:{rid}", str(rid.originator), url, signed, None)


@dataclass(frozen=True, slots=True)
class _Accept:
    """One device request's accept: the request, its job and its audit record. Alone, in its
    own savepoint; with others of its kind in a group commit's batch, all of them in a few
    ``executemany`` statements (``run_many``), each replay refusing only itself."""

    door: FrontDoor
    new: NewRequest
    state: RequestState
    now: datetime
    run_after: datetime
    priority: int
    waits_for: RequestId | None
    record: AuditRecord

    def __call__(self, conn: Connection) -> None:
        # Alone in its batch: the batch path with one piece (precompiled SQL), in a savepoint so
        # that a counter another process accepted meanwhile (the DBAPI's IntegrityError) falls
        # back to the Core path below, which tells a replay from a User's first-row race.
        try:
            with savepoint(conn, "accept_one"):
                ((ok, refused),) = self.run_many(conn, [self])
        except conn.dialect.loaded_dbapi.IntegrityError:
            self._core(conn)
            return
        if not ok:
            raise refused

    def _core(self, conn: Connection) -> None:
        rid = self.new.request_id
        self.door.requests.accept_in(conn, self.new, self.now, self.state)
        self.door.jobs.enqueue_in(
            conn, rid, self.run_after, self.priority, waits_for=self.waits_for
        )
        self.door.audit.append(conn, self.record)

    @classmethod
    def run_many(cls, conn: Connection, pieces: list[_Accept]) -> list[tuple[bool, Any]]:
        door = pieces[0].door
        if any(piece.door is not door for piece in pieces):
            raise RuntimeError("one front door's accepts at a time")  # then one by one
        items = [(p.new, p.state, p.now) for p in pieces]
        answers = door.requests.accept_many_in(conn, items)
        taken = [p for p, refused in zip(pieces, answers, strict=True) if refused is None]
        rows = [(p.new.request_id, p.run_after, p.priority, p.waits_for) for p in taken]
        many = getattr(door.jobs, "enqueue_many_in", None)
        if many is not None:
            many(conn, rows)
        else:  # a queue backend without it
            for rid, run_after, priority, waits_for in rows:
                door.jobs.enqueue_in(conn, rid, run_after, priority, waits_for=waits_for)
        door.audit.append_many(conn, [p.record for p in taken])
        return [(True, None) if refused is None else (False, refused) for refused in answers]


def _new(request: ServiceRequest, body: bytes, execute_at: datetime | None = None) -> NewRequest:
    return NewRequest(
        request_id=request.request_id,
        srv=request.srv,
        command_variant=int(request.command_variant),
        document=body,
        execute_at=execute_at or request.execution_datetime,
        preceding_request_id=request.preceding_request_id,
    )


def _record(incoming: Incoming, request: ServiceRequest, code: str, reason: str) -> AuditRecord:
    rid = request.request_id
    return AuditRecord(
        incoming.now,
        incoming.endpoint.value,
        code,
        reason,
        incoming.received,
        str(rid),
        str(rid.originator),
        request.srv,
    )


# Typographic punctuation in SRV names (DUIS's "Communications Hub Status Update \u2013 Fault
# Return") written as its ASCII look-alike in the header, rather than a "?".
_ASCII_PUNCTUATION = str.maketrans(
    {"\u2013": "-", "\u2014": "-", "\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'}
)


def _reason(reason: str) -> dict[str, str]:
    # Header values must be latin-1 and single-line.
    text = reason.translate(_ASCII_PUNCTUATION).encode("ascii", "replace").decode()
    return {"X-OpenDCC-Reason": text[:300].replace("\n", " ")}


def _readable_header(body: bytes, catalogue: Catalogue) -> tuple[RequestId | None, str, str] | None:
    """RequestID, ServiceReference and SRV of a failed document, if they can be read safely
    (read only as far as the Header: a bomb in the Body is not parsed a second time)."""
    try:
        header = read_header(body)
    except (DuisError, *CONVERSION_ERRORS):  # whatever the bytes: a refusal must be answered
        return None
    if header is None:
        return None
    srv = header.get("ServiceReferenceVariant", "")
    if srv not in catalogue:
        return None
    try:
        request_id: RequestId | None = RequestId.parse(header.get("RequestID", ""))
    except (DuisError, *CONVERSION_ERRORS):
        request_id = None
    return request_id, catalogue.get(srv).service_reference, srv
