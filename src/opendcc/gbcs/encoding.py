"""The small encodings GBCS (Great Britain Companion Specification) commands are made of.

- DLMS COSEM (Device Language Message Specification) for ESME (electricity meter) use cases
  (ECS...): an xDLMS ``access-request`` (tag 0xD9), its long invoke id carrying the low 24 bits
  of the originator counter, a list of requests (get 01, set 02, action 03 on a class, OBIS
  instance and attribute or method) and a list of data (DLMS A-XDR typed values).
- GBZ (GB ZigBee) for GSME (gas meter) use cases (GCS...): profile 0x0109, a component count,
  and per component an extended header (control, cluster, length) and a ZCL (ZigBee Cluster
  Library) frame. ZigBee UTC times are seconds since 2000-01-01, little-endian.
- ASN.1 DER for the CS (common) use cases and some GCS ones (sequences, octet strings,
  integers, GeneralizedTime).

Pure helpers: values in, bytes out, and back.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from opendcc.gbcs.message import GbcsInvalid, der_length, read_der_length

ACCESS_REQUEST = 0xD9
GBZ_PROFILE = b"\x01\x09"
ZIGBEE_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
ZIGBEE_NOW = 0  # "now" / "immediately" in a ZigBee date-time field
ZIGBEE_NEVER = 0xFFFFFFFF  # the cancellation of a future-dated command
# GBCS writes DUIS's cancellation (ExecutionDateTime 3000-12-31) as the end of time.
GENERALIZED_CANCEL = "99991231235959Z"

# --------------------------------------------------------------------------- DLMS


def access_request(counter: int, specifications: bytes, data: bytes) -> bytes:
    """An xDLMS access-request: no date-time, the given request and data lists."""
    invoke = 0x20000000 | (counter & 0xFFFFFF)  # self-descriptive, the counter's low bits
    return bytes([ACCESS_REQUEST]) + invoke.to_bytes(4, "big") + b"\x00" + specifications + data


def access_body(content: bytes) -> bytes:
    """What follows an access-request's invoke id and (absent) date-time."""
    if len(content) < 6 or content[0] != ACCESS_REQUEST or content[5] != 0:
        raise GbcsInvalid("not a DLMS access-request without a date-time")
    return content[6:]


def dlms_datetime(instant: datetime) -> bytes:
    """A 12-byte DLMS date-time: no day of week, no deviation, status 0xFF (as GBCS)."""
    utc = instant.astimezone(UTC)
    return (
        utc.year.to_bytes(2, "big")
        + bytes([utc.month, utc.day, 0xFF, utc.hour, utc.minute, utc.second, 0])
        + b"\x80\x00\xff"
    )


def read_dlms_datetime(raw: bytes) -> datetime:
    if len(raw) != 12 or raw[4] != 0xFF or raw[8] != 0 or raw[9:] != b"\x80\x00\xff":
        raise GbcsInvalid("a DLMS date-time GBCS writes this way is expected")
    try:
        month, day, hour, minute, second = raw[2], raw[3], raw[5], raw[6], raw[7]
        year = int.from_bytes(raw[:2], "big")
        return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError as exc:
        raise GbcsInvalid(f"not a date-time: {exc}") from None


# A-XDR data types by tag: fixed sizes; arrays (0x01), structures (0x02), bit strings (0x04)
# and octet strings (0x09) carry a count.
_AXDR_FIXED = {0x03: 1, 0x05: 4, 0x06: 4, 0x0F: 1, 0x10: 2, 0x11: 1, 0x12: 2, 0x16: 1}
AxdrValue = int | bytes | tuple["AxdrValue", ...]
_COUNT_LIMIT = 0x80  # A-XDR counts of 128 or more take a length prefix GBCS here never needs


