"""Shared by the service-family tests: RTDS request bodies in, schema-checked MMC elements out."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from lxml import etree
from tests.reference import TEMPLATES

from opendcc.core import RequestId, ResponseCode
from opendcc.core.eui import Eui64
from opendcc.duis.response import Smets1Payload, smets1_response
from opendcc.duis.schema import DuisSchema
from opendcc.duis.xml import parse_xml, sr
from opendcc.smki import SigningCredentials

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)  # inside every ZAZ1 certificate's validity
ESME_ID = Eui64.parse("00-DB-12-34-56-78-90-A0")
GSME_ID = Eui64.parse("00-DB-12-34-56-78-90-B0")
REQUEST_ID = RequestId.parse(f"90-B3-D5-1F-30-01-00-00:{ESME_ID}:1660751141087")


def templates_for(srv: str) -> list[Path]:
    """Every RTDS request template for ``srv`` (named ``<srv>_...`` or ``<case>_<srv>_...``)."""
    found = [
        path
        for path in sorted(TEMPLATES.iterdir())
        if path.name.startswith(f"{srv}_") or f"_{srv}_" in path.name
    ]
    if not found:
        raise LookupError(f"no RTDS template for SRV {srv}")
    return found


def request_body(path: Path) -> etree._Element:
    """The child element of sr:Body in the template at ``path``."""
    root = parse_xml(path.read_bytes()).getroot()
    body = root.find(sr("Body"))
    assert body is not None and len(body) == 1, path
    return body[0]


def template_body(srv: str, index: int = 0) -> etree._Element:
    return request_body(templates_for(srv)[index])


def validate_mmc(
    element: etree._Element,
    srv: str,
    schema: DuisSchema,
    s1sp_credentials: SigningCredentials,
) -> None:
    """Raise unless ``element`` is valid as the SMETSData of a SMETS1 Response for ``srv``."""
    document = smets1_response(
        REQUEST_ID,
        service_reference=".".join(srv.split(".")[:2]),
        srv=srv,
        code=ResponseCode.SUCCESS,
        now=NOW,
        s1sp_credentials=s1sp_credentials,
        payload=Smets1Payload(smets_data=element),
    )
    schema.validate(document)
