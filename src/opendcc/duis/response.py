"""DUIS Responses as the DCC sends them: acknowledgements, responses and SMETS1 responses.

DUIS (DCC User Interface Specification) answers every Service Request with an ``sr:Response``:
an I99 acknowledgement when a device request is accepted for processing, then an I0 success or
an error code (E1, E2, ...) carrying the device's GBCS (Great Britain Companion Specification)
payload, a non-device body such as 8.2 Read Inventory's ``DSPInventory``, or nothing at all.
For SMETS1 (first-generation) devices the answer comes from an S1SP (SMETS1 Service Provider):
its own signed ``SMETS1SignedResponse``, in MMC (Message Mapping Catalogue) form, is embedded
in the DSP's (Data Service Provider's) Response, which the DCC then signs with its own key.

Every builder is pure: values and ``now`` in, an ``lxml`` tree out. Elements follow the order
of the DUIS v5.4 XSD; the root declares the ``sr``, ``ra`` and ``ds`` prefixes as DCC does.
Device and DCC alerts live in ``opendcc.duis.alerts``, which builds on the helpers here.
"""

from __future__ import annotations

import base64
import copy
from dataclasses import dataclass
from datetime import UTC, datetime

from lxml import etree

from opendcc.core.errors import DuisError, ResponseCode
from opendcc.core.request_id import RequestId
from opendcc.duis.request import ServiceRequest
from opendcc.duis.xml import DS_NS, RA_NS, SR_NS, ra, sr
from opendcc.duis.xmldsig import CertificateLookup, SignerPolicy, sign, verify
from opendcc.smki.certificates import CertificateInfo, RemotePartyRole
from opendcc.smki.credentials import SigningCredentials

SCHEMA_VERSION = "5.4"
NSMAP = {"sr": SR_NS, "ra": RA_NS, "ds": DS_NS}

# Who may sign an embedded SMETS1SignedResponse or S1SPAlert: an XML-signing certificate of
# either kind. Callers that know their S1SP's EUI-64 should pin it with ``SignerPolicy.signer``.
S1SP_SIGNED = SignerPolicy(frozenset({RemotePartyRole.XML_SIGN, RemotePartyRole.DSP_XML_SIGN}))

_MAX_STATUS_TEXT = 250  # ra:StatusSMETS1/Error
_SCHEDULE_ID_MAX = 10**12  # sr:scheduleID


class MissingElement(DuisError, ValueError):
    """The document lacks the element an operation needs (e.g. no SMETS1SignedResponse)."""


# --------------------------------------------------------------------------- values


def format_datetime(instant: datetime) -> str:
    """An xs:dateTime in UTC with milliseconds and ``Z``, as DCC writes it."""
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError("DUIS date-times need a timezone-aware datetime")
    utc = instant.astimezone(UTC)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}Z"


@dataclass(frozen=True, slots=True)
class RequestRef:
    """What an answer needs from the Service Request it answers."""

    request_id: RequestId
    service_reference: str
    srv: str

    @classmethod
    def of(cls, request: ServiceRequest) -> RequestRef:
        return cls(request.request_id, request.service_reference, request.srv)


@dataclass(frozen=True, slots=True)
class Header:
    """The sr:Header of a Response. RequestID and ResponseID are both optional in DUIS."""

    code: ResponseCode
    now: datetime
    request_id: RequestId | None = None
    response_id: RequestId | None = None


# --------------------------------------------------------------------------- scaffolding


def text_child(parent: etree._Element, tag: str, text: object) -> etree._Element:
    """Append ``<tag>text</tag>`` to ``parent``."""
    child = etree.SubElement(parent, tag)
    child.text = str(text)
    return child


