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

import re
from datetime import datetime

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
from opendcc.duis.xmldsig import text_signature
from opendcc.smki.credentials import SigningCredentials

# What a value may hold to be written as is: no character C14N or the serialiser changes.
_PLAIN = re.compile(r"[0-9A-Za-z.:_ ,=/+-]*")

_CANONICAL_ROOT = (
    f'<sr:Response xmlns:ds="{DS_NS}" xmlns:ra="{RA_NS}" xmlns:sr="{SR_NS}"'
    f' schemaVersion="{SCHEMA_VERSION}">'
)
_SERIAL_ROOT = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    f'<sr:Response xmlns:sr="{SR_NS}" xmlns:ra="{RA_NS}" xmlns:ds="{DS_NS}"'
    f' schemaVersion="{SCHEMA_VERSION}">'
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
    issuer = credentials.info.issuer
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
    _, signature = text_signature(canonical, credentials)
    return f"{_SERIAL_ROOT}{content}{signature}</sr:Response>".encode()
