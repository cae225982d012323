"""The REST/JSON codec: golden files pin the wire format; properties pin identity; junk fails.

A golden file is one HTTP message as text: ``METHOD TARGET`` or ``HTTP STATUS``, the headers
(one ``name: value`` a line), a blank line, the body, and one closing newline.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.s1sp.protocols.restjson.strategies import instants, objects, texts

from opendcc.core.eui import Eui64
from opendcc.s1sp.protocols.restjson import (
    MAX_BODY,
    Acknowledged,
    Alert,
    ApiError,
    ApiErrorCode,
    CommandAccepted,
    CommandError,
    CommandState,
    CommandStatus,
    FailureCode,
    Health,
    HealthCheck,
    HealthState,
    HttpMessage,
    HttpReply,
    NoRoute,
    PollCommand,
    ProtocolError,
    SubmitCommand,
    SubscribeAlerts,
    UnsubscribeAlerts,
    decode_alert,
    decode_callback,
    decode_health_reply,
    decode_poll_reply,
    decode_push_reply,
    decode_request,
    decode_submit_reply,
    decode_subscription_reply,
    encode_push,
    encode_reply,
    encode_request,
)

GOLDEN_DIR = Path(__file__).parent / "golden"
METER = Eui64.parse("00-DB-12-34-56-78-90-A0")
GAS_METER = Eui64.parse("00-DB-12-34-56-78-90-B0")
CALLBACKS = "https://s1sp.example/callbacks/commands"
ALERTS = "https://s1sp.example/callbacks/alerts"
NOON = datetime(2024, 6, 1, 12, tzinfo=UTC)

Wire = HttpMessage | HttpReply


def render(wire: Wire) -> bytes:
    start = f"{wire.method} {wire.path}" if isinstance(wire, HttpMessage) else f"HTTP {wire.status}"
    head = "\n".join([start, *(f"{name}: {value}" for name, value in wire.headers)])
    return head.encode() + b"\n\n" + wire.body + b"\n"


def parse(text: bytes) -> Wire:
    head, _, rest = text.partition(b"\n\n")
    start, *lines = head.decode().split("\n")
    headers = tuple(tuple(line.split(": ", 1)) for line in lines)
    body = rest.removesuffix(b"\n")
    first, second = start.split(" ", 1)
    if first == "HTTP":
        return HttpReply(int(second), headers, body)  # type: ignore[arg-type]
    return HttpMessage(first, second, headers, body)  # type: ignore[arg-type]


SUBMIT = SubmitCommand(
    device=METER,
    command_id="cmd-0001",
    request_id="90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:1000",
    command="setSupplyState",
    arguments={
        "executionTime": datetime(2024, 6, 1, tzinfo=UTC),
        "options": {"notify": True, "priority": None},
        "supplyState": "armed",
        "thresholds": (7.5, 10),
    },
    callback_url=CALLBACKS,
)
COMPLETED = CommandStatus(
    command_id="cmd-0002",
    device=METER,
    status=CommandState.COMPLETED,
    completed_at=datetime(2024, 6, 1, 12, 0, 31, 500000, tzinfo=UTC),
    result={
        "deviceTime": datetime(2024, 6, 1, 12, 0, 30, 250000, tzinfo=UTC),
        "importWh": 12345678,
        "touWh": (1000, 2000, 0, 0),
    },
)
FAILED = CommandStatus(
    command_id="cmd-0003",
    device=GAS_METER,
    status=CommandState.FAILED,
    completed_at=datetime(2024, 6, 1, 12, 5, tzinfo=UTC),
    error=CommandError(FailureCode.HAN_ERROR, "the comms hub could not reach the gas meter"),
)
ALERT = Alert(
    alert_id="alert-77",
    device=METER,
    code=0x8F35,
    raised_at=NOON,
    values={"supplyState": "off", "tamper": True},
)


def _push_to(url: str) -> Callable[[Any], Wire]:
    return lambda event: encode_push(event, url=url)


# (golden file, event, encoder, decoder)
GOLDEN: list[tuple[str, object, Callable[[Any], Wire], Callable[[Any], object]]] = [
    ("submit_command", SUBMIT, encode_request, decode_request),
    ("command_accepted", CommandAccepted("cmd-0001"), encode_reply, decode_submit_reply),
    (
        "error_duplicate_command",
        ApiError(
            ApiErrorCode.DUPLICATE_COMMAND, "commandId cmd-0001 was submitted with other content"
        ),
        encode_reply,
        decode_submit_reply,
    ),
    (
        "error_unknown_device",
        ApiError(ApiErrorCode.UNKNOWN_DEVICE, "no device 00-DB-12-34-56-78-90-A1"),
        encode_reply,
        decode_submit_reply,
    ),
    ("poll_command", PollCommand("cmd-0001"), encode_request, decode_request),
    (
        "status_accepted",
        CommandStatus(command_id="cmd-0001", device=METER, status=CommandState.ACCEPTED),
        encode_reply,
        decode_poll_reply,
    ),
    ("callback_completed", COMPLETED, _push_to(CALLBACKS), decode_callback),
    ("callback_failed", FAILED, _push_to(CALLBACKS), decode_callback),
    ("push_acknowledged", Acknowledged(), encode_reply, decode_push_reply),
    ("alert", ALERT, _push_to(ALERTS), decode_alert),
    ("health_check", HealthCheck(), encode_request, decode_request),
    ("health", Health(HealthState.UP, NOON), encode_reply, decode_health_reply),
    ("subscribe_alerts", SubscribeAlerts("sub-1", ALERTS), encode_request, decode_request),
    ("unsubscribe_alerts", UnsubscribeAlerts("sub-1"), encode_request, decode_request),
]


@pytest.mark.parametrize(
    ("name", "event", "encode", "decode"), GOLDEN, ids=[golden[0] for golden in GOLDEN]
)
def test_golden_messages(
    name: str,
    event: object,
    encode: Callable[[Any], Wire],
    decode: Callable[[Any], object],
) -> None:
    golden = (GOLDEN_DIR / f"{name}.http").read_bytes()
    assert render(encode(event)) == golden
    assert decode(parse(golden)) == event
    assert render(encode(decode(parse(golden)))) == golden


def test_every_golden_file_is_checked() -> None:
    assert {path.stem for path in GOLDEN_DIR.glob("*.http")} == {golden[0] for golden in GOLDEN}


def test_the_head_end_answers_errors_with_their_status() -> None:
    for code in ApiErrorCode:
        reply = encode_reply(ApiError(code, "why"))
        assert decode_poll_reply(reply) == ApiError(code, "why")
        assert 400 <= reply.status <= 599


def test_the_head_end_acknowledges_subscriptions_with_204() -> None:
    acknowledged = (GOLDEN_DIR / "push_acknowledged.http").read_bytes()
    assert decode_subscription_reply(parse(acknowledged)) == Acknowledged()  # type: ignore[arg-type]
    refusal = ApiError(ApiErrorCode.UNAVAILABLE, "in maintenance")
    assert decode_subscription_reply(encode_reply(refusal)) == refusal


def test_decoding_tolerates_what_http_allows() -> None:
    # Header names in any case, a charset parameter, insignificant whitespace and key order.
    reply = HttpReply(
        202,
        (("Content-Type", "application/json; charset=utf-8"),),
        b'{ "status": "accepted", "commandId": "cmd-1" }',
    )
    assert decode_submit_reply(reply) == CommandAccepted("cmd-1")


def test_values_that_look_like_date_times_are_date_times() -> None:
    event = SubmitCommand(
        device=METER,
        command_id="c",
        request_id="r",
        command="x",
        arguments={"at": "2024-06-01T12:00:00.000Z", "name": "2024-06-01"},
        callback_url=CALLBACKS,
    )
    assert event.arguments == {"at": NOON, "name": "2024-06-01"}
    assert decode_request(encode_request(event)) == event


# --------------------------------------------------------------------------- malformed


def submit_with(**changes: Any) -> HttpMessage:
    document = json.loads((GOLDEN_DIR / "submit_command.http").read_bytes().split(b"\n\n")[1])
    for key, value in changes.items():
        if value is KeyError:
            del document[key]
        else:
            document[key] = value
    message = encode_request(SUBMIT)
    return HttpMessage(message.method, message.path, message.headers, json.dumps(document).encode())


def reply(status: int, body: bytes) -> HttpReply:
    return HttpReply(status, (("content-type", "application/json"),), body)


POST_JSON = (("content-type", "application/json"),)
HUGE_NUMBER = submit_with(arguments={"n": 1e300}).body.replace(b"1e+300", b"1e400")
SUBMIT_PATH = "/v2/devices/00-DB-12-34-56-78-90-A0/commands"
MALFORMED_REQUESTS: list[tuple[HttpMessage, str]] = [
    (HttpMessage("GET", "/v2/nothing"), "no route"),
    (HttpMessage("GET", SUBMIT_PATH), "not allowed"),
    (HttpMessage("POST", "/v2/health"), "not allowed"),
    (HttpMessage("GET", "/v2/health?verbose=1"), "no route"),
    (HttpMessage("GET", "/v2/health", (), b"{}"), "no body"),
    (HttpMessage("GET", "/v2/commands/cmd%201"), "commandId"),
    (HttpMessage("POST", SUBMIT_PATH.replace("A0", "a0"), POST_JSON, b"{}"), "EUI-64"),
    (HttpMessage("POST", SUBMIT_PATH.replace("-A0", ""), POST_JSON, b"{}"), "EUI-64"),
    (HttpMessage("POST", SUBMIT_PATH, (), submit_with().body), "content type"),
    (HttpMessage("POST", SUBMIT_PATH, POST_JSON, b"[]"), "not a JSON object"),
    (HttpMessage("POST", SUBMIT_PATH, POST_JSON, b'{"a":1,"a":2}'), "duplicate"),
    (HttpMessage("POST", SUBMIT_PATH, POST_JSON, b"{"), "not JSON"),
    (HttpMessage("POST", SUBMIT_PATH, POST_JSON, b"\xff"), "not JSON"),
    (HttpMessage("POST", SUBMIT_PATH, POST_JSON, b" " * (MAX_BODY + 1)), "exceeds"),
    (HttpMessage("POST", SUBMIT_PATH, POST_JSON, b"[" * 100_000), "not JSON"),
    (submit_with(extra=1), "unknown extra"),
    (submit_with(arguments=KeyError), "lacks arguments"),
    (submit_with(commandId=7), "commandId is not a string"),
    (submit_with(commandId="a/b"), "commandId"),
    (submit_with(command="Set supply"), "command name"),
    (submit_with(requestId=""), "requestId"),
    (submit_with(callbackUrl="ftp://s1sp.example/x"), "URL"),
    (submit_with(arguments=[]), "arguments is not a JSON object"),
    (submit_with(arguments={"n": float("nan")}), "not JSON"),
    (HttpMessage("POST", SUBMIT_PATH, POST_JSON, HUGE_NUMBER), "finite"),
    (submit_with(arguments={"s": "\ud800"}), "Unicode"),
    (HttpMessage("POST", "/v2/alert-subscriptions/s", POST_JSON, b"{}"), "not allowed"),
    (HttpMessage("PUT", "/v2/alert-subscriptions/s", POST_JSON, b"{}"), "lacks url"),
    (HttpMessage("PUT", "/v2/alert-subscriptions/s", POST_JSON, b'{"url":"x:"}'), "URL"),
    (HttpMessage("PUT", "/v2/alert-subscriptions/s%20", POST_JSON, b"{}"), "lacks url"),
    (HttpMessage("DELETE", "/v2/alert-subscriptions/s", (), b"{}"), "no body"),
    (HttpMessage("DELETE", "/v2/alert-subscriptions/s%20"), "subscriptionId"),
]


@pytest.mark.parametrize(("message", "complaint"), MALFORMED_REQUESTS)
def test_malformed_requests_raise(message: HttpMessage, complaint: str) -> None:
    with pytest.raises(ProtocolError, match=complaint):
        decode_request(message)


def test_routing_failures_are_no_route() -> None:
    with pytest.raises(NoRoute):
        decode_request(HttpMessage("DELETE", "/v2/commands/c"))
    with pytest.raises(ProtocolError) as caught:
        decode_request(submit_with(extra=1))
    assert not isinstance(caught.value, NoRoute)


def _pushed(document: dict[str, Any]) -> HttpMessage:
    return HttpMessage("POST", CALLBACKS, POST_JSON, json.dumps(document).encode())


_STATUS = {"commandId": "c", "deviceId": str(METER)}
_DONE = {**_STATUS, "completedAt": "2024-06-01T12:00:00Z"}
MALFORMED_PUSHES: list[tuple[Callable[[HttpMessage], object], HttpMessage, str]] = [
    (decode_callback, _pushed({**_STATUS, "status": "accepted"}), "final"),
    (decode_callback, _pushed({**_STATUS, "status": "done"}), "CommandState"),
    (decode_callback, _pushed({**_DONE, "status": "completed"}), "lacks result"),
    (decode_callback, _pushed({**_DONE, "status": "completed", "result": {}, "error": {}}), "unk"),
    (decode_callback, _pushed({**_STATUS, "status": "failed", "error": {}}), "lacks completedAt"),
    (
        decode_callback,
        _pushed({**_DONE, "status": "failed", "error": {"code": "OOPS", "message": ""}}),
        "FailureCode",
    ),
    (
        decode_callback,
        _pushed(
            {
                **_DONE,
                "completedAt": "2024-06-01T13:00:00+01:00",
                "status": "completed",
                "result": {},
            }
        ),
        "RFC 3339",
    ),
    (
        decode_callback,
        _pushed({**_DONE, "status": "completed", "result": {}, "completedAt": "2024-13-01T00:00Z"}),
        "RFC 3339",
    ),
    (decode_alert, _pushed({"alertId": "a", "deviceId": str(METER)}), "lacks code"),
    (
        decode_alert,
        _pushed(
            {"alertId": "a", "code": True, "deviceId": str(METER), "raisedAt": "", "values": {}}
        ),
        "code is not an integer",
    ),
    (
        decode_alert,
        _pushed(
            {
                "alertId": "a",
                "code": 70000,
                "deviceId": str(METER),
                "raisedAt": "2024-06-01T12:00:00Z",
                "values": {},
            }
        ),
        "alert code",
    ),
    (decode_alert, HttpMessage("PUT", ALERTS, POST_JSON, b"{}"), "not allowed"),
]


@pytest.mark.parametrize(("decode", "message", "complaint"), MALFORMED_PUSHES)
def test_malformed_pushes_raise(
    decode: Callable[[HttpMessage], object], message: HttpMessage, complaint: str
) -> None:
    with pytest.raises(ProtocolError, match=complaint):
        decode(message)


MALFORMED_REPLIES: list[tuple[Callable[[HttpReply], object], HttpReply, str]] = [
    (decode_submit_reply, reply(200, b'{"commandId":"c","status":"accepted"}'), "status 200"),
    (decode_submit_reply, reply(202, b'{"commandId":"c","status":"done"}'), "accepted"),
    (decode_submit_reply, reply(404, b'{"error":{"code":"CONFLICT","message":""}}'), "Code"),
    (
        decode_submit_reply,
        reply(400, b'{"error":{"code":"UNKNOWN_DEVICE","message":""}}'),
        "comes with status 404",
    ),
    (decode_submit_reply, HttpReply(502, (("content-type", "text/html"),), b"<html/>"), "type"),
    (decode_push_reply, HttpReply(204, (), b"ok"), "no body"),
    (decode_health_reply, reply(200, b'{"status":"sleepy","time":"2024-06-01T12:00:00Z"}'), "He"),
    (decode_health_reply, reply(200, b'{"status":"up","time":"noon"}'), "RFC 3339"),
    (decode_poll_reply, reply(200, b'{"commandId":"c","deviceId":"x","status":"accepted"}'), "EUI"),
]


@pytest.mark.parametrize(("decode", "message", "complaint"), MALFORMED_REPLIES)
def test_malformed_replies_raise(
    decode: Callable[[HttpReply], object], message: HttpReply, complaint: str
) -> None:
    with pytest.raises(ProtocolError, match=complaint):
        decode(message)


def test_events_refuse_bad_fields() -> None:
    with pytest.raises(ValueError):
        CommandStatus(command_id="c", device=METER, status=CommandState.COMPLETED)
    with pytest.raises(ValueError):
        CommandStatus(command_id="c", device=METER, status=CommandState.ACCEPTED, result={})
    with pytest.raises(ValueError):
        Alert(alert_id="a", device=METER, code=1, raised_at=datetime(2024, 1, 1))  # naive
    with pytest.raises(ValueError):
        SubmitCommand(
            device=METER, command_id="c", request_id="r", command="x", callback_url="/relative"
        )
    with pytest.raises(ValueError):
        pending = CommandStatus(command_id="c", device=METER, status=CommandState.ACCEPTED)
        encode_push(pending, url=CALLBACKS)
    with pytest.raises(ValueError):
        encode_push(ALERT, url="not a url")


# --------------------------------------------------------------------------- properties

ids = st.text("abcXYZ019._~-", min_size=1, max_size=20)
devices = st.builds(Eui64, st.integers(0, (1 << 64) - 1))


@given(ids, devices, st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1),
       st.from_regex(r"[a-z][A-Za-z0-9]{0,10}", fullmatch=True), objects)  # fmt: skip
def test_submissions_round_trip(
    command_id: str, device: Eui64, request_id: str, command: str, arguments: dict[str, Any]
) -> None:
    event = SubmitCommand(
        device=device,
        command_id=command_id,
        request_id=request_id,
        command=command,
        arguments=arguments,
        callback_url=CALLBACKS,
    )
    message = encode_request(event)
    assert decode_request(message) == event
    assert encode_request(decode_request(message)) == message


@given(ids, st.sampled_from([ALERTS, "http://127.0.0.1:8080/a?b=c"]))
def test_subscriptions_round_trip(subscription_id: str, url: str) -> None:
    for event in (SubscribeAlerts(subscription_id, url), UnsubscribeAlerts(subscription_id)):
        message = encode_request(event)
        assert decode_request(message) == event
        assert encode_request(decode_request(message)) == message


errors = st.builds(CommandError, st.sampled_from(FailureCode), texts)


@given(ids, devices, instants, objects, errors)
def test_statuses_round_trip(
    command_id: str, device: Eui64, at: datetime, result: dict[str, Any], error: CommandError
) -> None:
    for event in (
        CommandStatus(command_id=command_id, device=device, status=CommandState.ACCEPTED),
        CommandStatus(
            command_id=command_id,
            device=device,
            status=CommandState.COMPLETED,
            completed_at=at,
            result=result,
        ),
        CommandStatus(
            command_id=command_id,
            device=device,
            status=CommandState.FAILED,
            completed_at=at,
            error=error,
        ),
    ):
        assert decode_poll_reply(encode_reply(event)) == event
        if event.final:
            assert decode_callback(encode_push(event, url=CALLBACKS)) == event


@given(ids, devices, st.integers(0, 0xFFFF), instants, objects)
def test_alerts_round_trip(
    alert_id: str, device: Eui64, code: int, at: datetime, values: dict[str, Any]
) -> None:
    event = Alert(alert_id=alert_id, device=device, code=code, raised_at=at, values=values)
    assert decode_alert(encode_push(event, url=ALERTS)) == event


@given(st.binary(max_size=200), st.sampled_from(["POST", "GET"]), st.sampled_from(
    [SUBMIT_PATH, "/v2/commands/c", "/v2/health", CALLBACKS]))  # fmt: skip
def test_garbage_raises_only_protocol_errors(body: bytes, method: str, path: str) -> None:
    message = HttpMessage(method, path, POST_JSON, body)
    for decode in (decode_request, decode_callback, decode_alert):
        with contextlib.suppress(ProtocolError):
            decode(message)
    for status in (200, 202, 204, 404, 500):
        for decode_reply in (decode_submit_reply, decode_poll_reply, decode_push_reply):
            with contextlib.suppress(ProtocolError):
                decode_reply(HttpReply(status, POST_JSON, body))
