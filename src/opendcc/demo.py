"""The demo `make run` shows: one DUIS round trip through opendcc's core, in one process.

A supplier signs a Read Instantaneous Import Registers request (SRV 4.1.1); opendcc verifies
the signature, parses it, checks the catalogue, and answers with a DCC-signed acknowledgement
and a SMETS1 response; the supplier verifies both. A tampered copy is refused with its reason.
Keys are the ZAZ1 test PKI that DCC Boxed publishes (test use only).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from lxml import etree

from opendcc.catalogue import UserRole, default_catalogue
from opendcc.core.errors import ResponseCode
from opendcc.duis.authenticate import verify_document
from opendcc.duis.request import parse_request
from opendcc.duis.response import (
    acknowledgement,
    sign_document,
    smets1_response,
    to_bytes,
    verify_smets1_signed_response,
)
from opendcc.duis.xml import parse_xml
from opendcc.duis.xmldsig import SignatureInvalid, sign
from opendcc.smki import SigningCredentials, TrustStore

REQUEST = b"""<?xml version="1.0" encoding="UTF-8"?>
<sr:Request xmlns:sr="http://www.dccinterface.co.uk/ServiceUserGateway"
    xmlns:ds="http://www.w3.org/2000/09/xmldsig#" schemaVersion="5.4">
  <sr:Header>
    <sr:RequestID>90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:%d</sr:RequestID>
    <sr:CommandVariant>1</sr:CommandVariant>
    <sr:ServiceReference>4.1</sr:ServiceReference>
    <sr:ServiceReferenceVariant>4.1.1</sr:ServiceReferenceVariant>
  </sr:Header>
  <sr:Body><sr:ReadInstantaneousImportRegisters/></sr:Body>
</sr:Request>"""


def reference_keys() -> Path:
    default = Path(__file__).resolve().parents[2].parent / "shared/reference/duis"
    return Path(os.environ.get("OPENDCC_REFERENCE", default)) / "keys/dccboxed-signing-tool"


def run(say: Callable[[str], None], keys: Path | None = None) -> int:
    keys = keys or reference_keys()
    if not keys.is_dir():
        say(f"ZAZ1 test keys not found at {keys}; set OPENDCC_REFERENCE to the DUIS reference.")
        return 2

    def creds(name: str) -> SigningCredentials:
        return SigningCredentials.from_files(keys / f"{name}.key", keys / f"{name}.pem")

    supplier = creds("xml-sign-90B3D51F30010000-ds")
    dcc = creds("dsp-xml-sign-90B3D51F30000002-ds")
    s1sp = creds("xml-sign-00DB123456780004-ds")  # stands in for the SMETS1 Service Provider
    trust = TrustStore.from_directory(keys)
    now = min(datetime.now(UTC), dcc.info.not_after)  # stay inside the test keys' validity

    say("1. Supplier 90-B3-D5-1F-30-01-00-00 signs SRV 4.1.1 (Read Instantaneous Import Registers)")
    document = parse_xml(REQUEST % int(now.timestamp() * 1000))
    sign(document.getroot(), supplier)
    wire = etree.tostring(document, xml_declaration=True, encoding="UTF-8")
    say(f"   {len(wire)} bytes, ECDSA P-256 signature over exclusive/inclusive C14N as DCC Boxed")

    say("2. opendcc verifies the signature and parses the request")
    signer = verify_document(parse_xml(wire), trust, now)
    request = parse_request(wire)
    say(f"   signed by {signer.label}")
    say(f"   RequestID {request.request_id}, CV {request.command_variant.name}")

    srv = default_catalogue().get(request.srv)
    say(f"3. Catalogue: {srv.srv} '{srv.name}', CVs {list(srv.command_variants)}, ")
    say(f"   critical={srv.critical}, import supplier eligible={srv.is_eligible(UserRole.IS)}")

    say("4. opendcc acknowledges (I99) and answers with a SMETS1 response, both DCC-signed")
    ack = sign_document(acknowledgement(request, now), dcc)
    answer = smets1_response(
        request.request_id,
        service_reference=request.service_reference,
        srv=request.srv,
        code=ResponseCode.SUCCESS,
        now=now,
        s1sp_credentials=s1sp,
    )
    answer = sign_document(answer, dcc)
    for name, tree in (("acknowledgement", ack), ("SMETS1 response", answer)):
        received = parse_xml(to_bytes(tree))
        by = verify_document(received, trust, now)
        say(f"   supplier verifies the {name}: signed by {by.label}")
    inner = verify_smets1_signed_response(parse_xml(to_bytes(answer)), trust, now)
    say(f"   and the S1SP's own signature inside it: {inner.label}")

    say("5. A tampered copy (counter changed after signing) is refused")
    tampered = wire.replace(b"</sr:RequestID>", b"1</sr:RequestID>", 1)
    try:
        verify_document(parse_xml(tampered), trust, now)
    except SignatureInvalid as exc:
        say(f"   refused: {exc.reason} (HTTP {exc.http_status})")
    else:
        say("   NOT refused: this is a bug")
        return 1
    say("Demo complete.")
    return 0
