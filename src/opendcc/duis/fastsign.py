"""The signed SMETS1 Response as strings: the same bytes as building, signing and serialising
the tree, for a fraction of the CPU.

A worker answers every SMETS1 request with ``to_bytes(sign_document(smets1_response(...)))``:
an lxml tree built element by element, the S1SP's signature over the inner
``sr:SMETS1SignedResponse`` and the DCC's over the whole ``sr:Response`` (each an inclusive
C14N of the signed element for the digest and an exclusive C14N of ``ds:SignedInfo`` for the
signature), then the tree serialised. Everything in it but the MMC payload is fixed text with
a handful of values, so here each of the four forms that matter (the inner element's C14N,
the outer's C14N, each SignedInfo's exclusive C14N, the output) is written directly:

- the C14N forms follow what libxml2's canonicaliser writes for these documents: namespace
  declarations sorted by prefix before the attributes, on the signed element only (every
  descendant uses the ``sr``/``ra``/``ds`` declared there); empty elements as start and end
  tag; text escaped ``&`` ``<`` ``>``;
- the output is what ``to_bytes`` writes: the XML declaration, the root declaring ``sr``,
  ``ra``, ``ds`` in that order, empty elements self-closed;
- the MMC payload element (``Smets1Payload.smets_data``) is an lxml element from the SRV's
  service: it is serialised by lxml itself, once in exclusive C14N and once plainly, each with
  its one ``xmlns:ra`` declaration taken off (it sits where ``ra`` is already declared).

Values these rules do not cover (a carriage return or another control character in a status
text, a payload declaring any namespace but ``ra``) are left to the tree builder:
``signed_smets1_response`` falls back to it, so the answer is always right. The tests check
the two byte for byte (SignatureValues aside: ECDSA signatures are randomised), and that the
result verifies with ``opendcc.duis.xmldsig.verify``.
"""

from __future__ import annotations

import copy
import re
from datetime import datetime

from lxml import etree

from opendcc.core.errors import ResponseCode
from opendcc.core.request_id import RequestId
from opendcc.duis.response import (
    NSMAP,
    SCHEMA_VERSION,
    Smets1Payload,
    Smets1Status,
    format_datetime,
    sign_document,
    smets1_response,
    to_bytes,
)
from opendcc.duis.xml import DS_NS, RA_NS, SR_NS, strip_insignificant_whitespace
from opendcc.duis.xmldsig import text_signature
from opendcc.smki.credentials import SigningCredentials

_DECLARATIONS = tuple(f' xmlns:{prefix}="{uri}"' for prefix, uri in NSMAP.items())
# Namespace declarations as C14N writes them (sorted by prefix) and as the output does.
_C14N_NAMESPACES = f' xmlns:ds="{DS_NS}" xmlns:ra="{RA_NS}" xmlns:sr="{SR_NS}"'
_OUTPUT_NAMESPACES = "".join(f' xmlns:{prefix}="{uri}"' for prefix, uri in NSMAP.items())
_XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'
# Characters C14N and the output write differently (CR), or that are not XML at all.
_UNCOVERED = re.compile("[\x00-\x08\x0b-\x1f\ud800-\udfff\ufffe\uffff]")


class _NotCovered(Exception):
    """A value the string forms do not cover: the tree builder answers instead."""


def signed_smets1_response(
    request_id: RequestId,
    *,
    service_reference: str,
    srv: str,
    code: ResponseCode,
    now: datetime,
    s1sp_credentials: SigningCredentials,
    dcc_credentials: SigningCredentials,
    payload: Smets1Payload | None = None,
) -> bytes:
    """``to_bytes(sign_document(smets1_response(...), dcc_credentials))``, written directly."""
    try:
        return _written(
            request_id,
            service_reference=service_reference,
            srv=srv,
            code=code,
            now=now,
            s1sp_credentials=s1sp_credentials,
            dcc_credentials=dcc_credentials,
            payload=payload,
        )
    except _NotCovered:
        tree = smets1_response(
            request_id,
            service_reference=service_reference,
            srv=srv,
            code=code,
            now=now,
            s1sp_credentials=s1sp_credentials,
            payload=payload,
        )
        return to_bytes(sign_document(tree, dcc_credentials))


