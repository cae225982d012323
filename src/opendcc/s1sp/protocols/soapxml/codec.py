"""A sans-IO codec for SOAP/XML, a synchronous SOAP 1.1 head-end API (bytes in, events out).

Enterprise head-end systems often offer a SOAP (Simple Object Access Protocol) 1.1 service:
one HTTP POST per call, answered in the same HTTP exchange. This module turns events into
XML (Extensible Markup Language) documents and back; it opens no socket.

HTTP binding: every call is ``POST /HeadEndService`` with headers
``content-type: text/xml; charset=utf-8`` and ``SOAPAction: "urn:opendcc:headend:<Operation>"``
(quotes included); a response comes with status 200, a Fault with status 500.

Documents are UTF-8 with an XML declaration. The envelope is SOAP 1.1 (prefix ``soap``,
namespace ``http://schemas.xmlsoap.org/soap/envelope/``); every other element is in namespace
``urn:opendcc:headend:1`` (prefix ``he`` here; any prefix is accepted) unless shown without
prefix. Elements come in exactly the order shown; ``*`` repeats, nothing else may appear::

    <soap:Envelope>
      [<soap:Header> header blocks, ignored unless soap:mustUnderstand="1" </soap:Header>]
      <soap:Body> exactly one of:

        <he:ExecuteCommand>
          <he:DeviceId>EUI-64</he:DeviceId> <he:RequestId>RID</he:RequestId>
          <he:Command>NAME</he:Command>
          <he:Parameters> <he:Parameter name=".." type="..">value</he:Parameter>* </he:Parameters>
        </he:ExecuteCommand>
        <he:ExecuteCommandResponse>
          <he:Result code="RESULT">[REASON]</he:Result>
          <he:Values> <he:Value name=".." type="..">value</he:Value>* </he:Values>
        </he:ExecuteCommandResponse>

        <he:GetHeadEndStatus/>
        <he:GetHeadEndStatusResponse>
          <he:Status>up|degraded</he:Status> <he:Time>T</he:Time>
        </he:GetHeadEndStatusResponse>

        <he:PollAlerts> <he:Since>T</he:Since> </he:PollAlerts>
        <he:PollAlertsResponse>
          <he:Alert>*
            <he:AlertId>ID</he:AlertId> <he:DeviceId>EUI-64</he:DeviceId>
            <he:Code>0..65535</he:Code> <he:RaisedAt>T</he:RaisedAt>
            <he:Value name=".." type="..">value</he:Value>*
          </he:Alert>
        </he:PollAlertsResponse>

        <soap:Fault>
          <faultcode>soap:Client|soap:Server</faultcode> <faultstring>TEXT</faultstring>
          <detail> <he:ErrorCode>CODE</he:ErrorCode> </detail>
        </soap:Fault>

EUI-64 (64-bit Extended Unique Identifier) is canonical: ``00-DB-12-34-56-78-90-A0``, upper-case
hex, hyphenated. RID is the RequestID of DUIS (the DCC User Interface Specification), 1-256
printable ASCII. NAME is a lowerCamelCase command name such as ``readInstantaneousImport``. ID
is 1-128 of ``A-Z a-z 0-9 . _ ~ -``. T is an xs:dateTime with a zone. Typed values (``type`` =
string, int, decimal, boolean, dateTime, hexBinary, list) are described in ``values``; names are
unique within their parent. Values come only with RESULT SUCCESS; the other RESULTs are
DEVICE_UNREACHABLE, NO_RESPONSE, KEYS_MISSING, HAN_ERROR and REJECTED, which may say why in
REASON (text, at most ``REASON_MAX`` characters; none with SUCCESS). Alerts are those raised
at or after Since, oldest first; clients de-duplicate by AlertId. A Fault means the request was
not taken; its CODE fixes the faultcode: soap:Client for MALFORMED_REQUEST, UNKNOWN_DEVICE,
DUPLICATE_COMMAND (a RequestId reused for another command), UNSUPPORTED_COMMAND; soap:Server for
INTERNAL_ERROR, UNAVAILABLE.

Documents are written indented (two spaces), which is insignificant; decoding is strict and
safe: at most ``MAX_DOCUMENT`` bytes and ``MAX_NESTING`` levels, no DTD (Document Type
Definition) and so no entities, no network access; anything else raises ``ProtocolError``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from lxml import etree

from opendcc.s1sp.protocols.soapxml import operations
from opendcc.s1sp.protocols.soapxml.messages import (
    ErrorCode,
    Fault,
    FaultKind,
    Operation,
    Request,
    Response,
)
from opendcc.s1sp.protocols.soapxml.reading import elements, invalid, local, member_of, sequence
from opendcc.s1sp.protocols.soapxml.values import NS, ProtocolError, q

SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
SERVICE_PATH = "/HeadEndService"
CONTENT_TYPE = "text/xml; charset=utf-8"
ACTION_PREFIX = "urn:opendcc:headend:"
MAX_DOCUMENT = 1024 * 1024
MAX_NESTING = 32

_PARSER = etree.XMLParser(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    dtd_validation=False,
    huge_tree=False,
    remove_comments=True,
    remove_pis=True,
    collect_ids=False,
)
# True when any element sits deeper than MAX_NESTING; evaluated in C, before any recursion.
_TOO_DEEP = etree.XPath("boolean(/" + "*/" * MAX_NESTING + "*)")
_REQUEST_TAGS: Mapping[str, Operation] = {q(op.value): op for op in Operation}


def _soap(local_name: str) -> str:
    return f"{{{SOAP_NS}}}{local_name}"


# --------------------------------------------------------------------------- HTTP binding


def soap_action(operation: Operation) -> str:
    """The ``SOAPAction`` header value for ``operation``, quotes included."""
    return f'"{ACTION_PREFIX}{operation.value}"'


def operation_of(request: Request) -> Operation:
    """The operation ``request`` calls."""
    return operations.OPERATION_OF[type(request)]


def request_headers(request: Request) -> tuple[tuple[str, str], ...]:
    """The HTTP headers to POST ``request`` with, to ``SERVICE_PATH``."""
    return (("content-type", CONTENT_TYPE), ("soapaction", soap_action(operation_of(request))))


def http_status(answer: Response | Fault) -> int:
    """200 for a response, 500 for a Fault (SOAP 1.1 HTTP binding)."""
    return 500 if isinstance(answer, Fault) else 200


# --------------------------------------------------------------------------- encoding


def encode_request(request: Request) -> bytes:
    """The SOAP document that carries ``request``."""
    return _document(lambda body: operations.encode_request(body, request))


def encode_response(answer: Response | Fault) -> bytes:
    """The SOAP document that carries a response, or a Fault."""
    if isinstance(answer, Fault):
        return _document(lambda body: _encode_fault(body, answer))
    return _document(lambda body: operations.encode_response(body, answer))


def _document(fill: Callable[[etree._Element], None]) -> bytes:
    envelope = etree.Element(_soap("Envelope"), nsmap={"soap": SOAP_NS, "he": NS})
    fill(etree.SubElement(envelope, _soap("Body")))
    return etree.tostring(envelope, xml_declaration=True, encoding="utf-8", pretty_print=True)


def _encode_fault(body: etree._Element, fault: Fault) -> None:
    element = etree.SubElement(body, _soap("Fault"))
    etree.SubElement(element, "faultcode").text = f"soap:{fault.kind.value}"
    etree.SubElement(element, "faultstring").text = fault.message or None
    detail = etree.SubElement(element, "detail")
    etree.SubElement(detail, q("ErrorCode")).text = fault.code.value


# --------------------------------------------------------------------------- decoding


def decode_request(data: bytes, *, soap_action: str | None = None) -> Request:
    """The request in a SOAP document; ``soap_action``, if given, must name its operation."""
    element = _body_content(data)
    operation = _REQUEST_TAGS.get(element.tag)
    if operation is None:
        raise ProtocolError(f"<{local(element.tag)}> is not a request of this service")
    if soap_action is not None and soap_action.strip().strip('"') != (
        f"{ACTION_PREFIX}{operation.value}"
    ):
        raise ProtocolError(f"SOAPAction {soap_action!r} does not name {operation.value}")
    return operations.REQUESTS[operation](element)


def decode_response(data: bytes, operation: Operation) -> Response | Fault:
    """The answer to a call of ``operation``: its response, or a Fault."""
    element = _body_content(data)
    if element.tag == _soap("Fault"):
        return _decode_fault(element)
    if element.tag != q(f"{operation.value}Response"):
        raise ProtocolError(f"expected {operation.value}Response, got <{local(element.tag)}>")
    return operations.RESPONSES[operation](element)


def _body_content(data: bytes) -> etree._Element:
    envelope = _parse(data)
    if envelope.tag != _soap("Envelope") or envelope.attrib:
        raise ProtocolError(f"not a SOAP 1.1 envelope: <{envelope.tag}>")
    children = elements(envelope)
    if children and children[0].tag == _soap("Header"):
        _check_header(children.pop(0))
    if len(children) != 1 or children[0].tag != _soap("Body") or children[0].attrib:
        raise ProtocolError("a SOAP envelope holds an optional Header and one Body")
    content = elements(children[0])
    if len(content) != 1:
        raise ProtocolError(f"a SOAP Body holds one element, not {len(content)}")
    return content[0]


def _check_header(header: etree._Element) -> None:
    for block in elements(header):
        if block.get(_soap("mustUnderstand")) in ("1", "true"):
            raise ProtocolError(f"header block <{block.tag}> must be understood, and is not")


def _decode_fault(element: etree._Element) -> Fault:
    faultcode, faultstring, detail = sequence(element, "faultcode", "faultstring", "detail")
    [error_code] = sequence(detail, q("ErrorCode"))
    prefix, _, kind = (faultcode.text or "").strip().partition(":")
    if faultcode.nsmap.get(prefix) != SOAP_NS or kind not in ("Client", "Server"):
        raise ProtocolError(f"faultcode {faultcode.text!r} is neither soap:Client nor soap:Server")
    if len(faultstring) or faultstring.attrib:
        raise ProtocolError("<faultstring> holds only text")
    with invalid():
        fault = Fault(member_of(ErrorCode, error_code.text), faultstring.text or "")
    if fault.kind is not FaultKind(kind):
        raise ProtocolError(f"a {fault.code} fault is soap:{fault.kind}, not soap:{kind}")
    return fault


def _parse(data: bytes) -> etree._Element:
    if len(data) > MAX_DOCUMENT:
        raise ProtocolError(f"document of {len(data)} bytes exceeds {MAX_DOCUMENT}")
    try:
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise ProtocolError(f"not well-formed XML: {exc}") from exc
    docinfo: Any = root.getroottree().docinfo  # lxml-stubs lacks DocInfo.doctype
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise ProtocolError("DTDs and entity declarations are not allowed")
    if _TOO_DEEP(root):
        raise ProtocolError(f"elements nest deeper than {MAX_NESTING}")
    return root
