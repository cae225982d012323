"""The SOAP/XML codec: golden documents pin the wire format; properties pin identity; junk fails."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.s1sp.protocols.soapxml.strategies import instants, named, texts, typed

from opendcc.core.eui import Eui64
from opendcc.s1sp.protocols.soapxml import (
    MAX_DOCUMENT,
    Alert,
    ErrorCode,
    ExecuteCommand,
    ExecuteCommandResponse,
    Fault,
    FaultKind,
    GetHeadEndStatus,
    GetHeadEndStatusResponse,
    HeadEndState,
    Operation,
    PollAlerts,
    PollAlertsResponse,
    ProtocolError,
    Request,
    Response,
    ResultCode,
    decode_request,
    decode_response,
    encode_request,
    encode_response,
    http_status,
    operation_of,
    request_headers,
    soap_action,
)

GOLDEN_DIR = Path(__file__).parent / "golden"
METER = Eui64.parse("00-DB-12-34-56-78-90-A0")
GAS_METER = Eui64.parse("00-DB-12-34-56-78-90-B0")
MIDNIGHT = datetime(2024, 6, 1, tzinfo=UTC)


def at(hour: int, minute: int = 0, second: int = 0, micro: int = 0) -> datetime:
    return datetime(2024, 6, 1, hour, minute, second, micro, tzinfo=UTC)


EXECUTE = ExecuteCommand(
    device=METER,
    request_id="90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:1000",
    command="setLoadLimit",
    parameters={
        "thresholdKw": Decimal("7.50"),
        "periodSeconds": 30,
        "restore": False,
        "validFrom": MIDNIGHT,
        "label": "peak & shoulder",
        "token": b"\x00\xff\x10",
        "rates": (1, 2),
    },
)
READING = ExecuteCommandResponse(
    ResultCode.SUCCESS,
    {
        "importWh": 12345678,
        "deviceTime": at(12, 0, 30, 250000),
        "profile": ((MIDNIGHT, 100), (at(0, 30), 250)),
        "firmware": "",
    },
)
ALERTS = PollAlertsResponse(
    (
        Alert(
            alert_id="alert-77",
            device=METER,
            code=0x8F35,
            raised_at=at(11, 30),
            values={"tamper": True},
        ),
        Alert(alert_id="alert-78", device=GAS_METER, code=0x8011, raised_at=at(11, 45, 0, 500000)),
    )
)

REQUESTS: list[tuple[str, Request]] = [
    ("execute_command", EXECUTE),
    ("get_head_end_status", GetHeadEndStatus()),
    ("poll_alerts", PollAlerts(at(11))),
]
ANSWERS: list[tuple[str, Operation, Response | Fault]] = [
    ("execute_command_response", Operation.EXECUTE_COMMAND, READING),
    (
        "execute_command_response_han_error",
        Operation.EXECUTE_COMMAND,
        ExecuteCommandResponse(ResultCode.HAN_ERROR),
    ),
    (
        "get_head_end_status_response",
        Operation.GET_HEAD_END_STATUS,
        GetHeadEndStatusResponse(HeadEndState.UP, at(12)),
    ),
    ("poll_alerts_response", Operation.POLL_ALERTS, ALERTS),
    (
        "fault_unknown_device",
        Operation.EXECUTE_COMMAND,
        Fault(ErrorCode.UNKNOWN_DEVICE, "no device 00-DB-12-34-56-78-90-A1"),
    ),
    (
        "fault_unavailable",
        Operation.POLL_ALERTS,
        Fault(ErrorCode.UNAVAILABLE, "maintenance until 02:00"),
    ),
    (
        "execute_command_response_rejected",
        Operation.EXECUTE_COMMAND,
        ExecuteCommandResponse(
            ResultCode.REJECTED, reason="meter refused: wrong_payment_mode: credit mode"
        ),
    ),
]


def golden(name: str) -> bytes:
    return (GOLDEN_DIR / f"{name}.xml").read_bytes()


@pytest.mark.parametrize(("name", "request_"), REQUESTS, ids=[r[0] for r in REQUESTS])
def test_golden_requests(name: str, request_: Request) -> None:
    assert encode_request(request_) == golden(name)
    decoded = decode_request(golden(name), soap_action=soap_action(operation_of(request_)))
    assert deep_typed(decoded) == deep_typed(request_)
    assert encode_request(decoded) == golden(name)


@pytest.mark.parametrize(("name", "operation", "answer"), ANSWERS, ids=[a[0] for a in ANSWERS])
def test_golden_answers(name: str, operation: Operation, answer: Response | Fault) -> None:
    assert encode_response(answer) == golden(name)
    decoded = decode_response(golden(name), operation)
    assert decoded == answer
    assert encode_response(decoded) == golden(name)


def test_every_golden_file_is_checked() -> None:
    checked = {r[0] for r in REQUESTS} | {a[0] for a in ANSWERS}
    assert {path.stem for path in GOLDEN_DIR.glob("*.xml")} == checked


def vars_of(event: object) -> dict[str, Any]:
    return {name: getattr(event, name) for name in getattr(event, "__slots__", ())}


def test_http_binding() -> None:
    assert request_headers(EXECUTE) == (
        ("content-type", "text/xml; charset=utf-8"),
        ("soapaction", '"urn:opendcc:headend:ExecuteCommand"'),
    )
    assert http_status(READING) == 200
    assert http_status(Fault(ErrorCode.INTERNAL_ERROR, "")) == 500
    # An unquoted SOAPAction is common in the wild and means the same.
    assert decode_request(golden("poll_alerts"), soap_action="urn:opendcc:headend:PollAlerts")


def test_faults_take_their_kind_from_their_code() -> None:
    assert Fault(ErrorCode.MALFORMED_REQUEST, "").kind is FaultKind.CLIENT
    assert Fault(ErrorCode.INTERNAL_ERROR, "").kind is FaultKind.SERVER


TRACE_HEADER = b"<env:Header><t:Trace xmlns:t='urn:t'>1</t:Trace></env:Header>"


def test_other_prefixes_and_optional_headers_are_accepted() -> None:
    document = (
        golden("get_head_end_status_response")
        .replace(b"he:", b"x:")
        .replace(b"xmlns:he=", b"xmlns:x=")
        .replace(b"soap:", b"env:")
        .replace(b"xmlns:soap=", b"xmlns:env=")
        .replace(b"<env:Body>", TRACE_HEADER + b"<env:Body>")
    )
    assert decode_response(document, Operation.GET_HEAD_END_STATUS) == ANSWERS[2][2]


# --------------------------------------------------------------------------- malformed


def mutated(name: str, old: str, new: str) -> bytes:
    document = golden(name)
    assert old.encode() in document, old
    return document.replace(old.encode(), new.encode(), 1)


_DEEP = "<he:Value type='list'>" * 9 + "</he:Value>" * 9
_BOMB = (
    b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY e SYSTEM 'file:///etc/passwd'>]>"
    b"<soap:Envelope xmlns:soap='http://schemas.xmlsoap.org/soap/envelope/'>&e;</soap:Envelope>"
)
MALFORMED_REQUESTS: list[tuple[bytes, str]] = [
    (b"not xml", "well-formed"),
    (b"", "well-formed"),
    (_BOMB, "DTD"),
    (b"<a/>" + b" " * MAX_DOCUMENT, "exceeds"),
    (b"<a>" * 40 + b"</a>" * 40, "deeper"),
    (mutated("get_head_end_status", "schemas.xmlsoap.org/soap/envelope/",
             "www.w3.org/2003/05/soap-envelope"), "envelope"),  # SOAP 1.2
    (mutated("get_head_end_status", "<he:GetHeadEndStatus/>",
             "<he:GetHeadEndStatus/><he:GetHeadEndStatus/>"), "one element"),
    (mutated("get_head_end_status", "<soap:Body>", "<soap:Body>text"), "text"),
    (mutated("get_head_end_status", "<soap:Body>",
             "<soap:Header><x:T xmlns:x='urn:x' soap:mustUnderstand='1'/></soap:Header>"
             "<soap:Body>"), "must be understood"),
    (mutated("get_head_end_status", "GetHeadEndStatus", "Reboot"), "not a request"),
    (golden("get_head_end_status_response"), "not a request"),
    (mutated("get_head_end_status", "<he:GetHeadEndStatus/>",
             "<he:GetHeadEndStatus><he:X/></he:GetHeadEndStatus>"), "expected nothing"),
    (mutated("poll_alerts", "2024-06-01T11:00:00Z", "2024-06-01T11:00:00"), "zone"),
    (mutated("execute_command", "00-DB-12-34-56-78-90-A0", "00-db-12-34-56-78-90-a0"), "EUI-64"),
    (mutated("execute_command", "00-DB-12-34-56-78-90-A0", "nobody"), "EUI-64"),
    (mutated("execute_command", "setLoadLimit", "Set Load Limit"), "lowerCamelCase"),
    (mutated("execute_command", "<he:Command>setLoadLimit</he:Command>", ""), "expected DeviceId"),
    (mutated("execute_command", "<he:DeviceId>", "<he:DeviceId x='1'>"), "only text"),
    (mutated("execute_command", 'name="label"', 'name="label" lang="en"'), "Parameter name"),
    (mutated("execute_command", 'name="label"', 'name="rates"'), "unique"),
    (mutated("execute_command", 'type="int">30', 'type="integer">30'), "unknown value type"),
    (mutated("execute_command", 'type="int">30', 'type="int">3.0'), "bad int"),
    (mutated("execute_command", 'type="int">30', 'type="int">9223372036854775808'), "64-bit"),
    (mutated("execute_command", ">false<", ">no<"), "bad boolean"),
    (mutated("execute_command", ">7.50<", ">7.5e1<"), "bad decimal"),
    (mutated("execute_command", ">00FF10<", ">00FF1<"), "bad hexBinary"),
    (mutated("execute_command", "2024-06-01T00:00:00Z", "2024-02-30T00:00:00Z"), "bad dateTime"),
    (mutated("execute_command", '<he:Value type="int">1', '<he:Value name="a" type="int">1'),
     "list holds only"),
    (mutated("execute_command", '<he:Value type="int">1', 'x<he:Value type="int">1'), "not text"),
    (mutated("execute_command", '<he:Value type="int">1', f'{_DEEP}<he:Value type="int">1'),
     "nest"),
    (mutated("execute_command", ">30<", "><he:X/><"), "no child"),
]  # fmt: skip


@pytest.mark.parametrize(("document", "complaint"), MALFORMED_REQUESTS)
def test_malformed_requests_raise(document: bytes, complaint: str) -> None:
    with pytest.raises(ProtocolError, match=complaint):
        decode_request(document)


def test_the_soap_action_must_name_the_operation() -> None:
    with pytest.raises(ProtocolError, match="SOAPAction"):
        decode_request(golden("poll_alerts"), soap_action=soap_action(Operation.EXECUTE_COMMAND))


MALFORMED_ANSWERS: list[tuple[bytes, Operation, str]] = [
    (golden("get_head_end_status_response"), Operation.EXECUTE_COMMAND, "expected ExecuteCo"),
    (golden("execute_command"), Operation.EXECUTE_COMMAND, "expected ExecuteCommandResponse"),
    (mutated("execute_command_response", '"SUCCESS"', '"DONE"'), Operation.EXECUTE_COMMAND,
     "ResultCode"),
    (mutated("execute_command_response", '"SUCCESS"', '"REJECTED"'), Operation.EXECUTE_COMMAND,
     "only with result SUCCESS"),
    (mutated("execute_command_response", "<he:Values>", "<he:Values n='1'>"),
     Operation.EXECUTE_COMMAND, "attributes"),
    (mutated("get_head_end_status_response", ">up<", ">down<"), Operation.GET_HEAD_END_STATUS,
     "HeadEndState"),
    (mutated("poll_alerts_response", ">36661<", ">+1<"), Operation.POLL_ALERTS, "digits"),
    (mutated("poll_alerts_response", ">36661<", ">70000<"), Operation.POLL_ALERTS, "0..65535"),
    (mutated("poll_alerts_response", ">alert-77<", ">alert 77<"), Operation.POLL_ALERTS,
     "AlertId"),
    (mutated("poll_alerts_response", "<he:Code>36661</he:Code>", ""), Operation.POLL_ALERTS,
     "expected AlertId DeviceId Code"),
    (mutated("fault_unknown_device", "soap:Client", "soap:Server"), Operation.EXECUTE_COMMAND,
     "is soap:Client"),
    (mutated("fault_unknown_device", "soap:Client", "he:Client"), Operation.EXECUTE_COMMAND,
     "neither"),
    (mutated("fault_unknown_device", "UNKNOWN_DEVICE<", "NO_SUCH<"), Operation.EXECUTE_COMMAND,
     "ErrorCode"),
    (mutated("fault_unknown_device", "<he:ErrorCode>UNKNOWN_DEVICE</he:ErrorCode>", ""),
     Operation.EXECUTE_COMMAND, "expected ErrorCode"),
]  # fmt: skip


@pytest.mark.parametrize(("document", "operation", "complaint"), MALFORMED_ANSWERS)
def test_malformed_answers_raise(document: bytes, operation: Operation, complaint: str) -> None:
    with pytest.raises(ProtocolError, match=complaint):
        decode_response(document, operation)


def test_events_refuse_bad_fields() -> None:
    with pytest.raises(ValueError, match="Decimal"):
        ExecuteCommand(device=METER, request_id="r", command="x", parameters={"f": 1.5})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="XML"):
        ExecuteCommand(device=METER, request_id="r", command="x", parameters={"s": "\x00"})
    with pytest.raises(ValueError):
        ExecuteCommand(device=METER, request_id="r", command="x", parameters={"": 1})
    with pytest.raises(ValueError):
        ExecuteCommandResponse(ResultCode.NO_RESPONSE, {"v": 1})
    with pytest.raises(ValueError, match="reason"):
        ExecuteCommandResponse(ResultCode.SUCCESS, reason="fine")
    with pytest.raises(ValueError):
        ExecuteCommandResponse(ResultCode.REJECTED, reason="x" * 1025)
    with pytest.raises(ValueError):
        ExecuteCommandResponse(ResultCode.REJECTED, reason="\x00")
    with pytest.raises(ValueError):
        PollAlerts(datetime(2024, 1, 1))  # naive
    with pytest.raises(ValueError):
        Fault(ErrorCode.INTERNAL_ERROR, "\ud800")


# --------------------------------------------------------------------------- properties

devices = st.builds(Eui64, st.integers(0, (1 << 64) - 1))
request_ids = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1)
commands = st.from_regex(r"[a-z][A-Za-z0-9]{0,10}", fullmatch=True)
alerts = st.builds(
    Alert,
    alert_id=st.text("abcXYZ019._~-", min_size=1, max_size=12),
    device=devices,
    code=st.integers(0, 0xFFFF),
    raised_at=instants,
    values=named,
)
requests: st.SearchStrategy[Request] = st.one_of(
    st.builds(
        ExecuteCommand, device=devices, request_id=request_ids, command=commands, parameters=named
    ),
    st.just(GetHeadEndStatus()),
    st.builds(PollAlerts, instants),
)
answers: st.SearchStrategy[tuple[Operation, Response | Fault]] = st.one_of(
    st.tuples(
        st.just(Operation.EXECUTE_COMMAND),
        st.builds(ExecuteCommandResponse, st.just(ResultCode.SUCCESS), named)
        | st.builds(ExecuteCommandResponse, st.sampled_from(ResultCode)),
    ),
    st.tuples(
        st.just(Operation.GET_HEAD_END_STATUS),
        st.builds(GetHeadEndStatusResponse, st.sampled_from(HeadEndState), instants),
    ),
    st.tuples(
        st.just(Operation.POLL_ALERTS),
        st.builds(PollAlertsResponse, st.lists(alerts, max_size=3).map(tuple)),
    ),
    st.tuples(st.sampled_from(Operation), st.builds(Fault, st.sampled_from(ErrorCode), texts)),
)


def deep_typed(event: object) -> Any:
    """Every field of an event, leaves typed, so ``True`` never passes for ``1``."""
    if isinstance(event, tuple):
        return [deep_typed(item) for item in event]
    if hasattr(event, "__slots__"):
        return {name: deep_typed(getattr(event, name)) for name in vars_of(event)}
    return typed(event)


@given(requests)
def test_requests_round_trip(request_: Request) -> None:
    document = encode_request(request_)
    decoded = decode_request(document, soap_action=soap_action(operation_of(request_)))
    assert deep_typed(decoded) == deep_typed(request_)
    assert encode_request(decoded) == document


@given(answers)
def test_answers_round_trip(answer: tuple[Operation, Response | Fault]) -> None:
    operation, event = answer
    document = encode_response(event)
    decoded = decode_response(document, operation)
    assert deep_typed(decoded) == deep_typed(event)
    assert encode_response(decoded) == document


@given(st.binary(max_size=300))
def test_garbage_raises_only_protocol_errors(junk: bytes) -> None:
    with contextlib.suppress(ProtocolError):
        decode_request(junk)


@given(st.sampled_from(sorted(GOLDEN_DIR.glob("*.xml"))), st.data())
def test_damaged_documents_raise_only_protocol_errors(path: Path, data: st.DataObject) -> None:
    document = bytearray(path.read_bytes())
    for _ in range(data.draw(st.integers(1, 4))):
        document[data.draw(st.integers(0, len(document) - 1))] = data.draw(st.integers(0, 255))
    decoders: list[Callable[[bytes], object]] = [
        decode_request,
        *(lambda d, op=op: decode_response(d, op) for op in Operation),
    ]
    for decode in decoders:
        with contextlib.suppress(ProtocolError):
            decode(bytes(document))