def _written(
    request_id: RequestId,
    *,
    service_reference: str,
    srv: str,
    code: ResponseCode,
    now: datetime,
    s1sp_credentials: SigningCredentials,
    dcc_credentials: SigningCredentials,
    payload: Smets1Payload | None,
) -> bytes:
    payload = payload or Smets1Payload()
    if code.is_error and not payload.statuses:
        payload = Smets1Payload(
            payload.smets_data, (Smets1Status(int(code.value[1:]), code.value),)
        )
    responder = request_id.response_id()
    stamp = _text(format_datetime(now))
    reference = _text(service_reference)
    variant = _text(srv)
    # The S1SP's signed content, the same in C14N and in the output but for empty elements
    # (the payload's own) and the element's own start tag.
    message_c14n, message_out = _response_message(payload)
    content_head = (
        "<sr:SMETS1Response><sr:Header>"
        f"<ra:BusinessOriginatorID>{_text(str(responder.originator))}</ra:BusinessOriginatorID>"
        f"<ra:BusinessTargetID>{_text(str(responder.target))}</ra:BusinessTargetID>"
        f"<ra:OriginatorCounter>{responder.counter}</ra:OriginatorCounter>"
        f"<ra:ServiceReference>{reference}</ra:ServiceReference>"
        f"<ra:ServiceReferenceVariant>{variant}</ra:ServiceReferenceVariant>"
        f"<ra:Timestamp>{stamp}</ra:Timestamp>"
        "</sr:Header><sr:Body><sr:ResponseMessage>"
    )
    content_tail = "</sr:ResponseMessage></sr:Body></sr:SMETS1Response>"
    attributes = f' schemaVersion="{SCHEMA_VERSION}"'
    inner_c14n = (
        f"<sr:SMETS1SignedResponse{_C14N_NAMESPACES}{attributes}>"
        f"{content_head}{message_c14n}{content_tail}</sr:SMETS1SignedResponse>"
    )
    inner_sig_c14n, inner_sig_out = _signature(inner_c14n, s1sp_credentials)
    inner_in_place_c14n = (
        f"<sr:SMETS1SignedResponse{attributes}>{content_head}{message_c14n}{content_tail}"
        f"{inner_sig_c14n}</sr:SMETS1SignedResponse>"
    )
    inner_out = (
        f"<sr:SMETS1SignedResponse{attributes}>{content_head}{message_out}{content_tail}"
        f"{inner_sig_out}</sr:SMETS1SignedResponse>"
    )
    outer_head = (
        "<sr:Header>"
        f"<sr:RequestID>{_text(str(request_id))}</sr:RequestID>"
        f"<sr:ResponseID>{_text(str(responder))}</sr:ResponseID>"
        f"<sr:ResponseCode>{_text(code.value)}</sr:ResponseCode>"
        f"<sr:ResponseDateTime>{stamp}</sr:ResponseDateTime>"
        "</sr:Header><sr:Body><sr:SMETS1ResponseMessage>"
        f"<sr:ServiceReference>{reference}</sr:ServiceReference>"
        f"<sr:ServiceReferenceVariant>{variant}</sr:ServiceReferenceVariant>"
    )
    outer_tail = "</sr:SMETS1ResponseMessage></sr:Body>"
    outer_c14n = (
        f"<sr:Response{_C14N_NAMESPACES}{attributes}>{outer_head}{inner_in_place_c14n}"
        f"{outer_tail}</sr:Response>"
    )
    _, outer_sig_out = _signature(outer_c14n, dcc_credentials)
    return (
        f"{_XML_DECLARATION}<sr:Response{_OUTPUT_NAMESPACES}{attributes}>{outer_head}"
        f"{inner_out}{outer_tail}{outer_sig_out}</sr:Response>"
    ).encode()


def _response_message(payload: Smets1Payload) -> tuple[str, str]:
    """The inside of ``sr:ResponseMessage``: (C14N form, output form)."""
    c14n = out = ""
    if payload.smets_data is not None:
        c14n, out = _payload_forms(payload.smets_data)
    if payload.statuses:
        # C14N writes attributes sorted by name; the output in the order they were set.
        entries = [
            (
                f'Position="{position}" ResponseCode="{status.code}"',
                f'ResponseCode="{status.code}" Position="{position}"',
                f"<ra:Error>{_text(status.text)}</ra:Error></ra:SMETS1Response>",
            )
            for position, status in enumerate(payload.statuses, start=1)
        ]
        head = "<ra:DebugInfo><ra:SMETS1Debug>"
        tail = "</ra:SMETS1Debug></ra:DebugInfo>"
        c14n += head + "".join(f"<ra:SMETS1Response {a}>{e}" for a, _, e in entries) + tail
        out += head + "".join(f"<ra:SMETS1Response {a}>{e}" for _, a, e in entries) + tail
    return c14n, out


def _payload_forms(element: etree._Element) -> tuple[str, str]:
    """``ra:SMETSData`` around the payload: (C14N form, output form). Placed as the tree
    builder places it (lxml gives it the ``ra`` prefix in scope), then serialised by lxml."""
    if etree.QName(element).namespace != RA_NS:
        raise ValueError(f"SMETSData content must be an MMC element in {RA_NS}")
    scope = etree.Element(f"{{{SR_NS}}}ResponseMessage", nsmap=NSMAP)
    data = etree.SubElement(scope, f"{{{RA_NS}}}SMETSData")
    data.append(copy.deepcopy(element))
    strip_insignificant_whitespace(scope)
    forms = []
    for written in (
        etree.tostring(data, method="c14n", exclusive=True).decode(),
        etree.tostring(data, encoding="unicode"),
    ):
        head, _, rest = written.partition(">")
        for declaration in _DECLARATIONS:
            head = head.replace(declaration, "")
        form = f"{head}>{rest}"
        if "xmlns" in form or "&#" in form or "\r" in form:
            raise _NotCovered("namespaces or character references the two forms write apart")
        forms.append(form)
    return forms[0], forms[1]


def _signature(signed_c14n: str, credentials: SigningCredentials) -> tuple[str, str]:
    """The enveloped ``ds:Signature`` over an element whose C14N (without it) is
    ``signed_c14n``: (its C14N form in place, its output form)."""
    _text(credentials.info.issuer)  # an issuer the text forms do not cover takes the tree path
    return text_signature(signed_c14n.encode(), credentials)


def _text(value: str) -> str:
    """Character data escaped alike in C14N and in the output; other values are not covered."""
    if _UNCOVERED.search(value):
        raise _NotCovered("a control character, escaped apart (or refused) by the two forms")
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
