"""A sans-IO codec for REST/JSON, an HTTP head-end API with asynchronous completion callbacks.

Several SMETS1 head-end systems offer a REST (Representational State Transfer) API: the S1SP
(SMETS1 Service Provider) client submits a command for one device and gets ``202 Accepted`` at
once; the head-end later POSTs the outcome to the callback URL the client gave. A client that
missed a callback polls. Alerts that devices raise are POSTed to every alert URL the client
subscribed with the head-end. This module turns events into ``HttpMessage``/``HttpReply`` values
and back; it opens no socket and imports no HTTP library (like h11, the transport is the
caller's).

Wire format. Paths to the head-end are relative to its base URL; ``{deviceId}`` is an EUI-64
(64-bit Extended Unique Identifier) in canonical form (``00-DB-12-34-56-78-90-A0``: upper-case
hex, hyphenated); ids (commandId, alertId, subscriptionId) are 1-128 of
``A-Z a-z 0-9 . _ ~ -``. Every body is one JSON (JavaScript Object Notation) object in UTF-8,
sent with the header ``content-type: application/json`` and encoded with keys sorted and no
insignificant whitespace; every member shown is required and no other is allowed. ``T`` is an
RFC 3339 UTC date-time such as ``2024-06-01T12:00:30.25Z`` (fraction optional, at most 6
digits). Values (``V``) are JSON values; see ``values`` for how date-times ride in them.

Client to head-end::

    POST /v2/devices/{deviceId}/commands        submit a command
        {"arguments":{NAME:V,...},"callbackUrl":URL,"command":NAME,"commandId":ID,
         "requestId":RID}
        -> 202 {"commandId":ID,"status":"accepted"}  |  error
    GET /v2/commands/{commandId}                 poll a command (no body)
        -> 200 STATUS  |  error
    GET /v2/health                               (no body)
        -> 200 {"status":"up"|"degraded","time":T}  |  error
    PUT /v2/alert-subscriptions/{subscriptionId}     POST every alert to URL
        {"url":URL}
        -> 204 (no body)  |  error
    DELETE /v2/alert-subscriptions/{subscriptionId}  stop (no body)
        -> 204 (no body)  |  error

Head-end to client::

    POST {callbackUrl}   STATUS, final (completed or failed)
        -> 204 (no body)  |  error
    POST {alertUrl}      {"alertId":ID,"code":0..65535,"deviceId":EUI,"raisedAt":T,
                          "values":{NAME:V,...}}
        -> 204 (no body)  |  error

    STATUS = {"commandId":ID,"deviceId":EUI,"status":"accepted"}
           | {"commandId":ID,"completedAt":T,"deviceId":EUI,"result":{NAME:V,...},
              "status":"completed"}
           | {"commandId":ID,"completedAt":T,"deviceId":EUI,"error":{"code":FAILURE,
              "message":TEXT},"status":"failed"}
    FAILURE = DEVICE_UNREACHABLE | NO_RESPONSE | KEYS_MISSING | HAN_ERROR | REJECTED
    error   = STATUS_CODE {"error":{"code":CODE,"message":TEXT}} where CODE fixes the status:
              MALFORMED_REQUEST 400, NOT_FOUND 404, UNKNOWN_DEVICE 404, UNKNOWN_COMMAND 404,
              DUPLICATE_COMMAND 409, UNSUPPORTED_COMMAND 422, INTERNAL_ERROR 500,
              UNAVAILABLE 503

NAME (a command name) is lowerCamelCase, e.g. ``readInstantaneousImport``; RID is the RequestID
of DUIS (the DCC User Interface Specification), 1-256 printable ASCII characters; URL is an
absolute http or https URL. Idempotency: a head-end answers a resubmitted commandId with the
same content with 202 again, and with different content with 409 DUPLICATE_COMMAND; it runs a
requestId at most once. A subscription is a PUT: repeating it (say after a head-end restart)
is harmless, and a DELETE of one that is gone is answered 204 too.

Decoding is strict: a wrong method, path, content type, member, type or identifier raises
``ProtocolError`` (``NoRoute`` when no route matches, which a head-end answers 404 NOT_FOUND;
any other ``ProtocolError`` it answers 400 MALFORMED_REQUEST).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TypeVar

from opendcc.s1sp.protocols.restjson.messages import (
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
    HttpMessage,
    HttpReply,
    PollCommand,
    Push,
    Reply,
    Request,
    SubmitCommand,
    SubscribeAlerts,
    UnsubscribeAlerts,
    check_url,
)
from opendcc.s1sp.protocols.restjson.reading import Fields, canonical_eui64, invalid, member_of
from opendcc.s1sp.protocols.restjson.values import (
    ProtocolError,
    dump,
    format_datetime,
    load,
    thaw,
)

HEALTH_PATH = "/v2/health"
JSON_HEADERS = (("content-type", "application/json"),)
_SUBMIT_PATH = re.compile(r"/v2/devices/([^/?#]+)/commands")
_POLL_PATH = re.compile(r"/v2/commands/([^/?#]+)")
_SUBSCRIPTION_PATH = re.compile(r"/v2/alert-subscriptions/([^/?#]+)")

_Event = TypeVar("_Event")


class NoRoute(ProtocolError):
    """No route of the API matches the request's method and path."""


