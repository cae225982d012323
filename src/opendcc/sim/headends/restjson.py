"""A simulated head-end that speaks REST/JSON: commands taken at once, outcomes by callback.

The S1SP (SMETS1 Service Provider) adapter talks to it over HTTP, with the very codec the
adapter uses, from the other side (Starlette on uvicorn, in the running event loop):

- ``POST /v2/devices/{EUI}/commands``: the command name maps to an SRV (Service Reference
  Variant) through the cohort's profile; an unknown device is 404 UNKNOWN_DEVICE and an
  unknown command 422 UNSUPPORTED_COMMAND, at once. Otherwise the answer is 202 at once and a
  background task waits the core's WAN (wide area network) delay, has the core execute the
  SRV and POSTs the final status to the callback URL (tried a few times if that fails). A
  resubmitted commandId with the same content is accepted again (and called back again once
  final); with other content it is 409 DUPLICATE_COMMAND. The head-end keeps its newest
  ``REMEMBERED`` commands (and every one still under way), as the core keeps its answers.
- ``GET /v2/commands/{commandId}``: the command's status now (404 UNKNOWN_COMMAND if unknown).
- ``GET /v2/health``: up, or degraded while faults are injected for the whole head-end.
- ``PUT``/``DELETE /v2/alert-subscriptions/{id}``: where alerts go; every alert the core
  publishes is POSTed to every subscribed URL, and kept (``unacked``) until one answers 2xx
  (a 4xx refuses it for good): offered again every ``RESEND_S`` and at once to a new or renewed
  subscription, as a real head-end keeps the alerts its client has not taken. Alerts raised
  while nobody subscribes, or while the head-end is down, wait for the next subscription.

A corrupt fault damages (truncates) the callback and poll bodies for that device, so the
adapter cannot read them. ``go_down`` stops listening and drops every connection and callback
under way (new connections are refused); ``come_up`` listens again on the same port.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request as HttpRequest
from starlette.responses import Response
from starlette.routing import Route

from opendcc.httpclient import HttpClient, HttpError
from opendcc.s1sp.adapter import codes_by_name
from opendcc.s1sp.contract import OutcomeStatus
from opendcc.s1sp.protocols.restjson import (
    Acknowledged,
    Alert,
    ApiError,
    ApiErrorCode,
    CommandAccepted,
    CommandError,
    CommandState,
    CommandStatus,
    FailureCode,
    Health,
    HealthCheck,
    HealthState,
    NoRoute,
    PollCommand,
    ProtocolError,
    Reply,
    Request,
    SubmitCommand,
    SubscribeAlerts,
    UnsubscribeAlerts,
    Value,
    decode_request,
    encode_push,
    encode_reply,
    format_datetime,
)
from opendcc.s1sp.transports.restjson import message_of, response_of, safe_text
from opendcc.sim.headends import core as headend_core
from opendcc.sim.headends.core import Faults, HeadEndCore, PushedAlert
from opendcc.sim.headends.core import Reply as CoreReply
from opendcc.sim.headends.http import HttpHeadEnd
from opendcc.sim.headends.unacked import Unacknowledged

log = logging.getLogger(__name__)
PUSHES_IN_FLIGHT = 64

METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH"]
FAILURE_OF_STATUS: Mapping[OutcomeStatus, FailureCode] = codes_by_name(
    FailureCode,
    {OutcomeStatus.UNKNOWN_DEVICE: FailureCode.REJECTED},  # checked on submission
)


@dataclass
class _Command:
    """One command the head-end took, and where its outcome goes."""

    submit: SubmitCommand
    srv: str
    parameters: dict[str, str]
    status: CommandStatus
    callback_url: str
    task: asyncio.Task[None] | None = None


class RestJsonHeadEnd(HttpHeadEnd):
    """A ``HeadEndCore`` behind a REST/JSON API with completion callbacks."""

    def __init__(
        self,
        core: HeadEndCore,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        push_attempts: int = 3,
        push_retry_s: float = 0.05,
    ) -> None:
        app = Starlette(routes=[Route("/{path:path}", self._handle, methods=METHODS)])
        super().__init__(core, app, host, port)
        self.push_attempts = push_attempts
        self.push_retry_s = push_retry_s  # doubled after each failed attempt
        self._client = HttpClient(timeout_s=5.0)
        # Pushes wait their turn rather than time out in the client's pool (100 connections):
        # a burst of alerts is carried, not lost.
        self._pushing = asyncio.Semaphore(PUSHES_IN_FLIGHT)
        self._commands: dict[str, _Command] = {}
        self._subscriptions: dict[str, str] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.unacked: Unacknowledged[Alert] = Unacknowledged()
        self._in_flight: dict[str, int] = {}  # pushes under way, by alert id
        self._resending: asyncio.Task[None] | None = None
        core.subscribe(self._published)

    async def start(self) -> None:
        await super().start()
        if self._resending is None or self._resending.done():
            self._resending = asyncio.create_task(self._resend_forever())

    @property
    def subscriptions(self) -> Mapping[str, str]:
        """Subscription id -> the URL alerts are POSTed to."""
        return dict(self._subscriptions)

    async def go_down(self) -> None:
        """Stop listening and drop every connection and callback under way."""
        if self._resending is not None:
            self._resending.cancel()
            await asyncio.gather(self._resending, return_exceptions=True)
            self._resending = None
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await super().go_down()

    async def aclose(self) -> None:
        await super().aclose()
        await self._client.aclose()

    # ------------------------------------------------------------------ the API

    async def _handle(self, request: HttpRequest) -> Response:
        message = message_of(request, await request.body())
        corrupt = False
        try:
            event = decode_request(message)
        except NoRoute as exc:
            reply: Reply = ApiError(ApiErrorCode.NOT_FOUND, safe_text(exc))
        except ProtocolError as exc:
            reply = ApiError(ApiErrorCode.MALFORMED_REQUEST, safe_text(exc))
        else:
            reply, corrupt = self._answer(event)
        wire = encode_reply(reply)
        response = response_of(wire)
        if corrupt:
            response = Response(_damaged(wire.body), wire.status, headers=dict(wire.headers))
        return response

    def _answer(self, event: Request) -> tuple[Reply, bool]:
        """The reply to ``event``, and whether the WAN damages it."""
        match event:
            case SubmitCommand():
                return self._submitted(event), False
            case PollCommand():
                command = self._commands.get(event.command_id)
                if command is None:
                    unknown = ApiError(
                        ApiErrorCode.UNKNOWN_COMMAND, f"no command {event.command_id}"
                    )
                    return unknown, False
                return command.status, self.core.faults_for(command.submit.device).corrupt
            case HealthCheck():
                state = HealthState.UP if self.core.faults == Faults() else HealthState.DEGRADED
                return Health(state, self.core.clock.now()), False
            case SubscribeAlerts():
                renewed = self._subscriptions.get(event.subscription_id) != event.url
                self._subscriptions[event.subscription_id] = event.url
                if renewed:  # a new listener: what nobody has taken goes to it now
                    self._offer(self.unacked.items(), again=True)
                return Acknowledged(), False
            case UnsubscribeAlerts():
                self._subscriptions.pop(event.subscription_id, None)
                return Acknowledged(), False

    def _submitted(self, submit: SubmitCommand) -> Reply:
        known = self._commands.get(submit.command_id)
        if known is not None:
            if _content(known.submit) != _content(submit):
                message = f"commandId {submit.command_id} was submitted with other content"
                return ApiError(ApiErrorCode.DUPLICATE_COMMAND, message)
            known.callback_url = submit.callback_url  # the resubmitter waits there now
            if known.status.final:
                self._spawn(self._call_back(known))
            elif known.task is None or known.task.done():  # dropped when the head-end went down
                known.task = self._spawn(self._run(known))
            return CommandAccepted(submit.command_id)
        if not self.core.serves(submit.device):
            return ApiError(ApiErrorCode.UNKNOWN_DEVICE, f"no device {submit.device} here")
        srv = self.core.profile.srv_of(submit.command)
        if srv is None:
            message = f"no command {submit.command} for {self.core.profile.name}"
            return ApiError(ApiErrorCode.UNSUPPORTED_COMMAND, message)
        try:
            parameters = _parameters(submit.arguments)
        except ValueError as exc:
            return ApiError(ApiErrorCode.UNSUPPORTED_COMMAND, safe_text(exc))
        pending = CommandStatus(
            command_id=submit.command_id, device=submit.device, status=CommandState.ACCEPTED
        )
        command = _Command(submit, srv, parameters, pending, submit.callback_url)
        self._remember(command)
        command.task = self._spawn(self._run(command))
        return CommandAccepted(submit.command_id)

    def _remember(self, command: _Command) -> None:
        """Keep ``command``; forget the oldest once over ``REMEMBERED``, unless it is still under
        way (then it moves to the back of the line)."""
        self._commands[command.submit.command_id] = command
        if len(self._commands) <= headend_core.REMEMBERED:
            return
        oldest_id = next(iter(self._commands))
        oldest = self._commands.pop(oldest_id)
        if not oldest.status.final:
            self._commands[oldest_id] = oldest

    # ------------------------------------------------------------------ in the background

    async def _run(self, command: _Command) -> None:
        submit, core = command.submit, self.core
        delay = core.delay_s(submit.request_id, submit.device)
        if delay > 0:
            await asyncio.sleep(delay)
        reply = core.execute(submit.request_id, submit.device, command.srv, command.parameters)
        command.status = _status(submit, reply, core.clock.now())
        await self._call_back(command)

    async def _call_back(self, command: _Command) -> None:
        wire = encode_push(command.status, url=command.callback_url)
        body = wire.body
        if self.core.faults_for(command.submit.device).corrupt:
            body = _damaged(body)
        await self._deliver(wire.path, dict(wire.headers), body)

    def _published(self, pushed: PushedAlert) -> None:
        try:
            alert = self._wire_alert(Alert, pushed)
        except ValueError:
            log.exception("alert %#06x of %s cannot be pushed", pushed.code, pushed.device)
            return
        self.unacked.keep(alert.alert_id, alert, pushed)
        if self._listener.running:  # a head-end that is down pushes nothing (yet)
            self._offer([(alert.alert_id, alert)])

    def _offer(self, alerts: list[tuple[str, Alert]], *, again: bool = False) -> None:
        """Push ``alerts`` to every subscriber; one whose push is under way only if
        ``again`` (a renewed subscription: the push under way goes to the old URL)."""
        if not self._subscriptions or not alerts:
            return  # nobody listens yet: they wait for a subscription
        now = asyncio.get_running_loop().time()
        for alert_id, alert in alerts:
            if alert_id in self._in_flight and not again:
                continue  # its push is still waiting for an answer (or for its turn)
            self.unacked.offered(alert_id, now)
            for url in self._subscriptions.values():
                wire = encode_push(alert, url=url)
                self._spawn(self._push_alert(alert_id, wire.path, dict(wire.headers), wire.body))

    async def _push_alert(
        self, alert_id: str, url: str, headers: dict[str, str], body: bytes
    ) -> None:
        """POST one alert once; 2xx acknowledges it, a 4xx refuses it for good, anything
        else leaves it to be offered again."""
        self._in_flight[alert_id] = self._in_flight.get(alert_id, 0) + 1
        try:
            async with self._pushing:
                response = await self._client.post(url, body, headers=headers.items())
        except HttpError as exc:
            log.info("push of alert %s to %s failed: %r", alert_id, url, exc)
            return
        finally:
            if (left := self._in_flight.pop(alert_id, 1) - 1) > 0:
                self._in_flight[alert_id] = left
        if response.status < 300:
            self.unacked.acknowledge(alert_id)
        elif response.status < 500:
            log.warning("push of alert %s to %s refused: %s", alert_id, url, response.status)
            self.unacked.refuse(alert_id)

    async def _resend_forever(self) -> None:
        while True:
            await asyncio.sleep(self.unacked.resend_s / 2)
            self._offer(self.unacked.due(asyncio.get_running_loop().time()))

    async def _deliver(self, url: str, headers: dict[str, str], body: bytes) -> None:
        """POST ``body`` to ``url``; try again after a transport failure or a 5xx."""
        for attempt in range(self.push_attempts):
            if attempt:
                await asyncio.sleep(self.push_retry_s * 2 ** (attempt - 1))
            try:
                async with self._pushing:
                    response = await self._client.post(url, body, headers=headers.items())
            except HttpError as exc:
                log.info("push to %s failed: %r", url, exc)
                continue
            if response.status < 500:
                if response.status >= 400:
                    log.info("push to %s refused: %s", url, response.status)
                return
        log.warning("push to %s given up after %d attempts", url, self.push_attempts)

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task


async def start_restjson_headend(
    core: HeadEndCore, host: str = "127.0.0.1", port: int = 0
) -> RestJsonHeadEnd:
    """Start a REST/JSON head-end over ``core`` and return it (``port`` 0 picks a free one)."""
    server = RestJsonHeadEnd(core, host, port)
    await server.start()
    return server


def _content(submit: SubmitCommand) -> tuple[object, ...]:
    """What makes two submissions of a commandId the same command (not the callback URL)."""
    return (submit.device, submit.request_id, submit.command, dict(submit.arguments))


def _parameters(arguments: Mapping[str, Value]) -> dict[str, str]:
    """Arguments back to the instruction's flat text parameters.

    A text argument in date-time form arrives as a date-time; it goes back in canonical form.
    """
    parameters: dict[str, str] = {}
    for name, value in arguments.items():
        match value:
            case str():
                parameters[name] = value
            case datetime():
                parameters[name] = format_datetime(value)
            case _:
                raise ValueError(f"argument {name} is not text")
    return parameters


def _status(submit: SubmitCommand, reply: CoreReply, at: datetime) -> CommandStatus:
    if reply.status is OutcomeStatus.SUCCESS:
        try:
            return CommandStatus(
                command_id=submit.command_id,
                device=submit.device,
                status=CommandState.COMPLETED,
                completed_at=at,
                result=reply.result,
            )
        except ValueError as exc:
            reply = CoreReply(OutcomeStatus.REJECTED, detail=f"result cannot be sent: {exc}")
    error = CommandError(
        FAILURE_OF_STATUS[reply.status], safe_text(reply.detail or reply.status.value)
    )
    return CommandStatus(
        command_id=submit.command_id,
        device=submit.device,
        status=CommandState.FAILED,
        completed_at=at,
        error=error,
    )


def _damaged(body: bytes) -> bytes:
    """``body`` as the WAN corrupts it: cut off half way."""
    return body[: len(body) // 2]
