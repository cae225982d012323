"""What the response and alert tests share: identities, and publishing as a User receives it."""

from __future__ import annotations

from datetime import UTC, datetime

from lxml import etree

from opendcc.core.eui import Eui64
from opendcc.core.request_id import RequestId
from opendcc.duis.response import sign_document, to_bytes
from opendcc.duis.xml import parse_xml
from opendcc.duis.xmldsig import DCC_SIGNED, SignerPolicy
from opendcc.smki import SigningCredentials

NOW = datetime(2026, 1, 1, tzinfo=UTC)  # inside the validity of every key used here
DCC = Eui64.parse("90-B3-D5-1F-30-00-00-02")
S1SP = Eui64.parse("00-DB-12-34-56-78-00-04")
DCC_POLICY = SignerPolicy(DCC_SIGNED, DCC)
REQUEST_ID = RequestId.parse("90-B3-D5-1F-30-01-00-00:88-73-84-57-00-2F-96-1E:1660751141087")


def publish(tree: etree._ElementTree, dcc_key: SigningCredentials) -> etree._ElementTree:
    """Sign as the DCC, serialise, and parse back: what a User's endpoint receives."""
    return parse_xml(to_bytes(sign_document(tree, dcc_key)))
