"""Who must have signed a DUIS document, decided by its kind.

A Service Request is signed by the User named as originator in its RequestID, with that User's
XML-signing certificate. Responses and alerts are signed by the DCC with its DSP (Data Service
Provider) XML-signing certificate.
"""

from __future__ import annotations

from datetime import datetime

from lxml import etree

from opendcc.core.request_id import RequestId
from opendcc.duis.xml import sr
from opendcc.duis.xmldsig import (
    DCC_SIGNED,
    USER_SIGNED,
    CertificateLookup,
    SignerPolicy,
    verify,
)
from opendcc.smki.certificates import CertificateInfo


def signer_policy(root: etree._Element) -> SignerPolicy:
    if root.tag == sr("Request"):
        request_id = root.findtext(f"{sr('Header')}/{sr('RequestID')}")
        originator = RequestId.parse(request_id).originator if request_id else None
        return SignerPolicy(USER_SIGNED, originator)
    return SignerPolicy(DCC_SIGNED)


def verify_document(
    document: etree._ElementTree, certificates: CertificateLookup, now: datetime
) -> CertificateInfo:
    """Verify a DUIS document's signature against the signer its kind requires."""
    root = document.getroot()
    return verify(root, certificates, signer_policy(root), now)
