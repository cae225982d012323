"""Certificate lookup across several sources, first match wins."""

from __future__ import annotations

from typing import Protocol

from opendcc.smki.certificates import CertificateInfo


class CertificateLookup(Protocol):
    def lookup(self, issuer: str, serial: int) -> CertificateInfo | None: ...


class FirstOf:
    """Registered Users' certificates first, then the SMKI repository."""

    def __init__(self, *sources: CertificateLookup) -> None:
        self.sources = sources

    def lookup(self, issuer: str, serial: int) -> CertificateInfo | None:
        for source in self.sources:
            if (info := source.lookup(issuer, serial)) is not None:
                return info
        return None
