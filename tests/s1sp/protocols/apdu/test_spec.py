"""APDU frames written by hand from the frame layout in the codec's docstring (and
docs/cohorts.md), decoded by the codec and checked field by field.

The goldens in test_codec.py pin the bytes the codec makes and that it reads them back; an
encoder and decoder that share a misreading of the layout would still agree with them. Here
every byte is put together from the written layout with ``struct`` (big-endian) and zlib's
CRC-32, never by the codec, and each decoded field is compared with the number the layout
says it carries: a date-time's offset and hundredths, an i64's sign, the result numbering.
"""

from __future__ import annotations

import struct
import zlib
from datetime import UTC, datetime, timedelta, timezone

import pytest

from opendcc.core.eui import Eui64
from opendcc.s1sp import services
from opendcc.s1sp.protocols.apdu import (
    I64,
    U32,
    U64,
    ActionRequest,
    ActionResponse,
    Alert,
    Array,
    Connection,
    DateTime,
    GetRequest,
    GetResponse,
    OctetString,
    ProtocolError,
    ResultCode,
    Role,
    SetRequest,
    SetResponse,
    VisibleString,
)
from opendcc.s1sp.protocols.apdu.records import from_record

DEVICE = bytes.fromhex("00db1234567890a0")  # EUI-64 00-DB-12-34-56-78-90-A0


def frame(body: bytes) -> bytes:
    """frame = length:u32 body crc:u32, crc = CRC-32 (zlib) of body."""
    return struct.pack(">I", len(body)) + body + struct.pack(">I", zlib.crc32(body))


def head(tag: int, invoke_id: int) -> bytes:
    """body = version:u8 (=1) tag:u8 invoke-id:u32."""
    return struct.pack(">BBI", 1, tag, invoke_id)


def value(type_: int, content: bytes) -> bytes:
    """value = type:u8 length:u16 content."""
    return struct.pack(">BH", type_, len(content)) + content


def date_time(
    ymd: tuple[int, int, int], weekday: int, hms: tuple[int, int, int], hundredths: int, offset: int
) -> bytes:
    """date-time content (12) = year:u16 month day weekday hour minute second hundredths
    offset:i16 (minutes east of UTC) status:u8 (0)."""
    return struct.pack(">HBBBBBBBhB", *ymd, weekday, *hms, hundredths, offset, 0)


def request_id(text: str) -> bytes:
    return struct.pack(">H", len(text)) + text.encode("ascii")


def decode(role: Role, data: bytes) -> object:
    [event] = Connection(role).receive_data(data)
    return event


def test_a_get_request_names_its_device_request_and_attributes() -> None:
    body = head(0xC0, 0x01020304) + DEVICE + request_id("DUIS-RID-1") + bytes([2])
    body += bytes([1, 0, 1, 8, 0, 255]) + bytes([2])  # 1.0.1.8.0.255 attribute 2
    body += bytes([0, 0, 96, 3, 10, 255]) + bytes([4])  # 0.0.96.3.10.255 attribute 4
    event = decode(Role.SERVER, frame(body))
    assert isinstance(event, GetRequest)
    assert event.invoke_id == 16909060
    assert event.device == Eui64.parse("00-DB-12-34-56-78-90-A0")
    assert event.request_id == "DUIS-RID-1"
    assert [(str(a.obis), a.attribute) for a in event.attributes] == [
        ("1.0.1.8.0.255", 2),
        ("0.0.96.3.10.255", 4),
    ]


def test_a_get_response_carries_each_value_type_as_the_layout_says() -> None:
    values = [
        value(0x06, struct.pack(">I", 4_000_000_000)),  # u32 above 2**31
        value(0x15, struct.pack(">Q", 2**64 - 1)),  # u64 at its maximum
        value(0x14, struct.pack(">q", -12345)),  # i64, two's complement
        value(0x09, b"\x00\xff\x10"),  # octet-string
        value(0x0A, b"E1.2"),  # visible-string
        # 2024-03-31 (a Sunday: weekday 7) 23:59:58.99 at UTC-05:00 (offset -300)
        value(0x19, date_time((2024, 3, 31), 7, (23, 59, 58), 99, -300)),
        value(0x01, value(0x06, struct.pack(">I", 1)) + value(0x01, b"")),  # [1, []]
    ]
    body = head(0xC4, 42) + bytes([0, len(values)]) + b"".join(values)
    event = decode(Role.CLIENT, frame(body))
    assert isinstance(event, GetResponse)
    assert (event.invoke_id, event.result) == (42, ResultCode.SUCCESS)
    u32, u64, i64, octets, text, when, nested = event.values
    assert u32 == U32(4_000_000_000) and isinstance(u32, U32)
    assert u64 == U64(2**64 - 1) and isinstance(u64, U64)
    assert i64 == I64(-12345) and isinstance(i64, I64)
    assert octets == OctetString(b"\x00\xff\x10")
    assert text == VisibleString("E1.2")
    assert isinstance(when, DateTime)
    # Instants compare equal across offsets: check the local fields and offset one by one.
    minus_five = timezone(timedelta(hours=-5))
    assert when.value == datetime(2024, 3, 31, 23, 59, 58, 990000, tzinfo=minus_five)
    assert when.value.utcoffset() == timedelta(hours=-5)
    assert (when.value.year, when.value.month, when.value.day) == (2024, 3, 31)
    assert (when.value.hour, when.value.minute, when.value.second) == (23, 59, 58)
    assert when.value.microsecond == 990000
    assert when.value.astimezone(UTC) == datetime(2024, 4, 1, 4, 59, 58, 990000, tzinfo=UTC)
    assert nested == Array((U32(1), Array(())))


