"""Events of the SOAP/XML head-end protocol: one per operation's request and response, and Fault.

The S1SP (SMETS1 Service Provider) client calls three operations, each answered at once:
``ExecuteCommand`` runs a command on a device and answers with the device's result and values;
``GetHeadEndStatus`` answers with the head-end's status and clock; ``PollAlerts`` answers with
the alerts devices raised since a given instant (this head-end never pushes). A ``Fault`` is the
answer when the head-end could not take a request at all.

Field rules are checked when an event is built (``ValueError``); the codec turns the same
failures on the wire into ``ProtocolError``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType

from opendcc.core.eui import Eui64
from opendcc.s1sp.protocols.soapxml.values import Value, check_text, freeze_named, to_utc

_ID = re.compile(r"[A-Za-z0-9._~-]{1,128}")
_REQUEST_ID = re.compile(r"[!-~]{1,256}")  # printable ASCII, as a DUIS RequestID is
_COMMAND = re.compile(r"[a-z][A-Za-z0-9]{0,63}")  # lowerCamelCase, e.g. setSupplyState


class Operation(StrEnum):
    """The operations of the service; each is also its request element's name."""

    EXECUTE_COMMAND = "ExecuteCommand"
    GET_HEAD_END_STATUS = "GetHeadEndStatus"
    POLL_ALERTS = "PollAlerts"


class ResultCode(StrEnum):
    """How an executed command went for the device."""

    SUCCESS = "SUCCESS"
    DEVICE_UNREACHABLE = "DEVICE_UNREACHABLE"  # the WAN (wide area network) did not reach it
    NO_RESPONSE = "NO_RESPONSE"  # reached, but no answer in time
    KEYS_MISSING = "KEYS_MISSING"  # the S1SP holds no security credentials for the device
    HAN_ERROR = "HAN_ERROR"  # the comms hub could not reach it over the HAN (Home Area Network)
    REJECTED = "REJECTED"  # the device or head-end refused it


class FaultKind(StrEnum):
    """SOAP 1.1 fault codes: whose fault it is."""

    CLIENT = "Client"  # the request is wrong; resending it unchanged will fail again
    SERVER = "Server"  # the head-end failed; the same request may succeed later


class ErrorCode(StrEnum):
    """Why the head-end could not take a request (``detail/ErrorCode`` of a Fault)."""

    MALFORMED_REQUEST = "MALFORMED_REQUEST"
    UNKNOWN_DEVICE = "UNKNOWN_DEVICE"  # the head-end does not serve this EUI-64
    DUPLICATE_COMMAND = "DUPLICATE_COMMAND"  # the RequestId was used for a different command
    UNSUPPORTED_COMMAND = "UNSUPPORTED_COMMAND"  # no such command, or bad parameters
    INTERNAL_ERROR = "INTERNAL_ERROR"
    UNAVAILABLE = "UNAVAILABLE"  # overloaded or in maintenance


FAULT_KIND: Mapping[ErrorCode, FaultKind] = MappingProxyType(
    {
        ErrorCode.MALFORMED_REQUEST: FaultKind.CLIENT,
        ErrorCode.UNKNOWN_DEVICE: FaultKind.CLIENT,
        ErrorCode.DUPLICATE_COMMAND: FaultKind.CLIENT,
        ErrorCode.UNSUPPORTED_COMMAND: FaultKind.CLIENT,
        ErrorCode.INTERNAL_ERROR: FaultKind.SERVER,
        ErrorCode.UNAVAILABLE: FaultKind.SERVER,
    }
)


class HeadEndState(StrEnum):
    UP = "up"
    DEGRADED = "degraded"  # answering, but some WAN or device traffic is failing


def _check_id(value: str, kind: str) -> None:
    if not _ID.fullmatch(value):
        raise ValueError(f"{kind} is 1-128 characters of A-Z a-z 0-9 . _ ~ -: {value!r}")


def _set(event: object, name: str, value: object) -> None:
    object.__setattr__(event, name, value)  # normalising a frozen event in __post_init__


# --------------------------------------------------------------------------- requests


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecuteCommand:
    device: Eui64
    request_id: str  # the DUIS RequestID; the head-end runs each at most once
    command: str
    parameters: Mapping[str, Value] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not _REQUEST_ID.fullmatch(self.request_id):
            raise ValueError(f"a RequestId is 1-256 printable ASCII: {self.request_id!r}")
        if not _COMMAND.fullmatch(self.command):
            raise ValueError(f"a command name is lowerCamelCase: {self.command!r}")
        _set(self, "parameters", freeze_named(self.parameters))


@dataclass(frozen=True, slots=True)
class GetHeadEndStatus:
    pass


@dataclass(frozen=True, slots=True)
class PollAlerts:
    since: datetime  # alerts raised at or after this instant

    def __post_init__(self) -> None:
        _set(self, "since", to_utc(self.since))


# --------------------------------------------------------------------------- responses

REASON_MAX = 1024  # characters of an ExecuteCommandResponse's reason


@dataclass(frozen=True, slots=True)
class ExecuteCommandResponse:
    result: ResultCode
    values: Mapping[str, Value] = field(default_factory=dict)  # SUCCESS only
    reason: str = ""  # not SUCCESS only: why, as the head-end or the meter says

    def __post_init__(self) -> None:
        _set(self, "values", freeze_named(self.values))
        if self.values and self.result is not ResultCode.SUCCESS:
            raise ValueError("values travel only with result SUCCESS")
        if self.reason and self.result is ResultCode.SUCCESS:
            raise ValueError("a reason travels only with a result other than SUCCESS")
        if len(self.reason) > REASON_MAX:
            raise ValueError(f"a reason is at most {REASON_MAX} characters")
        if self.reason:
            check_text(self.reason, "a reason")


@dataclass(frozen=True, slots=True)
class GetHeadEndStatusResponse:
    status: HeadEndState
    time: datetime  # the head-end's clock

    def __post_init__(self) -> None:
        _set(self, "time", to_utc(self.time))


@dataclass(frozen=True, slots=True, kw_only=True)
class Alert:
    """An alert a device raised, as the head-end holds it for polling."""

    alert_id: str
    device: Eui64
    code: int  # the device's 16-bit alert code
    raised_at: datetime
    values: Mapping[str, Value] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_id(self.alert_id, "an AlertId")
        if isinstance(self.code, bool) or not 0 <= self.code <= 0xFFFF:
            raise ValueError(f"an alert code is 0..65535: {self.code!r}")
        _set(self, "raised_at", to_utc(self.raised_at))
        _set(self, "values", freeze_named(self.values))


@dataclass(frozen=True, slots=True)
class PollAlertsResponse:
    alerts: tuple[Alert, ...] = ()  # oldest first

    def __post_init__(self) -> None:
        _set(self, "alerts", tuple(self.alerts))


@dataclass(frozen=True, slots=True)
class Fault:
    """The head-end could not take the request; ``kind`` follows from ``code``."""

    code: ErrorCode
    message: str

    def __post_init__(self) -> None:
        check_text(self.message, "a fault string")

    @property
    def kind(self) -> FaultKind:
        return FAULT_KIND[self.code]


Request = ExecuteCommand | GetHeadEndStatus | PollAlerts
Response = ExecuteCommandResponse | GetHeadEndStatusResponse | PollAlertsResponse
