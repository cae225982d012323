"""The APDU codec: golden frames pin the wire format; properties pin identity and framing."""

from __future__ import annotations

import contextlib
import zlib
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from opendcc.core.eui import Eui64
from opendcc.s1sp.protocols.apdu import (
    I64,
    MAX_DEPTH,
    U32,
    U64,
    ActionRequest,
    ActionResponse,
    Alert,
    AlertAck,
    Array,
    AttributeRef,
    Connection,
    DateTime,
    Event,
    GetRequest,
    GetResponse,
    MethodRef,
    Obis,
    OctetString,
    ProtocolError,
    Request,
    ResultCode,
    Role,
    SetRequest,
    SetResponse,
    Value,
    VisibleString,
    Write,
)
from opendcc.s1sp.protocols.apdu.codec import MAX_BODY, encode

METER = Eui64.parse("00-DB-12-34-56-78-90-A0")
TOTAL = AttributeRef(Obis.parse("1.0.1.8.0.255"))
CLOCK = AttributeRef(Obis.parse("0.0.1.0.0.255"))
LOAD_LIMIT = AttributeRef(Obis.parse("0.0.17.0.0.255"), 3)
DISCONNECT = MethodRef(Obis.parse("0.0.96.3.10.255"), 1)
MIDNIGHT = datetime(2024, 6, 1, tzinfo=UTC)

GOLDEN: list[tuple[str, Event, str]] = [
    (
        "GET-REQUEST for two attributes",
        GetRequest(7, METER, "R1", (TOTAL, CLOCK)),
        "00000021" "01c0" "00000007" "00db1234567890a0" "0002" "5231" "02"
        "010001" "0800ff" "02" "000001" "0000ff" "02" "44dd8073",
    ),
    (
        "GET-RESPONSE with a register and the clock",
        GetResponse(
            7,
            ResultCode.SUCCESS,
            (U64(12345678), DateTime(datetime(2024, 6, 1, 12, 0, 30, 250000, tzinfo=UTC))),
        ),
        "00000022" "01c4" "00000007" "00" "02" "15" "0008" "0000000000bc614e"
        "19" "000c" "07e8" "06" "01" "06" "0c" "00" "1e" "19" "0000" "00" "1ed55df7",
    ),
    (
        "GET-RESPONSE device unreachable",
        GetResponse(9, ResultCode.DEVICE_UNREACHABLE),
        "00000008" "01c4" "00000009" "01" "00" "87106ea1",
    ),
    (
        "GET-RESPONSE with every other value type",
        GetResponse(
            1,
            ResultCode.SUCCESS,
            (
                U32(1),
                I64(-2),
                OctetString(b"\x01\x02"),
                VisibleString("ok"),
                DateTime(datetime(2024, 1, 1, tzinfo=timezone(timedelta(hours=1)))),
            ),
        ),
        "00000033" "01c4" "00000001" "00" "05" "06" "0004" "00000001"
        "14" "0008" "fffffffffffffffe" "09" "0002" "0102" "0a" "0002" "6f6b"
        "19" "000c" "07e8" "01" "01" "01" "00" "00" "00" "00" "003c" "00" "0a6c71fd",
    ),
    (
        "GET-RESPONSE keys missing",
        GetResponse(11, ResultCode.KEYS_MISSING),
        "00000008" "01c4" "0000000b" "06" "00" "cbd52c08",
    ),
    (
        "SET-REQUEST for the clock and a load limit",
        SetRequest(
            8, METER, "R2", (Write(CLOCK, DateTime(MIDNIGHT)), Write(LOAD_LIMIT, U32(6000)))
        ),
        "00000037" "01c1" "00000008" "00db1234567890a0" "0002" "5232" "02"
        "000001" "0000ff" "02" "19" "000c" "07e8" "06" "01" "06" "00" "00" "00" "00" "0000" "00"
        "000011" "0000ff" "03" "06" "0004" "00001770" "7bcbf225",
    ),
    (
        "SET-RESPONSE type unmatched",
        SetResponse(8, ResultCode.TYPE_UNMATCHED),
        "00000007" "01c5" "00000008" "08" "bc3c59f7",
    ),
    (
        "ACTION-REQUEST with one parameter",
        ActionRequest(9, METER, "R3", DISCONNECT, (U32(0),)),
        "00000021" "01c3" "00000009" "00db1234567890a0" "0002" "5233"
        "000060" "030aff" "01" "01" "06" "0004" "00000000" "6aba0805",
    ),
    (
        "ACTION-RESPONSE with a two-row profile",
        ActionResponse(
            9,
            ResultCode.SUCCESS,
            (
                Array(
                    (
                        Array((DateTime(MIDNIGHT), U64(100))),
                        Array((DateTime(MIDNIGHT + timedelta(minutes=30)), U64(250))),
                    )
                ),
            ),
        ),
        "00000045" "01c7" "00000009" "00" "01" "01" "003a"
        "01" "001a" "19" "000c" "07e8" "06" "01" "06" "00" "00" "00" "00" "0000" "00"
        "15" "0008" "0000000000000064"
        "01" "001a" "19" "000c" "07e8" "06" "01" "06" "00" "1e" "00" "00" "0000" "00"
        "15" "0008" "00000000000000fa" "97327b0f",
    ),
    (
        "ACTION-RESPONSE HAN error",
        ActionResponse(10, ResultCode.HAN_ERROR),
        "00000008" "01c7" "0000000a" "07" "00" "e2e46de3",
    ),
    (
        "ALERT pushed with one value",
        Alert(METER, 0x8F35, MIDNIGHT.replace(hour=12), (U32(3),)),
        "00000024" "01c2" "00000000" "00db1234567890a0" "8f35"
        "07e8" "06" "01" "06" "0c" "00" "00" "00" "0000" "00" "01" "06" "0004" "00000003"
        "52d2fcc0",
    ),
    (
        "ACTION-RESPONSE refused, saying why",
        ActionResponse(11, ResultCode.OTHER, (VisibleString("no credit"),)),
        "00000014" "01c7" "0000000b" "fa" "01" "0a" "0009" "6e6f20637265646974" "a62a3bf4",
    ),
]  # fmt: skip