def test_a_set_request_writes_each_attribute_its_value() -> None:
    body = head(0xC1, 8) + DEVICE + request_id("R2") + bytes([1])
    body += bytes([0, 0, 17, 0, 0, 255, 3]) + value(0x06, struct.pack(">I", 6000))
    event = decode(Role.SERVER, frame(body))
    assert isinstance(event, SetRequest)
    [write] = event.writes
    assert (str(write.attribute.obis), write.attribute.attribute) == ("0.0.17.0.0.255", 3)
    assert write.value == U32(6000)


def test_an_action_request_invokes_a_method_with_its_parameters() -> None:
    body = head(0xC3, 9) + DEVICE + request_id("R3")
    body += bytes([0, 128, 96, 1, 1, 255]) + bytes([2])  # a manufacturer-group object, method 2
    body += bytes([2]) + value(0x0A, b"2.2") + value(0x14, struct.pack(">q", -1))
    event = decode(Role.SERVER, frame(body))
    assert isinstance(event, ActionRequest)
    assert (str(event.method.obis), event.method.method) == ("0.128.96.1.1.255", 2)
    assert event.parameters == (VisibleString("2.2"), I64(-1))


def test_an_action_response_with_a_failure_carries_no_values() -> None:
    event = decode(Role.CLIENT, frame(head(0xC7, 10) + bytes([7, 0])))
    assert isinstance(event, ActionResponse)
    assert (event.invoke_id, event.result, event.values) == (10, ResultCode.HAN_ERROR, ())


def test_an_alert_is_pushed_with_invoke_id_zero_and_a_bare_date_time() -> None:
    body = head(0xC2, 0) + DEVICE + struct.pack(">H", 0x8F35)
    body += date_time((2024, 6, 1), 6, (12, 0, 0), 0, 60)  # Saturday, at UTC+01:00
    body += bytes([1]) + value(0x06, struct.pack(">I", 3))
    event = decode(Role.CLIENT, frame(body))
    assert isinstance(event, Alert)
    assert event.device == Eui64.parse("00-DB-12-34-56-78-90-A0")
    assert event.code == 0x8F35
    assert event.raised_at == datetime(2024, 6, 1, 11, 0, tzinfo=UTC)
    assert event.raised_at.utcoffset() == timedelta(hours=1)
    assert event.values == (U32(3),)


def test_result_codes_are_numbered_as_the_layout_says() -> None:
    written = {
        "SUCCESS": 0, "DEVICE_UNREACHABLE": 1, "NO_RESPONSE": 2, "OBJECT_UNDEFINED": 3,
        "READ_DENIED": 4, "UNKNOWN_DEVICE": 5, "KEYS_MISSING": 6, "HAN_ERROR": 7,
        "TYPE_UNMATCHED": 8, "TEMPORARY_FAILURE": 9, "OTHER": 250,
    }  # fmt: skip
    assert {code.name: code.value for code in ResultCode} == written
    for name, number in written.items():
        event = decode(Role.CLIENT, frame(head(0xC5, 1) + bytes([number])))
        assert isinstance(event, SetResponse)
        assert event.result is ResultCode[name]


@pytest.mark.parametrize(
    "data",
    [
        frame(head(0xC5, 1) + bytes([0]))[:-1] + b"\x00",  # CRC of another body
        frame(struct.pack(">BBI", 2, 0xC5, 1) + bytes([0])),  # version 2
        frame(head(0xC6, 1) + bytes([0])),  # no such tag
        frame(head(0xC4, 1) + bytes([0, 1]) + value(0x06, b"\x00\x01")),  # u32 of two bytes
    ],
    ids=["crc", "version", "tag", "u32-length"],
)
def test_frames_off_the_layout_are_refused(data: bytes) -> None:
    with pytest.raises(ProtocolError):
        Connection(Role.CLIENT).receive_data(data)


def test_an_alcs_read_answer_is_the_services_result_pair_by_pair() -> None:
    """7.7 Read ALCS Data as a head-end answers it: one (name, value) pair per Result entry
    (records.py), its records arrays of u64 and visible strings, typed out byte by byte."""

    def text(content: str) -> bytes:
        return value(0x0A, content.encode())

    def u64(number: int) -> bytes:
        return value(0x15, struct.pack(">Q", number))

    switch = value(0x01, u64(2) + text("Storage heaters") + text("ALCS") + u64(1))
    pair = value(0x01, text("switches") + value(0x01, switch))
    event = decode(Role.CLIENT, frame(head(0xC7, 11) + bytes([0, 1]) + pair))
    assert isinstance(event, ActionResponse)
    assert event.result is ResultCode.SUCCESS
    result = from_record(event.values)
    assert result == {"switches": ((2, "Storage heaters", "ALCS", 1),)}
    element = services.response_element("7.7", result)
    [read] = element.iterfind(f"{{{element.nsmap[element.prefix]}}}AuxiliaryLoadControlSwitch")
    assert read.get("Index") == "2"
    assert (read[0].text, read[-1].text) == ("Storage heaters", "true")
