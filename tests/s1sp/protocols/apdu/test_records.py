"""Named records over APDU: every Datum kind as a value and back, in memory and over the wire."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from opendcc.core.eui import Eui64
from opendcc.s1sp.protocols.apdu import (
    I64,
    U32,
    U64,
    ActionRequest,
    ActionResponse,
    Array,
    Connection,
    DateTime,
    MethodRef,
    Obis,
    OctetString,
    ProtocolError,
    ResultCode,
    Role,
    Value,
    VisibleString,
)
from opendcc.s1sp.protocols.apdu.records import from_record, from_value, to_record, to_value

METER = Eui64.parse("00-DB-12-34-56-78-90-A0")
SERVICE = MethodRef(Obis(0, 130, 4, 1, 1, 255))
MIDNIGHT = datetime(2024, 6, 1, tzinfo=UTC)
PLUS_ONE = timezone(timedelta(hours=1))
MINUS_FIVE_THIRTY = timezone(-timedelta(hours=5, minutes=30))


def over_the_wire(values: tuple[Value, ...]) -> tuple[Value, ...]:
    """``values`` as an ACTION's return values, encoded by the head-end, decoded by the client."""
    frame = Connection(Role.SERVER).send(ActionResponse(9, ResultCode.SUCCESS, values))
    [event] = Connection(Role.CLIENT).receive_data(frame)
    assert isinstance(event, ActionResponse)
    return event.values


def parameters_over_the_wire(values: tuple[Value, ...]) -> tuple[Value, ...]:
    """``values`` as an ACTION's parameters, encoded by the client, decoded by the head-end."""
    frame = Connection(Role.CLIENT).send(ActionRequest(9, METER, "R1", SERVICE, values))
    [event] = Connection(Role.SERVER).receive_data(frame)
    assert isinstance(event, ActionRequest)
    return event.parameters


# --------------------------------------------------------------------------- one value


@pytest.mark.parametrize(
    ("datum", "value"),
    [
        (0, U64(0)),
        (123_456_789, U64(123_456_789)),
        ((1 << 64) - 1, U64((1 << 64) - 1)),
        (-1, I64(-1)),
        (-(1 << 63), I64(-(1 << 63))),
        ("", VisibleString("")),
        ("plain ASCII <&>", VisibleString("plain ASCII <&>")),
        ("Énergie ⚡ ü", OctetString("Énergie ⚡ ü".encode())),
        (MIDNIGHT, DateTime(MIDNIGHT)),
        ((), Array()),
        ((1, -2, "x"), Array((U64(1), I64(-2), VisibleString("x")))),
        (((1,), ((),)), Array((Array((U64(1),)), Array((Array(),))))),
    ],
    ids=[
        "zero",
        "int",
        "u64 max",
        "negative",
        "i64 min",
        "empty text",
        "ascii text",
        "non-ascii text",
        "date-time",
        "empty tuple",
        "tuple",
        "nested tuples",
    ],
)
def test_each_datum_kind_has_its_value(datum: Any, value: Value) -> None:
    assert to_value(datum) == value
    assert from_value(value) == datum
    assert from_value(over_the_wire((value,))[0]) == datum


def test_a_list_travels_as_an_array_and_comes_back_a_tuple() -> None:
    back = from_value(to_value([1, ["a", MIDNIGHT]]))
    assert back == (1, ("a", MIDNIGHT))
    assert type(back) is tuple
    assert type(back[1]) is tuple


def test_a_u32_reads_as_an_int() -> None:
    assert from_value(U32(7)) == 7


def test_ascii_text_in_an_octet_string_reads_as_text() -> None:
    assert from_value(OctetString(b"abc")) == "abc"


@pytest.mark.parametrize(
    "instant",
    [
        datetime(2024, 6, 1, 13, 0, 0, 990_000, tzinfo=PLUS_ONE),
        datetime(2024, 12, 31, 23, 59, 59, 10_000, tzinfo=MINUS_FIVE_THIRTY),
        datetime(2024, 2, 29, 0, 0, 0, 0, tzinfo=UTC),
    ],
    ids=["plus one hour", "minus five thirty", "leap day"],
)
def test_a_date_time_to_the_hundredth_keeps_its_instant_and_its_zone(instant: datetime) -> None:
    back = from_value(over_the_wire((to_value(instant),))[0])
    assert back == instant
    assert back.utcoffset() == instant.utcoffset()


def test_a_date_time_finer_than_a_hundredth_is_cut_to_the_hundredth_on_the_wire() -> None:
    instant = datetime(2024, 6, 1, 12, 0, 1, 987_654, tzinfo=UTC)
    assert from_value(to_value(instant)) == instant  # in memory nothing is lost
    back = from_value(over_the_wire((to_value(instant),))[0])
    assert back == instant.replace(microsecond=980_000)


