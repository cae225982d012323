"""Strict reading of REST/JSON bodies: every member present, none unknown, each of its type.

A helper of ``codec``: whatever does not fit raises ``ProtocolError`` with a message that names
the member, so a head-end can echo it in a 400 MALFORMED_REQUEST reply.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from enum import StrEnum
from typing import TypeVar

from opendcc.core.eui import Eui64
from opendcc.s1sp.protocols.restjson.values import (
    ProtocolError,
    Value,
    freeze_object,
    parse_datetime,
)


class Fields:
    """The members of one JSON object, which must be exactly ``names``."""

    def __init__(self, document: object, what: str, names: str) -> None:
        if not isinstance(document, dict):
            raise ProtocolError(f"{what} is not a JSON object")
        self._document: dict[str, object] = document
        self._what = what
        expected = set(names.split())
        if missing := expected - document.keys():
            raise ProtocolError(f"{what} lacks {', '.join(sorted(missing))}")
        if unknown := document.keys() - expected:
            raise ProtocolError(f"{what} has unknown {', '.join(sorted(unknown))}")

    def member(self, name: str) -> object:
        if name not in self._document:
            raise ProtocolError(f"{self._what} lacks {name}")
        return self._document[name]

    def text(self, name: str) -> str:
        value = self.member(name)
        if not isinstance(value, str):
            raise ProtocolError(f"{self._what}: {name} is not a string")
        return value

    def integer(self, name: str) -> int:
        value = self.member(name)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ProtocolError(f"{self._what}: {name} is not an integer")
        return value

    def instant(self, name: str) -> datetime:
        instant = parse_datetime(self.text(name))
        if instant is None:
            raise ProtocolError(f"{self._what}: {name} is not an RFC 3339 UTC date-time")
        return instant

    def values(self, name: str) -> Mapping[str, Value]:
        value = self.member(name)
        if not isinstance(value, dict):
            raise ProtocolError(f"{self._what}: {name} is not a JSON object")
        try:
            return freeze_object(value)
        except ValueError as exc:
            raise ProtocolError(f"{self._what}: {name}: {exc}") from exc


@contextmanager
def invalid() -> Iterator[None]:
    """Field values the events refuse (``ValueError``) are protocol errors on the wire."""
    try:
        yield
    except ValueError as exc:
        raise ProtocolError(str(exc)) from exc


_Enum = TypeVar("_Enum", bound=StrEnum)


def member_of(kind: type[_Enum], text: str) -> _Enum:
    """The member of ``kind`` whose value is ``text``."""
    try:
        return kind(text)
    except ValueError as exc:
        raise ProtocolError(f"unknown {kind.__name__} {text!r}") from exc


def canonical_eui64(text: str) -> Eui64:
    """The EUI-64 written canonically (upper-case hex, hyphenated) in ``text``."""
    try:
        device = Eui64.parse(text)
    except ValueError as exc:
        raise ProtocolError(str(exc)) from exc
    if str(device) != text:
        raise ProtocolError(f"an EUI-64 is written {device}, not {text!r}")
    return device
