"""The DCC's signed answers without a payload, written as text: the I99 acknowledgement and the
coded refusals (E1, E2 ...) every front-door request ends with.

Such a Response is always the same shape (``response.acknowledgement`` / ``response.response``
with no payload): a Header of RequestID, maybe ResponseID, ResponseCode and ResponseDateTime, and
a ResponseMessage of ServiceReference and ServiceReferenceVariant. Built as an lxml tree, signed
(``xmldsig.sign``: two canonicalisations and a tree of Signature elements) and serialised, it
cost several times its one ECDSA signature. Here the two canonical forms and the serialisation
are string templates of that shape, filled with the same values: the bytes are exactly those of
``to_bytes(sign_document(...))`` for the same signature (tests/duis/test_fast_response.py checks
it over many inputs). A value outside the templates' plain alphabet (anything C14N or the
serialiser would escape or normalise) takes the lxml path instead.
"""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import datetime

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from opendcc.core.errors import ResponseCode
from opendcc.core.request_id import RequestId
from opendcc.duis.request import ServiceRequest
from opendcc.duis.response import (
    SCHEMA_VERSION,
    RequestRef,
    format_datetime,
    response,
    sign_document,
    to_bytes,
)
from opendcc.duis.xml import DS_NS, RA_NS, SR_NS
from opendcc.duis.xmldsig import ECDSA_SHA256, ENVELOPED, EXC_C14N, SHA256, SIGNED_INFO_C14N
from opendcc.smki.credentials import SigningCredentials

# What a value may hold to be written as is: no character C14N or the serialiser changes.
_PLAIN = re.compile(r"[0-9A-Za-z.:_ ,=/+-]*")
_SCALAR_BYTES = 32

_CANONICAL_ROOT = (
    f'<sr:Response xmlns:ds="{DS_NS}" xmlns:ra="{RA_NS}" xmlns:sr="{SR_NS}"'
    f' schemaVersion="{SCHEMA_VERSION}">'
)
_SERIAL_ROOT = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    f'<sr:Response xmlns:sr="{SR_NS}" xmlns:ra="{RA_NS}" xmlns:ds="{DS_NS}"'
    f' schemaVersion="{SCHEMA_VERSION}">'
)
# The same SignedInfo as serialised inside the document (ds declared on the root).
_SIGNED_INFO_XML = (
    "<ds:SignedInfo>"
    f'<ds:CanonicalizationMethod Algorithm="{EXC_C14N}"/>'
    f'<ds:SignatureMethod Algorithm="{ECDSA_SHA256}"/>'
    f'<ds:Reference URI=""><ds:Transforms><ds:Transform Algorithm="{ENVELOPED}"/></ds:Transforms>'
    f'<ds:DigestMethod Algorithm="{SHA256}"/>'
    "<ds:DigestValue>{digest}</ds:DigestValue></ds:Reference></ds:SignedInfo>"
)


def _plain(*values: str) -> bool:
    return all(_PLAIN.fullmatch(value) for value in values)


def signed_acknowledgement(
    request: ServiceRequest | RequestRef, now: datetime, credentials: SigningCredentials
) -> bytes:
    """``to_bytes(sign_document(acknowledgement(request, now), credentials))``, as text."""
    ref = RequestRef.of(request) if isinstance(request, ServiceRequest) else request
    return signed_plain_response(
        ref.request_id,
        service_reference=ref.service_reference,
        srv=ref.srv,
        code=ResponseCode.ACKNOWLEDGED,
        now=now,
        credentials=credentials,
        include_response_id=True,
    )


def signed_refusal(
    request_id: RequestId | None,
    *,
    service_reference: str,
    srv: str,
    code: ResponseCode,
    now: datetime,
    credentials: SigningCredentials,
) -> bytes:
    """``to_bytes(sign_document(response(request_id, ..., code=code, now=now)))`` (no
    payload, no ResponseID), as text."""
    return signed_plain_response(
        request_id,
        service_reference=service_reference,
        srv=srv,
        code=code,
        now=now,
        credentials=credentials,
    )


def signed_plain_response(
    request_id: RequestId | None,
    *,
    service_reference: str,
    srv: str,
    code: ResponseCode,
    now: datetime,
    credentials: SigningCredentials,
    include_response_id: bool = False,
) -> bytes:
    """A signed Response without payload (``response.response``'s arguments), serialised as
    ``to_bytes`` serialises it."""
    if include_response_id and request_id is None:
        raise ValueError("a ResponseID is derived from the RequestID, which is missing")
    rid = str(request_id) if request_id is not None else None
    resp = str(request_id.response_id()) if include_response_id and request_id else None
    when = format_datetime(now)
    issuer, serial = credentials.info.issuer, str(credentials.info.serial)
    if (
        not service_reference
        or not srv
        or not _plain(rid or "", resp or "", code.value, when, service_reference, srv, issuer)
    ):
        tree = response(
            request_id,
            service_reference=service_reference,
            srv=srv,
            code=code,
            now=now,
            include_response_id=include_response_id,
        )
        return to_bytes(sign_document(tree, credentials))  # the lxml path
    header = (
        (f"<sr:RequestID>{rid}</sr:RequestID>" if rid is not None else "")
        + (f"<sr:ResponseID>{resp}</sr:ResponseID>" if resp is not None else "")
        + f"<sr:ResponseCode>{code.value}</sr:ResponseCode>"
        + f"<sr:ResponseDateTime>{when}</sr:ResponseDateTime>"
    )
    content = (
        f"<sr:Header>{header}</sr:Header><sr:Body><sr:ResponseMessage>"
        f"<sr:ServiceReference>{service_reference}</sr:ServiceReference>"
        f"<sr:ServiceReferenceVariant>{srv}</sr:ServiceReferenceVariant>"
        "</sr:ResponseMessage></sr:Body>"
    )
    canonical = f"{_CANONICAL_ROOT}{content}</sr:Response>".encode()
    digest = base64.b64encode(hashlib.sha256(canonical).digest()).decode()
    der = credentials.key.sign(
        SIGNED_INFO_C14N.format(digest=digest).encode(), ec.ECDSA(hashes.SHA256())
    )
    r, s = decode_dss_signature(der)
    raw = r.to_bytes(_SCALAR_BYTES, "big") + s.to_bytes(_SCALAR_BYTES, "big")
    signature = (
        "<ds:Signature>"
        + _SIGNED_INFO_XML.format(digest=digest)
        + f"<ds:SignatureValue>{base64.b64encode(raw).decode()}</ds:SignatureValue>"
        + "<ds:KeyInfo><ds:X509Data><ds:X509IssuerSerial>"
        + f"<ds:X509IssuerName>{issuer}</ds:X509IssuerName>"
        + f"<ds:X509SerialNumber>{serial}</ds:X509SerialNumber>"
        + "</ds:X509IssuerSerial></ds:X509Data></ds:KeyInfo></ds:Signature>"
    )
    return f"{_SERIAL_ROOT}{content}{signature}</sr:Response>".encode()
