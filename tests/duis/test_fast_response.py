"""The text-built signed answers (``duis.fast_response``) are byte for byte the lxml path's.

ECDSA signatures are randomised, so the comparisons sign with RFC 6979 deterministic ECDSA (the
same key, a wrapper choosing the nonce deterministically): equal bytes then mean the same digest
input, the same SignedInfo signed and the same serialisation. With the real key, the fast
answer verifies as a DCC-signed document.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.duis.support import DCC_POLICY, NOW, REQUEST_ID

from opendcc.catalogue import default_catalogue
from opendcc.core import RequestId, ResponseCode
from opendcc.core.eui import Eui64
from opendcc.duis.fast_response import signed_acknowledgement, signed_plain_response, signed_refusal
from opendcc.duis.response import RequestRef, acknowledgement, response, sign_document, to_bytes
from opendcc.duis.xml import parse_xml
from opendcc.duis.xmldsig import verify
from opendcc.smki import SigningCredentials, TrustStore

SRVS = sorted((srv.service_reference, srv.srv) for srv in default_catalogue())


class Deterministic:
    """The key, signing with RFC 6979 nonces: the same input gives the same signature."""

    def __init__(self, key: ec.EllipticCurvePrivateKey) -> None:
        self.key = key
        self.curve = key.curve

    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self.key.public_key()

    def sign(self, data: bytes, _algorithm: Any) -> bytes:
        return self.key.sign(data, ec.ECDSA(hashes.SHA256(), deterministic_signing=True))


@pytest.fixture(scope="module")
def fixed(dcc_credentials: SigningCredentials) -> SigningCredentials:
    return replace(dcc_credentials, key=Deterministic(dcc_credentials.key))  # type: ignore[arg-type]


euis = st.integers(0, 2**64 - 1).map(lambda v: Eui64.parse(f"{v:016X}"))
request_ids = st.builds(RequestId, euis, euis, st.integers(0, 2**64 - 1))
instants = st.datetimes(
    datetime(2000, 1, 1),
    datetime(2200, 1, 1),
    timezones=st.sampled_from(
        [UTC, timezone(timedelta(hours=-5, minutes=-30)), timezone(timedelta(hours=14))]
    ),
)
codes = st.sampled_from(list(ResponseCode))
srvs = st.sampled_from(SRVS)
# Anything a refusal could be handed: the fast path must fall back, not differ.
odd = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=12
)


@settings(max_examples=300, deadline=None)
@given(request_ids, instants, srvs)
def test_the_acknowledgement_is_the_lxml_one(
    fixed: SigningCredentials, rid: RequestId, now: datetime, srv: tuple[str, str]
) -> None:
    ref = RequestRef(rid, *srv)
    slow = to_bytes(sign_document(acknowledgement(ref, now), fixed))
    assert signed_acknowledgement(ref, now, fixed) == slow


@settings(max_examples=300, deadline=None)
@given(st.none() | request_ids, codes, instants, srvs)
def test_a_refusal_is_the_lxml_one(
    fixed: SigningCredentials,
    rid: RequestId | None,
    code: ResponseCode,
    now: datetime,
    srv: tuple[str, str],
) -> None:
    reference, variant = srv
    kwargs = {"service_reference": reference, "srv": variant, "code": code, "now": now}
    slow = to_bytes(sign_document(response(rid, **kwargs), fixed))  # type: ignore[arg-type]
    assert signed_refusal(rid, credentials=fixed, **kwargs) == slow  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None)
@given(request_ids, instants, st.tuples(odd | srvs.map(lambda s: s[0]), odd), st.booleans())
def test_unusual_text_takes_the_lxml_path_and_is_equal(
    fixed: SigningCredentials,
    rid: RequestId,
    now: datetime,
    texts: tuple[str, str],
    with_response_id: bool,
) -> None:
    reference, variant = texts
    kwargs = {
        "service_reference": reference,
        "srv": variant,
        "code": ResponseCode.SUCCESS,
        "now": now,
    }
    tree = response(rid, include_response_id=with_response_id, **kwargs)  # type: ignore[arg-type]
    slow = to_bytes(sign_document(tree, fixed))
    fast = signed_plain_response(
        rid,
        credentials=fixed,
        include_response_id=with_response_id,
        **kwargs,  # type: ignore[arg-type]
    )
    assert fast == slow


def test_an_issuer_needing_escapes_is_still_equal(fixed: SigningCredentials) -> None:
    odd_issuer = replace(fixed, info=replace(fixed.info, issuer="CN=A&B <Z1>,OU=07"))
    ref = RequestRef(REQUEST_ID, "4.1", "4.1.1")
    slow = to_bytes(sign_document(acknowledgement(ref, NOW), odd_issuer))
    assert signed_acknowledgement(ref, NOW, odd_issuer) == slow


def test_the_fast_answer_verifies_as_the_dccs(
    dcc_credentials: SigningCredentials, trust_store: TrustStore
) -> None:
    ref = RequestRef(REQUEST_ID, "4.1", "4.1.1")
    document = parse_xml(signed_acknowledgement(ref, NOW, dcc_credentials))
    signer = verify(document.getroot(), trust_store, DCC_POLICY, NOW)
    assert signer.eui == DCC_POLICY.signer


def test_plain_answers_take_the_text_path(
    fixed: SigningCredentials, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not the lxml path in disguise: with it gone, the front door's answers are still built."""

    def gone(*_: object, **__: object) -> None:
        raise AssertionError("the lxml path was taken")

    monkeypatch.setattr("opendcc.duis.fast_response.sign_document", gone)
    signed_acknowledgement(RequestRef(REQUEST_ID, "4.1", "4.1.1"), NOW, fixed)
    for rid in (REQUEST_ID, None):
        signed_refusal(
            rid,
            service_reference="4.1",
            srv="4.1.1",
            code=ResponseCode.INVALID_USER_ROLE,
            now=NOW,
            credentials=fixed,
        )


@pytest.mark.parametrize(
    "document",
    [
        b"<a><b>1</b></a>",
        b'<sr:R xmlns:sr="urn:x" xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><sr:b/></sr:R>',
        b'<R xmlns="urn:default" xmlns:ds="urn:not-dsig"><b>&amp;</b></R>',
    ],
)
def test_the_signed_info_template_is_lxmls_c14n(
    document: bytes, dcc_credentials: SigningCredentials
) -> None:
    """``xmldsig.sign`` signs the template; what a verifier canonicalises must be the same."""
    from lxml import etree

    from opendcc.duis.xmldsig import SIGNED_INFO_C14N, _c14n_signed_info, sign

    root = etree.fromstring(document)
    signature = sign(root, dcc_credentials)
    signed_info = signature[0]
    digest = signed_info.findtext(".//{http://www.w3.org/2000/09/xmldsig#}DigestValue")
    assert signature.prefix == "ds"
    assert _c14n_signed_info(signed_info) == SIGNED_INFO_C14N.format(digest=digest).encode()