# --------------------------------------------------------------------------- encoding


def encode_request(event: Request) -> HttpMessage:
    """The HTTP request by which the client says ``event`` to the head-end."""
    match event:
        case SubmitCommand():
            document = {
                "arguments": thaw(event.arguments),
                "callbackUrl": event.callback_url,
                "command": event.command,
                "commandId": event.command_id,
                "requestId": event.request_id,
            }
            return HttpMessage(
                "POST", f"/v2/devices/{event.device}/commands", JSON_HEADERS, dump(document)
            )
        case PollCommand():
            return HttpMessage("GET", f"/v2/commands/{event.command_id}")
        case HealthCheck():
            return HttpMessage("GET", HEALTH_PATH)
        case SubscribeAlerts():
            path = f"/v2/alert-subscriptions/{event.subscription_id}"
            return HttpMessage("PUT", path, JSON_HEADERS, dump({"url": event.url}))
        case UnsubscribeAlerts():
            return HttpMessage("DELETE", f"/v2/alert-subscriptions/{event.subscription_id}")


def encode_reply(event: Reply) -> HttpReply:
    """The HTTP response that carries ``event``."""
    match event:
        case CommandAccepted():
            document: dict[str, object] = {"commandId": event.command_id, "status": "accepted"}
            return HttpReply(202, JSON_HEADERS, dump(document))
        case CommandStatus():
            return HttpReply(200, JSON_HEADERS, dump(_status_document(event)))
        case Health():
            document = {"status": event.status.value, "time": format_datetime(event.time)}
            return HttpReply(200, JSON_HEADERS, dump(document))
        case Acknowledged():
            return HttpReply(204)
        case ApiError():
            document = {"error": {"code": event.code.value, "message": event.message}}
            return HttpReply(event.status, JSON_HEADERS, dump(document))


def encode_push(event: Push, *, url: str) -> HttpMessage:
    """The POST by which the head-end delivers a final command status or an alert to ``url``."""
    check_url(url)
    match event:
        case CommandStatus():
            if not event.final:
                raise ValueError("a callback carries a final status")
            return HttpMessage("POST", url, JSON_HEADERS, dump(_status_document(event)))
        case Alert():
            document = {
                "alertId": event.alert_id,
                "code": event.code,
                "deviceId": str(event.device),
                "raisedAt": format_datetime(event.raised_at),
                "values": thaw(event.values),
            }
            return HttpMessage("POST", url, JSON_HEADERS, dump(document))


def _status_document(event: CommandStatus) -> dict[str, object]:
    document: dict[str, object] = {
        "commandId": event.command_id,
        "deviceId": str(event.device),
        "status": event.status.value,
    }
    if event.completed_at is not None:
        document["completedAt"] = format_datetime(event.completed_at)
    if event.result is not None:
        document["result"] = thaw(event.result)
    if event.error is not None:
        document["error"] = {"code": event.error.code.value, "message": event.error.message}
    return document


# --------------------------------------------------------------------------- decoding


def decode_request(message: HttpMessage) -> Request:
    """The event a client's request to the head-end carries (the head-end's side)."""
    path, method = message.path, message.method
    if match := _SUBMIT_PATH.fullmatch(path):
        _expect_method(message, "POST")
        device = canonical_eui64(match.group(1))
        fields = Fields(
            _json_body(message), "a command", "arguments callbackUrl command commandId requestId"
        )
        with invalid():
            return SubmitCommand(
                device=device,
                command_id=fields.text("commandId"),
                request_id=fields.text("requestId"),
                command=fields.text("command"),
                arguments=fields.values("arguments"),
                callback_url=fields.text("callbackUrl"),
            )
    if match := _POLL_PATH.fullmatch(path):
        _expect_method(message, "GET")
        _expect_no_body(message.body)
        with invalid():
            return PollCommand(match.group(1))
    if path == HEALTH_PATH:
        _expect_method(message, "GET")
        _expect_no_body(message.body)
        return HealthCheck()
    if match := _SUBSCRIPTION_PATH.fullmatch(path):
        if method == "PUT":
            fields = Fields(_json_body(message), "a subscription", "url")
            with invalid():
                return SubscribeAlerts(match.group(1), fields.text("url"))
        _expect_method(message, "DELETE")
        _expect_no_body(message.body)
        with invalid():
            return UnsubscribeAlerts(match.group(1))
    raise NoRoute(f"no route for {method} {path}")


