"""XMLDSig as DCC Boxed does it: round trips, real DCC-signed documents, tampering, reasons."""

from __future__ import annotations

import base64
import re
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from tests.conftest import credentials
from tests.reference import NOW, SAMPLES, SUPPLIER, TEMPLATES

from opendcc.core.eui import Eui64
from opendcc.duis.authenticate import verify_document
from opendcc.duis.xml import DS_NS, parse_xml
from opendcc.duis.xmldsig import (
    DCC_SIGNED,
    USER_SIGNED,
    SignatureFailure,
    SignatureInvalid,
    SignerPolicy,
    sign,
    verify,
)
from opendcc.smki import SigningCredentials, TrustStore

REQUEST_4_1_1 = TEMPLATES / "ECS17b_4.1.1_SINGLE_SUCCESS_REQUEST_DUIS.XML"
SUPPLIER_POLICY = SignerPolicy(USER_SIGNED, Eui64.parse(SUPPLIER))


def signed_request(creds: SigningCredentials, path: Path = REQUEST_4_1_1) -> bytes:
    document = parse_xml(path.read_bytes())
    sign(document.getroot(), creds)
    return etree.tostring(document, xml_declaration=True, encoding="UTF-8")


def reason(data: bytes, store: TrustStore, policy: SignerPolicy = SUPPLIER_POLICY, now=NOW) -> str:
    with pytest.raises(SignatureInvalid) as caught:
        verify(parse_xml(data).getroot(), store, policy, now)
    return caught.value.reason


def test_round_trip(supplier_credentials: SigningCredentials, trust_store: TrustStore) -> None:
    data = signed_request(supplier_credentials)
    signer = verify(parse_xml(data).getroot(), trust_store, SUPPLIER_POLICY, NOW)
    assert signer.eui == Eui64.parse(SUPPLIER)


def test_signature_is_the_last_child_and_shaped_like_dcc_boxed(
    supplier_credentials: SigningCredentials,
) -> None:
    root = parse_xml(signed_request(supplier_credentials)).getroot()
    signature = root[-1]
    assert signature.tag == f"{{{DS_NS}}}Signature"
    assert signature.prefix == "ds"
    issuer_serial = signature.find(".//{*}X509IssuerSerial")
    assert issuer_serial is not None
    assert issuer_serial.findtext("{*}X509IssuerName") == "CN=Z1,OU=07"
    assert issuer_serial.findtext("{*}X509SerialNumber") == str(supplier_credentials.info.serial)
    raw = base64.b64decode(signature.findtext("{*}SignatureValue") or "")
    assert len(raw) == 64  # raw r||s, not DER


def test_signing_twice_replaces_the_signature(
    supplier_credentials: SigningCredentials, trust_store: TrustStore
) -> None:
    document = parse_xml(signed_request(supplier_credentials))
    sign(document.getroot(), supplier_credentials)
    assert len(document.getroot().findall(f"{{{DS_NS}}}Signature")) == 1
    verify(document.getroot(), trust_store, SUPPLIER_POLICY, NOW)


def test_verification_leaves_the_document_untouched(
    supplier_credentials: SigningCredentials, trust_store: TrustStore
) -> None:
    document = parse_xml(signed_request(supplier_credentials))
    before = etree.tostring(document)
    verify(document.getroot(), trust_store, SUPPLIER_POLICY, NOW)
    assert etree.tostring(document) == before


@pytest.mark.parametrize(
    "name",
    [
        "dccboxed-signing-tool/readfw-response.xml",
        "duis-sign-wrap/readfw-version-response.xml",
    ],
)
def test_verifies_responses_signed_by_dcc_boxed(name: str, trust_store: TrustStore) -> None:
    document = parse_xml((SAMPLES / name).read_bytes())
    signer = verify_document(document, trust_store, NOW)
    assert signer.eui == Eui64.parse("90-B3-D5-1F-30-00-00-02")


def test_dcc_boxed_tampered_sample_fails(trust_store: TrustStore) -> None:
    data = (SAMPLES / "dccboxed-signing-tool/readfw-response-badsignature.xml").read_bytes()
    assert reason(data, trust_store, SignerPolicy(DCC_SIGNED)) in {
        SignatureFailure.BAD_SIGNATURE,
        SignatureFailure.DIGEST_MISMATCH,
    }