def read_axdr(data: bytes, at: int = 0) -> tuple[AxdrValue, int]:
    """One A-XDR value at ``at`` and where it ends: integers as int (a boolean or enum too),
    octet and bit strings as bytes, arrays and structures as tuples."""
    if at >= len(data):
        raise GbcsInvalid("an A-XDR value is cut short")
    tag = data[at]
    if tag in _AXDR_FIXED:
        end = at + 1 + _AXDR_FIXED[tag]
        if end > len(data):
            raise GbcsInvalid("an A-XDR value is cut short")
        signed = tag in {0x05, 0x0F, 0x10}
        return int.from_bytes(data[at + 1 : end], "big", signed=signed), end
    if at + 1 >= len(data) or data[at + 1] >= _COUNT_LIMIT:
        raise GbcsInvalid("an A-XDR count opendcc does not read")
    count = data[at + 1]
    if tag in {0x01, 0x02}:
        items: list[AxdrValue] = []
        at += 2
        for _ in range(count):
            item, at = read_axdr(data, at)
            items.append(item)
        return tuple(items), at
    if tag in {0x04, 0x09}:
        size = (count + 7) // 8 if tag == 0x04 else count
        end = at + 2 + size
        if end > len(data):
            raise GbcsInvalid("an A-XDR string is cut short")
        return data[at + 2 : end], end
    raise GbcsInvalid(f"an A-XDR type opendcc does not read: 0x{tag:02X}")


# --------------------------------------------------------------------------- GBZ


def gbz(*components: tuple[int, bytes]) -> bytes:
    """A GBZ payload of ``(cluster, ZCL frame)`` components, the last one flagged."""
    parts = [GBZ_PROFILE, bytes([len(components)])]
    for index, (cluster, frame) in enumerate(components):
        control = 0x01 if index == len(components) - 1 else 0x00
        parts.append(bytes([control]) + cluster.to_bytes(2, "big"))
        parts.append(len(frame).to_bytes(2, "big") + frame)
    return b"".join(parts)


def gbz_components(content: bytes) -> list[tuple[int, bytes]]:
    if len(content) < 3 or content[:2] != GBZ_PROFILE:
        raise GbcsInvalid("not a GBZ payload (profile 0x0109)")
    found: list[tuple[int, bytes]] = []
    at = 3
    for _ in range(content[2]):
        if at + 5 > len(content):
            raise GbcsInvalid("a GBZ component is cut short")
        cluster = int.from_bytes(content[at + 1 : at + 3], "big")
        length = int.from_bytes(content[at + 3 : at + 5], "big")
        found.append((cluster, content[at + 5 : at + 5 + length]))
        at += 5 + length
    if at != len(content):
        raise GbcsInvalid("a GBZ payload's length does not match its components")
    return found


def zigbee_time(instant: datetime | None) -> bytes:
    """A ZigBee UTC time field: ``None`` is "now"."""
    if instant is None:
        return ZIGBEE_NOW.to_bytes(4, "little")
    seconds = int((instant.astimezone(UTC) - ZIGBEE_EPOCH).total_seconds())
    if not 0 < seconds < ZIGBEE_NEVER:
        raise ValueError("outside ZigBee UTC time")
    return seconds.to_bytes(4, "little")


def read_zigbee_time(raw: bytes) -> datetime | None:
    seconds = int.from_bytes(raw, "little")
    return None if seconds == ZIGBEE_NOW else ZIGBEE_EPOCH + timedelta(seconds=seconds)


# --------------------------------------------------------------------------- ASN.1 DER


def der(tag: int, value: bytes) -> bytes:
    return bytes([tag]) + der_length(len(value)) + value


def der_integer(value: int) -> bytes:
    return der(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big", signed=True))


def generalized_time(instant: datetime) -> bytes:
    return der(0x18, f"{instant.astimezone(UTC):%Y%m%d%H%M%S}Z".encode("ascii"))


def der_items(data: bytes) -> list[tuple[int, bytes]]:
    """The (tag, value) items laid end to end in ``data``."""
    items: list[tuple[int, bytes]] = []
    at = 0
    while at < len(data):
        tag = data[at]
        length, start = read_der_length(data, at + 1)
        if start + length > len(data):
            raise GbcsInvalid("an ASN.1 item is cut short")
        items.append((tag, data[start : start + length]))
        at = start + length
    return items


def read_generalized_time(value: bytes) -> datetime:
    try:
        return datetime.strptime(value.decode("ascii"), "%Y%m%d%H%M%SZ").replace(tzinfo=UTC)
    except (UnicodeDecodeError, ValueError) as exc:
        raise GbcsInvalid(f"not a GeneralizedTime: {exc}") from None
