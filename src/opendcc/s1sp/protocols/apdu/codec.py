"""A sans-IO codec for APDU, our DLMS/COSEM-style head-end protocol (bytes in, events out).

DLMS/COSEM (Device Language Message Specification / Companion Specification for Energy
Metering, IEC 62056) addresses every meter quantity as an attribute of an object named by a
six-byte OBIS (Object Identification System) code, e.g. ``1.0.1.8.0.255`` for active energy
imported, total. Several SMETS1 head-ends speak something in that family. APDU is opendcc's
own, much simplified frame format in that style (it is not DLMS and copies no DLMS code): a
head-end client sends GET requests for OBIS attributes of one meter, multiplexed over one TCP
connection by invoke id, and the head-end answers each with a result code and typed values.

Frame layout (all integers big-endian)::

    frame       = length:u32  body:<length bytes>  crc:u32      crc = CRC-32 (zlib) of body
    body        = version:u8 (=1)  tag:u8  fields
    GET-REQUEST   tag 0xC0: invoke-id:u32  device:8 (EUI-64)  request-id-len:u16
                            request-id:ASCII  count:u8 (>=1)  count x (obis:6  attribute:u8)
    GET-RESPONSE  tag 0xC4: invoke-id:u32  result:u8  count:u8  count x value
    value       = type:u8  length:u16  content
        0x06 u32 (4)   0x15 u64 (8)   0x14 i64 (8)   0x09 octet-string   0x0A visible-string
        0x19 date-time (12) = year:u16 month:u8 day:u8 weekday:u8 (1 = Monday)
                              hour:u8 minute:u8 second:u8 hundredths:u8
                              offset:i16 (minutes east of UTC) status:u8 (0)

The device EUI-64 ``00-00-00-00-00-00-00-00`` addresses the head-end itself (its clock answers
health checks). Values travel only with result SUCCESS. A date-time carries hundredths of a
second; finer precision is dropped when encoding. ``length`` is at most ``MAX_BODY``.

Like h11, a ``Connection`` holds no socket: ``receive_data`` takes bytes and returns the
complete events they finish, ``send`` turns an event into bytes. Malformed input raises
``ProtocolError`` and leaves the connection unusable.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from enum import Enum, IntEnum
from typing import Self

from opendcc.core.eui import Eui64
from opendcc.s1sp.contract import S1spError

VERSION = 1
MAX_BODY = 64 * 1024
HEAD_END = Eui64(0)  # the device id that addresses the head-end itself

_GET_REQUEST = 0xC0
_GET_RESPONSE = 0xC4
_U32_MAX = (1 << 32) - 1
_U64_MAX = (1 << 64) - 1
_I64_MIN, _I64_MAX = -(1 << 63), (1 << 63) - 1
_STRING_MAX = (1 << 16) - 1


class ProtocolError(S1spError):
    """Bytes that are not a valid APDU frame, or an event the other side may not send."""


# --------------------------------------------------------------------------- addresses


@dataclass(frozen=True, slots=True, order=True)
class Obis:
    """An OBIS code ``A.B.C.D.E.F``, six octets."""

    a: int
    b: int
    c: int
    d: int
    e: int
    f: int

    def __post_init__(self) -> None:
        if not all(0 <= part <= 255 for part in self.parts):
            raise ValueError(f"OBIS parts are octets: {self.parts}")

    @property
    def parts(self) -> tuple[int, int, int, int, int, int]:
        return (self.a, self.b, self.c, self.d, self.e, self.f)

    @classmethod
    def parse(cls, text: str) -> Self:
        pieces = text.split(".")
        if len(pieces) != 6 or not all(p.isascii() and p.isdigit() for p in pieces):
            raise ValueError(f"not an OBIS code A.B.C.D.E.F: {text!r}")
        a, b, c, d, e, f = (int(p) for p in pieces)
        return cls(a, b, c, d, e, f)

    def __str__(self) -> str:
        return ".".join(str(part) for part in self.parts)


@dataclass(frozen=True, slots=True)
class AttributeRef:
    """One attribute of one COSEM object; attribute 2 is an object's value."""

    obis: Obis
    attribute: int = 2

    def __post_init__(self) -> None:
        if not 0 <= self.attribute <= 255:
            raise ValueError(f"attribute index is an octet: {self.attribute}")


# --------------------------------------------------------------------------- values


def _check_range(value: int, low: int, high: int, kind: str) -> None:
    if not low <= value <= high:
        raise ValueError(f"{kind} out of range: {value}")


