"""Checking the certificates a User asks a device to trust, against the SMKI repository.

6.15.1 Update Security Credentials (KRP), 6.21 Request Handover Of DCC Controlled Device and
6.23 Update Security Credentials (CoS) carry a remote party's replacement certificates (digital
signing, key agreement and, for a Supplier, prepayment top-up key agreement) with their
certification path. Before the S1SP records any of them as a SMETS1 device's trust anchor, the
DSP checks each one:

- it is an X.509 certificate whose subject names the role replaced (its OU, the GBCS remote
  party role code) and a remote party EUI-64, the same party in every certificate;
- its key usage fits its place (digitalSignature for the signing certificate, keyAgreement
  for the others);
- it was issued by a certificate of the request's certification path, whose key verifies its
  signature, and that issuing CA is one the SMKI repository knows (it issued certificates the
  repository holds);
- with ApplyTimeBasedCPVChecks, it and its issuer are valid at the instant of the check.

``check`` answers why a request fails (one sentence a User can act on), or None. Pure: the
repository is passed in as the certificates it holds.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec

from opendcc.core.eui import Eui64
from opendcc.smki.certificates import CertificateInfo, RemotePartyRole, describe

# The role a replacement names, as the remote party role its certificates carry.
ROLE_CODES: Mapping[str, RemotePartyRole] = {
    "Supplier": RemotePartyRole.SUPPLIER,
    "NetworkOperator": RemotePartyRole.NETWORK_OPERATOR,
    "LoadController": RemotePartyRole.LOAD_CONTROLLER,
}
# The replacement certificate parameters and the key usage each must allow.
USAGES: Mapping[str, str] = {
    "signing": "digital_signature",
    "key_agreement": "key_agreement",
    "top_up": "key_agreement",
}


class Refused(ValueError):
    """Why the certificates of a replacement are refused."""


def load(text: str, what: str) -> x509.Certificate:
    """The certificate in base64 DER ``text``; ``Refused`` naming ``what`` otherwise."""
    try:
        return x509.load_der_x509_certificate(base64.b64decode(text, validate=True))
    except (binascii.Error, ValueError):
        raise Refused(f"{what} is not an X.509 certificate") from None


def _issued_by(certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
    key = issuer.public_key()
    if certificate.issuer != issuer.subject or not isinstance(key, ec.EllipticCurvePublicKey):
        return False
    algorithm = certificate.signature_hash_algorithm
    if algorithm is None:
        return False
    try:
        key.verify(certificate.signature, certificate.tbs_certificate_bytes, ec.ECDSA(algorithm))
    except InvalidSignature:
        return False
    return True


def _allows(certificate: x509.Certificate, usage: str) -> bool:
    try:
        key_usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return False
    return bool(getattr(key_usage, usage))


def _current(info: CertificateInfo, what: str, now: datetime) -> None:
    if not info.not_before <= now <= info.not_after:
        raise Refused(
            f"{what} is not valid at {now.isoformat()} (valid {info.not_before.isoformat()}"
            f" to {info.not_after.isoformat()})"
        )


def party(parameters: Mapping[str, str]) -> Eui64 | None:
    """The remote party the replacement certificates name (their EUI-64), if they parse."""
    try:
        return describe(load(parameters["signing"], "signing")).eui
    except (KeyError, Refused):
        return None


def check(
    parameters: Mapping[str, str], repository: Iterable[CertificateInfo], now: datetime
) -> str | None:
    """Why the replacement in ``parameters`` (``opendcc.s1sp.services.credentials``) is
    refused, or None when every certificate passes."""
    try:
        _check(parameters, repository, now)
    except Refused as exc:
        return str(exc)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        # A certificate that parses but whose extensions or key cryptography cannot read.
        return f"a certificate cannot be read: {exc}"[:300]
    return None


def _check(
    parameters: Mapping[str, str], repository: Iterable[CertificateInfo], now: datetime
) -> None:
    role = ROLE_CODES.get(parameters.get("role", ""))
    if role is None:
        raise Refused(f"no remote party role {parameters.get('role')!r} to replace")
    path = [
        load(text, "a certification path certificate")
        for text in filter(None, parameters.get("path", "").split(","))
    ]
    known_cas = {info.issuer for info in repository}
    timed = parameters.get("time_checks") == "true"
    holders: set[Eui64 | None] = set()
    for name, usage in USAGES.items():
        if name not in parameters:
            continue
        certificate = load(parameters[name], f"the {name} certificate")
        info = describe(certificate)
        if info.role is not role:
            named = info.role.name if info.role is not None else "no role"
            raise Refused(f"the {name} certificate is for {named}, not {role.name}")
        holders.add(info.eui)
        if not _allows(certificate, usage):
            raise Refused(f"the {name} certificate's key usage does not allow {usage}")
        issuer = next((ca for ca in path if _issued_by(certificate, ca)), None)
        if issuer is None:
            raise Refused(f"no certification path certificate issued the {name} certificate")
        issuer_info = describe(issuer)
        if issuer.subject.rfc4514_string() not in known_cas:
            raise Refused(
                f"the {name} certificate's issuer {issuer_info.issuer} is not an SMKI"
                " Organisation CA the SMKI repository knows"
            )
        if timed:
            _current(info, f"the {name} certificate", now)
            _current(issuer_info, "its issuing CA certificate", now)
    if None in holders or len(holders) != 1:
        raise Refused("the replacement certificates do not all name one remote party EUI-64")
