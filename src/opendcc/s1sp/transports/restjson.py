"""The REST/JSON adapter: SMETS1 instructions as commands to an HTTP head-end, answered by callback.

Who talks to whom. The S1SP (SMETS1 Service Provider) adapter holds an HTTP client to the
head-end's base URL and serves a small HTTP listener of its own (Starlette on uvicorn, in the
running event loop, started on first use) for what the head-end sends back::

    adapter  -> head-end  POST /v2/devices/{EUI}/commands  commandId, callbackUrl -> 202 at once
    head-end -> adapter   POST {callbackUrl}  the final status (completed or failed) -> 204
    adapter  -> head-end  GET /v2/commands/{commandId}  once, if no readable callback came
    adapter  -> head-end  PUT /v2/alert-subscriptions/{id}  {"url": alert URL}  (listen, health)
    head-end -> adapter   POST {alert URL}  an alert a device raised -> on_alert

The commandId is a digest of the DUIS RequestID, so a resubmission (a redelivered instruction,
or a restarted hub) names the same command: the head-end answers 202 again without running it
twice, and calls back again if it has finished. The adapter waits for the callback until most
of the deadline has gone, then polls once; an unreadable callback makes it poll at once.

What each failure becomes (the head-end's own ``FailureCode`` maps one to one):

- no connection (refused, connect timeout) or 503 UNAVAILABLE: DEVICE_UNREACHABLE (nothing was
  taken, so trying again is safe);
- no or an unreadable answer to the submission, a 500, or a 202 with neither a readable
  callback nor a final status to poll: NO_RESPONSE (the command may have acted);
- 404 UNKNOWN_DEVICE: UNKNOWN_DEVICE; any other refusal (409, 422, 400): REJECTED.

Results come back as ``Datum`` values (int, str, date-time, tuples of those; booleans as 0/1);
a result with anything else is unreadable, hence NO_RESPONSE.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from datetime import datetime

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from opendcc.gateway.boundary import MIB, Boundary, Surface
from opendcc.httpclient import HttpAnswer, HttpClient, HttpError, Unreachable
from opendcc.httpserver import Direct, Reply
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
)
from opendcc.s1sp.protocols.restjson import (
    Acknowledged,
    ApiError,
    ApiErrorCode,
    CommandState,
    CommandStatus,
    FailureCode,
    Health,
    HealthCheck,
    HttpMessage,
    HttpReply,
    PollCommand,
    ProtocolError,
    SubmitCommand,
    SubscribeAlerts,
    UnsubscribeAlerts,
    Value,
    decode_alert,
    decode_callback,
    decode_health_reply,
    decode_poll_reply,
    decode_submit_reply,
    decode_subscription_reply,
    encode_reply,
    encode_request,
)
from opendcc.s1sp.services.base import Datum
from opendcc.s1sp.transports.http import HttpListener

log = logging.getLogger(__name__)

POLL_SHARE = 0.1  # of an instruction's deadline, kept for the poll when no callback came
HEALTH_TIMEOUT_S = 5.0
CLOSE_TIMEOUT_S = 1.0  # for the goodbye (unsubscribe) on close
REMEMBERED_ALERTS = 10_000  # alert ids already delivered, so a head-end's retry is not doubled
CALLBACK_PATH = "/callbacks/commands"
ALERT_PATH = "/callbacks/alerts"

STATUS_OF_FAILURE: Mapping[FailureCode, OutcomeStatus] = statuses_by_name(FailureCode)
# API errors on submission; any other code is a refusal (REJECTED).
STATUS_OF_API_ERROR: Mapping[ApiErrorCode, OutcomeStatus] = {
    ApiErrorCode.UNKNOWN_DEVICE: OutcomeStatus.UNKNOWN_DEVICE,
    ApiErrorCode.UNAVAILABLE: OutcomeStatus.DEVICE_UNREACHABLE,
    ApiErrorCode.INTERNAL_ERROR: OutcomeStatus.NO_RESPONSE,
}


def command_id_for(request_id: str) -> str:
    """The commandId of the instruction with this DUIS RequestID: the same on every attempt."""
    return hashlib.sha256(request_id.encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------- HTTP plumbing


def message_of(request: Request, body: bytes) -> HttpMessage:
    """An incoming Starlette request as the codec's ``HttpMessage``, its target as sent."""
    raw = request.scope.get("raw_path") or request.scope["path"].encode("utf-8")
    target = raw.decode("latin-1")
    if query := request.scope.get("query_string", b""):
        target += "?" + query.decode("latin-1")
    return HttpMessage(request.method, target, tuple(request.headers.items()), body)