@dataclass(frozen=True, slots=True)
class U32:
    value: int

    def __post_init__(self) -> None:
        _check_range(self.value, 0, _U32_MAX, "u32")


@dataclass(frozen=True, slots=True)
class U64:
    value: int

    def __post_init__(self) -> None:
        _check_range(self.value, 0, _U64_MAX, "u64")


@dataclass(frozen=True, slots=True)
class I64:
    value: int

    def __post_init__(self) -> None:
        _check_range(self.value, _I64_MIN, _I64_MAX, "i64")


@dataclass(frozen=True, slots=True)
class OctetString:
    value: bytes

    def __post_init__(self) -> None:
        _check_range(len(self.value), 0, _STRING_MAX, "octet-string length")


@dataclass(frozen=True, slots=True)
class VisibleString:
    value: str

    def __post_init__(self) -> None:
        if not self.value.isascii():
            raise ValueError("a visible-string is ASCII")
        _check_range(len(self.value), 0, _STRING_MAX, "visible-string length")


@dataclass(frozen=True, slots=True)
class DateTime:
    """A timezone-aware instant; the offset must be whole minutes."""

    value: datetime

    def __post_init__(self) -> None:
        offset = self.value.utcoffset()
        if offset is None:
            raise ValueError("a date-time needs a timezone-aware datetime")
        if offset % timedelta(minutes=1):
            raise ValueError("a date-time offset is whole minutes")


Value = U32 | U64 | I64 | OctetString | VisibleString | DateTime

_INT_TYPES: dict[type[U32 | U64 | I64], tuple[int, str]] = {
    U32: (0x06, ">I"),
    U64: (0x15, ">Q"),
    I64: (0x14, ">q"),
}
_OCTET_STRING, _VISIBLE_STRING, _DATE_TIME = 0x09, 0x0A, 0x19


# --------------------------------------------------------------------------- events


class ResultCode(IntEnum):
    """The head-end's verdict on a whole GET."""

    SUCCESS = 0
    DEVICE_UNREACHABLE = 1  # the WAN could not reach the meter
    NO_RESPONSE = 2  # the meter was reached but did not answer in time
    OBJECT_UNDEFINED = 3  # the meter has no such OBIS object or attribute
    READ_DENIED = 4
    UNKNOWN_DEVICE = 5  # the head-end does not serve this EUI-64
    OTHER = 250


@dataclass(frozen=True, slots=True)
class GetRequest:
    invoke_id: int
    device: Eui64
    request_id: str
    attributes: tuple[AttributeRef, ...]

    def __post_init__(self) -> None:
        _check_range(self.invoke_id, 0, _U32_MAX, "invoke id")
        if not self.request_id.isascii() or len(self.request_id) > _STRING_MAX:
            raise ValueError("a request id is ASCII, at most 65535 characters")
        _check_range(len(self.attributes), 1, 255, "attribute count")


@dataclass(frozen=True, slots=True)
class GetResponse:
    invoke_id: int
    result: ResultCode
    values: tuple[Value, ...] = ()

    def __post_init__(self) -> None:
        _check_range(self.invoke_id, 0, _U32_MAX, "invoke id")
        if self.values and self.result is not ResultCode.SUCCESS:
            raise ValueError("values travel only with result SUCCESS")
        _check_range(len(self.values), 0, 255, "value count")


Event = GetRequest | GetResponse


# --------------------------------------------------------------------------- encoding


def encode(event: Event) -> bytes:
    """One complete frame for ``event``."""
    if isinstance(event, GetRequest):
        rid = event.request_id.encode("ascii")
        parts = [
            struct.pack(">BBI", VERSION, _GET_REQUEST, event.invoke_id),
            event.device.to_bytes(),
            struct.pack(">H", len(rid)),
            rid,
            struct.pack(">B", len(event.attributes)),
        ]
        parts += [bytes(ref.obis.parts) + bytes([ref.attribute]) for ref in event.attributes]
    else:
        parts = [
            struct.pack(
                ">BBIBB", VERSION, _GET_RESPONSE, event.invoke_id, event.result, len(event.values)
            )
        ]
        parts += [_encode_value(value) for value in event.values]
    body = b"".join(parts)
    if len(body) > MAX_BODY:
        raise ValueError(f"frame body of {len(body)} bytes exceeds {MAX_BODY}")
    return struct.pack(">I", len(body)) + body + struct.pack(">I", zlib.crc32(body))


