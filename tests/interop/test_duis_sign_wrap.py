"""Interoperability with DCC Boxed's signing tool, in both directions.

Requests signed by `@smartdcc/duis-sign-wrap` verify with opendcc; requests and responses
signed by opendcc verify with `@smartdcc/duis-sign-wrap` (which also checks them against its
bundled DUIS XSD).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from opendcc.core.errors import ResponseCode
from opendcc.duis.authenticate import verify_document
from opendcc.duis.request import parse_request
from opendcc.duis.response import (
    RequestRef,
    acknowledgement,
    response,
    sign_document,
    smets1_response,
    to_bytes,
)
from opendcc.duis.xml import parse_xml
from opendcc.duis.xmldsig import SignatureInvalid, sign
from opendcc.smki import SigningCredentials, TrustStore
from tests.conftest import credentials
from tests.interop.dcc_tools import run_batch
from tests.reference import NOW, TEMPLATES

pytestmark = pytest.mark.interop

# A spread of SRVs: non-critical reads, critical CV 4 tariffs and top-ups, future-dated,
# non-device (CV 8), sequenced and network-operator requests.
SAMPLE = [
    "ECS17b_4.1.1_SINGLE_SUCCESS_REQUEST_DUIS.XML",
    "ECS17b_4.1.1_DSP_FUTURE_DATED_REQUEST_DUIS.XML",
    "ECS01a_1.1.1_IMMEDIATE_TOU_SUCCESS_REQUEST_DUIS.XML",
    "ECS08_2.1_FUTURE_DATED_SUCCESS_REQUEST_DUIS.XML",
    "8.2_READ_INVENTORY_REQUEST_DUIS.XML",
    "11.1_UPDATE_FIRMWARE_REQUEST_DUIS.XML",
    "CS03A2NonCritical_8.7.2_SUCCESS_REQUEST_DUIS.XML",
    "ECS52_11.2_SUCCESS_REQUEST_DUIS.XML",
]

# Users whose keys both tools hold (ZAZ1 XML-signing keys bundled with DCC Boxed).
USER_KEYS = {
    "90-B3-D5-1F-30-01-00-00": "xml-sign-90B3D51F30010000-ds",
    "90-B3-D5-1F-30-02-00-00": "xml-sign-90B3D51F30020000-ds",
}


def sample_files(reference: Path) -> list[Path]:
    files = [TEMPLATES / name for name in SAMPLE]
    # Add every network-operator template: a second User's key in both directions.
    files += sorted(
        p
        for p in TEMPLATES.glob("*.XML")
        if b"<sr:RequestID>90-B3-D5-1F-30-02-00-00" in p.read_bytes()
    )[:4]
    missing = [p.name for p in files if not p.exists()]
    assert not missing, missing
    return files


def test_requests_signed_by_dcc_boxed_verify_with_opendcc(
    reference: Path, tmp_path: Path, trust_store: TrustStore
) -> None:
    files = sample_files(reference)
    outcomes = run_batch("sign", files, tmp_path)
    failures = {name: o.error for name, o in outcomes.items() if not o.ok}
    assert failures == {}
    for name, outcome in outcomes.items():
        document = parse_xml(outcome.output)
        signer = verify_document(document, trust_store, NOW)
        request = parse_request(outcome.output)
        assert signer.eui == request.request_id.originator, name


def test_documents_signed_by_opendcc_verify_with_dcc_boxed(reference: Path, tmp_path: Path) -> None:
    signed_dir = tmp_path / "signed"
    signed_dir.mkdir()
    files = []
    for path in sample_files(reference):
        document = parse_xml(path.read_bytes())
        originator = str(parse_request(path.read_bytes()).request_id.originator)
        sign(document.getroot(), credentials(USER_KEYS[originator]))
        out = signed_dir / path.name
        out.write_bytes(etree.tostring(document, xml_declaration=True, encoding="UTF-8"))
        files.append(out)
    outcomes = run_batch("validate", files, tmp_path / "validated")
    failures = {name: o.error for name, o in outcomes.items() if not o.ok}
    assert failures == {}
    assert len(outcomes) == len(files)


def test_dcc_boxed_rejects_what_opendcc_rejects(
    reference: Path,
    tmp_path: Path,
    supplier_credentials: SigningCredentials,
    trust_store: TrustStore,
) -> None:
    """The tool is a real check, not a rubber stamp: a tampered document fails in both."""
    document = parse_xml((TEMPLATES / SAMPLE[0]).read_bytes())
    sign(document.getroot(), supplier_credentials)
    tampered = etree.tostring(document, xml_declaration=True, encoding="UTF-8").replace(
        b":1000</sr:RequestID>", b":1001</sr:RequestID>"
    )
    path = tmp_path / "tampered.xml"
    path.write_bytes(tampered)
    outcome = run_batch("validate", [path], tmp_path / "out")["tampered.xml"]
    assert not outcome.ok
    assert "validation failed" in outcome.error
    with pytest.raises(SignatureInvalid):
        verify_document(parse_xml(tampered), trust_store, NOW)


def test_responses_signed_by_the_hub_verify_with_dcc_boxed(
    reference: Path, tmp_path: Path, dcc_credentials: SigningCredentials
) -> None:
    """What the hub sends (signed with the DCC's ZAZ1 DSP key) verifies in DCC's tool."""
    request = parse_request((TEMPLATES / SAMPLE[0]).read_bytes())
    ref = RequestRef.of(request)
    s1sp = credentials("xml-sign-00DB123456780004-ds")  # stands in for an S1SP's key
    documents = {
        "ack.xml": acknowledgement(request, NOW),
        "gbcs.xml": response(
            request.request_id,
            service_reference=ref.service_reference,
            srv=ref.srv,
            code=ResponseCode.SUCCESS,
            now=NOW,
            payload=b"\xdd\x00\x00\x00\x00\x00\x00\x55",
        ),
        "error.xml": response(
            request.request_id,
            service_reference=ref.service_reference,
            srv=ref.srv,
            code=ResponseCode.NOT_RESPONSIBLE_PARTY,
            now=NOW,
        ),
        "smets1.xml": smets1_response(
            request.request_id,
            service_reference=ref.service_reference,
            srv=ref.srv,
            code=ResponseCode.SUCCESS,
            now=NOW,
            s1sp_credentials=s1sp,
        ),
    }
    files = []
    for name, tree in documents.items():
        sign_document(tree, dcc_credentials)
        path = tmp_path / name
        path.write_bytes(to_bytes(tree))
        files.append(path)
    outcomes = run_batch("validate", files, tmp_path / "validated")
    assert {name: o.error for name, o in outcomes.items() if not o.ok} == {}
    assert len(outcomes) == len(documents)
