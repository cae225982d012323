"""XML Signatures exactly as DCC Boxed makes them, so its tooling and opendcc agree byte for byte.

The profile (XMLDSig, W3C XML Signature Syntax and Processing):

- one enveloped Signature, the last child of the signed element;
- SignedInfo canonicalised with exclusive C14N (``xml-exc-c14n#``);
- ECDSA over P-256 with SHA-256; SignatureValue is raw r||s (64 bytes), base64, possibly wrapped
  in whitespace (the Java tool emits ``&#13;\\n``);
- one Reference, ``URI=""``, with only the enveloped-signature transform, digested with SHA-256
  over *inclusive* C14N 1.0 of the signed element without its Signature (the XMLDSig default
  node-set to octets conversion; exclusive C14N would not reproduce DCC's digests);
- KeyInfo names the certificate by X509IssuerSerial only, so verification needs a trust store.

Signing and verification are pure: trees and keys in, trees and verdicts out. ``verify`` removes
the Signature while it digests and puts it back before it returns.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from lxml import etree

from opendcc.core.errors import DuisError
from opendcc.core.eui import Eui64
from opendcc.duis.xml import DS_NS, ds, strip_insignificant_whitespace
from opendcc.smki.certificates import CertificateInfo, RemotePartyRole
from opendcc.smki.credentials import SigningCredentials

EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
ECDSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"

_SCALAR_BYTES = 32  # P-256
# The signature algorithm object, made once (immutable; every sign and verify takes it).
_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())

# The exclusive C14N of the SignedInfo ``sign`` builds, when its prefix is ``ds``: only ds is
# visibly used in it (the attributes are unprefixed), so it declares ds itself whatever the
# document around it declares, and no value in it is escaped (URIs, base64).
SIGNED_INFO_C14N = (
    f'<ds:SignedInfo xmlns:ds="{DS_NS}">'
    f'<ds:CanonicalizationMethod Algorithm="{EXC_C14N}"></ds:CanonicalizationMethod>'
    f'<ds:SignatureMethod Algorithm="{ECDSA_SHA256}"></ds:SignatureMethod>'
    '<ds:Reference URI=""><ds:Transforms>'
    f'<ds:Transform Algorithm="{ENVELOPED}"></ds:Transform></ds:Transforms>'
    f'<ds:DigestMethod Algorithm="{SHA256}"></ds:DigestMethod>'
    "<ds:DigestValue>{digest}</ds:DigestValue></ds:Reference></ds:SignedInfo>"
)
# The same SignedInfo inside a document that declares ds on its root: canonical (ds declared
# above it, empty elements as start and end tags) and as the serialiser writes it.
_SIGNED_INFO_IN_PLACE = SIGNED_INFO_C14N.replace(f' xmlns:ds="{DS_NS}"', "", 1)
_SIGNED_INFO_OUTPUT = (
    _SIGNED_INFO_IN_PLACE.replace('"></ds:CanonicalizationMethod>', '"/>')
    .replace('"></ds:SignatureMethod>', '"/>')
    .replace('"></ds:Transform>', '"/>')
    .replace('"></ds:DigestMethod>', '"/>')
)


def text_signature(signed_c14n: bytes, credentials: SigningCredentials) -> tuple[str, str]:
    """The enveloped ``ds:Signature`` that ``sign`` adds to an element whose exclusive C14N
    (without the signature) is ``signed_c14n``, written as text for a document that declares
    ``ds`` on its root: (its canonical form in place, its serialised form). The same bytes as the
    tree path; the issuer must hold no character C14N and the serialiser write apart (callers
    check it and take the tree path otherwise)."""
    digest = base64.b64encode(hashlib.sha256(signed_c14n).digest()).decode()
    der = credentials.key.sign(SIGNED_INFO_C14N.format(digest=digest).encode(), _ECDSA_SHA256)
    r, s = decode_dss_signature(der)
    value = base64.b64encode(
        r.to_bytes(_SCALAR_BYTES, "big") + s.to_bytes(_SCALAR_BYTES, "big")
    ).decode()
    issuer = credentials.info.issuer.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    tail = (
        f"<ds:SignatureValue>{value}</ds:SignatureValue>"
        "<ds:KeyInfo><ds:X509Data><ds:X509IssuerSerial>"
        f"<ds:X509IssuerName>{issuer}</ds:X509IssuerName>"
        f"<ds:X509SerialNumber>{credentials.info.serial}</ds:X509SerialNumber>"
        "</ds:X509IssuerSerial></ds:X509Data></ds:KeyInfo></ds:Signature>"
    )
    in_place = "<ds:Signature>" + _SIGNED_INFO_IN_PLACE.format(digest=digest) + tail
    output = "<ds:Signature>" + _SIGNED_INFO_OUTPUT.format(digest=digest) + tail
    return in_place, output


class SignatureFailure(StrEnum):
    """Why a signature was refused; each is a distinct, reportable reason."""

    MISSING = "missing"
    MALFORMED = "malformed"
    UNSUPPORTED_ALGORITHM = "unsupported-algorithm"
    UNKNOWN_SIGNER = "unknown-signer"
    WRONG_CERTIFICATE_TYPE = "wrong-certificate-type"
    SIGNER_MISMATCH = "signer-mismatch"
    CERTIFICATE_NOT_YET_VALID = "certificate-not-yet-valid"
    CERTIFICATE_EXPIRED = "certificate-expired"
    DIGEST_MISMATCH = "digest-mismatch"
    BAD_SIGNATURE = "bad-signature"


class SignatureInvalid(DuisError):
    """The document's signature does not prove who sent it (answered with HTTP 401)."""

    http_status = 401

    def __init__(self, reason: SignatureFailure, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class CertificateLookup(Protocol):
    def lookup(self, issuer: str, serial: int) -> CertificateInfo | None: ...


@dataclass(frozen=True, slots=True)
class SignerPolicy:
    """Who may have signed: the certificate roles accepted and, if known, the signer's EUI-64."""

    roles: frozenset[RemotePartyRole]
    signer: Eui64 | None = None


USER_SIGNED = frozenset({RemotePartyRole.XML_SIGN})
DCC_SIGNED = frozenset({RemotePartyRole.DSP_XML_SIGN})


# --------------------------------------------------------------------------- signing


def sign(element: etree._Element, credentials: SigningCredentials) -> etree._Element:
    """Sign ``element`` in place (replacing any Signature it has) and return the Signature.

    Like DCC Boxed, indentation between elements is removed first: DCC tooling verifies with it
    stripped, so a signature over an indented document would not verify there.
    """
    existing = _signature_child(element)
    if existing is not None:
        element.remove(existing)
    strip_insignificant_whitespace(element)
    digest = hashlib.sha256(_c14n_signed_content(element)).digest()

    nsmap = None if element.nsmap.get("ds") == DS_NS else {"ds": DS_NS}
    signature = etree.SubElement(element, ds("Signature"), nsmap=nsmap)
    signed_info = etree.SubElement(signature, ds("SignedInfo"))
    etree.SubElement(signed_info, ds("CanonicalizationMethod"), Algorithm=EXC_C14N)
    etree.SubElement(signed_info, ds("SignatureMethod"), Algorithm=ECDSA_SHA256)
    reference = etree.SubElement(signed_info, ds("Reference"), URI="")
    transforms = etree.SubElement(reference, ds("Transforms"))
    etree.SubElement(transforms, ds("Transform"), Algorithm=ENVELOPED)
    etree.SubElement(reference, ds("DigestMethod"), Algorithm=SHA256)
    etree.SubElement(reference, ds("DigestValue")).text = base64.b64encode(digest).decode()

    digest_value = base64.b64encode(digest).decode()
    if signature.prefix == "ds":  # the usual case: its exclusive C14N is a template
        canonical = SIGNED_INFO_C14N.format(digest=digest_value).encode()
    else:
        canonical = _c14n_signed_info(signed_info)
    der = credentials.key.sign(canonical, _ECDSA_SHA256)
    r, s = decode_dss_signature(der)
    raw = r.to_bytes(_SCALAR_BYTES, "big") + s.to_bytes(_SCALAR_BYTES, "big")
    etree.SubElement(signature, ds("SignatureValue")).text = base64.b64encode(raw).decode()

    issuer_serial = etree.SubElement(
        etree.SubElement(etree.SubElement(signature, ds("KeyInfo")), ds("X509Data")),
        ds("X509IssuerSerial"),
    )
    etree.SubElement(issuer_serial, ds("X509IssuerName")).text = credentials.info.issuer
    etree.SubElement(issuer_serial, ds("X509SerialNumber")).text = str(credentials.info.serial)
    return signature


# --------------------------------------------------------------------------- verification


@dataclass(frozen=True, slots=True)
class _ParsedSignature:
    signed_info: etree._Element
    digest: bytes
    raw_signature: bytes
    issuer: str
    serial: int


def verify(
    element: etree._Element,
    certificates: CertificateLookup,
    policy: SignerPolicy,
    now: datetime,
) -> CertificateInfo:
    """Check ``element``'s enveloped signature and return the signer's certificate.

    Raises ``SignatureInvalid`` with the first failing reason. Cheap policy checks run before
    the cryptography, so a refused signer costs no ECDSA work.
    """
    parsed = _parse_signature(element)
    info = certificates.lookup(parsed.issuer, parsed.serial)
    if info is None:
        raise SignatureInvalid(
            SignatureFailure.UNKNOWN_SIGNER,
            f"no trusted certificate with issuer {parsed.issuer!r} and serial {parsed.serial}",
        )
    _check_policy(info, policy, now)

    digest = hashlib.sha256(_c14n_without_signature(element)).digest()
    if digest != parsed.digest:
        raise SignatureInvalid(SignatureFailure.DIGEST_MISMATCH, "the signed content was altered")

    public_key = info.certificate.public_key()
    if not isinstance(public_key, ec.EllipticCurvePublicKey) or not isinstance(
        public_key.curve, ec.SECP256R1
    ):
        raise SignatureInvalid(
            SignatureFailure.WRONG_CERTIFICATE_TYPE, f"{info.label} is not an EC P-256 key"
        )
    r = int.from_bytes(parsed.raw_signature[:_SCALAR_BYTES], "big")
    s = int.from_bytes(parsed.raw_signature[_SCALAR_BYTES:], "big")
    try:
        public_key.verify(
            encode_dss_signature(r, s),
            _c14n_signed_info(parsed.signed_info),
            _ECDSA_SHA256,
        )
    except InvalidSignature:
        raise SignatureInvalid(
            SignatureFailure.BAD_SIGNATURE, f"SignatureValue does not verify with {info.label}"
        ) from None
    return info


def _check_policy(info: CertificateInfo, policy: SignerPolicy, now: datetime) -> None:
    if info.role not in policy.roles:
        wanted = ", ".join(sorted(role.name for role in policy.roles))
        raise SignatureInvalid(
            SignatureFailure.WRONG_CERTIFICATE_TYPE,
            f"{info.label} is not a DUIS signing certificate of the expected kind ({wanted})",
        )
    if policy.signer is not None and info.eui != policy.signer:
        raise SignatureInvalid(
            SignatureFailure.SIGNER_MISMATCH,
            f"the message comes from {policy.signer} but is signed with {info.label}",
        )
    if now < info.not_before:
        raise SignatureInvalid(
            SignatureFailure.CERTIFICATE_NOT_YET_VALID,
            f"{info.label} is valid only from {info.not_before.isoformat()}",
        )
    if now > info.not_after:
        raise SignatureInvalid(
            SignatureFailure.CERTIFICATE_EXPIRED,
            f"{info.label} expired at {info.not_after.isoformat()}",
        )


def _parse_signature(element: etree._Element) -> _ParsedSignature:
    signature = _signature_child(element)
    if signature is None:
        if element.find(f".//{ds('Signature')}") is not None:
            raise SignatureInvalid(
                SignatureFailure.MALFORMED, "the Signature must be the last child of the root"
            )
        raise SignatureInvalid(SignatureFailure.MISSING, "the document is not signed")

    def one(parent: etree._Element, local: str) -> etree._Element:
        found = parent.findall(ds(local))
        if len(found) != 1:
            raise SignatureInvalid(
                SignatureFailure.MALFORMED,
                f"expected exactly one ds:{local} in ds:{_local(parent)}",
            )
        return found[0]

    def algorithm(parent: etree._Element, local: str, expected: str) -> None:
        actual = one(parent, local).get("Algorithm")
        if actual != expected:
            raise SignatureInvalid(
                SignatureFailure.UNSUPPORTED_ALGORITHM,
                f"ds:{local} {actual!r}; DUIS uses {expected}",
            )

    signed_info = one(signature, "SignedInfo")
    algorithm(signed_info, "CanonicalizationMethod", EXC_C14N)
    algorithm(signed_info, "SignatureMethod", ECDSA_SHA256)
    reference = one(signed_info, "Reference")
    if reference.get("URI") != "":
        raise SignatureInvalid(
            SignatureFailure.MALFORMED, 'the Reference must be URI="" (the whole document)'
        )
    transforms = one(reference, "Transforms").findall(ds("Transform"))
    if [t.get("Algorithm") for t in transforms] != [ENVELOPED]:
        raise SignatureInvalid(
            SignatureFailure.UNSUPPORTED_ALGORITHM,
            "the only transform allowed is enveloped-signature",
        )
    algorithm(reference, "DigestMethod", SHA256)
    digest = _base64(one(reference, "DigestValue"), "DigestValue")
    raw_signature = _base64(one(signature, "SignatureValue"), "SignatureValue")
    if len(digest) != 32 or len(raw_signature) != 2 * _SCALAR_BYTES:
        raise SignatureInvalid(
            SignatureFailure.MALFORMED, "digest or signature has the wrong length"
        )

    issuer_serial = one(one(one(signature, "KeyInfo"), "X509Data"), "X509IssuerSerial")
    issuer = (one(issuer_serial, "X509IssuerName").text or "").strip()
    serial_text = (one(issuer_serial, "X509SerialNumber").text or "").strip()
    # RFC 5280: a serial is at most 20 octets, so at most 49 decimal digits.
    if not (serial_text.isascii() and serial_text.isdigit()) or len(serial_text) > 49:
        raise SignatureInvalid(SignatureFailure.MALFORMED, f"X509SerialNumber {serial_text[:60]!r}")
    return _ParsedSignature(signed_info, digest, raw_signature, issuer, int(serial_text))


def _base64(element: etree._Element, what: str) -> bytes:
    text = "".join((element.text or "").split())  # Java wraps lines with CR LF
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise SignatureInvalid(SignatureFailure.MALFORMED, f"{what} is not base64") from None


# --------------------------------------------------------------------------- canonicalisation


def _signature_child(element: etree._Element) -> etree._Element | None:
    """The Signature, if it is the last element child of ``element``."""
    for child in reversed(element):
        if isinstance(child.tag, str):
            return child if child.tag == ds("Signature") else None
    return None


def _local(element: etree._Element) -> str:
    return etree.QName(element).localname


def _c14n_signed_info(signed_info: etree._Element) -> bytes:
    return etree.tostring(signed_info, method="c14n", exclusive=True, with_comments=False)


def _c14n_signed_content(element: etree._Element) -> bytes:
    """Inclusive C14N 1.0 of the signed element: the whole document when it is the root."""
    target: etree._Element | etree._ElementTree = (
        element.getroottree() if element.getparent() is None else element
    )
    return etree.tostring(target, method="c14n", exclusive=False, with_comments=False)


def _c14n_without_signature(element: etree._Element) -> bytes:
    """The enveloped-signature transform: the digest input with the Signature left out.

    It works on a copy. (Removing and re-inserting a node in place would not do: lxml
    reconciles namespace prefixes as it moves nodes, which would change the SignedInfo.)
    """
    if element.getparent() is None:
        copy_root = copy.deepcopy(element.getroottree()).getroot()
    else:
        # An embedded signed element (a SMETS1SignedResponse, an S1SPAlert) was signed as a
        # document of its own; serialising the subtree keeps every namespace in scope there.
        copy_root = etree.fromstring(etree.tostring(element))
    signature = _signature_child(copy_root)
    if signature is not None:
        _remove_keeping_tail(signature)
    return _c14n_signed_content(copy_root)


def _remove_keeping_tail(node: etree._Element) -> None:
    """Remove ``node`` but keep its tail text, as the enveloped transform removes only the node."""
    parent = node.getparent()
    if parent is None:
        raise ValueError("cannot remove the root")
    tail, previous = node.tail, node.getprevious()
    node.tail = None
    parent.remove(node)
    if tail:
        if previous is not None:
            previous.tail = (previous.tail or "") + tail
        else:
            parent.text = (parent.text or "") + tail
