"""What a simulated S1SP keeps of a SMETS1 device's security credentials.

A SMETS1 (first-generation) meter knows nothing of SMKI (Smart Metering Key Infrastructure);
its S1SP (SMETS1 Service Provider) keeps, beside the meter, the record a SMETS2 device would hold
itself (``opendcc.s1sp.services.credentials``):

- the trust anchors: for each remote party role (Supplier, NetworkOperator, LoadController) and
  certificate use (DigitalSigning, KeyAgreement, KeyAgreementTopUp), the party's EUI-64 and the
  SHA-1 of its certificate, with the role's originator counter floors. A migrated device's
  S1SP holds none until a User sets them (6.15.1, 6.21, 6.23).
- the device's own key pairs, one for digital signing and one for key agreement, derived from
  the device's EUI-64 (so a restarted simulator has the same ones), and the device certificate
  a User installed for each (6.15.2), else the certificate the S1SP's own device CA issued
  the key at migration; 6.17 answers a PKCS #10 request for either key.

The record is kept with the meter model (``of``), not in it: the meter never reads it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from opendcc.core.eui import Eui64
from opendcc.sim.state.device import MeterState

DIGITAL_SIGNATURE, KEY_AGREEMENT = "DigitalSignature", "KeyAgreement"
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


@dataclass(frozen=True, slots=True)
class Anchor:
    """One trusted certificate: whose it is and its SHA-1 (hex), as 6.24.1 reports it."""

    eui: str
    sha1: str


@dataclass(frozen=True, slots=True)
class Floors:
    floor_seq: int
    top_up_floor_seq: int | None = None


@dataclass
class Credentials:
    """The S1SP's record of one device's credentials."""

    device_id: Eui64
    anchors: dict[tuple[str, str], Anchor] = field(default_factory=dict)  # (role, usage)
    floors: dict[str, Floors] = field(default_factory=dict)  # by role
    certificates: dict[str, bytes] = field(default_factory=dict)  # by credential: DER

    def key(self, credential: str) -> ec.EllipticCurvePrivateKey:
        """The device's P-256 key pair for ``credential``, the same on every run."""
        if credential not in (DIGITAL_SIGNATURE, KEY_AGREEMENT):
            raise ValueError(f"no device credential {credential!r}")
        return _device_key(self.device_id, credential)

    def certification_request(self, credential: str) -> bytes:
        """A PKCS #10 request (DER) for the device's ``credential`` key, signed with it (the
        same bytes each time: the S1SP keeps the request it made for the key)."""
        self.key(credential)  # an unknown credential is a ValueError
        return _certification_request(self.device_id, credential)

    def certificate(self, credential: str) -> bytes:
        """The device certificate (DER) for ``credential``: the one a User installed (6.15.2),
        else the one the S1SP issued the key at migration with its own device CA."""
        installed = self.certificates.get(credential)
        if installed is not None:
            return installed
        self.key(credential)
        return _s1sp_issued(self.device_id, credential)

    def install(self, der: bytes) -> str:
        """6.15.2: take ``der`` as the device certificate of the key it certifies; the GBCS
        status (``success``, ``invalidCertificate``, ``wrongPublicKey``)."""
        try:
            certificate = x509.load_der_x509_certificate(der)
            public = certificate.public_key()
        except (ValueError, UnsupportedAlgorithm):
            return "invalidCertificate"
        for credential in (DIGITAL_SIGNATURE, KEY_AGREEMENT):
            if public == self.key(credential).public_key():
                self.certificates[credential] = der
                return "success"
        return "wrongPublicKey"


_S1SP_CA = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "opendcc S1SP Device CA")])
# SMKI Device certificates run to 9999-12-31 23:59:59 (no expiry, RFC 5280's convention).
_ISSUED = datetime(2015, 1, 1, tzinfo=UTC)
_NO_EXPIRY = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)


def _derived_key(label: str) -> ec.EllipticCurvePrivateKey:
    scalar = int.from_bytes(hashlib.sha256(label.encode()).digest(), "big") % (_P256_ORDER - 1)
    return ec.derive_private_key(scalar + 1, ec.SECP256R1())


def _device_key(device_id: Eui64, credential: str) -> ec.EllipticCurvePrivateKey:
    return _derived_key(f"opendcc-s1sp-device-key:{credential}:{device_id}")


# ECDSA signatures are randomised: the S1SP signs each request and certificate once and keeps
# it, so every answer (and a copy of the meter's record) carries the same bytes.
@lru_cache(maxsize=4096)
def _certification_request(device_id: Eui64, credential: str) -> bytes:
    # The subject names the device by its EUI-64, sixteen hex digits.
    eui = device_id.to_bytes().hex().upper()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, eui)])
    request = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(name)
        .sign(_device_key(device_id, credential), hashes.SHA256())
    )
    return request.public_bytes(serialization.Encoding.DER)


@lru_cache(maxsize=4096)
def _s1sp_issued(device_id: Eui64, credential: str) -> bytes:
    """The S1SP's own certificate of the device's ``credential`` key."""
    eui = device_id.to_bytes().hex().upper()
    usage = credential == DIGITAL_SIGNATURE
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, eui)]))
        .issuer_name(_S1SP_CA)
        .public_key(_device_key(device_id, credential).public_key())
        .serial_number(int.from_bytes(hashlib.sha256(f"{eui}:{credential}".encode()).digest()[:16]))
        .not_valid_before(_ISSUED)
        .not_valid_after(_NO_EXPIRY)
        .add_extension(
            x509.KeyUsage(
                digital_signature=usage,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=not usage,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(_derived_key("opendcc-s1sp-device-ca"), hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.DER)


_ATTRIBUTE = "_s1sp_credentials"


def of(meter: MeterState) -> Credentials:
    """The S1SP's credential record of ``meter``'s device (made empty on first use). It rides
    on the meter object only so that a copy of the simulator's state copies it too; the
    meter's own operations never read it."""
    record = getattr(meter, _ATTRIBUTE, None)
    if not isinstance(record, Credentials):
        record = Credentials(meter.device_id)
        setattr(meter, _ATTRIBUTE, record)
    return record


def sha1_hex(der: bytes) -> str:
    return hashlib.sha1(der, usedforsecurity=False).hexdigest()