REQUESTS = (GetRequest, SetRequest, ActionRequest)
SET_FAILED, ACTION, PROFILE, ALERT = (GOLDEN[i][1] for i in (6, 7, 8, 10))


def receiver_of(event: Event) -> Connection:
    return Connection(Role.SERVER if isinstance(event, REQUESTS) else Role.CLIENT)


def sender_of(event: Event) -> Connection:
    return Connection(Role.CLIENT if isinstance(event, REQUESTS) else Role.SERVER)


@pytest.mark.parametrize(("name", "event", "wire"), GOLDEN, ids=[g[0] for g in GOLDEN])
def test_golden_frames(name: str, event: Event, wire: str) -> None:
    frame = bytes.fromhex(wire)
    assert sender_of(event).send(event) == frame
    [decoded] = receiver_of(event).receive_data(frame)
    assert decoded == event
    assert encode(decoded) == frame
    length = int.from_bytes(frame[:4], "big")
    assert zlib.crc32(frame[4 : 4 + length]).to_bytes(4, "big") == frame[-4:]


def test_partial_frames_wait_for_the_rest() -> None:
    frame = encode(GOLDEN[0][1])
    server = Connection(Role.SERVER)
    assert server.receive_data(frame[:3]) == []
    assert server.receive_data(frame[3:-1]) == []
    assert server.receive_data(frame[-1:]) == [GOLDEN[0][1]]


def test_obis_text_round_trip() -> None:
    assert str(Obis.parse("1.0.1.8.0.255")) == "1.0.1.8.0.255"
    for bad in ("1.0.1.8.0", "1.0.1.8.0.256", "a.0.1.8.0.255"):
        with pytest.raises(ValueError):
            Obis.parse(bad)