# --------------------------------------------------------------------------- tampering

TAMPERS = {
    "body": (b"<sr:ReadInstantaneousImportRegisters/>", b"<sr:ReadInstantaneousExportRegisters/>"),
    "header counter": (b":1000</sr:RequestID>", b":1001</sr:RequestID>"),
    "header target": (b"00-DB-12-34-56-78-90-A0", b"00-DB-12-34-56-78-90-A1"),
    "schema version": (b'schemaVersion="5.4"', b'schemaVersion="5.3"'),
    "whitespace in the body": (b"<sr:Body>", b"<sr:Body> "),
    "SignedInfo algorithm": (b"xmlenc#sha256", b"xmlenc#sha512"),
    "SignedInfo reference": (b'<ds:Reference URI="">', b'<ds:Reference URI="" Id="x">'),
}


@pytest.mark.parametrize("part", sorted(TAMPERS))
def test_tampering_fails(
    part: str, supplier_credentials: SigningCredentials, trust_store: TrustStore
) -> None:
    data = signed_request(supplier_credentials)
    old, new = TAMPERS[part]
    assert old in data
    assert reason(data.replace(old, new, 1), trust_store) in {
        SignatureFailure.DIGEST_MISMATCH,
        SignatureFailure.BAD_SIGNATURE,
        SignatureFailure.UNSUPPORTED_ALGORITHM,
    }


def _flip_base64(data: bytes, element: bytes, index: int) -> bytes:
    start = data.index(b"<ds:" + element + b">") + len(element) + 5
    end = data.index(b"</ds:" + element + b">")
    raw = bytearray(base64.b64decode(data[start:end]))
    raw[index] ^= 0x01
    return data[:start] + base64.b64encode(bytes(raw)) + data[end:]


@pytest.mark.parametrize("index", [0, 31, 32, 63])
def test_any_flipped_signature_bit_fails(
    index: int, supplier_credentials: SigningCredentials, trust_store: TrustStore
) -> None:
    data = _flip_base64(signed_request(supplier_credentials), b"SignatureValue", index)
    assert reason(data, trust_store) == SignatureFailure.BAD_SIGNATURE


def test_flipped_digest_fails(
    supplier_credentials: SigningCredentials, trust_store: TrustStore
) -> None:
    data = _flip_base64(signed_request(supplier_credentials), b"DigestValue", 5)
    assert reason(data, trust_store) == SignatureFailure.DIGEST_MISMATCH


_SIGNED_ONCE: dict[str, bytes] = {}


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_every_signed_byte_matters(
    data: st.DataObject, supplier_credentials: SigningCredentials, trust_store: TrustStore
) -> None:
    # ECDSA signatures are randomised: sign once so every example tampers the same document.
    signed = _SIGNED_ONCE.setdefault("doc", signed_request(supplier_credentials))
    # Flip one character inside an element's text or a tag name anywhere in the document
    # (keeping it well-formed by only touching letters and digits).
    positions = [i for i, c in enumerate(signed) if chr(c).isalnum() and i > 60]
    i = data.draw(st.sampled_from(positions))
    c = chr(signed[i])
    swapped = "B" if c == "A" else "A" if c.isalpha() else ("1" if c == "0" else "0")
    tampered = signed[:i] + swapped.encode() + signed[i + 1 :]
    if _same_base64(signed, tampered, i):
        return  # only a base64 value's unused last bits changed: the same signature or digest
    try:
        document = parse_xml(tampered)
    except Exception:
        return  # a tag name no longer matches its end tag: not a document at all
    with pytest.raises(SignatureInvalid):
        verify(document.getroot(), trust_store, SUPPLIER_POLICY, NOW)


def _same_base64(signed: bytes, tampered: bytes, i: int) -> bool:
    """Whether position ``i`` lies in a base64 text (SignatureValue, DigestValue, ...) that
    still decodes to the same bytes: its last character's low bits are padding, not data."""
    for found in re.finditer(rb">([A-Za-z0-9+/]{8,}={0,2})<", signed):
        start, end = found.span(1)
        if start <= i < end:
            try:
                return base64.b64decode(signed[start:end]) == base64.b64decode(tampered[start:end])
            except ValueError:
                return False
    return False


