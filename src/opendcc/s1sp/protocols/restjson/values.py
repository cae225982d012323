"""Typed JSON values for the REST/JSON head-end protocol, and its one canonical JSON form.

JSON (JavaScript Object Notation) carries command arguments, command results and alert values
as plain JSON: null, booleans, integers, finite numbers, strings, arrays and objects. One
type more rides on strings: a date-time travels as an RFC 3339 UTC string with ``Z``
(``2024-06-01T12:00:30.25Z``; fraction 1 to 6 digits, omitted when zero, trailing zeros
dropped), and every string of exactly that form is read back as a date-time.

In events, values are held frozen: arrays as tuples, objects as read-only mappings, date-times
as timezone-aware ``datetime`` in UTC. ``freeze`` brings any accepted Python value to that form,
so ``decode(encode(event)) == event`` holds for every event.

Bodies are encoded canonically (UTF-8, keys sorted, no insignificant whitespace) so that the
same event always gives the same bytes; decoding is strict: a duplicate key, ``NaN``, a
non-finite number, a lone surrogate or more than ``MAX_DEPTH`` levels of nesting is an error.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import TypeAlias

from opendcc.s1sp.contract import S1spError

MAX_BODY = 1024 * 1024
MAX_DEPTH = 32

Value: TypeAlias = (
    bool | int | float | str | datetime | tuple["Value", ...] | Mapping[str, "Value"] | None
)

_DATETIME = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,6}))?Z"
)


class ProtocolError(S1spError):
    """Bytes or an HTTP message that are not valid in the REST/JSON head-end protocol."""


# --------------------------------------------------------------------------- date-times


def format_datetime(instant: datetime) -> str:
    """``instant`` (timezone-aware) as an RFC 3339 UTC string, e.g. ``2024-06-01T12:00:00Z``."""
    if instant.utcoffset() is None:
        raise ValueError("a date-time needs a timezone-aware datetime")
    utc = instant.astimezone(UTC)
    text = f"{utc.year:04d}-{utc:%m-%dT%H:%M:%S}"
    if utc.microsecond:
        text += f".{utc.microsecond:06d}".rstrip("0")
    return text + "Z"


def parse_datetime(text: str) -> datetime | None:
    """The instant in an RFC 3339 UTC string of the form above, or None if it is not one."""
    match = _DATETIME.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction = match.groups()
    try:
        return datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second),
            int((fraction or "0").ljust(6, "0")),
            UTC,
        )
    except ValueError:
        return None  # e.g. month 13 or a leap second: a plain string, not a date-time


def utc(instant: datetime) -> datetime:
    """``instant`` in UTC; it must be timezone-aware."""
    if instant.utcoffset() is None:
        raise ValueError("a date-time needs a timezone-aware datetime")
    return instant.astimezone(UTC)


# --------------------------------------------------------------------------- values


def check_text(text: str, kind: str) -> None:
    """Strings must be encodable as UTF-8: no lone surrogates."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"{kind} is not valid Unicode text") from exc


def freeze(value: object, depth: int = 0) -> Value:
    """``value`` in the frozen form events hold; ``ValueError`` if it is no JSON value."""
    if depth > MAX_DEPTH:
        raise ValueError(f"values nest at most {MAX_DEPTH} deep")
    match value:
        case None | bool() | int():
            return value
        case float():
            if not math.isfinite(value):
                raise ValueError(f"a number must be finite: {value}")
            return value
        case str():
            check_text(value, "a string")
            instant = parse_datetime(value)
            return value if instant is None else instant
        case datetime():
            return utc(value)
        case list() | tuple():
            return tuple(freeze(item, depth + 1) for item in value)
        case Mapping():
            return freeze_object(value, depth)
    raise ValueError(f"not a JSON value: {type(value).__name__}")


def freeze_object(value: Mapping[str, object], depth: int = 0) -> Mapping[str, Value]:
    """A read-only copy of a JSON object with its members frozen."""
    frozen: dict[str, Value] = {}
    for key, item in value.items():
        if not isinstance(key, str):
            raise ValueError(f"object keys are strings, not {type(key).__name__}")
        check_text(key, "an object key")
        frozen[key] = freeze(item, depth + 1)
    return MappingProxyType(frozen)


def thaw(value: Value) -> object:
    """``value`` as the plain Python the ``json`` module writes."""
    match value:
        case datetime():
            return format_datetime(value)
        case tuple():
            return [thaw(item) for item in value]
        case Mapping():
            return {key: thaw(item) for key, item in value.items()}
    return value


# --------------------------------------------------------------------------- bodies


def dump(document: Mapping[str, object]) -> bytes:
    """The canonical UTF-8 JSON bytes of ``document`` (already thawed)."""
    return json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def load(body: bytes) -> dict[str, object]:
    """The JSON object in ``body``; anything else is a ``ProtocolError``."""
    if len(body) > MAX_BODY:
        raise ProtocolError(f"body of {len(body)} bytes exceeds {MAX_BODY}")
    try:
        document = json.loads(
            body.decode("utf-8"),
            object_pairs_hook=_object_without_duplicates,
            parse_constant=_refuse_constant,
        )
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeError included
        raise ProtocolError(f"body is not JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise ProtocolError("body is not a JSON object")
    return document


def _object_without_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    document = dict(pairs)
    if len(document) != len(pairs):
        raise ValueError("duplicate key in a JSON object")
    return document


def _refuse_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")
