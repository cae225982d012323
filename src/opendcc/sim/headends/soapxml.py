"""A simulated cohort head-end that speaks SOAP/XML: synchronous calls, alerts by polling.

The S1SP (SMETS1 Service Provider) adapter POSTs SOAP 1.1 envelopes to ``SERVICE_PATH``; this
server, a Starlette app on an in-process uvicorn (``opendcc.sim.headends.http``), decodes them
with the very codec the adapter uses (``opendcc.s1sp.protocols.soapxml``) and answers in the
same HTTP exchange:

``ExecuteCommand``
    the command name is mapped to its SRV (Service Reference Variant) by the cohort profile
    (unknown: a ``UNSUPPORTED_COMMAND`` Fault; a device the head-end does not serve: an
    ``UNKNOWN_DEVICE`` Fault, at once). Otherwise the server waits the simulated WAN (wide area
    network) delay, has ``HeadEndCore.execute`` carry it out (idempotent per RequestId) and
    answers its ``ResultCode`` with the result values. With the ``corrupt`` fault the answer's
    body is cut short in transit, so it is no longer well-formed XML.
``GetHeadEndStatus``
    ``up`` (``degraded`` while head-end-wide faults are injected) and the head-end's clock.
``PollAlerts``
    this head-end never pushes: every alert the core publishes is queued with a unique
    AlertId, and a poll answers those raised at or after ``Since``, oldest first, at most
    ``MAX_ALERTS_PER_POLL`` at a time. ``Since`` is the client's acknowledgement: a poll
    asking from ``Since`` says the client holds every alert raised before it, so those are
    dropped (``unacked`` records them acknowledged). The rest stay, however often they were
    polled, up to ``keep_alerts`` (past that the oldest are dropped, as a head-end's store
    would overflow).

A request that does not decode is a ``MALFORMED_REQUEST`` Fault; a result the wire cannot carry
an ``INTERNAL_ERROR`` Fault. ``go_down()`` stops listening and drops every connection, answers
under way included, so new connections are refused; ``come_up()`` listens on the same port.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from datetime import datetime

from starlette.applications import Starlette
from starlette.requests import Request as HttpRequest
from starlette.responses import Response as HttpResponse
from starlette.routing import Route

from opendcc.s1sp.adapter import codes_by_name
from opendcc.s1sp.contract import OutcomeStatus
from opendcc.s1sp.protocols.soapxml import (
    CONTENT_TYPE,
    MAX_DOCUMENT,
    SERVICE_PATH,
    Alert,
    ErrorCode,
    ExecuteCommand,
    ExecuteCommandResponse,
    Fault,
    GetHeadEndStatus,
    GetHeadEndStatusResponse,
    HeadEndState,
    PollAlerts,
    PollAlertsResponse,
    ProtocolError,
    Request,
    Response,
    ResultCode,
    Value,
    decode_request,
    encode_response,
    format_datetime,
    http_status,
)
from opendcc.s1sp.protocols.soapxml.messages import REASON_MAX
from opendcc.sim.headends.core import Faults, HeadEndCore, PushedAlert, Reply
from opendcc.sim.headends.http import HttpHeadEnd
from opendcc.sim.headends.unacked import Unacknowledged

log = logging.getLogger(__name__)

KEEP_ALERTS = 100_000  # un-acknowledged alerts held for polling
MAX_ALERTS_PER_POLL = 500  # keeps a poll's answer well under the codec's MAX_DOCUMENT

# UNKNOWN_DEVICE, which has no result code, is a Fault.
RESULT_OF_STATUS: Mapping[OutcomeStatus, ResultCode] = codes_by_name(ResultCode)


class _Refused(Exception):
    """The request cannot be taken: answered with ``fault``."""

    def __init__(self, fault: Fault) -> None:
        super().__init__(fault.message)
        self.fault = fault


def _parameter_text(value: Value) -> str:
    """A typed parameter as the flat text the core's services read (lexical XSD form)."""
    match value:
        case str():
            return value
        case bool():
            return "true" if value else "false"
        case int():
            return str(value)
        case bytes():
            return value.hex().upper()
        case datetime():
            return format_datetime(value)
        case tuple():
            raise _Refused(Fault(ErrorCode.UNSUPPORTED_COMMAND, "parameters are not lists"))
        case _:
            return format(value, "f")  # Decimal


