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
    U32,
    U64,
    AttributeRef,
    Connection,
    DateTime,
    Event,
    GetRequest,
    GetResponse,
    Obis,
    OctetString,
    ProtocolError,
    ResultCode,
    Role,
    Value,
    VisibleString,
)
from opendcc.s1sp.protocols.apdu.codec import MAX_BODY, encode

METER = Eui64.parse("00-DB-12-34-56-78-90-A0")
TOTAL = AttributeRef(Obis.parse("1.0.1.8.0.255"))
CLOCK = AttributeRef(Obis.parse("0.0.1.0.0.255"))

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
]  # fmt: skip


def receiver_of(event: Event) -> Connection:
    return Connection(Role.SERVER if isinstance(event, GetRequest) else Role.CLIENT)


def sender_of(event: Event) -> Connection:
    return Connection(Role.CLIENT if isinstance(event, GetRequest) else Role.SERVER)


@pytest.mark.parametrize(("name", "event", "wire"), GOLDEN, ids=[g[0] for g in GOLDEN])
def test_golden_frames(name: str, event: Event, wire: str) -> None:
    frame = bytes.fromhex(wire)
    assert sender_of(event).send(event) == frame
    assert receiver_of(event).receive_data(frame) == [event]
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


def test_events_refuse_values_out_of_range() -> None:
    with pytest.raises(ValueError):
        U32(1 << 32)
    with pytest.raises(ValueError):
        GetRequest(1, METER, "R1", ())
    with pytest.raises(ValueError):
        GetResponse(1, ResultCode.NO_RESPONSE, (U32(1),))
    with pytest.raises(ValueError):
        DateTime(datetime(2024, 1, 1))  # naive


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
values: st.SearchStrategy[Value] = st.one_of(
    st.builds(U32, st.integers(0, (1 << 32) - 1)),
    st.builds(U64, st.integers(0, (1 << 64) - 1)),
    st.builds(I64, st.integers(-(1 << 63), (1 << 63) - 1)),
    st.builds(OctetString, st.binary(max_size=64)),
    st.builds(VisibleString, ascii_text),
    st.builds(DateTime, instants),
)
requests = st.builds(
    GetRequest,
    st.integers(0, (1 << 32) - 1),
    st.builds(Eui64, st.integers(0, (1 << 64) - 1)),
    ascii_text,
    attributes,
)
responses = st.one_of(
    st.builds(
        GetResponse,
        st.integers(0, (1 << 32) - 1),
        st.just(ResultCode.SUCCESS),
        st.lists(values, max_size=10).map(tuple),
    ),
    st.builds(GetResponse, st.integers(0, (1 << 32) - 1), st.sampled_from(ResultCode)),
)


@given(requests)
def test_requests_round_trip(event: GetRequest) -> None:
    assert Connection(Role.SERVER).receive_data(Connection(Role.CLIENT).send(event)) == [event]


@given(responses)
def test_responses_round_trip(event: GetResponse) -> None:
    assert Connection(Role.CLIENT).receive_data(Connection(Role.SERVER).send(event)) == [event]


@given(st.lists(responses, min_size=1, max_size=6), st.data())
def test_any_chunking_of_the_stream_gives_the_same_events(
    events: list[GetResponse], data: st.DataObject
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
