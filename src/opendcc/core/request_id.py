"""RequestID and ResponseID: ``originator:target:counter``.

The originator is the sending User's EUI-64, the target the device (or the DCC) the request is
for, and the counter an unsigned 64-bit number that must rise strictly for each originator
(replay protection). A ResponseID swaps originator and target and keeps the counter.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Self

from opendcc.core.errors import DuisError
from opendcc.core.eui import Eui64, InvalidIdentifier

COUNTER_MAX = (1 << 64) - 1


@dataclass(frozen=True, slots=True)
class RequestId:
    originator: Eui64
    target: Eui64
    counter: int
    # The text, written at the first ``str`` and kept (the store's key, printed many times).
    _text: str | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not 0 <= self.counter <= COUNTER_MAX:
            raise InvalidRequestId(f"counter out of range 0..2^64-1: {self.counter}")

    @classmethod
    def parse(cls, text: str) -> Self:
        parts = text.strip().split(":")
        if len(parts) != 3:
            raise InvalidRequestId(f"not originator:target:counter: {text!r}")
        originator, target, counter = parts
        # DUIS forbids leading zeros, signs and spaces in the counter.
        if (
            len(counter) > 20  # 2^64 - 1 has 20 digits; int() of thousands is itself refused
            or not counter.isascii()
            or not counter.isdigit()
            or (len(counter) > 1 and counter[0] == "0")
        ):
            raise InvalidRequestId(f"counter is not a canonical decimal: {counter!r}")
        try:
            return cls(Eui64.parse(originator), Eui64.parse(target), int(counter))
        except InvalidIdentifier as exc:
            raise InvalidRequestId(str(exc)) from exc

    def response_id(self) -> RequestId:
        """The ResponseID for this request: target and originator swapped, same counter."""
        return RequestId(self.target, self.originator, self.counter)

    def __str__(self) -> str:
        text = self._text
        if text is None:
            text = f"{self.originator}:{self.target}:{self.counter}"
            object.__setattr__(self, "_text", text)
        return text


class InvalidRequestId(DuisError, ValueError):
    """Not a valid identifier: the document fails DUIS validation (HTTP 400)."""
