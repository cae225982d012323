"""What an SMKI certificate says about its holder: remote party role and EUI-64.

SMKI Organisation and XML-signing certificates carry the holder's role as a hex string in the
subject OU (``87`` = 0x87) and the holder's EUI-64 in ``x500UniqueIdentifier`` (a BIT STRING).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from opendcc.core.eui import Eui64, InvalidIdentifier


class RemotePartyRole(IntEnum):
    """The RemotePartyRole codes of SMKI certificates (GBCS), plus the DCC XML-signing roles."""

    ROOT = 0
    RECOVERY = 1
    SUPPLIER = 2
    NETWORK_OPERATOR = 3
    ACCESS_CONTROL_BROKER = 4
    TRANSITIONAL_COS = 5
    WAN_PROVIDER = 6
    ISSUING_AUTHORITY = 7
    LOAD_CONTROLLER = 8
    OTHER = 127
    XML_SIGN = 0x87  # a DCC User's DUIS signing certificate
    DSP_XML_SIGN = 0x89  # the DCC's own DUIS signing certificate


@dataclass(frozen=True, slots=True)
class CertificateInfo:
    certificate: x509.Certificate
    issuer: str  # RFC 4514, as written in X509IssuerName (e.g. "CN=Z1,OU=07")
    serial: int
    role: RemotePartyRole | None
    eui: Eui64 | None
    not_before: datetime
    not_after: datetime

    @property
    def label(self) -> str:
        role = self.role.name if self.role is not None else "unknown-role"
        return f"{self.eui} {role} serial {self.serial} issued by {self.issuer}"


def describe(certificate: x509.Certificate) -> CertificateInfo:
    return CertificateInfo(
        certificate=certificate,
        issuer=certificate.issuer.rfc4514_string(),
        serial=certificate.serial_number,
        role=_role(certificate.subject),
        eui=_eui(certificate.subject),
        not_before=certificate.not_valid_before_utc,
        not_after=certificate.not_valid_after_utc,
    )


def _role(subject: x509.Name) -> RemotePartyRole | None:
    # The OU is the role in hex ("87" = 0x87); DCC's pre-1.4.1 DSP certificate wrote it in
    # decimal ("137"), so fall back to decimal when the hex reading names no role.
    for attribute in subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME):
        text = str(attribute.value).strip()
        for base in (16, 10):
            try:
                return RemotePartyRole(int(text, base))
            except ValueError:
                continue
    return None


def _eui(subject: x509.Name) -> Eui64 | None:
    for attribute in subject.get_attributes_for_oid(NameOID.X500_UNIQUE_IDENTIFIER):
        value = attribute.value
        if isinstance(value, bytes) and len(value) == 9 and value[0] == 0:
            # BIT STRING content: one "unused bits" octet, then the eight EUI-64 octets.
            try:
                return Eui64.from_bytes(value[1:])
            except InvalidIdentifier:
                return None
    return None


# Roles of the SMKI Organisation certificates a User signs GBCS commands with (not DUIS XML).
_XML_ROLES = frozenset({RemotePartyRole.XML_SIGN, RemotePartyRole.DSP_XML_SIGN})


def gbcs_signing_keys(
    certificates: Iterable[x509.Certificate],
) -> tuple[ec.EllipticCurvePublicKey, ...]:
    """The GBCS digital-signing keys among a User's certificates: SMKI Organisation
    certificates (a remote party role other than XML signing) for digitalSignature, on P-256."""
    keys: list[ec.EllipticCurvePublicKey] = []
    for certificate in certificates:
        info = describe(certificate)
        if info.role is None or info.role in _XML_ROLES:
            continue
        try:
            usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
        except x509.ExtensionNotFound:
            continue
        key = certificate.public_key()
        if usage.digital_signature and isinstance(key, ec.EllipticCurvePublicKey):
            keys.append(key)
    return tuple(keys)