def response_of(reply: HttpReply) -> Response:
    return Response(reply.body, status_code=reply.status, headers=dict(reply.headers))


def direct_message(target: str, headers: list[tuple[bytes, bytes]], body: bytes) -> HttpMessage:
    """A POST the listener's protocol answers itself (``httpserver``), as ``message_of``
    reads one from Starlette: header names in lower case, values as sent."""
    pairs = tuple((k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in headers)
    return HttpMessage("POST", target, pairs, body)


def direct_reply(reply: HttpReply) -> Reply:
    headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in reply.headers]
    if all(name != b"content-length" for name, _ in headers):
        headers.append((b"content-length", str(len(reply.body)).encode()))
    return Reply(reply.status, headers, reply.body)


# What a head-end may send the listener: a command's status or an alert, a few kB.
LISTENER = Surface("S1SP listener", "/callbacks/", 1 * MIB, json=True)


def reply_of(answer: HttpAnswer) -> HttpReply:
    return HttpReply(answer.status, answer.headers, answer.body)


def safe_text(reason: object) -> str:
    """``reason`` as text an ``ApiError`` can carry (valid UTF-8, not too long)."""
    return str(reason)[:300].encode("utf-8", "replace").decode("utf-8")


# --------------------------------------------------------------------------- the adapter