def test_date_times_keep_hundredths_only() -> None:
    instant = datetime(2024, 6, 1, 12, 0, 0, 123456, tzinfo=UTC)
    event = GetResponse(1, ResultCode.SUCCESS, (DateTime(instant),))
    [decoded] = Connection(Role.CLIENT).receive_data(encode(event))
    assert isinstance(decoded, GetResponse)
    assert decoded.values == (DateTime(instant.replace(microsecond=120000)),)


# --------------------------------------------------------------------------- malformed


def corrupt(frame: bytes, index: int, value: int) -> bytes:
    """``frame`` with one body byte replaced and the CRC fixed up, so the body is judged."""
    body = bytearray(frame[4:-4])
    body[index] = value
    return frame[:4] + bytes(body) + zlib.crc32(bytes(body)).to_bytes(4, "big")


@pytest.mark.parametrize(
    ("role", "frame", "message"),
    [
        (Role.SERVER, encode(GOLDEN[0][1])[:-1] + b"\x00", "CRC"),
        (Role.SERVER, corrupt(encode(GOLDEN[0][1]), 0, 2), "version"),
        (Role.SERVER, corrupt(encode(GOLDEN[0][1]), 1, 0x99), "tag"),
        (Role.CLIENT, corrupt(encode(GOLDEN[1][1]), 8, 0x77), "value type"),
        (Role.CLIENT, corrupt(encode(GOLDEN[1][1]), 6, 0x80), "malformed"),  # result code
        (Role.CLIENT, corrupt(encode(GOLDEN[1][1]), 26, 3), "weekday"),
        (Role.CLIENT, encode(GOLDEN[0][1]), "may not receive GetRequest"),
        (Role.SERVER, (MAX_BODY + 1).to_bytes(4, "big"), "exceeds"),
        (Role.CLIENT, corrupt(encode(ALERT), 5, 1), "invoke id 0"),
        (Role.SERVER, encode(ALERT), "may not receive Alert"),
        (Role.SERVER, corrupt(encode(ACTION), 24, 0), "method"),  # methods count from 1
        (Role.CLIENT, corrupt(encode(PROFILE), 10, 0x40), "ends early"),  # array length
        (Role.CLIENT, corrupt(encode(SET_FAILED), 6, 10), "malformed"),  # no result 10
    ],
)
def test_malformed_frames_raise_and_break_the_connection(
    role: Role, frame: bytes, message: str
) -> None:
    connection = Connection(role)
    with pytest.raises(ProtocolError, match=message):
        connection.receive_data(frame)
    with pytest.raises(ProtocolError, match="broken"):
        connection.receive_data(b"")


def test_arrays_nest_at_most_max_depth() -> None:
    deepest: Value = U32(1)
    for _ in range(MAX_DEPTH):
        deepest = Array((deepest,))
    response = ActionResponse(1, ResultCode.SUCCESS, (deepest,))
    assert Connection(Role.CLIENT).receive_data(encode(response)) == [response]
    with pytest.raises(ValueError):
        Array((deepest,))
    # One level deeper on the wire: the decoder refuses before it recurses further.
    content = bytes.fromhex("0600040000000001")
    for _ in range(MAX_DEPTH + 1):
        content = b"\x01" + len(content).to_bytes(2, "big") + content
    body = bytes.fromhex("01c7" "00000001" "00" "01") + content  # fmt: skip
    frame = len(body).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")
    with pytest.raises(ProtocolError, match="nest"):
        Connection(Role.CLIENT).receive_data(frame)


def test_a_client_receives_alerts_between_responses() -> None:
    stream = encode(GOLDEN[2][1]) + encode(ALERT) + encode(SET_FAILED)
    assert Connection(Role.CLIENT).receive_data(stream) == [GOLDEN[2][1], ALERT, SET_FAILED]
    assert ALERT.invoke_id == 0


def test_a_short_body_is_a_protocol_error() -> None:
    body = bytes.fromhex("01c400000001")  # no result byte
    frame = len(body).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")
    with pytest.raises(ProtocolError, match="ends early"):
        Connection(Role.CLIENT).receive_data(frame)


