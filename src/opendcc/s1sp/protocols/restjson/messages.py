"""Events of the REST/JSON head-end protocol, and the HTTP values they travel in (see ``codec``).

Each event is one thing a party says: the S1SP (SMETS1 Service Provider) client submits a
command, polls it, checks the head-end's health or (un)subscribes to alerts; the head-end
accepts, reports a command's status (in a reply to a poll, or in a completion callback), pushes
an alert, or answers with an API error; either side acknowledges a POST it received with 204,
and the head-end a subscription with 204 too.

Field rules are checked when an event is built (``ValueError``), so the codec only ever emits
valid messages; the codec turns the same failures on the wire into ``ProtocolError``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from urllib.parse import urlsplit

from opendcc.core.eui import Eui64
from opendcc.s1sp.protocols.restjson.values import Value, check_text, freeze_object, utc

_ID = re.compile(r"[A-Za-z0-9._~-]{1,128}")  # URL-safe, so it needs no escaping in a path
_REQUEST_ID = re.compile(r"[!-~]{1,256}")  # printable ASCII, as a DUIS RequestID is
_COMMAND = re.compile(r"[a-z][A-Za-z0-9]{0,63}")  # lowerCamelCase, e.g. setSupplyState
_URL_MAX = 2048
_SPACE = re.compile(r"\s")  # what str.isspace finds (one scan in C)


# --------------------------------------------------------------------------- HTTP values


@dataclass(frozen=True, slots=True)
class HttpMessage:
    """An HTTP request as the transport sends or received it; header names in lower case.

    ``path`` is the request target: a path relative to the head-end's base URL for calls to
    the head-end, or the absolute callback or alert URL for calls from it.
    """

    method: str
    path: str
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""

    def header(self, name: str) -> str | None:
        return _header(self.headers, name)


@dataclass(frozen=True, slots=True)
class HttpReply:
    """An HTTP response; header names in lower case."""

    status: int
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""

    def header(self, name: str) -> str | None:
        return _header(self.headers, name)


def _header(headers: tuple[tuple[str, str], ...], name: str) -> str | None:
    wanted = name.lower()
    return next((value for key, value in headers if key.lower() == wanted), None)


# --------------------------------------------------------------------------- vocabularies


class CommandState(StrEnum):
    ACCEPTED = "accepted"  # queued or under way
    COMPLETED = "completed"  # the device did it; ``result`` holds what it returned
    FAILED = "failed"  # it did not happen; ``error`` says why


class FailureCode(StrEnum):
    """Why an accepted command failed."""

    DEVICE_UNREACHABLE = "DEVICE_UNREACHABLE"  # the WAN (wide area network) did not reach it
    NO_RESPONSE = "NO_RESPONSE"  # reached, but no answer in time
    KEYS_MISSING = "KEYS_MISSING"  # the S1SP holds no security credentials for the device
    HAN_ERROR = "HAN_ERROR"  # the comms hub could not reach it over the HAN (Home Area Network)
    REJECTED = "REJECTED"  # the device or head-end refused it


class ApiErrorCode(StrEnum):
    """Why a request was not taken; each code has one HTTP status (``ERROR_STATUS``)."""

    MALFORMED_REQUEST = "MALFORMED_REQUEST"
    NOT_FOUND = "NOT_FOUND"  # no such route
    UNKNOWN_DEVICE = "UNKNOWN_DEVICE"  # the head-end does not serve this EUI-64
    UNKNOWN_COMMAND = "UNKNOWN_COMMAND"  # no command with this commandId
    DUPLICATE_COMMAND = "DUPLICATE_COMMAND"  # commandId reused with different content
    UNSUPPORTED_COMMAND = "UNSUPPORTED_COMMAND"  # no such command name, or bad arguments
    INTERNAL_ERROR = "INTERNAL_ERROR"
    UNAVAILABLE = "UNAVAILABLE"  # overloaded or in maintenance; try again later


ERROR_STATUS: Mapping[ApiErrorCode, int] = MappingProxyType(
    {
        ApiErrorCode.MALFORMED_REQUEST: 400,
        ApiErrorCode.NOT_FOUND: 404,
        ApiErrorCode.UNKNOWN_DEVICE: 404,
        ApiErrorCode.UNKNOWN_COMMAND: 404,
        ApiErrorCode.DUPLICATE_COMMAND: 409,
        ApiErrorCode.UNSUPPORTED_COMMAND: 422,
        ApiErrorCode.INTERNAL_ERROR: 500,
        ApiErrorCode.UNAVAILABLE: 503,
    }
)


class HealthState(StrEnum):
    UP = "up"
    DEGRADED = "degraded"  # answering, but some WAN or device traffic is failing


# --------------------------------------------------------------------------- checks


def check_id(value: str, kind: str) -> None:
    if not _ID.fullmatch(value):
        raise ValueError(f"{kind} is 1-128 characters of A-Z a-z 0-9 . _ ~ -: {value!r}")


def check_url(url: str) -> None:
    parts = urlsplit(url)
    if (
        not url.isascii()
        or len(url) > _URL_MAX
        or parts.scheme not in ("http", "https")
        or not parts.netloc
        or parts.fragment
        or _SPACE.search(url)
    ):
        raise ValueError(f"not an absolute http(s) URL: {url!r}")


def _set(event: object, name: str, value: object) -> None:
    object.__setattr__(event, name, value)  # normalising a frozen event in __post_init__


# --------------------------------------------------------------------------- events


@dataclass(frozen=True, slots=True, kw_only=True)
class SubmitCommand:
    """Client to head-end: run ``command`` on ``device`` and call ``callback_url`` when done."""

    device: Eui64
    command_id: str  # the client's id for this command; resubmitting it is harmless
    request_id: str  # the DUIS RequestID, the idempotency key end to end
    command: str
    arguments: Mapping[str, Value] = field(default_factory=dict)
    callback_url: str

    def __post_init__(self) -> None:
        check_id(self.command_id, "a commandId")
        if not _REQUEST_ID.fullmatch(self.request_id):
            raise ValueError(f"a requestId is 1-256 printable ASCII: {self.request_id!r}")
        if not _COMMAND.fullmatch(self.command):
            raise ValueError(f"a command name is lowerCamelCase: {self.command!r}")
        _set(self, "arguments", freeze_object(self.arguments))
        check_url(self.callback_url)


@dataclass(frozen=True, slots=True)
class CommandAccepted:
    """Head-end to client (202): the command is queued; its outcome comes by callback."""

    command_id: str

    def __post_init__(self) -> None:
        check_id(self.command_id, "a commandId")


@dataclass(frozen=True, slots=True)
class PollCommand:
    """Client to head-end: what is the status of this command?"""

    command_id: str

    def __post_init__(self) -> None:
        check_id(self.command_id, "a commandId")


@dataclass(frozen=True, slots=True)
class CommandError:
    code: FailureCode
    message: str

    def __post_init__(self) -> None:
        check_text(self.message, "a message")


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandStatus:
    """A command's status: the reply to a poll, or (once final) a completion callback."""

    command_id: str
    device: Eui64
    status: CommandState
    completed_at: datetime | None = None
    result: Mapping[str, Value] | None = None  # COMPLETED only
    error: CommandError | None = None  # FAILED only

    def __post_init__(self) -> None:
        check_id(self.command_id, "a commandId")
        final = self.status is not CommandState.ACCEPTED
        if (self.completed_at is not None) != final:
            raise ValueError("completedAt comes with, and only with, a final status")
        if (self.result is not None) != (self.status is CommandState.COMPLETED):
            raise ValueError("a result comes with, and only with, status completed")
        if (self.error is not None) != (self.status is CommandState.FAILED):
            raise ValueError("an error comes with, and only with, status failed")
        if self.completed_at is not None:
            _set(self, "completed_at", utc(self.completed_at))
        if self.result is not None:
            _set(self, "result", freeze_object(self.result))

    @property
    def final(self) -> bool:
        return self.status is not CommandState.ACCEPTED


