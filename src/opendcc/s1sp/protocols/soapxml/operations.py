"""The body element of each SOAP/XML operation's request and response, both ways (see ``codec``).

One pair of functions per message: ``_encode_*`` appends the element to a ``soap:Body``,
``_decode_*`` reads it back strictly. ``REQUESTS`` and ``RESPONSES`` are the one table that
ties each ``Operation`` to its events.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from lxml import etree

from opendcc.s1sp.protocols.soapxml.messages import (
    Alert,
    ExecuteCommand,
    ExecuteCommandResponse,
    GetHeadEndStatus,
    GetHeadEndStatusResponse,
    HeadEndState,
    Operation,
    PollAlerts,
    PollAlertsResponse,
    Request,
    Response,
    ResultCode,
)
from opendcc.s1sp.protocols.soapxml.reading import (
    canonical_eui64,
    elements,
    invalid,
    member_of,
    named_values,
    sequence,
    text,
)
from opendcc.s1sp.protocols.soapxml.values import (
    ProtocolError,
    Value,
    encode_value,
    format_datetime,
    parse_datetime,
    q,
)

_CODE_DIGITS = frozenset("0123456789")


def _leaf(parent: etree._Element, tag: str, value: str) -> None:
    etree.SubElement(parent, q(tag)).text = value or None


def _named(parent: etree._Element, tag: str, values: Mapping[str, Value]) -> None:
    for name, value in values.items():
        encode_value(parent, tag, value, name)


# --------------------------------------------------------------------------- encoding


def encode_request(body: etree._Element, request: Request) -> None:
    """Append the operation element that carries ``request`` to ``body``."""
    match request:
        case ExecuteCommand():
            element = etree.SubElement(body, q("ExecuteCommand"))
            _leaf(element, "DeviceId", str(request.device))
            _leaf(element, "RequestId", request.request_id)
            _leaf(element, "Command", request.command)
            _named(etree.SubElement(element, q("Parameters")), "Parameter", request.parameters)
        case GetHeadEndStatus():
            etree.SubElement(body, q("GetHeadEndStatus"))
        case PollAlerts():
            element = etree.SubElement(body, q("PollAlerts"))
            _leaf(element, "Since", format_datetime(request.since))


def encode_response(body: etree._Element, response: Response) -> None:
    """Append the element that carries ``response`` to ``body``."""
    match response:
        case ExecuteCommandResponse():
            element = etree.SubElement(body, q("ExecuteCommandResponse"))
            result = etree.SubElement(element, q("Result"))
            result.set("code", response.result.value)
            if response.reason:
                result.text = response.reason
            _named(etree.SubElement(element, q("Values")), "Value", response.values)
        case GetHeadEndStatusResponse():
            element = etree.SubElement(body, q("GetHeadEndStatusResponse"))
            _leaf(element, "Status", response.status.value)
            _leaf(element, "Time", format_datetime(response.time))
        case PollAlertsResponse():
            element = etree.SubElement(body, q("PollAlertsResponse"))
            for alert in response.alerts:
                _encode_alert(element, alert)


def _encode_alert(parent: etree._Element, alert: Alert) -> None:
    element = etree.SubElement(parent, q("Alert"))
    _leaf(element, "AlertId", alert.alert_id)
    _leaf(element, "DeviceId", str(alert.device))
    _leaf(element, "Code", str(alert.code))
    _leaf(element, "RaisedAt", format_datetime(alert.raised_at))
    _named(element, "Value", alert.values)


# --------------------------------------------------------------------------- decoding


def _decode_execute_command(element: etree._Element) -> ExecuteCommand:
    device, request_id, command, parameters = sequence(
        element, q("DeviceId"), q("RequestId"), q("Command"), q("Parameters")
    )
    if parameters.attrib:
        raise ProtocolError("<Parameters> has unexpected attributes")
    with invalid():
        return ExecuteCommand(
            device=canonical_eui64(text(device)),
            request_id=text(request_id),
            command=text(command),
            parameters=named_values(elements(parameters), "Parameter"),
        )


def _decode_get_head_end_status(element: etree._Element) -> GetHeadEndStatus:
    sequence(element)
    return GetHeadEndStatus()


def _decode_poll_alerts(element: etree._Element) -> PollAlerts:
    [since] = sequence(element, q("Since"))
    with invalid():
        return PollAlerts(parse_datetime(text(since)))


def _decode_execute_command_response(element: etree._Element) -> ExecuteCommandResponse:
    result, values = sequence(element, q("Result"), q("Values"))
    if set(result.attrib) != {"code"} or len(result):
        raise ProtocolError("<Result> holds its code attribute and at most a reason")
    if values.attrib:
        raise ProtocolError("<Values> has unexpected attributes")
    with invalid():
        return ExecuteCommandResponse(
            member_of(ResultCode, result.get("code")),
            named_values(elements(values), "Value"),
            (result.text or "").strip(),
        )


def _decode_get_head_end_status_response(element: etree._Element) -> GetHeadEndStatusResponse:
    status, time = sequence(element, q("Status"), q("Time"))
    with invalid():
        return GetHeadEndStatusResponse(
            member_of(HeadEndState, text(status)), parse_datetime(text(time))
        )


def _decode_poll_alerts_response(element: etree._Element) -> PollAlertsResponse:
    alerts = elements(element)
    sequence(element, *(q("Alert") for _ in alerts))
    return PollAlertsResponse(tuple(_decode_alert(alert) for alert in alerts))


def _decode_alert(element: etree._Element) -> Alert:
    children = elements(element)
    fixed = (q("AlertId"), q("DeviceId"), q("Code"), q("RaisedAt"))
    sequence(element, *fixed, *(q("Value") for _ in children[len(fixed) :]))
    alert_id, device, code, raised_at = children[: len(fixed)]
    digits = text(code)
    if not digits or not set(digits) <= _CODE_DIGITS:
        raise ProtocolError(f"an alert Code is decimal digits: {digits!r}")
    with invalid():
        return Alert(
            alert_id=text(alert_id),
            device=canonical_eui64(text(device)),
            code=int(digits),
            raised_at=parse_datetime(text(raised_at)),
            values=named_values(children[len(fixed) :], "Value"),
        )


# --------------------------------------------------------------------------- the table

OPERATION_OF: Mapping[type[Request], Operation] = MappingProxyType(
    {
        ExecuteCommand: Operation.EXECUTE_COMMAND,
        GetHeadEndStatus: Operation.GET_HEAD_END_STATUS,
        PollAlerts: Operation.POLL_ALERTS,
    }
)
REQUESTS: Mapping[Operation, Callable[[etree._Element], Request]] = MappingProxyType(
    {
        Operation.EXECUTE_COMMAND: _decode_execute_command,
        Operation.GET_HEAD_END_STATUS: _decode_get_head_end_status,
        Operation.POLL_ALERTS: _decode_poll_alerts,
    }
)
RESPONSES: Mapping[Operation, Callable[[etree._Element], Response]] = MappingProxyType(
    {
        Operation.EXECUTE_COMMAND: _decode_execute_command_response,
        Operation.GET_HEAD_END_STATUS: _decode_get_head_end_status_response,
        Operation.POLL_ALERTS: _decode_poll_alerts_response,
    }
)
