"""SMKI (Smart Metering Key Infrastructure): the certificates that say who signed what.

Users sign DUIS requests with XML-signing certificates; the DCC signs what it sends with its
own DSP (Data Service Provider) XML-signing certificate. This room holds the trust store that
resolves a signature's X509IssuerSerial to a certificate, and the hub's own signing credentials.
"""

from opendcc.smki.certificates import CertificateInfo, RemotePartyRole, describe
from opendcc.smki.credentials import SigningCredentials
from opendcc.smki.trust import TrustStore, issuer_key

__all__ = [
    "CertificateInfo",
    "RemotePartyRole",
    "SigningCredentials",
    "TrustStore",
    "describe",
    "issuer_key",
]
