"""The trust store: the certificates opendcc accepts signatures from, found by issuer and serial.

A DUIS signature names its certificate only by X509IssuerSerial, so that pair is the key.
Issuer names are compared after normalising RFC 4514 spelling ("CN=Z1, OU=07" and "cn=Z1,OU=07"
are the same issuer).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from functools import lru_cache
from pathlib import Path

from cryptography import x509

from opendcc.core.eui import Eui64
from opendcc.smki.certificates import CertificateInfo, describe
from opendcc.smki.credentials import CredentialError, load_certificate

_UNESCAPED_COMMA = re.compile(r"(?<!\\),")

IssuerKey = tuple[tuple[str, str], ...]


@lru_cache(maxsize=1024)  # the same few issuers name every signature
def issuer_key(name: str) -> IssuerKey:
    """A comparable form of an RFC 4514 distinguished name."""
    parts: list[tuple[str, str]] = []
    for rdn in _UNESCAPED_COMMA.split(name):
        attribute, sep, value = rdn.partition("=")
        if not sep:
            raise ValueError(f"not an RFC 4514 name: {name!r}")
        parts.append((attribute.strip().upper(), value.strip()))
    return tuple(parts)


class TrustStore:
    def __init__(self, certificates: Iterable[x509.Certificate] = ()) -> None:
        self._by_issuer_serial: dict[tuple[IssuerKey, int], CertificateInfo] = {}
        for certificate in certificates:
            self.add(certificate)

    def add(self, certificate: x509.Certificate) -> CertificateInfo:
        info = describe(certificate)
        self._by_issuer_serial[(issuer_key(info.issuer), info.serial)] = info
        return info

    @classmethod
    def from_directory(cls, directory: Path) -> TrustStore:
        """Every certificate (``*.pem``, ``*.crt``, ``*.cer``, ``*.der``) in a directory."""
        if not directory.is_dir():
            raise FileNotFoundError(f"trust directory not found: {directory}")
        store = cls()
        for path in sorted(directory.iterdir()):
            if path.suffix.lower() not in {".pem", ".crt", ".cer", ".der"}:
                continue
            data = path.read_bytes()
            if data.lstrip().startswith(b"-----") and b"CERTIFICATE-----" not in data:
                continue  # a PEM private key sitting beside its certificate
            try:
                store.add(load_certificate(data))
            except CredentialError:
                continue
        return store

    def lookup(self, issuer: str, serial: int) -> CertificateInfo | None:
        try:
            key = issuer_key(issuer)
        except ValueError:
            return None
        return self._by_issuer_serial.get((key, serial))

    def for_eui(self, eui: Eui64) -> list[CertificateInfo]:
        return [info for info in self if info.eui == eui]

    def __iter__(self) -> Iterator[CertificateInfo]:
        return iter(self._by_issuer_serial.values())

    def __len__(self) -> int:
        return len(self._by_issuer_serial)
