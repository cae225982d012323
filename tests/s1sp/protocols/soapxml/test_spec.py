"""SOAP/XML documents written by hand from the service description in the codec's docstring
(and the value lexical forms in ``values``), decoded by the codec and checked field by field.

The goldens in golden/*.xml were written out by the codec itself, and test_codec.py checks
that it reads them back into the same events: a misreading shared by writer and reader would
pass there. Here each document is typed out as another SOAP stack might send it (its own
prefixes, a default namespace, a zone other than Z, a SOAP Header), and every decoded field is
compared with the value written.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from opendcc.core.eui import Eui64
from opendcc.s1sp import services
from opendcc.s1sp.protocols.soapxml import (
    FAULT_KIND,
    Alert,
    ErrorCode,
    ExecuteCommand,
    ExecuteCommandResponse,
    Fault,
    FaultKind,
    GetHeadEndStatusResponse,
    HeadEndState,
    Operation,
    PollAlerts,
    PollAlertsResponse,
    ProtocolError,
    ResultCode,
    decode_request,
    decode_response,
    request_headers,
    soap_action,
)
from opendcc.s1sp.transports.soapxml import to_data

METER = Eui64.parse("00-DB-12-34-56-78-90-A0")
ENVELOPE = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<S:Envelope xmlns:S="http://schemas.xmlsoap.org/soap/envelope/">{}</S:Envelope>'
)


def document(body: str, header: str = "") -> bytes:
    return ENVELOPE.format(f"{header}<S:Body>{body}</S:Body>").encode()


def test_an_execute_command_is_read_element_by_element() -> None:
    data = document(
        """<x:ExecuteCommand xmlns:x="urn:opendcc:headend:1">
             <x:DeviceId>00-DB-12-34-56-78-90-A0</x:DeviceId>
             <x:RequestId>90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:12</x:RequestId>
             <x:Command>setLoadLimit</x:Command>
             <x:Parameters>
               <x:Parameter name="limitW" type="int"> -42 </x:Parameter>
               <x:Parameter name="factor" type="decimal">0.10</x:Parameter>
               <x:Parameter name="armed" type="boolean">1</x:Parameter>
               <x:Parameter name="at" type="dateTime">2024-06-01T13:30:00.5+01:30</x:Parameter>
               <x:Parameter name="key" type="hexBinary">00ff1A</x:Parameter>
               <x:Parameter name="note" type="string"> as is </x:Parameter>
               <x:Parameter name="steps" type="list">
                 <x:Value type="int">1</x:Value><x:Value type="list"/>
               </x:Parameter>
             </x:Parameters>
           </x:ExecuteCommand>"""
    )
    request = decode_request(data, soap_action='"urn:opendcc:headend:ExecuteCommand"')
    assert isinstance(request, ExecuteCommand)
    assert request.device == METER
    assert request.request_id == "90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:12"
    assert request.command == "setLoadLimit"
    parameters = dict(request.parameters)
    assert parameters["limitW"] == -42 and type(parameters["limitW"]) is int
    assert parameters["factor"] == Decimal("0.10") and isinstance(parameters["factor"], Decimal)
    assert parameters["armed"] is True
    # Held in UTC: 13:30:00.5 at +01:30 is 12:00:00.5Z.
    assert parameters["at"] == datetime(2024, 6, 1, 12, 0, 0, 500000, tzinfo=UTC)
    assert parameters["at"].utcoffset() == timedelta(0)  # type: ignore[union-attr]
    assert parameters["key"] == b"\x00\xff\x1a"
    assert parameters["note"] == " as is "  # a string keeps its whitespace
    assert parameters["steps"] == (1, ())
    assert list(parameters) == ["limitW", "factor", "armed", "at", "key", "note", "steps"]


def test_a_success_response_in_a_default_namespace_is_read_value_by_value() -> None:
    data = document(
        """<ExecuteCommandResponse xmlns="urn:opendcc:headend:1">
             <Result code="SUCCESS"/>
             <Values>
               <Value name="importWh" type="int">9223372036854775807</Value>
               <Value name="deviceTime" type="dateTime">2024-06-01T12:00:30.25Z</Value>
               <Value name="firmware" type="string"/>
             </Values>
           </ExecuteCommandResponse>"""
    )
    answer = decode_response(data, Operation.EXECUTE_COMMAND)
    assert isinstance(answer, ExecuteCommandResponse)
    assert answer.result is ResultCode.SUCCESS
    assert dict(answer.values) == {
        "importWh": 2**63 - 1,
        "deviceTime": datetime(2024, 6, 1, 12, 0, 30, 250000, tzinfo=UTC),
        "firmware": "",
    }


def test_a_failure_result_carries_no_values() -> None:
    data = document(
        '<he:ExecuteCommandResponse xmlns:he="urn:opendcc:headend:1">'
        '<he:Result code="HAN_ERROR"/><he:Values/></he:ExecuteCommandResponse>'
    )
    answer = decode_response(data, Operation.EXECUTE_COMMAND)
    assert isinstance(answer, ExecuteCommandResponse)
    assert (answer.result, dict(answer.values)) == (ResultCode.HAN_ERROR, {})


def test_a_status_and_polled_alerts_are_read_element_by_element() -> None:
    status = decode_response(
        document(
            '<a:GetHeadEndStatusResponse xmlns:a="urn:opendcc:headend:1">'
            "<a:Status>degraded</a:Status><a:Time>2024-06-01T07:00:00-05:00</a:Time>"
            "</a:GetHeadEndStatusResponse>"
        ),
        Operation.GET_HEAD_END_STATUS,
    )
    assert isinstance(status, GetHeadEndStatusResponse)
    assert status.status is HeadEndState.DEGRADED
    assert status.time == datetime(2024, 6, 1, 12, tzinfo=UTC)

    polled = decode_response(
        document(
            """<he:PollAlertsResponse xmlns:he="urn:opendcc:headend:1">
                 <he:Alert><he:AlertId>a-1</he:AlertId>
                   <he:DeviceId>00-DB-12-34-56-78-90-A0</he:DeviceId><he:Code>36661</he:Code>
                   <he:RaisedAt>2024-06-01T12:00:00Z</he:RaisedAt>
                   <he:Value name="tamper" type="boolean">false</he:Value></he:Alert>
                 <he:Alert><he:AlertId>a-2</he:AlertId>
                   <he:DeviceId>00-DB-12-34-56-78-90-A0</he:DeviceId><he:Code>0</he:Code>
                   <he:RaisedAt>2024-06-01T12:00:01Z</he:RaisedAt></he:Alert>
               </he:PollAlertsResponse>"""
        ),
        Operation.POLL_ALERTS,
    )
    assert isinstance(polled, PollAlertsResponse)
    first, second = polled.alerts
    assert isinstance(first, Alert)
    assert (first.alert_id, first.device, first.code) == ("a-1", METER, 0x8F35)
    assert first.raised_at == datetime(2024, 6, 1, 12, tzinfo=UTC)
    assert dict(first.values) == {"tamper": False}
    assert (second.alert_id, second.code, dict(second.values)) == ("a-2", 0, {})


def test_a_poll_request_with_a_header_block_to_ignore() -> None:
    header = '<S:Header><t:Trace xmlns:t="urn:example:trace">1</t:Trace></S:Header>'
    body = (
        '<p:PollAlerts xmlns:p="urn:opendcc:headend:1">'
        "<p:Since>2024-06-01T00:00:00Z</p:Since></p:PollAlerts>"
    )
    request = decode_request(document(body, header))
    assert request == PollAlerts(datetime(2024, 6, 1, tzinfo=UTC))
    must = (
        '<S:Header><t:Trace xmlns:t="urn:example:trace" S:mustUnderstand="1">1</t:Trace></S:Header>'
    )
    with pytest.raises(ProtocolError):
        decode_request(document(body, must))


def test_a_fault_carries_its_error_code_and_whose_fault_it_is() -> None:
    data = document(
        "<S:Fault><faultcode>S:Client</faultcode><faultstring>no such meter</faultstring>"
        '<detail><e:ErrorCode xmlns:e="urn:opendcc:headend:1">UNKNOWN_DEVICE</e:ErrorCode>'
        "</detail></S:Fault>"
    )
    fault = decode_response(data, Operation.EXECUTE_COMMAND)
    assert isinstance(fault, Fault)
    assert (fault.code, fault.message) == (ErrorCode.UNKNOWN_DEVICE, "no such meter")
    # The CODE fixes the faultcode, as the service description lists them.
    assert {code.value: kind for code, kind in FAULT_KIND.items()} == {
        "MALFORMED_REQUEST": FaultKind.CLIENT,
        "UNKNOWN_DEVICE": FaultKind.CLIENT,
        "DUPLICATE_COMMAND": FaultKind.CLIENT,
        "UNSUPPORTED_COMMAND": FaultKind.CLIENT,
        "INTERNAL_ERROR": FaultKind.SERVER,
        "UNAVAILABLE": FaultKind.SERVER,
    }


def test_the_http_binding_is_as_described() -> None:
    request = PollAlerts(datetime(2024, 6, 1, tzinfo=UTC))
    assert soap_action(Operation.POLL_ALERTS) == '"urn:opendcc:headend:PollAlerts"'
    headers = {name.lower(): value for name, value in request_headers(request)}
    assert headers["content-type"] == "text/xml; charset=utf-8"
    assert headers["soapaction"] == '"urn:opendcc:headend:PollAlerts"'


@pytest.mark.parametrize(
    "body",
    [
        # Elements come in exactly the order shown.
        '<he:ExecuteCommand xmlns:he="urn:opendcc:headend:1"><he:RequestId>r</he:RequestId>'
        "<he:DeviceId>00-DB-12-34-56-78-90-A0</he:DeviceId><he:Command>c</he:Command>"
        "<he:Parameters/></he:ExecuteCommand>",
        # The EUI-64 is canonical: upper-case hex.
        '<he:ExecuteCommand xmlns:he="urn:opendcc:headend:1">'
        "<he:DeviceId>00-db-12-34-56-78-90-a0</he:DeviceId><he:RequestId>r</he:RequestId>"
        "<he:Command>c</he:Command><he:Parameters/></he:ExecuteCommand>",
        # A date-time has a zone.
        '<he:PollAlerts xmlns:he="urn:opendcc:headend:1"><he:Since>2024-06-01T00:00:00</he:Since>'
        "</he:PollAlerts>",
        # The service's own namespace, not another.
        '<he:PollAlerts xmlns:he="urn:opendcc:headend:2"><he:Since>2024-06-01T00:00:00Z</he:Since>'
        "</he:PollAlerts>",
    ],
    ids=["order", "eui-case", "zone", "namespace"],
)
def test_documents_off_the_description_are_refused(body: str) -> None:
    with pytest.raises(ProtocolError):
        decode_request(document(body))


def test_an_alcs_event_log_answer_with_nested_lists_is_read_value_by_value() -> None:
    """6.13's ALCS event log as another SOAP stack sends it (own prefix, a zone), lists of
    lists, read into the service's Result and its MMC ALCSEvent."""
    data = document(
        """<h:ExecuteCommandResponse xmlns:h="urn:opendcc:headend:1">
             <h:Result code="SUCCESS"/>
             <h:Values>
               <h:Value name="log" type="string">alcs</h:Value>
               <h:Value name="log_entries" type="list">
                 <h:Value type="list">
                   <h:Value type="dateTime">2024-06-01T13:30:00+01:00</h:Value>
                   <h:Value type="int">3</h:Value>
                   <h:Value type="string">Revert to calendar control</h:Value>
                 </h:Value>
               </h:Value>
             </h:Values>
           </h:ExecuteCommandResponse>"""
    )
    answer = decode_response(data, Operation.EXECUTE_COMMAND)
    assert isinstance(answer, ExecuteCommandResponse)
    result = to_data(answer.values)
    at = datetime(2024, 6, 1, 12, 30, tzinfo=UTC)
    assert result == {"log": "alcs", "log_entries": ((at, 3, "Revert to calendar control"),)}
    element = services.response_element("6.13", result)
    [entry] = element[0]
    assert [child.text for child in entry] == [
        "2024-06-01T12:30:00.000Z",
        "3",
        "Revert to calendar control",
        "Success",
    ]
