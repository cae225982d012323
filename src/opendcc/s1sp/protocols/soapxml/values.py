"""Typed values of the SOAP/XML head-end protocol, as XML elements (see ``codec``).

A value travels as an element with a ``type`` attribute (and, where it is named, a ``name``
attribute); its text is the value in the lexical form of the XSD (XML Schema Definition) type
of the same name::

    string     the text as is (any characters XML 1.0 allows; empty when the element is empty)
    int        a whole number from -2^63 to 2^63-1: optional sign, decimal digits
    decimal    an exact decimal: optional sign, digits, optional fraction; no exponent
    boolean    true | false (1 | 0 accepted)
    dateTime   YYYY-MM-DDThh:mm:ss[.f{1,6}] and a zone, Z or +hh:mm/-hh:mm; written in UTC with
               Z, the fraction dropped when zero and trailing zeros dropped
    hexBinary  pairs of hex digits; written in upper case
    list       no text; child ``Value`` elements (each with ``type``, without ``name``), in
               order, nested at most MAX_DEPTH lists deep

Leading and trailing whitespace around non-string values is ignored (XSD whitespace collapse).

In events, values are Python values, one type per wire type: ``str``, ``int``, ``Decimal``,
``bool``, ``datetime`` (timezone-aware, held in UTC), ``bytes`` and ``tuple`` of values.
``freeze`` brings an accepted Python value to that form (a ``list`` becomes a ``tuple``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import TypeAlias

from lxml import etree

from opendcc.s1sp.contract import S1spError

NS = "urn:opendcc:headend:1"
MAX_DEPTH = 8
_INT_MIN, _INT_MAX = -(1 << 63), (1 << 63) - 1

Value: TypeAlias = str | bool | int | Decimal | datetime | bytes | tuple["Value", ...]

# Characters XML 1.0 cannot carry at all, escaped or not.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_INT = re.compile(r"[+-]?[0-9]+")
_DECIMAL = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)")
_HEX = re.compile(r"([0-9A-Fa-f]{2})*")
_DATETIME = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,6}))?"
    r"(Z|[+-][0-9]{2}:[0-9]{2})"
)
_BOOLEANS = {"true": True, "false": False, "1": True, "0": False}
# bool before int: a bool is an int to isinstance.
_TYPE_NAMES: tuple[tuple[type, str], ...] = (
    (bool, "boolean"),
    (int, "int"),
    (Decimal, "decimal"),
    (str, "string"),
    (datetime, "dateTime"),
    (bytes, "hexBinary"),
    (tuple, "list"),
)


class ProtocolError(S1spError):
    """Bytes that are not a valid message of the SOAP/XML head-end protocol."""


def q(local: str) -> str:
    """The Clark name ``{NS}local`` of an element in the head-end namespace."""
    return f"{{{NS}}}{local}"


def check_text(text: str, kind: str) -> None:
    """Refuse characters XML 1.0 cannot carry (most control characters, lone surrogates)."""
    if _NOT_XML.search(text):
        raise ValueError(f"{kind} holds a character XML cannot carry: {text!r}")


# --------------------------------------------------------------------------- date-times


def format_datetime(instant: datetime) -> str:
    """``instant`` (timezone-aware) as an xs:dateTime in UTC, e.g. ``2024-06-01T12:00:00Z``."""
    utc = to_utc(instant)
    text = f"{utc.year:04d}-{utc:%m-%dT%H:%M:%S}"
    if utc.microsecond:
        text += f".{utc.microsecond:06d}".rstrip("0")
    return text + "Z"


def parse_datetime(text: str) -> datetime:
    """The instant in an xs:dateTime that has a zone, in UTC; ``ValueError`` otherwise."""
    match = _DATETIME.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"not an xs:dateTime with a zone: {text!r}")
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    offset = timedelta(0)
    if zone != "Z":
        sign = -1 if zone[0] == "-" else 1
        offset = sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
    instant = datetime(
        int(year),
        int(month),
        int(day),
        int(hour),
        int(minute),
        int(second),
        int((fraction or "0").ljust(6, "0")),
        timezone(offset),
    )
    return instant.astimezone(UTC)


def to_utc(instant: datetime) -> datetime:
    if instant.utcoffset() is None:
        raise ValueError("a dateTime needs a timezone-aware datetime")
    return instant.astimezone(UTC)


# --------------------------------------------------------------------------- values


def freeze(value: object, depth: int = 0) -> Value:
    """``value`` in the form events hold; ``ValueError`` if no wire type fits it."""
    match value:
        case list() | tuple():
            if depth >= MAX_DEPTH:
                raise ValueError(f"lists nest at most {MAX_DEPTH} deep")
            return tuple(freeze(item, depth + 1) for item in value)
        case datetime():
            return to_utc(value)
        case bytes() | bytearray():
            return bytes(value)
        case bool() | int() | Decimal() | str():
            _check_scalar(value)
            return value
    raise ValueError(f"no wire type for {type(value).__name__} (use Decimal, not float)")


def _check_scalar(value: bool | int | Decimal | str) -> None:
    match value:
        case bool():
            pass
        case int():
            if not _INT_MIN <= value <= _INT_MAX:
                raise ValueError(f"an int is 64-bit signed: {value}")
        case Decimal():
            if not value.is_finite():
                raise ValueError(f"a decimal is finite: {value}")
        case str():
            check_text(value, "a string")


def freeze_named(values: Mapping[str, object]) -> Mapping[str, Value]:
    """A read-only copy of named values, each frozen."""
    frozen: dict[str, Value] = {}
    for name, value in values.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"a value's name is a non-empty string: {name!r}")
        check_text(name, "a value's name")
        frozen[name] = freeze(value)
    return MappingProxyType(frozen)


def type_name(value: Value) -> str:
    """The wire type of ``value``."""
    return next(name for kind, name in _TYPE_NAMES if isinstance(value, kind))


def encode_value(parent: etree._Element, tag: str, value: Value, name: str | None = None) -> None:
    """Append ``<tag [name=..] type=..>value</tag>`` to ``parent``."""
    element = etree.SubElement(parent, q(tag))
    if name is not None:
        element.set("name", name)
    element.set("type", type_name(value))
    match value:
        case bool():
            element.text = "true" if value else "false"
        case int():
            element.text = str(value)
        case Decimal():
            element.text = format(value, "f")
        case str():
            element.text = value or None
        case datetime():
            element.text = format_datetime(value)
        case bytes():
            element.text = value.hex().upper() or None
        case tuple():
            for item in value:
                encode_value(element, "Value", item)


def decode_value(element: etree._Element, depth: int = 0) -> Value:
    """The value an element with a ``type`` attribute holds (its ``name`` is the caller's)."""
    kind = element.get("type")
    if kind == "list":
        if depth >= MAX_DEPTH:
            raise ProtocolError(f"lists nest at most {MAX_DEPTH} deep")
        if element.text is not None and element.text.strip():
            raise ProtocolError("a list value holds Value elements, not text")
        items = []
        for child in element:
            if child.tag != q("Value") or set(child.attrib) != {"type"}:
                raise ProtocolError("a list holds only Value elements with a type and no name")
            if child.tail is not None and child.tail.strip():
                raise ProtocolError("a list value holds Value elements, not text")
            items.append(decode_value(child, depth + 1))
        return tuple(items)
    if len(element):
        raise ProtocolError(f"a {kind} value has no child elements")
    text = element.text or ""
    try:
        return _decode_scalar(kind, text)
    except (ValueError, InvalidOperation) as exc:
        raise ProtocolError(f"bad {kind} value {text!r}: {exc}") from exc


def _decode_scalar(kind: str | None, text: str) -> Value:
    if kind == "string":
        return text
    text = text.strip()
    if kind == "int" and _INT.fullmatch(text):
        return freeze(int(text))
    if kind == "decimal" and _DECIMAL.fullmatch(text):
        return Decimal(text)
    if kind == "boolean" and text in _BOOLEANS:
        return _BOOLEANS[text]
    if kind == "dateTime":
        return parse_datetime(text)
    if kind == "hexBinary" and _HEX.fullmatch(text):
        return bytes.fromhex(text)
    if kind in ("int", "decimal", "boolean", "hexBinary"):
        raise ValueError(f"not in the lexical space of {kind}")
    raise ProtocolError(f"unknown value type {kind!r}")
