"""Signing credentials: an EC P-256 private key and the certificate that vouches for it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import (
    load_der_private_key,
    load_pem_private_key,
)

from opendcc.smki.certificates import CertificateInfo, describe


class CredentialError(ValueError):
    """A key or certificate file that cannot be used for DUIS signing."""


@dataclass(frozen=True, slots=True)
class SigningCredentials:
    key: ec.EllipticCurvePrivateKey
    info: CertificateInfo

    def __post_init__(self) -> None:
        if not isinstance(self.key.curve, ec.SECP256R1):
            raise CredentialError("DUIS signatures use ECDSA on P-256")
        public = self.info.certificate.public_key()
        if not isinstance(public, ec.EllipticCurvePublicKey) or (
            public.public_numbers() != self.key.public_key().public_numbers()
        ):
            raise CredentialError("the private key does not match the certificate")

    @classmethod
    def from_bytes(cls, key: bytes, certificate: bytes) -> SigningCredentials:
        return cls(load_private_key(key), describe(load_certificate(certificate)))

    @classmethod
    def from_files(cls, key: Path, certificate: Path) -> SigningCredentials:
        return cls.from_bytes(key.read_bytes(), certificate.read_bytes())


def load_private_key(data: bytes) -> ec.EllipticCurvePrivateKey:
    """A PKCS#8 EC private key, PEM or DER (DCC Boxed ships DER ``.key`` files)."""
    try:
        key = (
            load_pem_private_key(data, password=None)
            if data.lstrip().startswith(b"-----")
            else load_der_private_key(data, password=None)
        )
    except ValueError as exc:
        raise CredentialError(f"not a readable private key: {exc}") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise CredentialError("not an elliptic-curve private key")
    return key


def load_certificate(data: bytes) -> x509.Certificate:
    try:
        if data.lstrip().startswith(b"-----"):
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except ValueError as exc:
        raise CredentialError(f"not a readable X.509 certificate: {exc}") from exc
