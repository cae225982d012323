"""Typed fields of the JSON APIs (the UTRN service, the admin API): every conversion from what a
client sent to what the rooms take happens here, and every failure is a ``FieldInvalid``.

A surface turns ``FieldInvalid`` into its own HTTP 400 refusal, so no conversion error
(``ValueError``, ``OverflowError``, ``RecursionError`` ...) reaches past it. The rules close the
classes of hostile input, not single cases: JSON nested deeper than any call needs, NaN and
Infinity, booleans posing as numbers, numbers posing as text, digits that ``str.isdigit``
accepts but ``int`` does not (``"²"``), and integers wider than the database's 64 bits.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

MAX_DEPTH = 8  # no call's body nests deeper than an object holding scalars
MAX_ID = (1 << 63) - 1  # a database integer key


class FieldInvalid(ValueError):
    """A field a client sent that is not what the call takes; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _refuse_constant(name: str) -> Any:
    raise FieldInvalid("json", f"{name} is not a JSON number opendcc takes")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999 overflows to infinity
        raise FieldInvalid("json", f"{text[:20]} is not a finite number")
    return value


def json_object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object (an empty body is an empty object)."""
    if not body:
        return {}
    try:
        data = json.loads(body, parse_constant=_refuse_constant, parse_float=_finite)
    except FieldInvalid:
        raise
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise FieldInvalid("json", "the body is not JSON") from None
    if not isinstance(data, dict):
        raise FieldInvalid("json", "the body is a JSON object")
    if _depth(data) > MAX_DEPTH:
        raise FieldInvalid("json", f"the body nests deeper than {MAX_DEPTH}")
    return data


def _depth(value: object, level: int = 1) -> int:
    if level > MAX_DEPTH:
        return level
    if isinstance(value, dict):
        return max((_depth(v, level + 1) for v in value.values()), default=level)
    if isinstance(value, list):
        return max((_depth(v, level + 1) for v in value), default=level)
    return level


def whole(value: object, field: str, low: int, high: int) -> int:
    """A JSON integer in ``low..high`` (never a bool, a float or a string of digits)."""
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise FieldInvalid(field, f"{field} is a whole number from {low} to {high}")
    return value


def number(value: object, field: str, low: float, high: float) -> float:
    """A finite JSON number in ``low..high``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FieldInvalid(field, f"{field} is a number from {low} to {high}")
    result = float(value) if abs(value) < 1e300 else math.inf
    if not math.isfinite(result) or not low <= result <= high:
        raise FieldInvalid(field, f"{field} is a number from {low} to {high}")
    return result


def text(value: object, field: str, max_length: int, *, min_length: int = 0) -> str:
    """A JSON string of ``min_length..max_length`` characters."""
    if not isinstance(value, str) or not min_length <= len(value) <= max_length:
        raise FieldInvalid(field, f"{field} is a string of {min_length} to {max_length} characters")
    return value


def digits(raw: str, field: str, high: int = MAX_ID) -> int:
    """Decimal text (ASCII digits only, as a path or query parameter) in ``0..high``."""
    if not raw.isascii() or not raw.isdigit() or len(raw) > len(str(high)) or int(raw) > high:
        raise FieldInvalid(field, f"{field} is a whole number from 0 to {high}")
    return int(raw)


def instant(raw: str, field: str) -> datetime:
    """An ISO 8601 instant (UTC when it names no zone) that the hub can compute with."""
    try:
        at = datetime.fromisoformat(raw)
    except ValueError:
        raise FieldInvalid(field, f"{field} is an ISO 8601 instant") from None
    at = at if at.tzinfo else at.replace(tzinfo=UTC)
    try:  # the first and last days of the calendar overflow at the first arithmetic
        at.astimezone(UTC)
    except OverflowError:
        raise FieldInvalid(field, f"{field} is out of range") from None
    if not 1 < at.year < 9999:
        raise FieldInvalid(field, f"{field} is out of range")
    return at
