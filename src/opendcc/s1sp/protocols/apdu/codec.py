"""A sans-IO codec for APDU, our DLMS/COSEM-style head-end protocol (bytes in, events out).

DLMS/COSEM (Device Language Message Specification / Companion Specification for Energy
Metering, IEC 62056) addresses every meter quantity as an attribute of an object named by a
six-byte OBIS (Object Identification System) code, e.g. ``1.0.1.8.0.255`` for active energy
imported, total. Several SMETS1 head-ends speak something in that family. APDU (Application
Protocol Data Unit) is opendcc's own, much simplified frame format in that style (it is not
DLMS and copies no DLMS code): a head-end client reads (GET), writes (SET) and invokes methods
(ACTION) on OBIS objects of one meter, multiplexed over one TCP connection by invoke id, and
the head-end answers each with a result code and typed values. The head-end also pushes the
alerts devices raise (PUSH), unasked. Devices are named by EUI-64 (64-bit Extended Unique
Identifier); frames are checked by CRC-32 (the 32-bit cyclic redundancy check of zlib).

Frame layout (all integers big-endian)::

    frame       = length:u32  body:<length bytes>  crc:u32      crc = CRC-32 (zlib) of body
    body        = version:u8 (=1)  tag:u8  invoke-id:u32  fields
    GET-REQUEST     tag 0xC0: device:8 (EUI-64)  request-id-len:u16  request-id:ASCII
                              count:u8 (>=1)  count x (obis:6  attribute:u8)
    SET-REQUEST     tag 0xC1: device:8  request-id-len:u16  request-id:ASCII
                              count:u8 (>=1)  count x (obis:6  attribute:u8  value)
    ALERT (PUSH)    tag 0xC2: (invoke-id = 0)  device:8  code:u16
                              raised-at:date-time content (12, no type or length)
                              count:u8  count x value
    CONFIRMED ALERT tag 0xC8: (invoke-id = 0)  device:8  sequence:u64 (>=1)  then as ALERT
    ALERT-ACK       tag 0xC9: (invoke-id = 0)  sequence:u64   (client to head-end)
    ACTION-REQUEST  tag 0xC3: device:8  request-id-len:u16  request-id:ASCII
                              obis:6  method:u8 (>=1)  count:u8  count x value (parameters)
    GET-RESPONSE    tag 0xC4: result:u8  count:u8  count x value (one per attribute read)
    SET-RESPONSE    tag 0xC5: result:u8
    ACTION-RESPONSE tag 0xC7: result:u8  count:u8  count x value (return values; refused:
                              none, or one visible-string saying why)
    value       = type:u8  length:u16  content
        0x01 array = values back to back (count implied by length; may nest, at most 8 deep)
        0x06 u32 (4)   0x15 u64 (8)   0x14 i64 (8)   0x09 octet-string   0x0A visible-string
        0x19 date-time (12) = year:u16 month:u8 day:u8 weekday:u8 (1 = Monday)
                              hour:u8 minute:u8 second:u8 hundredths:u8
                              offset:i16 (minutes east of UTC) status:u8 (0)
    result      = 0 SUCCESS  1 DEVICE_UNREACHABLE  2 NO_RESPONSE  3 OBJECT_UNDEFINED
                  4 READ_DENIED  5 UNKNOWN_DEVICE  6 KEYS_MISSING  7 HAN_ERROR
                  8 TYPE_UNMATCHED  9 TEMPORARY_FAILURE  250 OTHER

The client (the S1SP, SMETS1 Service Provider, adapter) sends the three requests; the head-end
sends the three responses and ALERT. A head-end offers a CONFIRMED ALERT again (on the next
connection, or after a while) until the client answers ALERT-ACK with its sequence number,
which the client does once it holds the alert durably; the sequence is the head-end's id of
the alert, so a client takes an alert offered twice once. A response carries the invoke id of
its request; responses
may come in any order. The device EUI-64 ``00-00-00-00-00-00-00-00`` addresses the head-end
itself (its clock answers health checks). Values travel only with result SUCCESS (but a refused
ACTION's reason); a SET is all
or nothing as far as the client may assume. A date-time carries hundredths of a second; finer
precision is dropped when encoding. ``length`` is at most ``MAX_BODY``. ``ResultCode`` has the
meaning of each result.

Like h11, a ``Connection`` holds no socket: ``receive_data`` takes bytes and returns the
complete events they finish, ``send`` turns an event into bytes. Malformed input raises
``ProtocolError`` and leaves the connection unusable.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Mapping
from enum import Enum

from opendcc.core.eui import Eui64
from opendcc.s1sp.protocols.apdu.messages import (
    HEAD_END,
    PUSH_INVOKE_ID,
    ActionRequest,
    ActionResponse,
    Alert,
    AlertAck,
    Event,
    GetRequest,
    GetResponse,
    ResultCode,
    SetRequest,
    SetResponse,
    Write,
)
from opendcc.s1sp.protocols.apdu.values import (
    I64,
    U32,
    U64,
    Array,
    AttributeRef,
    DateTime,
    MethodRef,
    Obis,
    OctetString,
    ProtocolError,
    Reader,
    Value,
    VisibleString,
    decode_datetime,
    decode_value,
    encode_datetime,
    encode_value,
)

# Names that lived here before the codec was split stay importable from here.
__all__ = [
    "HEAD_END",
    "I64",
    "MAX_BODY",
    "U32",
    "U64",
    "VERSION",
    "Array",
    "AttributeRef",
    "Connection",
    "DateTime",
    "Event",
    "GetRequest",
    "GetResponse",
    "Obis",
    "OctetString",
    "ProtocolError",
    "ResultCode",
    "Role",
    "Value",
    "VisibleString",
    "decode_body",
    "encode",
]

VERSION = 1
MAX_BODY = 64 * 1024

_GET_REQUEST = 0xC0
_SET_REQUEST = 0xC1
_ALERT = 0xC2
_ACTION_REQUEST = 0xC3
_GET_RESPONSE = 0xC4
_SET_RESPONSE = 0xC5
_ACTION_RESPONSE = 0xC7
_CONFIRMED_ALERT = 0xC8
_ALERT_ACK = 0xC9


# --------------------------------------------------------------------------- encoding


def encode(event: Event) -> bytes:
    """One complete frame for ``event``."""
    body = _encode_body(event)
    if len(body) > MAX_BODY:
        raise ValueError(f"frame body of {len(body)} bytes exceeds {MAX_BODY}")
    return struct.pack(">I", len(body)) + body + struct.pack(">I", zlib.crc32(body))


def _encode_body(event: Event) -> bytes:
    match event:
        case GetRequest():
            parts = [_head(_GET_REQUEST, event.invoke_id), _addressing(event)]
            parts.append(struct.pack(">B", len(event.attributes)))
            parts += [_attribute(ref) for ref in event.attributes]
        case SetRequest():
            parts = [_head(_SET_REQUEST, event.invoke_id), _addressing(event)]
            parts.append(struct.pack(">B", len(event.writes)))
            for write in event.writes:
                parts += [_attribute(write.attribute), encode_value(write.value)]
        case ActionRequest():
            parts = [_head(_ACTION_REQUEST, event.invoke_id), _addressing(event)]
            parts.append(bytes(event.method.obis.parts) + bytes([event.method.method]))
            parts += _counted(event.parameters)
        case GetResponse():
            parts = [_head(_GET_RESPONSE, event.invoke_id), bytes([event.result])]
            parts += _counted(event.values)
        case SetResponse():
            parts = [_head(_SET_RESPONSE, event.invoke_id), bytes([event.result])]
        case ActionResponse():
            parts = [_head(_ACTION_RESPONSE, event.invoke_id), bytes([event.result])]
            parts += _counted(event.values)
        case Alert(sequence=None):
            parts = [_head(_ALERT, PUSH_INVOKE_ID), event.device.to_bytes()]
            parts += [struct.pack(">H", event.code), encode_datetime(event.raised_at)]
            parts += _counted(event.values)
        case Alert():
            parts = [_head(_CONFIRMED_ALERT, PUSH_INVOKE_ID), event.device.to_bytes()]
            parts += [struct.pack(">QH", event.sequence, event.code)]
            parts += [encode_datetime(event.raised_at), *_counted(event.values)]
        case AlertAck():
            parts = [_head(_ALERT_ACK, PUSH_INVOKE_ID), struct.pack(">Q", event.sequence)]
    return b"".join(parts)


def _head(tag: int, invoke_id: int) -> bytes:
    return struct.pack(">BBI", VERSION, tag, invoke_id)


def _addressing(event: GetRequest | SetRequest | ActionRequest) -> bytes:
    rid = event.request_id.encode("ascii")
    return event.device.to_bytes() + struct.pack(">H", len(rid)) + rid


def _attribute(ref: AttributeRef) -> bytes:
    return bytes(ref.obis.parts) + bytes([ref.attribute])


def _counted(values: tuple[Value, ...]) -> list[bytes]:
    return [struct.pack(">B", len(values)), *(encode_value(value) for value in values)]


# --------------------------------------------------------------------------- decoding


def decode_body(body: bytes) -> Event:
    """The event in one frame body (without length and CRC)."""
    reader = Reader(body)
    version, tag, invoke_id = reader.unpack(">BBI")
    if version != VERSION:
        raise ProtocolError(f"unsupported APDU version {version}")
    decoder = _DECODERS.get(tag)
    if decoder is None:
        raise ProtocolError(f"unknown APDU tag 0x{tag:02X}")
    try:
        event = decoder(reader, invoke_id)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"malformed APDU: {exc}") from exc
    reader.finish()
    return event


def _decode_addressing(reader: Reader) -> tuple[Eui64, str]:
    device = Eui64.from_bytes(reader.take(8))
    (rid_length,) = reader.unpack(">H")
    return device, reader.take(rid_length).decode("ascii")


def _decode_attribute(reader: Reader) -> AttributeRef:
    raw = reader.take(7)
    return AttributeRef(Obis(*raw[:6]), raw[6])


def _decode_counted(reader: Reader) -> tuple[Value, ...]:
    (count,) = reader.unpack(">B")
    return tuple(decode_value(reader) for _ in range(count))


def _decode_result(reader: Reader) -> ResultCode:
    (result,) = reader.unpack(">B")
    return ResultCode(result)


def _decode_get_request(reader: Reader, invoke_id: int) -> GetRequest:
    device, request_id = _decode_addressing(reader)
    (count,) = reader.unpack(">B")
    refs = tuple(_decode_attribute(reader) for _ in range(count))
    return GetRequest(invoke_id, device, request_id, refs)


def _decode_set_request(reader: Reader, invoke_id: int) -> SetRequest:
    device, request_id = _decode_addressing(reader)
    (count,) = reader.unpack(">B")
    writes = tuple(Write(_decode_attribute(reader), decode_value(reader)) for _ in range(count))
    return SetRequest(invoke_id, device, request_id, writes)


def _decode_action_request(reader: Reader, invoke_id: int) -> ActionRequest:
    device, request_id = _decode_addressing(reader)
    raw = reader.take(7)
    method = MethodRef(Obis(*raw[:6]), raw[6])
    return ActionRequest(invoke_id, device, request_id, method, _decode_counted(reader))


def _decode_get_response(reader: Reader, invoke_id: int) -> GetResponse:
    return GetResponse(invoke_id, _decode_result(reader), _decode_counted(reader))


def _decode_set_response(reader: Reader, invoke_id: int) -> SetResponse:
    return SetResponse(invoke_id, _decode_result(reader))


def _decode_action_response(reader: Reader, invoke_id: int) -> ActionResponse:
    return ActionResponse(invoke_id, _decode_result(reader), _decode_counted(reader))


def _decode_alert(reader: Reader, invoke_id: int) -> Alert:
    if invoke_id != PUSH_INVOKE_ID:
        raise ProtocolError(f"an ALERT has invoke id 0, not {invoke_id}")
    device = Eui64.from_bytes(reader.take(8))
    (code,) = reader.unpack(">H")
    raised_at = decode_datetime(reader.take(12))
    return Alert(device, code, raised_at, _decode_counted(reader))


def _decode_confirmed_alert(reader: Reader, invoke_id: int) -> Alert:
    if invoke_id != PUSH_INVOKE_ID:
        raise ProtocolError(f"an ALERT has invoke id 0, not {invoke_id}")
    device = Eui64.from_bytes(reader.take(8))
    sequence, code = reader.unpack(">QH")
    raised_at = decode_datetime(reader.take(12))
    return Alert(device, code, raised_at, _decode_counted(reader), sequence)


def _decode_alert_ack(reader: Reader, invoke_id: int) -> AlertAck:
    if invoke_id != PUSH_INVOKE_ID:
        raise ProtocolError(f"an ALERT-ACK has invoke id 0, not {invoke_id}")
    (sequence,) = reader.unpack(">Q")
    return AlertAck(sequence)


_DECODERS: Mapping[int, Callable[[Reader, int], Event]] = {
    _GET_REQUEST: _decode_get_request,
    _SET_REQUEST: _decode_set_request,
    _ACTION_REQUEST: _decode_action_request,
    _GET_RESPONSE: _decode_get_response,
    _SET_RESPONSE: _decode_set_response,
    _ACTION_RESPONSE: _decode_action_response,
    _ALERT: _decode_alert,
    _CONFIRMED_ALERT: _decode_confirmed_alert,
    _ALERT_ACK: _decode_alert_ack,
}


# --------------------------------------------------------------------------- connection


class Role(Enum):
    CLIENT = "client"  # the S1SP adapter: sends requests
    SERVER = "server"  # the head-end: sends responses and PUSHes alerts


_REQUESTS = (GetRequest, SetRequest, ActionRequest, AlertAck)
_FROM_SERVER = (GetResponse, SetResponse, ActionResponse, Alert)
# Who may send what; each side receives what the other sends.
_SENDS: Mapping[Role, tuple[type[Event], ...]] = {
    Role.CLIENT: _REQUESTS,
    Role.SERVER: _FROM_SERVER,
}


class Connection:
    """One side of an APDU byte stream; it never touches a socket."""

    def __init__(self, role: Role) -> None:
        self.role = role
        self._buffer = bytearray()
        self._broken = False
        self._sends = _SENDS[role]
        self._receives = _SENDS[Role.SERVER if role is Role.CLIENT else Role.CLIENT]

    def send(self, event: Event) -> bytes:
        """The bytes that carry ``event`` to the peer."""
        if not isinstance(event, self._sends):
            raise ProtocolError(f"a {self.role.value} may not send {type(event).__name__}")
        return encode(event)

    def receive_data(self, data: bytes) -> list[Event]:
        """Feed bytes from the peer; return every event they complete, in order."""
        if self._broken:
            raise ProtocolError("the connection is broken by an earlier protocol error")
        self._buffer += data
        events: list[Event] = []
        try:
            while (event := self._next_event()) is not None:
                events.append(event)
        except ProtocolError:
            self._broken = True
            raise
        return events

    def _next_event(self) -> Event | None:
        if len(self._buffer) < 4:
            return None
        (length,) = struct.unpack_from(">I", self._buffer)
        if length > MAX_BODY:
            raise ProtocolError(f"frame body of {length} bytes exceeds {MAX_BODY}")
        if len(self._buffer) < 4 + length + 4:
            return None
        body = bytes(self._buffer[4 : 4 + length])
        (crc,) = struct.unpack_from(">I", self._buffer, 4 + length)
        del self._buffer[: 4 + length + 4]
        if zlib.crc32(body) != crc:
            raise ProtocolError("frame CRC mismatch")
        event = decode_body(body)
        if not isinstance(event, self._receives):
            raise ProtocolError(f"a {self.role.value} may not receive {type(event).__name__}")
        return event