def decode_callback(message: HttpMessage) -> CommandStatus:
    """The final command status a completion callback carries (the client's side)."""
    _expect_method(message, "POST")
    status = _decode_status(_json_body(message))
    if not status.final:
        raise ProtocolError("a callback carries a final status, not 'accepted'")
    return status


def decode_alert(message: HttpMessage) -> Alert:
    """The alert an alert POST carries (the client's side)."""
    _expect_method(message, "POST")
    fields = Fields(_json_body(message), "an alert", "alertId code deviceId raisedAt values")
    with invalid():
        return Alert(
            alert_id=fields.text("alertId"),
            device=canonical_eui64(fields.text("deviceId")),
            code=fields.integer("code"),
            raised_at=fields.instant("raisedAt"),
            values=fields.values("values"),
        )


def decode_submit_reply(reply: HttpReply) -> CommandAccepted | ApiError:
    """The head-end's answer to a ``SubmitCommand``."""
    return _decode_reply(reply, 202, _decode_accepted)


def decode_poll_reply(reply: HttpReply) -> CommandStatus | ApiError:
    """The head-end's answer to a ``PollCommand``."""
    return _decode_reply(reply, 200, lambda r: _decode_status(_json_body(r)))


def decode_health_reply(reply: HttpReply) -> Health | ApiError:
    """The head-end's answer to a ``HealthCheck``."""
    return _decode_reply(reply, 200, _decode_health)


def decode_push_reply(reply: HttpReply) -> Acknowledged | ApiError:
    """The client's answer to a callback or an alert."""
    return _decode_reply(reply, 204, _decode_acknowledged)


def decode_subscription_reply(reply: HttpReply) -> Acknowledged | ApiError:
    """The head-end's answer to a ``SubscribeAlerts`` or an ``UnsubscribeAlerts``."""
    return _decode_reply(reply, 204, _decode_acknowledged)


def _decode_reply(
    reply: HttpReply, ok: int, decode: Callable[[HttpReply], _Event]
) -> _Event | ApiError:
    if reply.status == ok:
        return decode(reply)
    if 400 <= reply.status <= 599:
        fields = Fields(_json_body(reply), "an error reply", "error")
        inner = Fields(fields.member("error"), "an error", "code message")
        with invalid():
            error = ApiError(member_of(ApiErrorCode, inner.text("code")), inner.text("message"))
        if error.status != reply.status:
            raise ProtocolError(f"error {error.code} comes with status {error.status}")
        return error
    raise ProtocolError(f"unexpected HTTP status {reply.status}")


def _decode_accepted(reply: HttpReply) -> CommandAccepted:
    fields = Fields(_json_body(reply), "an acceptance", "commandId status")
    if fields.text("status") != "accepted":
        raise ProtocolError("a 202 reply has status 'accepted'")
    with invalid():
        return CommandAccepted(fields.text("commandId"))


def _decode_acknowledged(reply: HttpReply) -> Acknowledged:
    _expect_no_body(reply.body)
    return Acknowledged()


def _decode_health(reply: HttpReply) -> Health:
    fields = Fields(_json_body(reply), "a health reply", "status time")
    with invalid():
        return Health(member_of(HealthState, fields.text("status")), fields.instant("time"))


def _decode_status(document: dict[str, object]) -> CommandStatus:
    raw = document.get("status")
    status = member_of(CommandState, raw if isinstance(raw, str) else repr(raw))
    extra = {
        CommandState.ACCEPTED: "",
        CommandState.COMPLETED: " completedAt result",
        CommandState.FAILED: " completedAt error",
    }[status]
    fields = Fields(document, f"a {status} status", "commandId deviceId status" + extra)
    final = status is not CommandState.ACCEPTED
    with invalid():
        error = None
        if status is CommandState.FAILED:
            inner = Fields(fields.member("error"), "an error", "code message")
            error = CommandError(member_of(FailureCode, inner.text("code")), inner.text("message"))
        return CommandStatus(
            command_id=fields.text("commandId"),
            device=canonical_eui64(fields.text("deviceId")),
            status=status,
            completed_at=fields.instant("completedAt") if final else None,
            result=fields.values("result") if status is CommandState.COMPLETED else None,
            error=error,
        )


# --------------------------------------------------------------------------- strict helpers


def _expect_method(message: HttpMessage, method: str) -> None:
    if message.method != method:
        raise NoRoute(f"{message.method} is not allowed on {message.path}; use {method}")


def _expect_no_body(body: bytes) -> None:
    if body:
        raise ProtocolError("this message has no body")


def _json_body(message: HttpMessage | HttpReply) -> dict[str, object]:
    content_type = message.header("content-type") or ""
    if content_type.split(";")[0].strip().lower() != "application/json":
        raise ProtocolError(f"content type is {content_type!r}, not application/json")
    return load(message.body)
