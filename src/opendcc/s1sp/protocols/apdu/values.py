"""APDU addresses and typed values, and their byte forms (see ``codec`` for the whole frame).

An OBIS (Object Identification System) code names a COSEM (Companion Specification for Energy
Metering) object; an ``AttributeRef`` names one attribute of it and a ``MethodRef`` one of its
methods. Values are small frozen wrappers, one per wire type, so that a ``U32`` and a ``U64``
of the same number stay distinct on the wire and in the events.

Value layout (all integers big-endian)::

    value = type:u8  length:u16  content:<length bytes>
        0x01 array (any length) = values back to back, each a whole value (type, length,
             content); the element count follows from ``length``. Elements may differ in type
             and may be arrays themselves, at most MAX_DEPTH arrays deep.
        0x06 u32 (4)   0x15 u64 (8)   0x14 i64 (8)   0x09 octet-string   0x0A visible-string
        0x19 date-time (12) = year:u16 month:u8 day:u8 weekday:u8 (1 = Monday)
                              hour:u8 minute:u8 second:u8 hundredths:u8
                              offset:i16 (minutes east of UTC) status:u8 (0)

A date-time carries hundredths of a second; finer precision is dropped when encoding.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Self

from opendcc.s1sp.contract import S1spError

MAX_DEPTH = 8  # arrays nest at most this deep; bounds recursion on hostile input

U32_MAX = (1 << 32) - 1
_U64_MAX = (1 << 64) - 1
U64_MAX = _U64_MAX
_I64_MIN, _I64_MAX = -(1 << 63), (1 << 63) - 1
STRING_MAX = (1 << 16) - 1


class ProtocolError(S1spError):
    """Bytes that are not a valid APDU frame, or an event the other side may not send."""


def check_range(value: int, low: int, high: int, kind: str) -> None:
    if not low <= value <= high:
        raise ValueError(f"{kind} out of range: {value}")


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


@dataclass(frozen=True, slots=True)
class MethodRef:
    """One method of one COSEM object; methods are numbered from 1."""

    obis: Obis
    method: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.method <= 255:
            raise ValueError(f"method index is 1..255: {self.method}")


# --------------------------------------------------------------------------- values


@dataclass(frozen=True, slots=True)
class U32:
    value: int

    def __post_init__(self) -> None:
        check_range(self.value, 0, U32_MAX, "u32")


@dataclass(frozen=True, slots=True)
class U64:
    value: int

    def __post_init__(self) -> None:
        check_range(self.value, 0, _U64_MAX, "u64")


@dataclass(frozen=True, slots=True)
class I64:
    value: int

    def __post_init__(self) -> None:
        check_range(self.value, _I64_MIN, _I64_MAX, "i64")


@dataclass(frozen=True, slots=True)
class OctetString:
    value: bytes

    def __post_init__(self) -> None:
        check_range(len(self.value), 0, STRING_MAX, "octet-string length")


@dataclass(frozen=True, slots=True)
class VisibleString:
    value: str

    def __post_init__(self) -> None:
        if not self.value.isascii():
            raise ValueError("a visible-string is ASCII")
        check_range(len(self.value), 0, STRING_MAX, "visible-string length")


@dataclass(frozen=True, slots=True)
class DateTime:
    """A timezone-aware instant; the offset must be whole minutes."""

    value: datetime

    def __post_init__(self) -> None:
        check_datetime(self.value)


@dataclass(frozen=True, slots=True)
class Array:
    """A sequence of values, e.g. the rows of a load profile (each row an ``Array`` itself)."""

    values: tuple[Value, ...] = ()

    def __post_init__(self) -> None:
        if _depth(self) > MAX_DEPTH:
            raise ValueError(f"arrays nest at most {MAX_DEPTH} deep")


Value = U32 | U64 | I64 | OctetString | VisibleString | DateTime | Array


def check_datetime(instant: datetime) -> None:
    offset = instant.utcoffset()
    if offset is None:
        raise ValueError("a date-time needs a timezone-aware datetime")
    if offset % timedelta(minutes=1):
        raise ValueError("a date-time offset is whole minutes")


def _depth(array: Array) -> int:
    return 1 + max((_depth(v) for v in array.values if isinstance(v, Array)), default=0)


_INT_TYPES: dict[type[U32 | U64 | I64], tuple[int, str]] = {
    U32: (0x06, ">I"),
    U64: (0x15, ">Q"),
    I64: (0x14, ">q"),
}
_ARRAY, _OCTET_STRING, _VISIBLE_STRING, _DATE_TIME = 0x01, 0x09, 0x0A, 0x19
_DATE_TIME_FORMAT = ">HBBBBBBBhB"


# --------------------------------------------------------------------------- encoding


def encode_value(value: Value) -> bytes:
    """The type, length and content of ``value``."""
    match value:
        case U32() | U64() | I64():
            tag, fmt = _INT_TYPES[type(value)]
            content = struct.pack(fmt, value.value)
        case OctetString():
            tag, content = _OCTET_STRING, value.value
        case VisibleString():
            tag, content = _VISIBLE_STRING, value.value.encode("ascii")
        case DateTime():
            tag, content = _DATE_TIME, encode_datetime(value.value)
        case Array():
            tag, content = _ARRAY, b"".join(encode_value(v) for v in value.values)
            if len(content) > STRING_MAX:
                raise ValueError(f"an array's content of {len(content)} bytes exceeds 65535")
    return struct.pack(">BH", tag, len(content)) + content


def encode_datetime(instant: datetime) -> bytes:
    """The 12-byte date-time content (no type or length)."""
    offset = instant.utcoffset() or timedelta(0)
    return struct.pack(
        _DATE_TIME_FORMAT,
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


class Reader:
    """Takes fields off the front of a frame body; running short is a ``ProtocolError``."""

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

    @property
    def at_end(self) -> bool:
        return self._pos == len(self._data)

    def finish(self) -> None:
        if not self.at_end:
            raise ProtocolError(f"{len(self._data) - self._pos} stray bytes after the fields")


def decode_value(reader: Reader, depth: int = 0) -> Value:
    """The next whole value from ``reader``."""
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
        return DateTime(decode_datetime(content))
    if tag == _ARRAY:
        if depth >= MAX_DEPTH:
            raise ProtocolError(f"arrays nest more than {MAX_DEPTH} deep")
        inner = Reader(content)
        elements = []
        while not inner.at_end:
            elements.append(decode_value(inner, depth + 1))
        return Array(tuple(elements))
    raise ProtocolError(f"unknown value type 0x{tag:02X}")


def decode_datetime(content: bytes) -> datetime:
    """The instant in a 12-byte date-time content."""
    if len(content) != 12:
        raise ProtocolError(f"a date-time is 12 bytes, got {len(content)}")
    year, month, day, weekday, hour, minute, second, hundredths, offset, status = struct.unpack(
        _DATE_TIME_FORMAT, content
    )
    if hundredths > 99 or status != 0:
        raise ProtocolError("date-time hundredths or status out of range")
    zone = timezone(timedelta(minutes=offset))
    instant = datetime(year, month, day, hour, minute, second, hundredths * 10_000, zone)
    if instant.isoweekday() != weekday:
        raise ProtocolError(f"date-time weekday {weekday} does not match {instant.date()}")
    return instant