def _encode_value(value: Value) -> bytes:
    match value:
        case U32() | U64() | I64():
            tag, fmt = _INT_TYPES[type(value)]
            content = struct.pack(fmt, value.value)
        case OctetString():
            tag, content = _OCTET_STRING, value.value
        case VisibleString():
            tag, content = _VISIBLE_STRING, value.value.encode("ascii")
        case DateTime():
            tag, content = _DATE_TIME, _encode_datetime(value.value)
    return struct.pack(">BH", tag, len(content)) + content


def _encode_datetime(instant: datetime) -> bytes:
    offset = instant.utcoffset() or timedelta(0)
    return struct.pack(
        ">HBBBBBBBhB",
        instant.year,
        instant.month,
        instant.day,
        instant.isoweekday(),
        instant.hour,
        instant.minute,
        instant.second,
        instant.microsecond // 10_000,
        offset // timedelta(minutes=1),
        0,
    )


# --------------------------------------------------------------------------- decoding


class _Reader:
    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def take(self, count: int) -> bytes:
        if self._pos + count > len(self._data):
            raise ProtocolError("frame body ends early")
        chunk = self._data[self._pos : self._pos + count]
        self._pos += count
        return chunk

    def unpack(self, fmt: str) -> tuple[int, ...]:
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))

    def finish(self) -> None:
        if self._pos != len(self._data):
            raise ProtocolError(f"{len(self._data) - self._pos} stray bytes after the fields")


def decode_body(body: bytes) -> Event:
    """The event in one frame body (without length and CRC)."""
    reader = _Reader(body)
    version, tag, invoke_id = reader.unpack(">BBI")
    if version != VERSION:
        raise ProtocolError(f"unsupported APDU version {version}")
    try:
        if tag == _GET_REQUEST:
            device = Eui64.from_bytes(reader.take(8))
            (rid_length,) = reader.unpack(">H")
            request_id = reader.take(rid_length).decode("ascii")
            (count,) = reader.unpack(">B")
            refs = []
            for _ in range(count):
                raw = reader.take(7)
                refs.append(AttributeRef(Obis(*raw[:6]), raw[6]))
            event: Event = GetRequest(invoke_id, device, request_id, tuple(refs))
        elif tag == _GET_RESPONSE:
            result_byte, count = reader.unpack(">BB")
            values = tuple(_decode_value(reader) for _ in range(count))
            event = GetResponse(invoke_id, ResultCode(result_byte), values)
        else:
            raise ProtocolError(f"unknown APDU tag 0x{tag:02X}")
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"malformed APDU: {exc}") from exc
    reader.finish()
    return event


def _decode_value(reader: _Reader) -> Value:
    tag, length = reader.unpack(">BH")
    content = reader.take(length)
    for kind, (int_tag, fmt) in _INT_TYPES.items():
        if tag == int_tag:
            if length != struct.calcsize(fmt):
                raise ProtocolError(f"value type 0x{tag:02X} has length {length}")
            return kind(struct.unpack(fmt, content)[0])
    if tag == _OCTET_STRING:
        return OctetString(content)
    if tag == _VISIBLE_STRING:
        return VisibleString(content.decode("ascii"))
    if tag == _DATE_TIME:
        return DateTime(_decode_datetime(content))
    raise ProtocolError(f"unknown value type 0x{tag:02X}")


def _decode_datetime(content: bytes) -> datetime:
    if len(content) != 12:
        raise ProtocolError(f"a date-time is 12 bytes, got {len(content)}")
    year, month, day, weekday, hour, minute, second, hundredths, offset, status = struct.unpack(
        ">HBBBBBBBhB", content
    )
    if hundredths > 99 or status != 0:
        raise ProtocolError("date-time hundredths or status out of range")
    zone = timezone(timedelta(minutes=offset))
    instant = datetime(year, month, day, hour, minute, second, hundredths * 10_000, zone)
    if instant.isoweekday() != weekday:
        raise ProtocolError(f"date-time weekday {weekday} does not match {instant.date()}")
    return instant


# --------------------------------------------------------------------------- connection


class Role(Enum):
    CLIENT = "client"  # the S1SP adapter: sends GET-REQUEST
    SERVER = "server"  # the head-end: sends GET-RESPONSE


class Connection:
    """One side of an APDU byte stream; it never touches a socket."""

    def __init__(self, role: Role) -> None:
        self.role = role
        self._buffer = bytearray()
        self._broken = False
        self._sends: type[Event] = GetRequest if role is Role.CLIENT else GetResponse
        self._receives: type[Event] = GetResponse if role is Role.CLIENT else GetRequest

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
