"""APDU events: what a head-end client and the head-end say to each other (see ``codec``).

The client (the S1SP, SMETS1 Service Provider, adapter) sends GET, SET and ACTION requests for
one meter, each with an invoke id of its choosing; the head-end answers each with the same
invoke id, a ``ResultCode`` and, on SUCCESS, typed values. The head-end may also PUSH an
``Alert`` at any time: it answers no request and always carries invoke id 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum

from opendcc.core.eui import Eui64
from opendcc.s1sp.protocols.apdu.values import (
    STRING_MAX,
    U32_MAX,
    U64_MAX,
    AttributeRef,
    MethodRef,
    Value,
    VisibleString,
    check_datetime,
    check_range,
)

HEAD_END = Eui64(0)  # the device id that addresses the head-end itself
PUSH_INVOKE_ID = 0  # the invoke id of every unsolicited frame


class ResultCode(IntEnum):
    """The head-end's verdict on a whole GET, SET or ACTION."""

    SUCCESS = 0
    DEVICE_UNREACHABLE = 1  # the WAN (wide area network) could not reach the comms hub
    NO_RESPONSE = 2  # the meter was reached but did not answer in time
    OBJECT_UNDEFINED = 3  # the meter has no such OBIS object, attribute or method
    READ_DENIED = 4  # the meter refused access to the attribute or method
    UNKNOWN_DEVICE = 5  # the head-end does not serve this EUI-64
    KEYS_MISSING = 6  # the S1SP does not hold the device's security credentials
    HAN_ERROR = 7  # the comms hub could not reach the device over the HAN (Home Area Network)
    TYPE_UNMATCHED = 8  # a SET or ACTION value has the wrong type for its attribute or method
    TEMPORARY_FAILURE = 9  # the device is busy or the head-end overloaded; try again later
    OTHER = 250


def _check_invoke_id(invoke_id: int) -> None:
    check_range(invoke_id, 0, U32_MAX, "invoke id")


def _check_request_id(request_id: str) -> None:
    if not request_id.isascii() or len(request_id) > STRING_MAX:
        raise ValueError("a request id is ASCII, at most 65535 characters")


def _check_answer(result: ResultCode, values: tuple[Value, ...]) -> None:
    if values and result is not ResultCode.SUCCESS:
        raise ValueError("values travel only with result SUCCESS")
    check_range(len(values), 0, 255, "value count")


def _check_action_answer(result: ResultCode, values: tuple[Value, ...]) -> None:
    # A refused ACTION may say why: one visible-string, the head-end's or meter's reason.
    if result is not ResultCode.SUCCESS and values:
        if len(values) != 1 or not isinstance(values[0], VisibleString):
            raise ValueError("a refused ACTION carries at most one visible-string: its reason")
        return
    _check_answer(result, values)


@dataclass(frozen=True, slots=True)
class GetRequest:
    """Read attributes of one device's objects."""

    invoke_id: int
    device: Eui64
    request_id: str  # the DUIS RequestID; the head-end answers a repeat from memory
    attributes: tuple[AttributeRef, ...]

    def __post_init__(self) -> None:
        _check_invoke_id(self.invoke_id)
        _check_request_id(self.request_id)
        check_range(len(self.attributes), 1, 255, "attribute count")


@dataclass(frozen=True, slots=True)
class GetResponse:
    """The values read, one per attribute asked for, in order (SUCCESS only)."""

    invoke_id: int
    result: ResultCode
    values: tuple[Value, ...] = ()

    def __post_init__(self) -> None:
        _check_invoke_id(self.invoke_id)
        _check_answer(self.result, self.values)


@dataclass(frozen=True, slots=True)
class Write:
    """One value to write to one attribute."""

    attribute: AttributeRef
    value: Value


@dataclass(frozen=True, slots=True)
class SetRequest:
    """Write values to attributes of one device's objects, in order."""

    invoke_id: int
    device: Eui64
    request_id: str
    writes: tuple[Write, ...]

    def __post_init__(self) -> None:
        _check_invoke_id(self.invoke_id)
        _check_request_id(self.request_id)
        check_range(len(self.writes), 1, 255, "write count")


@dataclass(frozen=True, slots=True)
class SetResponse:
    """SUCCESS means every write took effect; otherwise none may be assumed to have."""

    invoke_id: int
    result: ResultCode

    def __post_init__(self) -> None:
        _check_invoke_id(self.invoke_id)


@dataclass(frozen=True, slots=True)
class ActionRequest:
    """Invoke one method of one device's object with parameters (possibly none)."""

    invoke_id: int
    device: Eui64
    request_id: str
    method: MethodRef
    parameters: tuple[Value, ...] = ()

    def __post_init__(self) -> None:
        _check_invoke_id(self.invoke_id)
        _check_request_id(self.request_id)
        check_range(len(self.parameters), 0, 255, "parameter count")


@dataclass(frozen=True, slots=True)
class ActionResponse:
    """The method's result and, on SUCCESS, its return values (possibly none); refused, at most
    one visible-string saying why (``reason``)."""

    invoke_id: int
    result: ResultCode
    values: tuple[Value, ...] = ()

    def __post_init__(self) -> None:
        _check_invoke_id(self.invoke_id)
        _check_action_answer(self.result, self.values)

    @property
    def reason(self) -> str:
        """Why a refused ACTION was refused, if the head-end said."""
        if self.result is ResultCode.SUCCESS or not self.values:
            return ""
        reason = self.values[0]
        return reason.value if isinstance(reason, VisibleString) else ""


@dataclass(frozen=True, slots=True)
class Alert:
    """An alert a device raised, pushed by the head-end unasked (invoke id 0)."""

    device: Eui64
    code: int  # the device's 16-bit alert code
    raised_at: datetime
    values: tuple[Value, ...] = ()
    # The head-end's number for a confirmed alert (one it offers again until the client
    # sends ``AlertAck`` with it); None for an unconfirmed PUSH.
    sequence: int | None = None

    def __post_init__(self) -> None:
        check_range(self.code, 0, 0xFFFF, "alert code")
        check_datetime(self.raised_at)
        check_range(len(self.values), 0, 255, "value count")
        if self.sequence is not None:
            check_range(self.sequence, 1, U64_MAX, "alert sequence")

    @property
    def invoke_id(self) -> int:
        """Always 0: a PUSH answers no request."""
        return PUSH_INVOKE_ID


@dataclass(frozen=True, slots=True)
class AlertAck:
    """Client to head-end: the confirmed alert ``sequence`` is taken (held durably); the
    head-end stops offering it."""

    sequence: int

    def __post_init__(self) -> None:
        check_range(self.sequence, 1, U64_MAX, "alert sequence")

    @property
    def invoke_id(self) -> int:
        return PUSH_INVOKE_ID


Request = GetRequest | SetRequest | ActionRequest
Response = GetResponse | SetResponse | ActionResponse
Event = Request | Response | Alert | AlertAck
