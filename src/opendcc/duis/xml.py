"""Hardened XML parsing for everything that crosses opendcc's boundary.

DUIS (DCC User Interface Specification) documents come from outside, so the parser refuses
anything a DUIS message never needs: DTDs and entity declarations (XXE, "billion laughs"),
network access, documents over a size limit, and element trees deeper than a limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from lxml import etree

from opendcc.core.errors import DuisError

SR_NS = "http://www.dccinterface.co.uk/ServiceUserGateway"
RA_NS = "http://www.dccinterface.co.uk/ResponseAndAlert"
DS_NS = "http://www.w3.org/2000/09/xmldsig#"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"


def sr(local: str) -> str:
    """Clark name of an element in the DUIS ServiceUserGateway namespace."""
    return f"{{{SR_NS}}}{local}"


def ra(local: str) -> str:
    """Clark name of an element in the DUIS ResponseAndAlert (MMC) namespace."""
    return f"{{{RA_NS}}}{local}"


def ds(local: str) -> str:
    """Clark name of an element in the XML Signature namespace."""
    return f"{{{DS_NS}}}{local}"


@dataclass(frozen=True, slots=True)
class ParseLimits:
    """Limits on untrusted documents. DUIS requests are a few KB; firmware images are larger."""

    max_bytes: int = 8 * 1024 * 1024
    max_depth: int = 64
    # DUIS uses a handful of attributes (schemaVersion, the signature's Algorithm and URI);
    # thousands would each cost the XSD validator an error record.
    max_attributes: int = 1000
    # Markup ("<") counted before parsing, in C: a DUIS request has hundreds of tags, a
    # firmware image is one base64 text; a million empty elements would cost the parser and
    # the validator seconds.
    max_tags: int = 100_000
    # Each attribute needs an "=", and DUIS text has almost none: counted in C before parsing,
    # so a flood of attributes costs no parse (the exact count above is checked after it).
    max_equals: int = 20_000


DEFAULT_LIMITS = ParseLimits()


class MalformedDocument(DuisError):
    """The bytes are not a well-formed, safe XML document (answered with HTTP 400)."""


def _new_parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_blank_text=False,
        collect_ids=False,
    )


def precheck(data: bytes, limits: ParseLimits = DEFAULT_LIMITS) -> None:
    """What can be refused before parsing, by counting bytes in C."""
    if len(data) > limits.max_bytes:
        raise MalformedDocument(f"document is {len(data)} bytes; the limit is {limits.max_bytes}")
    if data.count(b"<") > limits.max_tags:
        raise MalformedDocument(f"more than {limits.max_tags} tags")
    if data.count(b"=") > limits.max_equals:
        raise MalformedDocument(f"more than {limits.max_equals} attributes or '=' signs")


def parse_xml(data: bytes, limits: ParseLimits = DEFAULT_LIMITS) -> etree._ElementTree:
    """Parse untrusted bytes into a tree, or raise ``MalformedDocument``."""
    precheck(data, limits)
    try:
        # A parser per document: lxml (6.0 on) keeps the names it has seen in a dictionary of
        # the parser's own, which a shared parser would grow for ever with every new tag and
        # attribute name a client invents (a memory leak an attacker could drive).
        root = etree.fromstring(data, _new_parser())
    except etree.XMLSyntaxError as exc:
        raise MalformedDocument(f"not well-formed XML: {exc}") from exc
    tree = root.getroottree()
    docinfo: Any = tree.docinfo  # lxml-stubs lacks DocInfo.doctype
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise MalformedDocument("DTDs and entity declarations are not allowed in DUIS")
    _check_depth(root, limits.max_depth)
    if float(_attributes(root)) > limits.max_attributes:  # type: ignore[arg-type]
        raise MalformedDocument(f"more than {limits.max_attributes} attributes")
    return tree


@cache
def _deeper_than(max_depth: int) -> etree.XPath:
    # True when any element sits below ``max_depth`` levels; evaluated in C, without building
    # a Python proxy per element.
    return etree.XPath("boolean(/" + "*/" * max_depth + "*)")


_attributes = etree.XPath("count(//@*)")  # in C, without a Python proxy per attribute


def _check_depth(root: etree._Element, max_depth: int) -> None:
    if _deeper_than(max_depth)(root):
        raise MalformedDocument(f"element nesting deeper than {max_depth}")


def strip_insignificant_whitespace(element: etree._Element) -> None:
    """Drop whitespace-only text between elements (indentation), in place.

    DUIS has no mixed content, and DCC Boxed signs and verifies documents with that whitespace
    removed, so a signature is only portable across DCC tooling over a document without it.
    Text of leaf elements is left alone, even when it is only spaces.
    """
    for node in element.iter():
        if len(node) and node.text is not None and not node.text.strip():
            node.text = None
        if node is not element and node.tail is not None and not node.tail.strip():
            node.tail = None