@dataclass(frozen=True, slots=True, kw_only=True)
class Alert:
    """Head-end to client, unasked: an alert a device raised."""

    alert_id: str
    device: Eui64
    code: int  # the device's 16-bit alert code
    raised_at: datetime
    values: Mapping[str, Value] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_id(self.alert_id, "an alertId")
        if isinstance(self.code, bool) or not 0 <= self.code <= 0xFFFF:
            raise ValueError(f"an alert code is 0..65535: {self.code!r}")
        _set(self, "raised_at", utc(self.raised_at))
        _set(self, "values", freeze_object(self.values))


@dataclass(frozen=True, slots=True)
class Acknowledged:
    """The receiver of a callback or alert took it (204, no body)."""


@dataclass(frozen=True, slots=True)
class SubscribeAlerts:
    """Client to head-end: POST every alert to ``url`` from now on; repeating it is harmless."""

    subscription_id: str  # the client's name for this subscription
    url: str

    def __post_init__(self) -> None:
        check_id(self.subscription_id, "a subscriptionId")
        check_url(self.url)


@dataclass(frozen=True, slots=True)
class UnsubscribeAlerts:
    """Client to head-end: stop the subscription (DELETE: one that is gone is no error)."""

    subscription_id: str

    def __post_init__(self) -> None:
        check_id(self.subscription_id, "a subscriptionId")


@dataclass(frozen=True, slots=True)
class HealthCheck:
    """Client to head-end: are you up?"""


@dataclass(frozen=True, slots=True)
class Health:
    status: HealthState
    time: datetime  # the head-end's clock

    def __post_init__(self) -> None:
        _set(self, "time", utc(self.time))


@dataclass(frozen=True, slots=True)
class ApiError:
    """A request that was not taken, answered with the HTTP status its code implies."""

    code: ApiErrorCode
    message: str

    def __post_init__(self) -> None:
        check_text(self.message, "a message")

    @property
    def status(self) -> int:
        return ERROR_STATUS[self.code]


Request = SubmitCommand | PollCommand | HealthCheck | SubscribeAlerts | UnsubscribeAlerts
Push = CommandStatus | Alert
Reply = CommandAccepted | CommandStatus | Health | Acknowledged | ApiError
