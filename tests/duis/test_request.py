"""Parsing DUIS Service Requests: every DCC template, the optional header fields, bad input."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from lxml import etree
from tests.reference import TEMPLATES, XSD_V54

from opendcc.core.errors import DuisError
from opendcc.duis.request import CommandVariant, NotAServiceRequest, parse_request
from opendcc.duis.schema import SchemaInvalid, load_schema

TEMPLATE_FILES = sorted(TEMPLATES.glob("*.XML")) if TEMPLATES.is_dir() else []

REQUEST = """<?xml version="1.0" encoding="UTF-8"?>
<sr:Request xmlns:sr="http://www.dccinterface.co.uk/ServiceUserGateway" schemaVersion="5.4">
  <sr:Header>
    <sr:RequestID>90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:1001</sr:RequestID>
    {extra}<sr:CommandVariant>{cv}</sr:CommandVariant>
    <sr:ServiceReference>4.1</sr:ServiceReference>
    <sr:ServiceReferenceVariant>4.1.1</sr:ServiceReferenceVariant>
  </sr:Header>
  <sr:Body>{body}</sr:Body>
</sr:Request>"""


def request(extra: str = "", cv: str = "1", body: str = "") -> bytes:
    body = body or "<sr:ReadInstantaneousImportRegisters/>"
    return REQUEST.format(extra=extra, cv=cv, body=body).encode()


def test_all_297_templates_parse(reference: Path) -> None:
    assert len(TEMPLATE_FILES) == 297
    for path in TEMPLATE_FILES:
        parsed = parse_request(path.read_bytes())
        assert parsed.srv.startswith(parsed.service_reference), path.name
        assert parsed.srv in path.name, path.name
        assert parsed.body_element in etree.tostring(parsed.body).decode()


def test_typed_header_fields() -> None:
    parsed = parse_request(request())
    assert str(parsed.request_id.originator) == "90-B3-D5-1F-30-01-00-00"
    assert parsed.request_id.counter == 1001
    assert parsed.command_variant is CommandVariant.DEVICE
    assert parsed.srv == "4.1.1"
    assert parsed.body_element == "ReadInstantaneousImportRegisters"
    assert parsed.schema_version == "5.4"
    assert parsed.first_in_sequence is None
    assert parsed.preceding_request_id is None
    assert not parsed.is_future_dated


def test_sequenced_request_header() -> None:
    extra = (
        "<sr:FirstInSequence>false</sr:FirstInSequence><sr:PrecedingServiceRequestID>"
        "90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:1000</sr:PrecedingServiceRequestID>"
    )
    parsed = parse_request(request(extra=extra))
    assert parsed.first_in_sequence is False
    assert parsed.preceding_request_id is not None
    assert parsed.preceding_request_id.counter == 1000


def test_execution_datetime_of_future_dated_requests(reference: Path) -> None:
    path = TEMPLATES / "ECS17b_4.1.1_DSP_FUTURE_DATED_REQUEST_DUIS.XML"
    parsed = parse_request(path.read_bytes())
    assert parsed.execution_datetime == datetime(2015, 1, 15, 9, 0, tzinfo=UTC)
    assert parsed.is_future_dated


def test_body_xml_is_kept_for_srv_handlers(reference: Path) -> None:
    parsed = parse_request(
        (TEMPLATES / "ECS08_2.1_FUTURE_DATED_SUCCESS_REQUEST_DUIS.XML").read_bytes()
    )
    assert parsed.body_element == "UpdatePrepayConfiguration"
    assert parsed.body.findtext(".//{*}DebtRecoveryRateCap") == "30"


def test_summary_is_json_ready() -> None:
    summary = parse_request(request()).summary()
    assert summary["command_variant"] == 1
    assert summary["service_reference_variant"] == "4.1.1"
    assert summary["signed"] is False


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (b'<sr:Response xmlns:sr="http://www.dccinterface.co.uk/ServiceUserGateway"/>', "root"),
        (request(cv="9"), "CommandVariant"),
        (request(cv="x"), "CommandVariant"),
        (request().replace(b"<sr:ReadInstantaneousImportRegisters/>", b""), "exactly one"),
        (
            request().replace(b"ServiceReferenceVariant>4.1.1<", b"ServiceReferenceVariant><"),
            "missing",
        ),
    ],
)
def test_not_a_service_request(doc: bytes, message: str) -> None:
    with pytest.raises(NotAServiceRequest, match=message):
        parse_request(doc)


def test_bad_request_id_is_a_duis_error() -> None:
    doc = request().replace(b":1001<", b":01<")
    with pytest.raises(DuisError):
        parse_request(doc)


def test_optional_xsd_validation(reference: Path) -> None:
    schema = load_schema(XSD_V54)
    parse_request(request(), schema=schema)
    invalid = reference / "samples/duis-sign-wrap/8.2_READ_INVENTORY_REQUEST_DUIS-invalid.XML"
    with pytest.raises(SchemaInvalid, match="ReqxuestID"):
        parse_request(invalid.read_bytes(), schema=schema)
    # Well-formed and structurally a request, but an element the schema does not know:
    with pytest.raises(SchemaInvalid):
        parse_request(request(body="<sr:ReadSomethingUnknown/>"), schema=schema)


def test_all_templates_are_schema_valid(reference: Path) -> None:
    schema = load_schema(XSD_V54)
    invalid = [p.name for p in TEMPLATE_FILES if not schema.is_valid(etree.parse(p))]
    assert invalid == []


def test_execution_datetime_found_wherever_the_templates_put_it(reference: Path) -> None:
    future_dated = 0
    for path in TEMPLATE_FILES:
        parsed = parse_request(path.read_bytes())
        expected = parsed.body.find("{*}ExecutionDateTime")
        assert (parsed.execution_datetime is not None) == (expected is not None), path.name
        future_dated += expected is not None
    assert future_dated == 42
