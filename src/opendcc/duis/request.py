"""DUIS Service Requests parsed into typed values (sans-IO: bytes in, a ``ServiceRequest`` out).

A Service Request names its sender and target in the RequestID, the Service Reference Variant
(SRV) it asks for, the Command Variant (CV: how the request is processed and the response
delivered) and carries one Body element with the SRV's parameters. The Body stays available as
XML for the SRV handlers; the header is lifted into typed fields.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum
from typing import Any

from lxml import etree

from opendcc.core.errors import DuisError
from opendcc.core.request_id import RequestId
from opendcc.duis.schema import DuisSchema, SchemaInvalid
from opendcc.duis.xml import DEFAULT_LIMITS, SR_NS, ParseLimits, ds, parse_xml, precheck, sr

MIN_YEAR, MAX_YEAR = 2, 9998


class CommandVariant(IntEnum):
    """How a request is processed (DUIS CommandVariant), named for what each value means."""

    DEVICE = 1  # send to the Device, response to the User
    LOCAL_COMMAND = 2  # return the command for local delivery
    DEVICE_AND_LOCAL_COMMAND = 3
    TRANSFORM = 4  # critical: return the pre-command for the User to sign
    SIGNED_PRE_COMMAND = 5  # critical: the signed pre-command, sent to the Device
    SIGNED_PRE_COMMAND_LOCAL = 6
    SIGNED_PRE_COMMAND_DEVICE_AND_LOCAL = 7
    NON_DEVICE = 8  # answered by the DCC itself


@dataclass(frozen=True, slots=True, eq=False)
class ServiceRequest:
    """One parsed DUIS Service Request. ``document`` keeps the tree for signature checks."""

    request_id: RequestId
    command_variant: CommandVariant
    service_reference: str
    srv: str
    body: etree._Element = field(repr=False)
    document: etree._ElementTree = field(repr=False)
    schema_version: str
    first_in_sequence: bool | None = None
    preceding_request_id: RequestId | None = None
    execution_datetime: datetime | None = None

    @property
    def body_element(self) -> str:
        """The local name of the Body's element, e.g. ``ReadInstantaneousImportRegisters``."""
        return etree.QName(self.body).localname

    @property
    def is_future_dated(self) -> bool:
        return self.execution_datetime is not None

    def summary(self) -> dict[str, Any]:
        """A JSON-ready description of the request (what ``opendcc duis parse`` prints)."""
        return {
            "schema_version": self.schema_version,
            "request_id": str(self.request_id),
            "originator": str(self.request_id.originator),
            "target": str(self.request_id.target),
            "counter": self.request_id.counter,
            "command_variant": int(self.command_variant),
            "command_variant_name": self.command_variant.name,
            "service_reference": self.service_reference,
            "service_reference_variant": self.srv,
            "body_element": self.body_element,
            "first_in_sequence": self.first_in_sequence,
            "preceding_request_id": (
                str(self.preceding_request_id) if self.preceding_request_id else None
            ),
            "execution_datetime": (
                self.execution_datetime.isoformat() if self.execution_datetime else None
            ),
            "signed": self.document.getroot().find(ds("Signature")) is not None,
        }


class NotAServiceRequest(DuisError):
    """The document is XML but not a DUIS Service Request (answered with HTTP 400)."""


def parse_request(
    data: bytes,
    *,
    schema: DuisSchema | None = None,
    limits: ParseLimits = DEFAULT_LIMITS,
) -> ServiceRequest:
    """Parse a DUIS Service Request; validate it against ``schema`` when one is configured."""
    document = parse_xml(data, limits)
    if schema is not None:
        schema.validate(document)
    return request_from_tree(document)


