"""XMLDSig as DCC Boxed does it: round trips, real DCC-signed documents, tampering, reasons."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
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
_BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def _sites(root: etree._Element) -> list[tuple[str, int, str]]:
    """Every place a tamperer can change a character and still send a document that parses:
    each element's name and text, each attribute's name and value, as (kind, index of the
    element in document order, attribute name or "")."""
    sites: list[tuple[str, int, str]] = []
    for index, element in enumerate(root.iter()):
        sites.append(("tag", index, ""))
        if element.text and any(c.isalnum() for c in element.text):
            sites.append(("text", index, ""))
        for name, value in element.attrib.items():
            sites.append(("attribute-name", index, name))
            if any(c.isalnum() for c in value):  # Reference URI="" has no character to flip
                sites.append(("attribute-value", index, name))
    return sites


def _site_text(root: etree._Element, site: tuple[str, int, str]) -> str:
    kind, index, attribute = site
    element = list(root.iter())[index]
    if kind == "tag":
        return etree.QName(element).localname
    if kind == "attribute-name":
        return etree.QName(attribute).localname
    return (element.text if kind == "text" else element.get(attribute)) or ""


def _flippable(kind: str, text: str) -> list[int]:
    """Where a character can change: names keep letters (still XML names), values any
    letter or digit."""
    name = kind in {"tag", "attribute-name"}
    return [i for i, c in enumerate(text) if (c.isalpha() if name else c.isalnum())]


def _flip(kind: str, text: str, i: int) -> str:
    """Character ``i`` changed. A name's letter becomes A (or B); a value's character moves
    by 32 in the base64 alphabet, its highest bit, which is data even in the last character
    before padding, so a SignatureValue or DigestValue always decodes differently."""
    if kind in {"tag", "attribute-name"}:
        return text[:i] + ("B" if text[i] == "A" else "A") + text[i + 1 :]
    return text[:i] + _BASE64[_BASE64.index(text[i]) ^ 32] + text[i + 1 :]


def _tamper(root: etree._Element, site: tuple[str, int, str], i: int) -> None:
    kind, index, attribute = site
    element = list(root.iter())[index]
    flipped = _flip(kind, _site_text(root, site), i)
    if kind == "tag":
        element.tag = etree.QName(etree.QName(element).namespace, flipped).text
    elif kind == "text":
        element.text = flipped
    elif kind == "attribute-name":
        value = element.attrib.pop(attribute)
        element.set(etree.QName(etree.QName(attribute).namespace, flipped).text, value)
    else:
        element.set(attribute, flipped)


def _tampered(signed: bytes) -> Iterator[tuple[str, bytes]]:
    """Every one-character tampering of ``signed`` that still parses, with where it is."""
    for site in _sites(parse_xml(signed).getroot()):
        for i in _flippable(site[0], _site_text(parse_xml(signed).getroot(), site)):
            root = parse_xml(signed).getroot()
            _tamper(root, site, i)
            yield (
                f"{site} @{i}",
                etree.tostring(root.getroottree(), xml_declaration=True, encoding="UTF-8"),
            )
    # Namespace declarations are not attributes in the tree: flip their URIs in the bytes.
    for declaration in re.finditer(rb'xmlns(?::[\w-]+)?="([^"]*)"', signed):
        for i in range(*declaration.span(1)):
            if chr(signed[i]).isalnum():
                flipped = _flip("value", chr(signed[i]), 0).encode()
                yield f"namespace @{i}", signed[:i] + flipped + signed[i + 1 :]


def test_every_signed_byte_matters(
    supplier_credentials: SigningCredentials, trust_store: TrustStore
) -> None:
    # Every letter and digit of the document, one at a time, changed where the result is
    # still a well-formed document as a tamperer would send it: element and attribute names,
    # texts, attribute values and namespace URIs, the Signature's own included. Each
    # reaches the signature check (none is passed over as unparseable) and is refused.
    signed = _SIGNED_ONCE.setdefault("doc", signed_request(supplier_credentials))
    accepted, tried = [], 0
    for where, tampered in _tampered(signed):
        tried += 1
        assert tampered != signed, where
        try:
            verify(parse_xml(tampered).getroot(), trust_store, SUPPLIER_POLICY, NOW)
        except SignatureInvalid:
            continue
        accepted.append(where)
    assert accepted == []
    # Each element's name, text and attributes, and each namespace URI, were tried.
    root = parse_xml(signed).getroot()
    assert {i for kind, i, _ in _sites(root) if kind == "tag"} == set(range(len(list(root.iter()))))
    assert tried > 600


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
    import signxml  # a dev dependency (`make test` installs it): never skipped

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
