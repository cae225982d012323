"""Named records over APDU: an instruction's parameters and a service's result as values.

The binary protocol has no names, only typed values. A cohort that carries the core SMETS1
services as ACTIONs on OBIS-addressed service objects sends the instruction's parameters, and
receives the result, as one value per entry: an array of two, the name as a visible string and
the value. Values map one to one: an integer is a u64 (an i64 when negative), text a visible
string (an octet string of UTF-8 when it is not ASCII), a date-time a date-time (to the
hundredth of a second), a tuple an array.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from opendcc.s1sp.protocols.apdu.values import (
    I64,
    U32,
    U64,
    Array,
    DateTime,
    OctetString,
    ProtocolError,
    Value,
    VisibleString,
)


def to_value(datum: Any) -> Value:
    """One datum (int, str, datetime or a tuple of them) as an APDU value."""
    match datum:
        case bool():
            raise TypeError("booleans travel as 0 or 1")
        case int():
            return I64(datum) if datum < 0 else U64(datum)
        case str():
            return VisibleString(datum) if datum.isascii() else OctetString(datum.encode())
        case datetime():
            return DateTime(datum)
        case tuple() | list():
            return Array(tuple(to_value(item) for item in datum))
    raise TypeError(f"no APDU form for {type(datum).__name__}")


def from_value(value: Value) -> Any:
    """The datum an APDU value carries."""
    match value:
        case U32() | U64() | I64():
            return value.value
        case VisibleString():
            return value.value
        case OctetString():
            try:
                return value.value.decode()
            except UnicodeDecodeError as exc:
                raise ProtocolError(f"text that is not UTF-8: {exc}") from exc
        case DateTime():
            return value.value
        case Array():
            return tuple(from_value(item) for item in value.values)
    raise ProtocolError(f"no datum for {value!r}")


def to_record(entries: Mapping[str, Any]) -> tuple[Value, ...]:
    """``entries`` as (name, value) pairs, in name order."""
    return tuple(Array((VisibleString(name), to_value(entries[name]))) for name in sorted(entries))


def from_record(values: tuple[Value, ...]) -> dict[str, Any]:
    """The entries (name, value) pairs carry; anything else is a ``ProtocolError``."""
    entries: dict[str, Any] = {}
    for value in values:
        match value:
            case Array((VisibleString(name), item)) if name not in entries:
                entries[name] = from_value(item)
            case _:
                raise ProtocolError(f"not a (name, value) pair, or a repeated name: {value!r}")
    return entries