class RestJsonAdapter(CohortAdapter):
    """The ``S1spAdapter`` of a cohort whose head-end speaks REST/JSON with callbacks.

    ``listen_host``/``listen_port`` is where its own listener binds (127.0.0.1, any free port);
    ``advertised_url``, if given, is the base URL the head-end must use to reach it (behind NAT
    or a proxy) instead of the bound address.
    """

    def __init__(
        self,
        profile: CohortProfile,
        endpoint: Endpoint,
        options: AdapterOptions | None = None,
        *,
        listen_host: str = "127.0.0.1",
        listen_port: int = 0,
        advertised_url: str | None = None,
    ) -> None:
        if endpoint.scheme not in ("http", "https"):
            raise InvalidEndpoint(f"a REST/JSON head-end has an http(s) URL, not {endpoint}")
        super().__init__(profile, endpoint, options)
        self._client = HttpClient(connect_timeout_s=self.options.connect_timeout_s)
        app = Starlette(
            routes=[
                Route(CALLBACK_PATH + "/{command_id}", self._on_callback, methods=["POST"]),
                Route(ALERT_PATH, self._on_alert, methods=["POST"]),
            ]
        )
        # Command callbacks (one a request) are answered by the HTTP protocol itself
        # (httpserver): uvicorn + Starlette had been a tenth of a worker's CPU. The ASGI app
        # takes the rest: alerts, and whatever the direct path leaves (a query string, an
        # escaped command id), answered the same.
        direct = Direct({}, LISTENER, segments={CALLBACK_PATH + "/": self._direct_callback})
        # The ASGI side keeps the same limit: an alert's body, or a callback the direct path
        # left, is refused 413 past 1 MiB rather than read whole.
        bounded = Boundary(app, surfaces=(LISTENER,), other=LISTENER)
        self._listener = HttpListener(bounded, listen_host, listen_port, direct=direct)
        self._advertised_url = advertised_url.rstrip("/") if advertised_url else None
        self._starting = asyncio.Lock()
        self._waiters: dict[str, set[asyncio.Future[CommandStatus | None]]] = {}
        self._delivered_alerts: OrderedDict[str, None] = OrderedDict()
        self._subscribed = False
        self._subscribing: asyncio.Task[bool] | None = None

    @property
    def base_url(self) -> str:
        """Where the head-end reaches this adapter (once it listens)."""
        return self._advertised_url or self._listener.base_url

    @property
    def alert_url(self) -> str:
        return self.base_url + ALERT_PATH

    def callback_url(self, command_id: str) -> str:
        return f"{self.base_url}{CALLBACK_PATH}/{command_id}"

    async def listen(self) -> bool:
        """Serve callbacks and alerts now, and subscribe to the head-end's alerts.

        Whether the head-end took the subscription. ``health`` renews it, since a head-end
        that restarted may have forgotten it; the first instruction also listens.
        """
        try:
            await self._listening()
        except OSError:
            log.exception("cannot listen for callbacks on %s", self.base_url)
            return False
        if not self.options.alerts:
            return True
        return await self._subscribe(HEALTH_TIMEOUT_S)

    async def health(self) -> bool:
        """Whether the head-end answers; if it does, the alert subscription is renewed."""
        try:
            answer = decode_health_reply(
                await self._exchange(encode_request(HealthCheck()), HEALTH_TIMEOUT_S)
            )
        except (HttpError, ProtocolError) as exc:
            log.info("head-end %s is not healthy: %s", self.endpoint, _why(exc))
            return False
        if not isinstance(answer, Health):
            return False
        await self.listen()
        return True

    async def _close(self) -> None:
        if self._client.closed:
            return
        if self._subscribing is not None:
            self._subscribing.cancel()
            await asyncio.gather(self._subscribing, return_exceptions=True)
        if self._subscribed:
            goodbye = UnsubscribeAlerts(self._subscription_id())
            with contextlib.suppress(HttpError):
                await self._exchange(encode_request(goodbye), CLOSE_TIMEOUT_S)
            self._subscribed = False
        await self._listener.stop()
        await self._client.aclose()

    # ------------------------------------------------------------------ instructions

    async def _carry(self, instruction: Instruction, deadline_s: float) -> Outcome:
        rid = instruction.request_id
        now = asyncio.get_running_loop().time
        deadline = now() + deadline_s
        try:
            await self._listening()
        except OSError as exc:
            detail = f"cannot listen for the head-end's callback: {exc}"
            return Outcome(rid, OutcomeStatus.DEVICE_UNREACHABLE, detail=detail)
        if (
            self.options.alerts
            and not self._subscribed
            and (self._subscribing is None or self._subscribing.done())
        ):
            self._subscribing = asyncio.create_task(self._subscribe(HEALTH_TIMEOUT_S))
        command_id = command_id_for(rid)
        try:
            submit = SubmitCommand(
                device=instruction.device_id,
                command_id=command_id,
                request_id=rid,
                command=self.profile.command(instruction.srv),
                arguments=dict(instruction.parameters),
                callback_url=self.callback_url(command_id),
            )
        except ValueError as exc:
            detail = f"the instruction cannot be put in REST/JSON: {exc}"
            return Outcome(rid, OutcomeStatus.REJECTED, detail=detail)
        with self._awaiting(command_id) as callback:
            refused = await self._submit(submit, deadline - now())
            if refused is not None:
                return refused
            answer = await self._callback_or_poll(
                command_id, callback, deadline - deadline_s * POLL_SHARE, deadline
            )
        if isinstance(answer, str):
            return Outcome(rid, OutcomeStatus.NO_RESPONSE, detail=answer)
        return self._outcome(instruction, answer)

    async def _submit(self, submit: SubmitCommand, timeout_s: float) -> Outcome | None:
        """None once the head-end accepted the command; else the outcome of its refusal."""
        rid = submit.request_id
        try:
            answer = decode_submit_reply(await self._exchange(encode_request(submit), timeout_s))
        except Unreachable as exc:
            detail = f"head-end {self.endpoint} unreachable: {_why(exc)}"
            return Outcome(rid, OutcomeStatus.DEVICE_UNREACHABLE, detail=detail)
        except (HttpError, ProtocolError) as exc:
            detail = f"no readable answer to the submission: {_why(exc)}"
            return Outcome(rid, OutcomeStatus.NO_RESPONSE, detail=detail)
        if isinstance(answer, ApiError):
            status = STATUS_OF_API_ERROR.get(answer.code, OutcomeStatus.REJECTED)
            return Outcome(rid, status, detail=f"head-end {answer.code}: {answer.message}")
        if answer.command_id != submit.command_id:
            detail = f"the head-end accepted another command ({answer.command_id})"
            return Outcome(rid, OutcomeStatus.NO_RESPONSE, detail=detail)
        return None

    async def _callback_or_poll(
        self,
        command_id: str,
        callback: asyncio.Future[CommandStatus | None],
        poll_at: float,
        deadline: float,
    ) -> CommandStatus | str:
        """The final status by callback, or else by one poll; else why there is none."""
        try:
            async with asyncio.timeout_at(poll_at):
                status = await callback
        except TimeoutError:
            status = None  # no callback (None too when one came unreadable: poll at once)
        if status is not None:
            return status
        timeout_s = max(deadline - asyncio.get_running_loop().time(), 0.05)
        try:
            answer = decode_poll_reply(
                await self._exchange(encode_request(PollCommand(command_id)), timeout_s)
            )
        except (HttpError, ProtocolError) as exc:
            return f"no readable callback, and the poll failed: {_why(exc)}"
        if isinstance(answer, ApiError):
            return f"no readable callback, and the poll was refused: {answer.code}"
        if not answer.final or answer.command_id != command_id:
            return "no callback, and the command is still under way"
        return answer

    def _outcome(self, instruction: Instruction, status: CommandStatus) -> Outcome:
        rid = instruction.request_id
        if status.device != instruction.device_id:
            detail = f"the head-end answered for device {status.device}"
            return Outcome(rid, OutcomeStatus.NO_RESPONSE, detail=detail)
        if status.status is CommandState.COMPLETED and status.result is not None:
            try:
                data = {name: datum(value) for name, value in status.result.items()}
            except ValueError as exc:
                return Outcome(rid, OutcomeStatus.NO_RESPONSE, detail=f"unreadable result: {exc}")
            return Outcome(rid, OutcomeStatus.SUCCESS, data)
        if status.error is None:  # the codec forbids it: a final status is one or the other
            return Outcome(rid, OutcomeStatus.NO_RESPONSE, detail="a status without an outcome")
        detail = f"head-end {status.error.code}: {status.error.message}"
        return Outcome(rid, STATUS_OF_FAILURE[status.error.code], detail=detail)

    # ------------------------------------------------------------------ what comes back

    @contextlib.contextmanager
    def _awaiting(self, command_id: str) -> Iterator[asyncio.Future[CommandStatus | None]]:
        """A future the callback for ``command_id`` resolves (registered before submitting,
        since the callback may overtake the 202). A redelivered instruction may wait for the
        same command while an earlier attempt still does: both are woken."""
        future: asyncio.Future[CommandStatus | None] = asyncio.get_running_loop().create_future()
        waiters = self._waiters.setdefault(command_id, set())
        waiters.add(future)
        try:
            yield future
        finally:
            future.cancel()
            waiters.discard(future)
            if not waiters and self._waiters.get(command_id) is waiters:
                del self._waiters[command_id]

    async def _on_callback(self, request: Request) -> Response:
        message = message_of(request, await request.body())
        return response_of(self._callback(request.path_params["command_id"], message))

    async def _direct_callback(
        self, command_id: str, headers: list[tuple[bytes, bytes]], body: bytes
    ) -> Reply:
        target = f"{CALLBACK_PATH}/{command_id}"
        return direct_reply(self._callback(command_id, direct_message(target, headers, body)))

    def _callback(self, command_id: str, message: HttpMessage) -> HttpReply:
        try:
            status = decode_callback(message)
            if status.command_id != command_id:
                raise ProtocolError(f"the callback for {command_id} is about {status.command_id}")
        except ProtocolError as exc:
            log.warning("unreadable callback for command %s: %s", command_id, exc)
            self._wake(command_id, None)  # its waiter polls at once
            return encode_reply(ApiError(ApiErrorCode.MALFORMED_REQUEST, safe_text(exc)))
        if not self._wake(command_id, status):
            log.info("callback for command %s came when nobody waited for it", command_id)
        return encode_reply(Acknowledged())

    def _wake(self, command_id: str, status: CommandStatus | None) -> bool:
        woken = False
        for future in self._waiters.get(command_id, ()):
            if not future.done():
                future.set_result(status)
                woken = True
        return woken

    async def _on_alert(self, request: Request) -> Response:
        return response_of(await self._alert(message_of(request, await request.body())))

    async def _alert(self, message: HttpMessage) -> HttpReply:
        try:
            alert = decode_alert(message)
        except ProtocolError as exc:
            log.warning("unreadable alert from %s: %s", self.endpoint, exc)
            return encode_reply(ApiError(ApiErrorCode.MALFORMED_REQUEST, safe_text(exc)))
        if alert.alert_id in self._delivered_alerts:
            return encode_reply(Acknowledged())  # the head-end retried it
        try:
            values: dict[str, Datum] = {name: datum(v) for name, v in alert.values.items()}
        except ValueError as exc:
            log.warning("alert %s has unreadable values: %s", alert.alert_id, exc)
            values = {}  # the alert itself still counts
        code = self._alert_received(alert.code)
        device_alert = DeviceAlert(alert.device, code, alert.raised_at, values, alert.alert_id)
        try:
            # Acknowledged (204) only once the hub has committed it: a hub killed before
            # then never answers, and the head-end offers the alert again.
            await self._hand_over(device_alert)
        except Exception:
            log.exception("handing on alert %s failed", alert.alert_id)
            trouble = ApiError(ApiErrorCode.INTERNAL_ERROR, "the alert could not be taken")
            return encode_reply(trouble)  # the head-end tries again
        self._delivered_alerts[alert.alert_id] = None
        while len(self._delivered_alerts) > REMEMBERED_ALERTS:
            self._delivered_alerts.popitem(last=False)
        return encode_reply(Acknowledged())

    # ------------------------------------------------------------------ helpers

    async def _listening(self) -> None:
        async with self._starting:
            await self._listener.start()

    def _subscription_id(self) -> str:
        """The same for this cohort's head-end across restarts of the hub (whose listener
        may come back on another port): renewing it points the head-end's alerts, those not
        yet acknowledged included, at the new URL."""
        name = f"opendcc|{self.profile.name}|{self.endpoint}"
        return hashlib.sha256(name.encode("utf-8")).hexdigest()[:32]

    async def _subscribe(self, timeout_s: float) -> bool:
        event = SubscribeAlerts(self._subscription_id(), self.alert_url)
        try:
            answer = decode_subscription_reply(
                await self._exchange(encode_request(event), timeout_s)
            )
        except (HttpError, ProtocolError) as exc:
            log.info("subscribing to alerts at %s failed: %s", self.endpoint, _why(exc))
            return False
        if isinstance(answer, ApiError):
            log.warning("head-end %s refused the alert subscription: %s", self.endpoint, answer)
            return False
        self._subscribed = True
        return True

    async def _exchange(self, message: HttpMessage, timeout_s: float) -> HttpReply:
        """One request to the head-end; ``HttpError`` passes through for the caller to judge."""
        answer = await self._client.request(
            message.method,
            self.endpoint.base_url + message.path,
            headers=message.headers,
            body=message.body or None,
            timeout_s=timeout_s,
        )
        return reply_of(answer)


def restjson_adapter_factory(
    profile: CohortProfile, *, listen_host: str = "127.0.0.1", advertised_url: str | None = None
) -> AdapterFactory:
    """The ``AdapterFactory`` a cohort registers: ``(endpoint, options) -> RestJsonAdapter``."""

    def create(endpoint: Endpoint, options: AdapterOptions) -> RestJsonAdapter:
        return RestJsonAdapter(
            profile, endpoint, options, listen_host=listen_host, advertised_url=advertised_url
        )

    return create


def datum(value: Value) -> Datum:
    """A protocol value as a ``Datum``; ``ValueError`` for what a Result cannot hold."""
    match value:
        case bool():
            return int(value)  # booleans travel as 0 or 1
        case int() | str() | datetime():
            return value
        case tuple():
            return tuple(datum(item) for item in value)
    raise ValueError(f"a {type(value).__name__} is not a result value")


def _why(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