def request_from_tree(document: etree._ElementTree) -> ServiceRequest:
    root = document.getroot()
    if root.tag != sr("Request"):
        raise NotAServiceRequest(f"the root element is {root.tag}, not {{{SR_NS}}}Request")
    parts = _children(root)
    header, body = parts.get(sr("Header")), parts.get(sr("Body"))
    if header is None or body is None:
        raise NotAServiceRequest("a Service Request has a Header and a Body")
    fields = {tag: (child.text or "").strip() for tag, child in _children(header).items()}
    content = [child for child in body if isinstance(child.tag, str)]
    if len(content) != 1:
        raise NotAServiceRequest("the Body must hold exactly one element")

    def required(local: str) -> str:
        if not (value := fields.get(sr(local))):
            raise NotAServiceRequest(f"missing sr:{local}")
        return value

    preceding = fields.get(sr("PrecedingServiceRequestID"))
    first = fields.get(sr("FirstInSequence"))
    execution = _execution_datetime(content[0])
    return ServiceRequest(
        request_id=RequestId.parse(required("RequestID")),
        command_variant=_command_variant(required("CommandVariant")),
        service_reference=required("ServiceReference"),
        srv=required("ServiceReferenceVariant"),
        body=content[0],
        document=document,
        schema_version=root.get("schemaVersion", ""),
        first_in_sequence=_boolean(first) if first is not None else None,
        preceding_request_id=RequestId.parse(preceding) if preceding is not None else None,
        execution_datetime=parse_datetime(execution) if execution is not None else None,
    )


def _children(parent: etree._Element) -> dict[str, etree._Element]:
    """Element children by tag, in one pass (cheaper than a ``find`` per field)."""
    return {child.tag: child for child in parent if isinstance(child.tag, str)}


def _execution_datetime(content: etree._Element) -> str | None:
    # When present, ExecutionDateTime is the first child of the SRV's body element.
    for child in content:
        if isinstance(child.tag, str):
            return (child.text or "").strip() if child.tag == sr("ExecutionDateTime") else None
    return None


def parse_datetime(text: str) -> datetime:
    """An ``xs:dateTime`` with a time zone (DUIS requires UTC with a ``Z``)."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise SchemaInvalid(f"not an xs:dateTime: {text!r}") from exc
    if value.tzinfo is None:
        raise SchemaInvalid(f"date-time without a time zone: {text!r}")
    # The calendar's first and last years are schema-valid, but an instant there cannot be
    # compared, moved or written in UTC; no DUIS request means them (its "cancel" is 3000).
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise SchemaInvalid(f"date-time out of range {MIN_YEAR}..{MAX_YEAR}: {text!r}")
    return value


def _command_variant(text: str) -> CommandVariant:
    try:
        return CommandVariant(int(text) if len(text) < 4 else 0)
    except ValueError:
        raise NotAServiceRequest(f"CommandVariant must be 1..8, not {text!r}") from None


def _boolean(text: str) -> bool:
    value = text.strip()
    if value in {"true", "1"}:
        return True
    if value in {"false", "0"}:
        return False
    raise NotAServiceRequest(f"not an xs:boolean: {text!r}")


HEADER_CHUNK = 16 * 1024


def _may_read(data: bytes, limits: ParseLimits) -> bool:
    try:
        precheck(data, limits)
    except DuisError:
        return False
    return b"<!DOCTYPE" not in data


def read_header(data: bytes, limits: ParseLimits = DEFAULT_LIMITS) -> dict[str, str] | None:
    """The Header fields (local name to text) of a document that failed, read only as far as
    the end of its Header, so a refusal can still be addressed; None when they cannot be read
    safely (not XML, a DTD, no ``sr:Request``/``sr:Header`` first)."""
    if not _may_read(data, limits):
        return None
    parser = etree.XMLPullParser(
        events=("start", "end"),
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
    )
    depth = 0
    try:
        for offset in range(0, len(data), HEADER_CHUNK):
            parser.feed(data[offset : offset + HEADER_CHUNK])
            for event, found in parser.read_events():
                if not isinstance(found, etree._Element):
                    continue
                element: etree._Element = found
                depth += 1 if event == "start" else -1
                if event == "start" and depth == 1 and element.tag != sr("Request"):
                    return None
                if event == "start" and depth == 2 and element.tag != sr("Header"):
                    return None
                if event == "end" and depth == 1 and element.tag == sr("Header"):
                    # Only sr: children, by their Clark name: the pull parser passes on a tag
                    # whose prefix is undeclared ("ds:X"), which QName() would refuse.
                    prefix = sr("")
                    return {
                        child.tag[len(prefix) :]: (child.text or "").strip()[:200]
                        for child in element.iterchildren()
                        if isinstance(child.tag, str) and child.tag.startswith(prefix)
                    }
    except etree.XMLSyntaxError:
        return None
    return None