class SoapHeadEnd(HttpHeadEnd):
    """A ``HeadEndCore`` behind a SOAP/XML service on an in-process uvicorn."""

    def __init__(
        self,
        core: HeadEndCore,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        keep_alerts: int = KEEP_ALERTS,
    ) -> None:
        self.app = Starlette(routes=[Route(SERVICE_PATH, self._endpoint, methods=["POST"])])
        super().__init__(core, self.app, host, port)
        self.unacked: Unacknowledged[Alert] = Unacknowledged(capacity=keep_alerts)
        self._down = asyncio.Event()  # set when the listener goes: answers under way are lost
        self._closed = False
        core.subscribe(self._queue_alert)

    async def start(self) -> None:
        if not self._listener.running:
            self._down = asyncio.Event()
        await super().start()

    async def go_down(self) -> None:
        """Stop listening and drop every connection, answers under way included (as when a
        head-end crashes): new connections are refused."""
        # Handlers waiting on the WAN see ``_down`` and finish at once, once every connection
        # is dropped: their answers go nowhere.
        self._down.set()
        await self._releaser.stop()
        await self._listener.stop(abort=True)

    async def come_up(self) -> None:
        """Listen again, on the same port."""
        if not self._closed:
            await super().come_up()

    async def aclose(self) -> None:
        self._closed = True
        await super().aclose()

    # ------------------------------------------------------------------ HTTP

    async def _endpoint(self, http: HttpRequest) -> HttpResponse:
        corrupt = False
        try:
            request = decode_request(
                await self._body(http), soap_action=http.headers.get("soapaction")
            )
            answer: Response | Fault
            answer, corrupt = await self._answer(request)
        except ProtocolError as exc:
            answer = Fault(ErrorCode.MALFORMED_REQUEST, _message(exc))
        except _Refused as refused:
            answer = refused.fault
        except Exception as exc:  # the simulator's own bug: still a well-formed answer
            log.exception("answering a SOAP request failed")
            answer = Fault(ErrorCode.INTERNAL_ERROR, _message(exc))
        body = encode_response(answer)
        if corrupt:
            body = body[: len(body) // 2]  # damaged in transit: no longer well-formed
        return HttpResponse(body, status_code=http_status(answer), media_type=CONTENT_TYPE)

    @staticmethod
    async def _body(http: HttpRequest) -> bytes:
        body = bytearray()
        async for chunk in http.stream():
            body += chunk
            if len(body) > MAX_DOCUMENT:
                raise ProtocolError(f"document exceeds {MAX_DOCUMENT} bytes")
        return bytes(body)

    async def _answer(self, request: Request) -> tuple[Response | Fault, bool]:
        """The answer to ``request`` and whether to damage it in transit."""
        match request:
            case ExecuteCommand():
                return await self._execute(request)
            case GetHeadEndStatus():
                return self._status(), False
            case PollAlerts():
                return self._poll(request), False

    # ------------------------------------------------------------------ operations

    async def _execute(self, request: ExecuteCommand) -> tuple[Response | Fault, bool]:
        core, device = self.core, request.device
        srv = core.profile.srv_of(request.command)
        if srv is None:
            message = f"{core.profile.name} has no command {request.command}"
            return Fault(ErrorCode.UNSUPPORTED_COMMAND, message), False
        if not core.serves(device):
            return Fault(ErrorCode.UNKNOWN_DEVICE, f"no device {device} here"), False
        parameters = {name: _parameter_text(value) for name, value in request.parameters.items()}
        down = self._down
        delay_s = core.delay_s(request.request_id, device)
        if delay_s > 0:
            with contextlib.suppress(TimeoutError):  # the WAN answered
                await asyncio.wait_for(down.wait(), delay_s)
        if down.is_set():  # the head-end went down while the command was on the WAN
            return Fault(ErrorCode.UNAVAILABLE, "the head-end went down"), False
        reply = core.execute(request.request_id, device, srv, parameters)
        return self._result(reply), core.faults_for(device).corrupt

    @staticmethod
    def _result(reply: Reply) -> Response | Fault:
        if reply.status is OutcomeStatus.UNKNOWN_DEVICE:
            return Fault(ErrorCode.UNKNOWN_DEVICE, reply.detail)
        code = RESULT_OF_STATUS.get(reply.status, ResultCode.REJECTED)
        if code is not ResultCode.SUCCESS:
            try:
                return ExecuteCommandResponse(code, reason=reply.detail[:REASON_MAX])
            except ValueError:  # a reason XML cannot carry: the result alone
                return ExecuteCommandResponse(code)
        try:
            return ExecuteCommandResponse(code, reply.result)
        except ValueError as exc:
            log.exception("a result the wire cannot carry")
            return Fault(ErrorCode.INTERNAL_ERROR, _message(exc))

    def _status(self) -> GetHeadEndStatusResponse:
        state = HeadEndState.UP if self.core.faults == Faults() else HeadEndState.DEGRADED
        return GetHeadEndStatusResponse(state, self.core.clock.now())

    @property
    def alerts(self) -> list[Alert]:
        """The alerts held for polling (not yet acknowledged), oldest first."""
        return [alert for _, alert in self.unacked.items()]

    def _poll(self, request: PollAlerts) -> PollAlertsResponse:
        since = request.since
        self.unacked.acknowledge_where(lambda alert: alert.raised_at < since)
        due = sorted(self.alerts, key=lambda alert: alert.raised_at)
        return PollAlertsResponse(tuple(due[:MAX_ALERTS_PER_POLL]))

    def _queue_alert(self, pushed: PushedAlert) -> None:
        if self._closed:
            return
        try:
            alert = self._wire_alert(Alert, pushed)
        except ValueError:
            log.exception("an alert the wire cannot carry: %r", pushed)
            return
        self.unacked.keep(alert.alert_id, alert, pushed)


def _message(exc: Exception) -> str:
    """An exception's text as a fault string: XML-safe and short."""
    text = "".join(char if char.isprintable() else "?" for char in str(exc))
    return text[:500]


async def start_soap_headend(
    core: HeadEndCore, host: str = "127.0.0.1", port: int = 0
) -> SoapHeadEnd:
    """Start a SOAP/XML head-end over ``core`` and return it (``port`` 0 picks a free one)."""
    server = SoapHeadEnd(core, host, port)
    await server.start()
    return server
