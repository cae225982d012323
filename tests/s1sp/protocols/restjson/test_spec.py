"""REST/JSON messages written by hand from the wire format in the codec's docstring (and
docs/cohorts.md), decoded by the codec and checked field by field.

The goldens in golden/*.http were written out from the codec's own encoding, and test_codec.py
checks that the codec reads them back into the same events: a misreading shared by encoder
and decoder (a date-time's fraction, a member's name) would pass there. Here each body is
typed out from the documented members, with members in a different order and with spaces, as
any head-end may send them, and every decoded field is compared with the value written.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from opendcc.core.eui import Eui64
from opendcc.s1sp import services
from opendcc.s1sp.protocols.restjson import (
    Alert,
    ApiError,
    ApiErrorCode,
    CommandAccepted,
    CommandState,
    CommandStatus,
    FailureCode,
    Health,
    HealthState,
    HttpMessage,
    HttpReply,
    ProtocolError,
    SubmitCommand,
)
from opendcc.s1sp.protocols.restjson.codec import (
    NoRoute,
    decode_alert,
    decode_callback,
    decode_health_reply,
    decode_request,
    decode_submit_reply,
    encode_request,
)
from opendcc.s1sp.transports.restjson import datum

JSON = (("content-type", "application/json"),)
METER = Eui64.parse("00-DB-12-34-56-78-90-A0")


def post(path: str, body: str) -> HttpMessage:
    return HttpMessage("POST", path, JSON, body.encode())


def test_a_submitted_command_is_read_member_by_member() -> None:
    body = """{ "requestId": "90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:7",
                "command": "readInstantaneousImport", "commandId": "c.1_~-x",
                "callbackUrl": "http://127.0.0.1:8080/cb",
                "arguments": {"from": "2024-02-29T23:59:59.000001Z", "rows": [1, 2.5, null],
                              "flags": {"all": false}, "label": "2024-02-29"} }"""
    event = decode_request(post("/v2/devices/00-DB-12-34-56-78-90-A0/commands", body))
    assert isinstance(event, SubmitCommand)
    assert event.device == METER
    assert event.command_id == "c.1_~-x"
    assert event.request_id == "90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:7"
    assert event.command == "readInstantaneousImport"
    assert event.callback_url == "http://127.0.0.1:8080/cb"
    arguments = dict(event.arguments)
    # Only a string of exactly the RFC 3339 UTC form is a date-time; "2024-02-29" stays text.
    assert arguments["from"] == datetime(2024, 2, 29, 23, 59, 59, 1, tzinfo=UTC)
    assert arguments["from"].utcoffset().total_seconds() == 0  # type: ignore[union-attr]
    assert arguments["label"] == "2024-02-29"
    assert arguments["rows"] == (1, 2.5, None)
    assert dict(arguments["flags"]) == {"all": False}  # type: ignore[call-overload]


def test_a_command_is_sent_in_the_documented_canonical_form() -> None:
    event = SubmitCommand(
        device=METER,
        command_id="cmd-9",
        request_id="RID-9",
        command="setSupplyState",
        arguments={"supplyState": "armed", "at": datetime(2024, 6, 1, 0, 0, 0, 250000, tzinfo=UTC)},
        callback_url="https://s1sp.example/cb",
    )
    message = encode_request(event)
    assert (message.method, message.path) == (
        "POST",
        "/v2/devices/00-DB-12-34-56-78-90-A0/commands",
    )
    assert ("content-type", "application/json") in message.headers
    # Keys sorted, no insignificant whitespace, the date-time's fraction without trailing zeros.
    assert message.body == (
        b'{"arguments":{"at":"2024-06-01T00:00:00.25Z","supplyState":"armed"},'
        b'"callbackUrl":"https://s1sp.example/cb","command":"setSupplyState",'
        b'"commandId":"cmd-9","requestId":"RID-9"}'
    )


def test_a_completed_callback_is_read_member_by_member() -> None:
    body = """{"status": "completed", "deviceId": "00-DB-12-34-56-78-90-A0",
               "result": {"importWh": 12345678, "deviceTime": "2024-06-01T12:00:30.25Z"},
               "completedAt": "2024-06-01T12:00:31Z", "commandId": "cmd-2"}"""
    status = decode_callback(post("https://s1sp.example/cb", body))
    assert isinstance(status, CommandStatus)
    assert (status.command_id, status.device, status.status) == (
        "cmd-2",
        METER,
        CommandState.COMPLETED,
    )
    assert status.completed_at == datetime(2024, 6, 1, 12, 0, 31, tzinfo=UTC)
    assert status.result is not None
    assert dict(status.result) == {
        "importWh": 12345678,
        "deviceTime": datetime(2024, 6, 1, 12, 0, 30, 250000, tzinfo=UTC),
    }
    assert status.error is None


def test_a_failed_callback_carries_its_failure_code_and_message() -> None:
    body = """{"commandId": "cmd-3", "completedAt": "2024-06-01T12:00:31Z",
               "deviceId": "00-DB-12-34-56-78-90-A0", "status": "failed",
               "error": {"message": "no answer from the comms hub",
                         "code": "DEVICE_UNREACHABLE"}}"""
    status = decode_callback(post("https://s1sp.example/cb", body))
    assert status.status is CommandState.FAILED
    assert status.error is not None
    assert (status.error.code, status.error.message) == (
        FailureCode.DEVICE_UNREACHABLE,
        "no answer from the comms hub",
    )
    assert status.result is None


def test_an_alert_is_read_member_by_member() -> None:
    body = """{"values": {"supplyState": "off"}, "raisedAt": "2024-06-01T12:00:00Z",
               "deviceId": "00-DB-12-34-56-78-90-A0", "code": 65535, "alertId": "a-1"}"""
    alert = decode_alert(post("https://s1sp.example/alerts", body))
    assert isinstance(alert, Alert)
    assert (alert.alert_id, alert.device, alert.code) == ("a-1", METER, 0xFFFF)
    assert alert.raised_at == datetime(2024, 6, 1, 12, tzinfo=UTC)
    assert dict(alert.values) == {"supplyState": "off"}


def test_replies_are_read_by_status_and_body() -> None:
    accepted = decode_submit_reply(
        HttpReply(202, JSON, b'{"status": "accepted", "commandId": "cmd-9"}')
    )
    assert accepted == CommandAccepted("cmd-9")
    error = decode_submit_reply(
        HttpReply(409, JSON, b'{"error": {"code": "DUPLICATE_COMMAND", "message": "other"}}')
    )
    assert isinstance(error, ApiError)
    assert (error.code, error.message) == (ApiErrorCode.DUPLICATE_COMMAND, "other")
    health = decode_health_reply(
        HttpReply(200, JSON, b'{"time": "2024-06-01T12:00:00.5Z", "status": "degraded"}')
    )
    assert isinstance(health, Health)
    assert health.status is HealthState.DEGRADED
    assert health.time == datetime(2024, 6, 1, 12, 0, 0, 500000, tzinfo=UTC)


@pytest.mark.parametrize(
    ("message", "error"),
    [
        # The EUI-64 in canonical form only: upper-case hex, hyphenated.
        (post("/v2/devices/00-db-12-34-56-78-90-a0/commands", "{}"), ProtocolError),
        # Every member shown is required and no other is allowed.
        (
            post(
                "/v2/devices/00-DB-12-34-56-78-90-A0/commands",
                json.dumps(
                    {
                        "arguments": {},
                        "callbackUrl": "https://s1sp.example/cb",
                        "command": "readInstantaneousImport",
                        "commandId": "c",
                        "requestId": "r",
                        "priority": 1,
                    }
                ),
            ),
            ProtocolError,
        ),
        # Bodies are sent with content-type application/json.
        (
            HttpMessage("POST", "/v2/devices/00-DB-12-34-56-78-90-A0/commands", (), b"{}"),
            ProtocolError,
        ),
        (post("/v3/devices/00-DB-12-34-56-78-90-A0/commands", "{}"), NoRoute),
    ],
    ids=["lower-case-eui", "extra-member", "no-content-type", "no-route"],
)
def test_messages_off_the_format_are_refused(message: HttpMessage, error: type[Exception]) -> None:
    with pytest.raises(error):
        decode_request(message)


def test_an_alcs_calendar_command_and_a_switch_read_callback_as_typed() -> None:
    """6.14.2 goes out as its parameters (one schedule line each), and 7.7's completed callback
    comes back as nested arrays: both typed out member by member, read as the services'."""
    body = """{"callbackUrl": "http://127.0.0.1:8080/cb", "commandId": "c-6",
               "command": "updateDeviceConfigurationALCScheduler", "requestId": "R-6",
               "arguments": {"schedule.0": "1 on Mon,Tue 06:00:00 *-*-*-* *-*-*-* -",
                             "switch_type.2": "HCALCS 00-DB-12-34-56-78-90-97"}}"""
    event = decode_request(post("/v2/devices/00-DB-12-34-56-78-90-A0/commands", body))
    assert isinstance(event, SubmitCommand)
    assert event.command == "updateDeviceConfigurationALCScheduler"
    assert dict(event.arguments) == {
        "schedule.0": "1 on Mon,Tue 06:00:00 *-*-*-* *-*-*-* -",
        "switch_type.2": "HCALCS 00-DB-12-34-56-78-90-97",
    }
    callback = """{"commandId": "c-7", "status": "completed",
                   "deviceId": "00-DB-12-34-56-78-90-A0", "completedAt": "2024-06-01T12:00:31Z",
                   "result": {"switches": [
                       [1, "", "ALCS", 0],
                       [2, "HCALCS_2", "HCALCS 00-DB-12-34-56-78-90-97", 1]]}}"""
    status = decode_callback(post("https://s1sp.example/cb", callback))
    assert isinstance(status, CommandStatus) and status.result is not None
    result = {name: datum(value) for name, value in status.result.items()}
    assert result == {
        "switches": ((1, "", "ALCS", 0), (2, "HCALCS_2", "HCALCS 00-DB-12-34-56-78-90-97", 1))
    }
    element = services.response_element("7.7", result)
    assert [e.get("Index") for e in element] == ["1", "2"]
    assert element[1][1][0].text == "00-DB-12-34-56-78-90-97"  # TypeAndIdentifier/HCALCS
