"""Writing MMC (Message Mapping Catalogue) response elements, for every family of services.

A service's ``BuildResponse`` answers with an ``ra:<Name>Rsp`` element of ``MMC Schema
V5.4.xsd`` whose ``MessageSuccess`` is ``true``; these helpers make that element and its
children in the ``ra`` namespace.
"""

from __future__ import annotations

from lxml import etree

from opendcc.duis.xml import ra
from opendcc.s1sp.services.base import BuildResponse, Result


def response_element(local: str) -> etree._Element:
    """An empty, successful ``ra:<local>`` response."""
    element = etree.Element(ra(local))
    element.set("MessageSuccess", "true")
    return element


def ack(local: str) -> BuildResponse:
    """Writes answer with an empty ``ra:<Name>Rsp``: the DUIS response says it succeeded."""

    def build(result: Result) -> etree._Element:
        del result
        return response_element(local)

    build.__doc__ = f"An empty ``ra:{local}``."
    return build


def add(parent: etree._Element, local: str, text: object = None) -> etree._Element:
    """A new ``ra:<local>`` child of ``parent``, holding ``str(text)`` unless it is None."""
    child = etree.SubElement(parent, ra(local))
    if text is not None:
        child.text = str(text)
    return child


def add_indexed(parent: etree._Element, local: str, index: int, text: object) -> None:
    """A new ``ra:<local>`` child with an ``index`` attribute."""
    add(parent, local, text).set("index", str(index))
