"""The SOAP/XML adapter: SMETS1 instructions as synchronous SOAP calls; alerts by polling.

The S1SP (SMETS1 Service Provider) adapter POSTs one SOAP 1.1 envelope per call to the
head-end's ``<base URL>/HeadEndService`` (``SERVICE_PATH``, ``SOAPAction`` as the codec in
``opendcc.s1sp.protocols.soapxml`` defines) over the hub's pooled ``HttpClient``, and reads the
answer from the same HTTP exchange:

``ExecuteCommand``
    the SRV's (Service Reference Variant's) command name, ``profile.command(srv)``, with the
    instruction's parameters as string values, its RequestID as RequestId. The answer's
    ``ResultCode`` is the outcome; SUCCESS values become ``Outcome.data`` as Datum values
    (``int``, ``str``, ``datetime``, tuples of them; a wire boolean becomes 0/1, a decimal its
    text, hexBinary upper-case hex text).
``PollAlerts``
    the head-end never pushes. A background loop, started by the first ``submit`` or by
    ``start_polling()``, asks every ``poll_interval_s`` for the alerts raised since the newest
    ``RaisedAt`` it has seen, hands each new one (by AlertId) to ``on_alert`` with its
    GBCS-style code, and keeps polling through a head-end that is down.
``GetHeadEndStatus``
    ``health()``: whether the head-end answers.

What each failure becomes: a ``UNKNOWN_DEVICE`` Fault is UNKNOWN_DEVICE; any other
``soap:Client`` Fault (the request will never be taken) is REJECTED; a ``soap:Server`` Fault
(the head-end may take it later) is NO_RESPONSE. A refused connection is DEVICE_UNREACHABLE; a
timeout, a dropped connection or an answer that does not decode is NO_RESPONSE (the command may
have reached the meter). A connection dropped before any answer is tried once more at once: a
pooled keep-alive connection the head-end had just closed looks exactly like that, and the
head-end runs each RequestId at most once, so the retry cannot act on the meter twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal

from opendcc.httpclient import Dropped, HttpClient, HttpError, Unreachable
from opendcc.s1sp.adapter import CohortAdapter, statuses_by_name
from opendcc.s1sp.contract import (
    AdapterFactory,
    AdapterOptions,
    CohortProfile,
    DeviceAlert,
    Endpoint,
    Instruction,
    InvalidEndpoint,
    Outcome,
    OutcomeStatus,
    Sealed,
)
from opendcc.s1sp.protocols.soapxml import (
    SERVICE_PATH,
    Alert,
    ErrorCode,
    ExecuteCommand,
    ExecuteCommandResponse,
    Fault,
    FaultKind,
    GetHeadEndStatus,
    GetHeadEndStatusResponse,
    PollAlerts,
    PollAlertsResponse,
    ProtocolError,
    Request,
    Response,
    ResultCode,
    Value,
    decode_response,
    encode_request,
    operation_of,
    request_headers,
)
from opendcc.s1sp.services.base import Datum

log = logging.getLogger(__name__)

POLL_INTERVAL_S = 2.0
POLL_TIMEOUT_S = 10.0  # one poll, or one health check, takes no longer than this
HEALTH_TIMEOUT_S = 5.0
FIRST_ALERTS = datetime(1970, 1, 1, tzinfo=UTC)  # a fresh adapter takes all the head-end holds
KEEPALIVE_EXPIRY_S = 4.0  # under the common 5 s server keep-alive, to avoid reusing a closing one

STATUS_OF_RESULT: Mapping[ResultCode, OutcomeStatus] = statuses_by_name(ResultCode)


class _Unreachable(Exception):
    """The head-end refused the connection, or did not accept it in time."""


def to_datum(value: Value) -> Datum:
    """A wire value as the Datum shape ``Outcome.data`` and alert values hold."""
    match value:
        case bool():
            return int(value)
        case int() | str() | datetime():
            return value
        case Decimal():
            return format(value, "f")
        case bytes():
            return value.hex().upper()
        case tuple():
            return tuple(to_datum(item) for item in value)


def to_data(values: Mapping[str, Value]) -> dict[str, Datum]:
    return {name: to_datum(value) for name, value in values.items()}


def outcome_of(request_id: str, answer: Response | Fault) -> Outcome:
    """The outcome an ExecuteCommand answer means."""
    match answer:
        case ExecuteCommandResponse(result=ResultCode.SUCCESS):
            return Outcome(request_id, OutcomeStatus.SUCCESS, to_data(answer.values))
        case ExecuteCommandResponse():
            status = STATUS_OF_RESULT.get(answer.result, OutcomeStatus.REJECTED)
            why = f": {answer.reason}" if answer.reason else ""
            return Outcome(request_id, status, detail=f"head-end result {answer.result}{why}")
        case Fault(code=ErrorCode.UNKNOWN_DEVICE):
            status = OutcomeStatus.UNKNOWN_DEVICE
        case Fault() if answer.kind is FaultKind.CLIENT:
            status = OutcomeStatus.REJECTED
        case Fault():
            status = OutcomeStatus.NO_RESPONSE
        case _:
            detail = f"unexpected answer {type(answer).__name__}"
            return Outcome(request_id, OutcomeStatus.NO_RESPONSE, detail=detail)
    return Outcome(request_id, status, detail=f"head-end fault {answer.code}: {answer.message}")


class SoapAdapter(CohortAdapter):
    """The ``S1spAdapter`` of a cohort whose head-end speaks SOAP/XML."""

    def __init__(
        self,
        profile: CohortProfile,
        endpoint: Endpoint,
        options: AdapterOptions | None = None,
        *,
        poll_interval_s: float = POLL_INTERVAL_S,
        max_connections: int = 100,
    ) -> None:
        if endpoint.scheme not in ("http", "https"):
            raise InvalidEndpoint(f"a SOAP/XML head-end is an http(s) URL, not {endpoint}")
        if poll_interval_s <= 0:
            raise ValueError(f"poll_interval_s must be positive, got {poll_interval_s}")
        super().__init__(profile, endpoint, options)
        self.poll_interval_s = poll_interval_s
        self._url = endpoint.base_url + SERVICE_PATH
        self._client = HttpClient(
            # Only connecting has its own limit: the caller's deadline bounds the rest.
            connect_timeout_s=self.options.connect_timeout_s,
            max_connections=max_connections,
            keepalive_s=KEEPALIVE_EXPIRY_S,
        )
        self._since = FIRST_ALERTS
        self._delivered: dict[str, datetime] = {}  # AlertId -> RaisedAt, of alerts >= since
        self._polling: asyncio.Task[None] | None = None
        self._poll_failing = False
        self._closed = False

    async def submit(self, sealed: Sealed) -> Outcome:
        self.start_polling()
        return await super().submit(sealed)

    async def health(self) -> bool:
        try:
            answer = await self._call(GetHeadEndStatus(), HEALTH_TIMEOUT_S)
        except (HttpError, ProtocolError, TimeoutError):
            return False
        return isinstance(answer, GetHeadEndStatusResponse)

    # ------------------------------------------------------------------ alerts

    async def listen(self) -> object:
        self.start_polling()
        return None

    def start_polling(self) -> None:
        """Poll the head-end for alerts in the background, from now on (idempotent)."""
        if self._closed or not self.options.alerts:
            return
        if self._polling is None or self._polling.done():
            self._polling = asyncio.create_task(self._poll_forever())

    async def poll_alerts(self) -> int:
        """Poll once: hand every alert not taken before to ``on_alert``; how many.

        The cursor (``Since``) moves past an alert only once the hub holds it (committed): a
        hub killed before then polls from the start again and the head-end, which keeps
        every alert raised at or after the last ``Since`` it was asked for, offers it again.
        Transport trouble raises (``HttpError``, ``ProtocolError``, ``TimeoutError``); the
        background loop logs it and tries again.
        """
        answer = await self._call(PollAlerts(self._since), POLL_TIMEOUT_S)
        if not isinstance(answer, PollAlertsResponse):
            raise ProtocolError(f"PollAlerts answered with {answer!r}")
        fresh = [alert for alert in answer.alerts if alert.alert_id not in self._delivered]
        taken = await asyncio.gather(
            *(self._hand_over(self._device_alert(a)) for a in fresh), return_exceptions=True
        )
        for alert, outcome in zip(fresh, taken, strict=True):
            if isinstance(outcome, BaseException):
                # Not taken: the cursor stays before it, so the next poll offers it again.
                log.warning("alert %s was not taken: %s", alert.alert_id, outcome)
                break
            self._delivered[alert.alert_id] = alert.raised_at
            self._since = max(self._since, alert.raised_at)
        # Only alerts raised at ``since`` or later can come again.
        self._delivered = {aid: at for aid, at in self._delivered.items() if at >= self._since}
        return len(fresh)

    async def _poll_forever(self) -> None:
        while True:
            try:
                await self.poll_alerts()
            except (HttpError, ProtocolError, TimeoutError) as exc:
                if not self._poll_failing:
                    log.warning("polling %s for alerts failed: %s", self.endpoint, exc)
                self._poll_failing = True
            except Exception:  # a bug must not end alert delivery for good
                log.exception("polling %s for alerts failed", self.endpoint)
                self._poll_failing = True
            else:
                if self._poll_failing:
                    log.info("polling %s for alerts works again", self.endpoint)
                self._poll_failing = False
            await asyncio.sleep(self.poll_interval_s)

    def _device_alert(self, alert: Alert) -> DeviceAlert:
        return DeviceAlert(
            alert.device,
            self._alert_received(alert.code),
            alert.raised_at,
            to_data(alert.values),
            alert.alert_id,
        )

    # ------------------------------------------------------------------ commands

    async def _carry(self, instruction: Instruction, deadline_s: float) -> Outcome:
        rid = instruction.request_id
        try:
            request = ExecuteCommand(
                device=instruction.device_id,
                request_id=rid,
                command=self.profile.command(instruction.srv),
                parameters=instruction.parameters,
            )
        except ValueError as exc:
            detail = f"the instruction cannot be put on the wire: {exc}"
            return Outcome(rid, OutcomeStatus.REJECTED, detail=detail)
        try:
            async with asyncio.timeout(deadline_s):
                return outcome_of(rid, await self._execute(request))
        except _Unreachable as exc:
            detail = f"head-end {self.endpoint} unreachable: {exc.__cause__ or exc}"
            return Outcome(rid, OutcomeStatus.DEVICE_UNREACHABLE, detail=detail)
        except TimeoutError:
            return Outcome(rid, OutcomeStatus.NO_RESPONSE, detail=f"no answer in {deadline_s:g} s")
        except ProtocolError as exc:
            return Outcome(rid, OutcomeStatus.NO_RESPONSE, detail=f"undecodable answer: {exc}")
        except HttpError as exc:
            detail = f"connection lost: {exc}"
            return Outcome(rid, OutcomeStatus.NO_RESPONSE, detail=detail)

    async def _execute(self, request: ExecuteCommand) -> Response | Fault:
        """The answer to ``request``; one more try if the connection drops unanswered."""
        try:
            return await self._post(request)
        except Unreachable as exc:
            raise _Unreachable from exc
        except Dropped:
            pass
        # The first try may have reached the head-end: whatever stops this one is NO_RESPONSE.
        try:
            return await self._post(request)
        except Unreachable as exc:
            raise HttpError(f"dropped, then refused: {exc}") from exc

    async def _call(self, request: Request, timeout_s: float) -> Response | Fault:
        async with asyncio.timeout(timeout_s):
            return await self._post(request)

    async def _post(self, request: Request) -> Response | Fault:
        reply = await self._client.post(
            self._url, encode_request(request), headers=request_headers(request)
        )
        return decode_response(reply.body, operation_of(request))

    async def _close(self) -> None:
        self._closed = True
        if self._polling is not None:
            self._polling.cancel()
            await asyncio.gather(self._polling, return_exceptions=True)
        await self._client.aclose()


def soap_adapter_factory(
    profile: CohortProfile, *, poll_interval_s: float = POLL_INTERVAL_S
) -> AdapterFactory:
    """The ``AdapterFactory`` a cohort registers: ``(endpoint, options) -> SoapAdapter``."""

    def create(endpoint: Endpoint, options: AdapterOptions) -> SoapAdapter:
        return SoapAdapter(profile, endpoint, options, poll_interval_s=poll_interval_s)

    return create