# --------------------------------------------------------------------------- distinct reasons


def test_missing_signature(trust_store: TrustStore) -> None:
    doc = REQUEST_4_1_1.read_bytes()
    stripped = etree.fromstring(doc)
    stripped.remove(stripped[-1])
    assert reason(etree.tostring(stripped), trust_store) == SignatureFailure.MISSING


def test_template_placeholder_signature_is_malformed(trust_store: TrustStore) -> None:
    assert reason(REQUEST_4_1_1.read_bytes(), trust_store) == SignatureFailure.MALFORMED


def test_unknown_signer(supplier_credentials: SigningCredentials) -> None:
    assert (
        reason(signed_request(supplier_credentials), TrustStore())
        == SignatureFailure.UNKNOWN_SIGNER
    )


def test_wrong_certificate_type(trust_store: TrustStore) -> None:
    # Z1-supplier-ds is the same User's SMKI Organisation certificate: a real, trusted
    # certificate, but for signing device commands, not DUIS.
    org = credentials("Z1-supplier-ds")
    before_expiry = org.info.not_before + timedelta(days=1)
    assert reason(signed_request(org), trust_store, now=before_expiry) == (
        SignatureFailure.WRONG_CERTIFICATE_TYPE
    )


def test_signed_by_another_user(trust_store: TrustStore) -> None:
    other = credentials("xml-sign-90B3D51F30020000-ds")  # the network operator's key
    assert reason(signed_request(other), trust_store) == SignatureFailure.SIGNER_MISMATCH


def test_expired_and_not_yet_valid(
    supplier_credentials: SigningCredentials, trust_store: TrustStore
) -> None:
    data = signed_request(supplier_credentials)
    after = supplier_credentials.info.not_after + timedelta(seconds=1)
    before = supplier_credentials.info.not_before - timedelta(seconds=1)
    assert reason(data, trust_store, now=after) == SignatureFailure.CERTIFICATE_EXPIRED
    assert reason(data, trust_store, now=before) == SignatureFailure.CERTIFICATE_NOT_YET_VALID


def test_signature_not_last_child_is_malformed(
    supplier_credentials: SigningCredentials, trust_store: TrustStore
) -> None:
    root = parse_xml(signed_request(supplier_credentials)).getroot()
    root.insert(0, root[-1])
    assert reason(etree.tostring(root), trust_store) == SignatureFailure.MALFORMED


def test_reasons_are_all_distinct() -> None:
    assert len({r.value for r in SignatureFailure}) == len(SignatureFailure)


# --------------------------------------------------------------------------- cross-checks


def test_signxml_independently_accepts_our_signatures(
    supplier_credentials: SigningCredentials,
) -> None:
    signxml = pytest.importorskip("signxml")
    data = signed_request(supplier_credentials)
    pem = supplier_credentials.info.certificate.public_bytes(
        __import__(
            "cryptography.hazmat.primitives.serialization", fromlist=["Encoding"]
        ).Encoding.PEM
    )
    result = signxml.XMLVerifier().verify(
        data, x509_cert=pem.decode(), ignore_ambiguous_key_info=True
    )
    assert result.signed_xml is not None


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    text=st.text(
        alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\x00"),
        max_size=40,
    ),
    counter=st.integers(min_value=0, max_value=2**64 - 1),
    indent=st.booleans(),
)
def test_sign_then_verify_round_trips(
    text: str,
    counter: int,
    indent: bool,
    supplier_credentials: SigningCredentials,
    trust_store: TrustStore,
) -> None:
    root = etree.fromstring(REQUEST_4_1_1.read_bytes())
    root.remove(root[-1])
    root.find(".//{*}RequestID").text = f"{SUPPLIER}:00-DB-12-34-56-78-90-A0:{counter}"
    body = root.find(".//{*}ReadInstantaneousImportRegisters")
    body.text = text  # any character data, escaped as XML requires
    if indent:
        etree.indent(root)
    sign(root, supplier_credentials)
    reparsed = parse_xml(etree.tostring(root, encoding="UTF-8"))
    verify(reparsed.getroot(), trust_store, SUPPLIER_POLICY, NOW)