def new_response(header: Header) -> tuple[etree._ElementTree, etree._Element]:
    """An unsigned ``sr:Response`` with its Header filled in; returns the tree and the Body."""
    root = etree.Element(sr("Response"), nsmap=NSMAP)
    root.set("schemaVersion", SCHEMA_VERSION)
    element = etree.SubElement(root, sr("Header"))
    if header.request_id is not None:
        text_child(element, sr("RequestID"), header.request_id)
    if header.response_id is not None:
        text_child(element, sr("ResponseID"), header.response_id)
    text_child(element, sr("ResponseCode"), header.code.value)
    text_child(element, sr("ResponseDateTime"), format_datetime(header.now))
    return root.getroottree(), etree.SubElement(root, sr("Body"))


def signed_standalone(root: etree._Element, credentials: SigningCredentials) -> etree._Element:
    """Sign ``root`` as a document of its own, ready to be embedded in a Response.

    ``root`` must be built with ``NSMAP`` so that the namespaces in scope where it is signed
    are exactly those in scope once it sits inside the Response: a verifier that canonicalises
    it in place (inclusive C14N pulls in the ancestors' declarations) then sees what was signed.
    """
    if root.getparent() is not None:
        raise ValueError("sign the element standalone, before it is embedded")
    if dict(root.nsmap) != NSMAP:
        raise ValueError("an embedded signed element must declare exactly sr, ra and ds")
    sign(root, credentials)
    return root


def _message(
    body: etree._Element, local: str, service_reference: str | None, srv: str | None
) -> etree._Element:
    message = etree.SubElement(body, sr(local))
    if service_reference is not None:
        text_child(message, sr("ServiceReference"), service_reference)
    if srv is not None:
        text_child(message, sr("ServiceReferenceVariant"), srv)
    return message


# --------------------------------------------------------------------------- responses


def acknowledgement(request: ServiceRequest | RequestRef, now: datetime) -> etree._ElementTree:
    """The I99 acknowledgement: the DCC has accepted a device request for processing."""
    ref = RequestRef.of(request) if isinstance(request, ServiceRequest) else request
    header = Header(ResponseCode.ACKNOWLEDGED, now, ref.request_id, ref.request_id.response_id())
    tree, body = new_response(header)
    _message(body, "ResponseMessage", ref.service_reference, ref.srv)
    return tree


def response(
    request_id: RequestId | None,
    *,
    service_reference: str,
    srv: str,
    code: ResponseCode,
    now: datetime,
    payload: bytes | etree._Element | None = None,
    include_response_id: bool | None = None,
) -> etree._ElementTree:
    """A Response (I0 or an error) to a Service Request, in an ``sr:ResponseMessage``.

    ``payload`` is the device's GBCS payload (bytes, written base64), a non-device body
    element in the ``sr`` namespace (e.g. ``sr:DSPInventory`` for 8.2 Read Inventory; it is
    copied, not moved), or ``None``. ``request_id`` may be ``None`` when it could not be read.

    The ResponseID names the responder. By default it is written only when the device answered
    (a GBCS payload), as DCC does: its own errors and non-device answers carry just the RequestID.
    """
    if not service_reference or not srv:
        raise ValueError("a DUIS ResponseMessage needs its ServiceReference and variant")
    if include_response_id is None:
        include_response_id = isinstance(payload, bytes)
    if include_response_id and request_id is None:
        raise ValueError("a ResponseID is derived from the RequestID, which is missing")
    response_id = request_id.response_id() if include_response_id and request_id else None
    tree, body = new_response(Header(code, now, request_id, response_id))
    message = _message(body, "ResponseMessage", service_reference, srv)
    if isinstance(payload, bytes):
        text_child(message, sr("GBCSPayload"), base64.b64encode(payload).decode("ascii"))
    elif payload is not None:
        if etree.QName(payload).namespace != SR_NS:
            raise ValueError(f"a ResponseMessage body element must be in {SR_NS}")
        message.append(copy.deepcopy(payload))
    return tree


# --------------------------------------------------------------------------- SMETS1


