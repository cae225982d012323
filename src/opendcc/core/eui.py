"""EUI-64 identifiers: how DUIS names Users, devices and the DCC itself.

DUIS writes them as eight hyphen-separated hex octets (``90-B3-D5-1F-30-01-00-00``); Users and
tools also write them bare (``90b3d51f30010000``). We accept either, in any case, and always
print the canonical upper-case hyphenated form.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Self

from opendcc.core.errors import DuisError

_BARE = re.compile(r"[0-9A-Fa-f]{16}")
_HYPHENATED = re.compile(r"[0-9A-Fa-f]{2}(?:-[0-9A-Fa-f]{2}){7}")


@dataclass(frozen=True, slots=True, order=True)
class Eui64:
    """A 64-bit Extended Unique Identifier, held as an integer."""

    value: int
    # The canonical text, written at the first ``str`` and kept: a request's path prints the
    # same few identifiers dozens of times (store keys, RequestIDs, the Response's header).
    _text: str | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not 0 <= self.value < 1 << 64:
            raise ValueError(f"EUI-64 out of range: {self.value!r}")

    @classmethod
    def parse(cls, text: str) -> Self:
        """Parse ``XX-XX-XX-XX-XX-XX-XX-XX`` or ``XXXXXXXXXXXXXXXX``, any case."""
        read = _parse(text)
        return read if type(read) is cls else cls(read.value)

    @classmethod
    def from_bytes(cls, raw: bytes) -> Self:
        if len(raw) != 8:
            raise InvalidIdentifier(f"an EUI-64 is 8 bytes, got {len(raw)}")
        return cls(int.from_bytes(raw, "big"))

    def to_bytes(self) -> bytes:
        return self.value.to_bytes(8, "big")

    @property
    def hex(self) -> str:
        """Bare upper-case hex, as in certificate file names (``90B3D51F30010000``)."""
        return f"{self.value:016X}"

    def __str__(self) -> str:
        text = self._text
        if text is None:  # bytes.hex does the grouping in C
            text = self.value.to_bytes(8, "big").hex("-").upper()
            object.__setattr__(self, "_text", text)
        return text

    def __repr__(self) -> str:
        return f"Eui64('{self}')"


# The same identifiers (the Users, the DCC, a fleet's busy meters) are read again and again: the
# last few thousand texts read are kept with what they read as (the values are immutable). Text
# that is not an identifier raises every time, and is never kept.
@functools.lru_cache(maxsize=4096)
def _parse(text: str) -> Eui64:
    stripped = text.strip()
    if _HYPHENATED.fullmatch(stripped):
        return Eui64(int(stripped.replace("-", ""), 16))
    if _BARE.fullmatch(stripped):
        return Eui64(int(stripped, 16))
    raise InvalidIdentifier(f"not an EUI-64: {text!r}")


class InvalidIdentifier(DuisError, ValueError):
    """An identifier that does not follow the DUIS pattern: the document fails validation."""