@pytest.mark.parametrize(
    "datum",
    [True, 1.5, None, b"bytes", {"a": 1}, datetime(2024, 6, 1)],
    ids=["bool", "float", "none", "bytes", "dict", "naive date-time"],
)
def test_what_is_not_a_datum_has_no_value(datum: Any) -> None:
    with pytest.raises((TypeError, ValueError)):
        to_value(datum)


@pytest.mark.parametrize("number", [1 << 64, -(1 << 63) - 1], ids=["too big", "too small"])
def test_an_int_outside_64_bits_has_no_value(number: int) -> None:
    with pytest.raises(ValueError, match="out of range"):
        to_value(number)


def test_an_octet_string_that_is_not_utf8_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="UTF-8"):
        from_value(OctetString(b"\xff\xfe"))
    with pytest.raises(ProtocolError, match="UTF-8"):
        from_value(Array((OctetString(b"\xc3"),)))


# --------------------------------------------------------------------------- records

RECORD: dict[str, Any] = {
    "total_import_wh": 123_456_789,
    "negative": -7,
    "supplier": "Énergie <&> \"quoted\" 'x'",
    "ascii": "plain",
    "empty": "",
    "device_time": datetime(2024, 6, 1, 11, 59, 30, 250_000, tzinfo=UTC),
    "local_time": datetime(2024, 6, 1, 13, 0, tzinfo=PLUS_ONE),
    "tou_wh": (1, 2, 3, 4),
    "log": ((1, "one", datetime(2024, 5, 31, tzinfo=UTC)), (), ("",), ((-1, "ü"),)),
}


def test_a_record_is_name_value_pairs_in_name_order() -> None:
    assert to_record({"b": 2, "a": "x", "c": -1}) == (
        Array((VisibleString("a"), VisibleString("x"))),
        Array((VisibleString("b"), U64(2))),
        Array((VisibleString("c"), I64(-1))),
    )
    assert to_record({}) == ()
    assert from_record(()) == {}


def test_a_record_of_every_datum_kind_round_trips_both_ways_over_the_wire() -> None:
    record = to_record(RECORD)
    assert from_record(record) == RECORD
    assert from_record(over_the_wire(record)) == RECORD
    assert from_record(parameters_over_the_wire(record)) == RECORD
    back = from_record(over_the_wire(record))
    assert type(back["log"][3][0]) is tuple
    assert back["local_time"].utcoffset() == timedelta(hours=1)


def test_a_name_is_ascii() -> None:
    with pytest.raises(ValueError, match="ASCII"):
        to_record({"née": 1})


PAIR = Array((VisibleString("a"), U64(1)))


@pytest.mark.parametrize(
    "values",
    [
        (U64(1),),
        (VisibleString("a"),),
        (Array(),),
        (Array((VisibleString("a"),)),),
        (Array((VisibleString("a"), U64(1), U64(2))),),
        (Array((OctetString(b"a"), U64(1))),),
        (Array((U64(1), U64(1))),),
        (PAIR, PAIR),
        (PAIR, Array((VisibleString("a"), VisibleString("other")))),
        (PAIR, U64(2)),
        (Array((VisibleString("a"), OctetString(b"\xff"))),),
    ],
    ids=[
        "bare value",
        "bare name",
        "empty array",
        "name only",
        "three elements",
        "name as octet string",
        "name as number",
        "repeated pair",
        "repeated name",
        "pair then bare value",
        "value not utf8",
    ],
)
def test_what_is_not_a_record_is_a_protocol_error(values: tuple[Value, ...]) -> None:
    with pytest.raises(ProtocolError):
        from_record(values)


# --------------------------------------------------------------------------- properties

ZONES = st.sampled_from([UTC, PLUS_ONE, MINUS_FIVE_THIRTY]) | st.builds(
    timezone, st.builds(timedelta, minutes=st.integers(-1439, 1439))
)
hundredths = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=ZONES
).map(lambda d: d.replace(microsecond=d.microsecond // 10_000 * 10_000))
texts = st.text(st.characters(codec="utf-8"), max_size=20)
leaves = st.one_of(st.integers(-(1 << 63), (1 << 64) - 1), texts, hundredths)


def nested(depth: int) -> st.SearchStrategy[Any]:
    """Leaves, and tuples of them nested at most ``depth`` deep."""
    if depth == 0:
        return leaves
    return leaves | st.lists(nested(depth - 1), max_size=3).map(tuple)


# A record wraps each datum in its pair: one level of the wire's nesting limit.
data = nested(4)
names = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=12)
records = st.dictionaries(names, data, max_size=5)


@given(data)
def test_every_datum_round_trips_in_memory_and_over_the_wire(datum: Any) -> None:
    assert from_value(to_value(datum)) == datum
    assert from_value(over_the_wire((to_value(datum),))[0]) == datum


@given(records)
def test_every_record_round_trips_over_the_wire(record: dict[str, Any]) -> None:
    values = to_record(record)
    assert from_record(values) == record
    assert from_record(over_the_wire(values)) == record
    assert from_record(parameters_over_the_wire(values)) == record