@dataclass(frozen=True, slots=True)
class Smets1Status:
    """One ra:SMETS1Debug entry: the S1SP's numeric result code and its explanation."""

    code: int
    text: str = ""

    def __post_init__(self) -> None:
        if len(self.text) > _MAX_STATUS_TEXT:
            raise ValueError(f"SMETS1 status text is limited to {_MAX_STATUS_TEXT} characters")


@dataclass(frozen=True, slots=True)
class Smets1Payload:
    """The S1SP's account of the outcome, an ``ra:ResponsePayload``.

    ``smets_data`` is one MMC response element in the ``ra`` namespace (e.g.
    ``ra:ReadInstantaneousImportRegistersRsp``), the SRV's outcome; ``statuses`` become
    ``ra:DebugInfo/ra:SMETS1Debug`` entries, in order.
    """

    smets_data: etree._Element | None = None
    statuses: tuple[Smets1Status, ...] = ()


def smets1_response(
    request_id: RequestId,
    *,
    service_reference: str,
    srv: str,
    code: ResponseCode,
    now: datetime,
    s1sp_credentials: SigningCredentials,
    payload: Smets1Payload | None = None,
) -> etree._ElementTree:
    """A Response to a SMETS1 Service Request, carrying the S1SP's signed response.

    The DUIS ResponseCode in the outer header is the DSP's verdict. The S1SP's signed part
    must not contradict it: for an error code with no ``statuses``, one status is derived
    from the code (``E21`` -> ResponseCode ``21``, text ``E21``).
    """
    ref = RequestRef(request_id, service_reference, srv)
    responder = request_id.response_id()
    inner_body = _smets1_body(code, payload)
    signed = smets1_signed_response(responder, ref, inner_body, now, s1sp_credentials)
    return smets1_message(Header(code, now, request_id, responder), ref, signed)


def scheduled_smets1_response(
    response_id: RequestId,
    *,
    dsp_schedule_id: int,
    service_reference: str,
    srv: str,
    code: ResponseCode,
    now: datetime,
    s1sp_credentials: SigningCredentials,
    payload: Smets1Payload | None = None,
) -> etree._ElementTree:
    """The Response to one run of a DSP schedule (SRV 5.1): a SMETS1 response that no User
    request preceded, so its header has no RequestID. ``response_id`` is device:User:counter;
    the SMETS1ResponseMessage names the schedule (``DSPScheduleID``). Statuses as in
    ``smets1_response``."""
    inner_body = _smets1_body(code, payload)
    # The MMC header's identity is the ResponseID's; a RequestRef needs a RequestId, so the
    # ResponseID stands in for it (the ref only carries the Service Reference and variant).
    ref = RequestRef(response_id, service_reference, srv)
    signed = smets1_signed_response(response_id, ref, inner_body, now, s1sp_credentials)
    header = Header(code, now, None, response_id)
    return smets1_message(header, ref, signed, dsp_schedule_id=dsp_schedule_id)


def _smets1_body(code: ResponseCode, payload: Smets1Payload | None) -> etree._Element:
    """The S1SP's inner ``sr:Body``; an error code with no statuses gets one derived from it."""
    payload = payload or Smets1Payload()
    if code.is_error and not payload.statuses:
        derived = Smets1Status(int(code.value[1:]), code.value)
        payload = Smets1Payload(payload.smets_data, (derived,))
    inner_body = etree.Element(sr("Body"), nsmap=NSMAP)
    _response_payload(etree.SubElement(inner_body, sr("ResponseMessage")), payload)
    return inner_body