def test_each_side_sends_only_its_own_events() -> None:
    with pytest.raises(ProtocolError):
        Connection(Role.SERVER).send(GOLDEN[0][1])
    with pytest.raises(ProtocolError):
        Connection(Role.CLIENT).send(GOLDEN[2][1])
    with pytest.raises(ProtocolError):
        Connection(Role.CLIENT).send(ALERT)
    with pytest.raises(ProtocolError):
        Connection(Role.SERVER).send(ACTION)


def test_events_refuse_values_out_of_range() -> None:
    with pytest.raises(ValueError):
        U32(1 << 32)
    with pytest.raises(ValueError):
        GetRequest(1, METER, "R1", ())
    with pytest.raises(ValueError):
        GetResponse(1, ResultCode.NO_RESPONSE, (U32(1),))
    with pytest.raises(ValueError):
        DateTime(datetime(2024, 1, 1))  # naive
    with pytest.raises(ValueError):
        SetRequest(1, METER, "R1", ())
    with pytest.raises(ValueError):
        MethodRef(DISCONNECT.obis, 0)
    with pytest.raises(ValueError):
        ActionResponse(1, ResultCode.HAN_ERROR, (U32(1),))
    with pytest.raises(ValueError, match="reason"):
        ActionResponse(1, ResultCode.OTHER, (VisibleString("a"), VisibleString("b")))
    with pytest.raises(ValueError):
        Alert(METER, 1 << 16, MIDNIGHT)
    with pytest.raises(ValueError):
        Alert(METER, 1, datetime(2024, 1, 1))  # naive
    with pytest.raises(ValueError):
        encode(ActionResponse(1, ResultCode.SUCCESS, (Array((OctetString(bytes(60_000)),) * 2),)))


def test_a_refused_action_says_why_and_a_successful_one_has_no_reason() -> None:
    assert ActionResponse(1, ResultCode.OTHER, (VisibleString("no credit"),)).reason == "no credit"
    assert ActionResponse(1, ResultCode.OTHER).reason == ""
    assert ActionResponse(1, ResultCode.SUCCESS, (VisibleString("a value"),)).reason == ""


def test_result_codes_keep_their_numbers() -> None:
    assert {code.name: code.value for code in ResultCode} == {
        "SUCCESS": 0,
        "DEVICE_UNREACHABLE": 1,
        "NO_RESPONSE": 2,
        "OBJECT_UNDEFINED": 3,
        "READ_DENIED": 4,
        "UNKNOWN_DEVICE": 5,
        "KEYS_MISSING": 6,
        "HAN_ERROR": 7,
        "TYPE_UNMATCHED": 8,
        "TEMPORARY_FAILURE": 9,
        "OTHER": 250,
    }


# --------------------------------------------------------------------------- properties

octets = st.integers(0, 255)
obis = st.builds(Obis, octets, octets, octets, octets, octets, octets)
attributes = st.lists(st.builds(AttributeRef, obis, octets), min_size=1, max_size=12).map(tuple)
ascii_text = st.text(st.characters(min_codepoint=0, max_codepoint=127), max_size=80)
instants = st.builds(
    lambda moment, hundredths, minutes: moment.replace(
        microsecond=hundredths * 10_000, tzinfo=timezone(timedelta(minutes=minutes))
    ),
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
    st.integers(0, 99),
    st.integers(-23 * 60, 23 * 60),
)
scalars: st.SearchStrategy[Value] = st.one_of(
    st.builds(U32, st.integers(0, (1 << 32) - 1)),
    st.builds(U64, st.integers(0, (1 << 64) - 1)),
    st.builds(I64, st.integers(-(1 << 63), (1 << 63) - 1)),
    st.builds(OctetString, st.binary(max_size=64)),
    st.builds(VisibleString, ascii_text),
    st.builds(DateTime, instants),
)


