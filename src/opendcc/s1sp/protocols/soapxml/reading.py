"""Strict reading of SOAP/XML elements: exact children in order, no stray text or attributes.

A helper of ``codec`` and ``operations``: whatever does not fit raises ``ProtocolError`` naming
the element, so a head-end can echo it in a MALFORMED_REQUEST Fault.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from enum import StrEnum
from typing import TypeVar

from lxml import etree

from opendcc.core.eui import Eui64
from opendcc.s1sp.protocols.soapxml.values import ProtocolError, Value, decode_value, q

_Enum = TypeVar("_Enum", bound=StrEnum)


def local(tag: str) -> str:
    """``Value`` for ``{namespace}Value``."""
    return tag.rpartition("}")[2]


def elements(parent: etree._Element) -> list[etree._Element]:
    """The child elements of element-only content; text other than whitespace is an error."""
    if parent.text is not None and parent.text.strip():
        raise ProtocolError(f"<{local(parent.tag)}> holds text where elements belong")
    children = list(parent)
    for child in children:
        if not isinstance(child.tag, str):
            raise ProtocolError(f"<{local(parent.tag)}> holds an entity or other non-element")
        if child.tail is not None and child.tail.strip():
            raise ProtocolError(f"<{local(parent.tag)}> holds text where elements belong")
    return children


def sequence(parent: etree._Element, *tags: str) -> list[etree._Element]:
    """Exactly the children ``tags`` (Clark names), in order; ``parent`` has no attributes."""
    if parent.attrib:
        raise ProtocolError(f"<{local(parent.tag)}> has unexpected attributes")
    children = elements(parent)
    if [child.tag for child in children] != list(tags):
        found = " ".join(local(child.tag) for child in children) or "nothing"
        wanted = " ".join(local(tag) for tag in tags) or "nothing"
        raise ProtocolError(f"<{local(parent.tag)}> holds {found}; expected {wanted}")
    return children


def text(element: etree._Element) -> str:
    """The text of a leaf element without attributes ("" when empty)."""
    if element.attrib or len(element):
        raise ProtocolError(f"<{local(element.tag)}> holds only text")
    return element.text or ""


def named_values(children: list[etree._Element], tag: str) -> Mapping[str, Value]:
    """``<tag name=.. type=..>`` elements as a name-to-value mapping (names unique)."""
    values: dict[str, Value] = {}
    for child in children:
        if child.tag != q(tag) or set(child.attrib) != {"name", "type"}:
            raise ProtocolError(f"expected <{tag} name=.. type=..>, got <{local(child.tag)}>")
        name = child.get("name") or ""
        if not name or name in values:
            raise ProtocolError(f"a {tag} name is non-empty and unique: {name!r}")
        values[name] = decode_value(child)
    return values


@contextmanager
def invalid() -> Iterator[None]:
    """Field values the events refuse (``ValueError``) are protocol errors on the wire."""
    try:
        yield
    except ValueError as exc:
        raise ProtocolError(str(exc)) from exc


def member_of(kind: type[_Enum], value: str | None) -> _Enum:
    """The member of ``kind`` whose value is ``value``."""
    try:
        return kind(value or "")
    except ValueError as exc:
        raise ProtocolError(f"unknown {kind.__name__} {value!r}") from exc


def canonical_eui64(value: str) -> Eui64:
    """The EUI-64 written canonically (upper-case hex, hyphenated) in ``value``."""
    try:
        device = Eui64.parse(value)
    except ValueError as exc:
        raise ProtocolError(str(exc)) from exc
    if str(device) != value:
        raise ProtocolError(f"an EUI-64 is written {device}, not {value!r}")
    return device