def smets1_signed_response(
    responder: RequestId,
    ref: RequestRef | None,
    body: etree._Element,
    now: datetime,
    s1sp_credentials: SigningCredentials,
) -> etree._Element:
    """An ``sr:SMETS1SignedResponse`` holding ``body`` (an sr:Body), signed by the S1SP.

    ``responder`` is the device:User:counter identity that the MMC header spells out as
    BusinessOriginatorID, BusinessTargetID and OriginatorCounter.
    """
    root = etree.Element(sr("SMETS1SignedResponse"), nsmap=NSMAP)
    root.set("schemaVersion", SCHEMA_VERSION)
    content = etree.SubElement(root, sr("SMETS1Response"))
    header = etree.SubElement(content, sr("Header"))
    text_child(header, ra("BusinessOriginatorID"), responder.originator)
    text_child(header, ra("BusinessTargetID"), responder.target)
    text_child(header, ra("OriginatorCounter"), responder.counter)
    if ref is not None:
        text_child(header, ra("ServiceReference"), ref.service_reference)
        text_child(header, ra("ServiceReferenceVariant"), ref.srv)
    text_child(header, ra("Timestamp"), format_datetime(now))
    content.append(body)
    return signed_standalone(root, s1sp_credentials)


def smets1_message(
    header: Header,
    ref: RequestRef | None,
    signed: etree._Element,
    *,
    dsp_schedule_id: int | None = None,
) -> etree._ElementTree:
    """The outer Response around an already signed ``sr:SMETS1SignedResponse``; a run of a
    DSP schedule names the schedule (``dsp_schedule_id``, sr:scheduleID)."""
    tree, body = new_response(header)
    service_reference, srv = (ref.service_reference, ref.srv) if ref else (None, None)
    message = _message(body, "SMETS1ResponseMessage", service_reference, srv)
    if dsp_schedule_id is not None:
        if not 0 <= dsp_schedule_id <= _SCHEDULE_ID_MAX:
            raise ValueError(f"a DSP schedule id is 0..{_SCHEDULE_ID_MAX}: {dsp_schedule_id}")
        text_child(message, sr("DSPScheduleID"), dsp_schedule_id)
    message.append(signed)
    return tree


def _response_payload(message: etree._Element, payload: Smets1Payload) -> None:
    if payload.smets_data is not None:
        if etree.QName(payload.smets_data).namespace != RA_NS:
            raise ValueError(f"SMETSData content must be an MMC element in {RA_NS}")
        etree.SubElement(message, ra("SMETSData")).append(copy.deepcopy(payload.smets_data))
    if payload.statuses:
        debug = etree.SubElement(etree.SubElement(message, ra("DebugInfo")), ra("SMETS1Debug"))
        for position, status in enumerate(payload.statuses, start=1):
            entry = etree.SubElement(debug, ra("SMETS1Response"))
            entry.set("ResponseCode", str(status.code))
            entry.set("Position", str(position))
            text_child(entry, ra("Error"), status.text)


def verify_smets1_signed_response(
    tree: etree._ElementTree | etree._Element,
    lookup: CertificateLookup,
    now: datetime,
    policy: SignerPolicy = S1SP_SIGNED,
) -> CertificateInfo:
    """Check the S1SP's signature on the embedded SMETS1SignedResponse; return its signer."""
    path = f"{sr('Body')}/{sr('SMETS1ResponseMessage')}/{sr('SMETS1SignedResponse')}"
    return verify(find_required(tree, path), lookup, policy, now)


def find_required(tree: etree._ElementTree | etree._Element, path: str) -> etree._Element:
    """The element at ``path`` below the root, or ``MissingElement``."""
    root = tree.getroot() if isinstance(tree, etree._ElementTree) else tree
    found = root.find(path)
    if found is None:
        raise MissingElement(f"no {path} in the document")
    return found


# --------------------------------------------------------------------------- output


def sign_document(tree: etree._ElementTree, credentials: SigningCredentials) -> etree._ElementTree:
    """Sign the Response in place (the DCC's own key, normally) and return the same tree."""
    sign(tree.getroot(), credentials)
    return tree


def to_bytes(tree: etree._ElementTree | etree._Element) -> bytes:
    """UTF-8 with an XML declaration and no indentation: DCC tooling verifies without it."""
    root = tree.getroot() if isinstance(tree, etree._ElementTree) else tree
    return b'<?xml version="1.0" encoding="UTF-8"?>' + etree.tostring(root, encoding="UTF-8")