def nested(depth: int) -> st.SearchStrategy[Value]:
    """Scalars, and arrays of them up to ``depth`` deep."""
    if depth == 0:
        return scalars
    arrays = st.lists(nested(depth - 1), max_size=3).map(lambda items: Array(tuple(items)))
    return st.one_of(scalars, arrays)


values = nested(3)
value_lists = st.lists(values, max_size=10).map(tuple)
invoke_ids = st.integers(0, (1 << 32) - 1)
devices = st.builds(Eui64, st.integers(0, (1 << 64) - 1))
requests: st.SearchStrategy[Request] = st.one_of(
    st.builds(GetRequest, invoke_ids, devices, ascii_text, attributes),
    st.builds(
        SetRequest,
        invoke_ids,
        devices,
        ascii_text,
        st.lists(
            st.builds(Write, st.builds(AttributeRef, obis, octets), values), min_size=1, max_size=8
        ).map(tuple),
    ),
    st.builds(
        ActionRequest,
        invoke_ids,
        devices,
        ascii_text,
        st.builds(MethodRef, obis, st.integers(1, 255)),
        value_lists,
    ),
)
from_server: st.SearchStrategy[Event] = st.one_of(
    st.builds(GetResponse, invoke_ids, st.just(ResultCode.SUCCESS), value_lists),
    st.builds(GetResponse, invoke_ids, st.sampled_from(ResultCode)),
    st.builds(SetResponse, invoke_ids, st.sampled_from(ResultCode)),
    st.builds(ActionResponse, invoke_ids, st.just(ResultCode.SUCCESS), value_lists),
    st.builds(ActionResponse, invoke_ids, st.sampled_from(ResultCode)),
    st.builds(Alert, devices, st.integers(0, 0xFFFF), instants, value_lists),
)


@given(requests)
def test_requests_round_trip(event: Request) -> None:
    assert Connection(Role.SERVER).receive_data(Connection(Role.CLIENT).send(event)) == [event]


@given(from_server)
def test_responses_and_alerts_round_trip(event: Event) -> None:
    assert Connection(Role.CLIENT).receive_data(Connection(Role.SERVER).send(event)) == [event]


@given(st.lists(from_server, min_size=1, max_size=6), st.data())
def test_any_chunking_of_the_stream_gives_the_same_events(
    events: list[Event], data: st.DataObject
) -> None:
    stream = b"".join(encode(event) for event in events)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    client = Connection(Role.CLIENT)
    received: list[Event] = []
    for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        received += client.receive_data(stream[start:end])
    assert received == events


@given(st.binary(max_size=200), st.sampled_from(Role))
def test_garbage_raises_only_protocol_errors(junk: bytes, role: Role) -> None:
    # Framed with a valid length and CRC, so the body decoder sees the garbage.
    frame = len(junk).to_bytes(4, "big") + junk + zlib.crc32(junk).to_bytes(4, "big")
    for stream in (junk, frame):
        with contextlib.suppress(ProtocolError):
            Connection(role).receive_data(stream)


def test_a_confirmed_alert_and_its_acknowledgement_round_trip() -> None:
    alert = Alert(METER, 0x8F35, MIDNIGHT.replace(hour=12), (U32(3),), sequence=1_700_000_000_123)
    frame = Connection(Role.SERVER).send(alert)
    assert frame[5] == 0xC8  # CONFIRMED ALERT
    assert frame[18:26] == (1_700_000_000_123).to_bytes(8, "big")  # after the device
    assert Connection(Role.CLIENT).receive_data(frame) == [alert]
    ack = AlertAck(1_700_000_000_123)
    wire = Connection(Role.CLIENT).send(ack)
    assert wire[5] == 0xC9 and wire[6:10] == bytes(4)  # invoke id 0
    assert Connection(Role.SERVER).receive_data(wire) == [ack]
    with pytest.raises(ProtocolError):  # only the client acknowledges
        Connection(Role.SERVER).send(ack)
    with pytest.raises(ValueError):  # sequence 0 is no confirmed alert
        AlertAck(0)
