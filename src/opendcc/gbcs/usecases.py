"""The GBCS use case of each critical SRV, and the command body it carries for SMETS1 meters.

A critical SRV (Service Reference Variant) maps to one GBCS use case per device type: ECS...
on an ESME (electricity meter), GCS... on a GSME (gas meter), CS... on either. Each has its
message code (written in the General Signing header) and, here, a codec between the SMETS1
instruction's parameters and the use case's command body, byte for byte as DCC's RTDS
(Reference Test Data Set) pre-commands write it for the same inputs.

``build`` picks, for an instruction, the use case whose codec reads back exactly the same
parameters (so what the User signs is exactly what the S1SP will be told, and nothing is lost
in between). Where no codec carries every parameter (a use case whose GBCS body holds what a
SMETS1 meter does not model, such as a whole tariff, or a SMETS1 instruction holding more than
the GBCS body, such as the payment mode an ESME balance update expects), the message still
names the use case's message code and its content is opendcc's SMETS1 body: an ASN.1 private
tag 0xE1 holding the parameters as UTF8String pairs. ``read`` inverts either.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from opendcc.core.eui import Eui64
from opendcc.gbcs import encoding as enc
from opendcc.gbcs.message import GbcsInvalid, GeneralSigning

EXECUTE_AT = "execute_at"
CANCEL_AT = datetime(3000, 12, 31, tzinfo=UTC)  # DUIS's ExecutionDateTime that cancels
SMETS1_BODY = 0xE1  # opendcc's SMETS1 parameters body: ASN.1 [PRIVATE 1] constructed

Parameters = Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Inputs:
    """What a command holds beyond the SRV's parameters: the originator counter (the CV 4
    RequestID's), and the DSP's clock (GBZ commands carry it as their issuer event id)."""

    counter: int
    now: datetime


Encode = Callable[[Parameters, Inputs], bytes | None]  # None: not this use case's parameters
Decode = Callable[[bytes], dict[str, str]]


@dataclass(frozen=True, slots=True)
class UseCase:
    name: str  # e.g. "ECS43"
    message_code: int
    srv: str
    device_type: str  # "ESME", "GSME" or "any" (CS use cases)
    encode: Encode | None = None  # None: only opendcc's SMETS1 body
    decode: Decode | None = None


def _text(instant: datetime) -> str:
    utc = instant.astimezone(UTC)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}Z"


def _instant(text: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise GbcsInvalid(f"not a date-time: {text!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _only(parameters: Parameters, *keys: str) -> bool:
    return set(parameters) <= set(keys)


# --------------------------------------------------------------------------- ESME: DLMS

# The ESME's supply control script table (class 9, OBIS 0-0-10-0-106-255), method 1 (execute).
_SUPPLY_SCRIPTS = bytes.fromhex("0103000900000a006aff01")


def _esme_script(script: int) -> tuple[Encode, Decode]:
    body = _SUPPLY_SCRIPTS + b"\x01\x12" + script.to_bytes(2, "big")

    def encode(parameters: Parameters, inputs: Inputs) -> bytes | None:
        return enc.access_request(inputs.counter, body, b"") if not parameters else None

    def decode(content: bytes) -> dict[str, str]:
        if enc.access_body(content) != body:
            raise GbcsInvalid("not this supply command")
        return {}

    return encode, decode


_ACCOUNT = bytes.fromhex("0070") + bytes.fromhex("0000130a00ff")  # class 112, 0-0-19-10-0-255
_EMERGENCY_CREDIT = bytes.fromhex("010300700000130a01ff03") + b"\x01\x0f\x00"


def _ecs09_encode(parameters: Parameters, inputs: Inputs) -> bytes | None:
    return enc.access_request(inputs.counter, _EMERGENCY_CREDIT, b"") if not parameters else None


def _ecs09_decode(content: bytes) -> dict[str, str]:
    if enc.access_body(content) != _EMERGENCY_CREDIT:
        raise GbcsInvalid("not ECS09 Activate Emergency Credit")
    return {}


def _ecs04a_encode(parameters: Parameters, inputs: Inputs) -> bytes | None:
    if parameters.get("operation") != "adjust" or not _only(parameters, "operation", "amount_mp"):
        return None
    amount = int(parameters["amount_mp"])
    spec = b"\x01\x03" + _ACCOUNT + b"\x01"
    return enc.access_request(
        inputs.counter, spec, b"\x01\x05" + amount.to_bytes(4, "big", signed=True)
    )


def _ecs04a_decode(content: bytes) -> dict[str, str]:
    body = enc.access_body(content)
    head = b"\x01\x03" + _ACCOUNT + b"\x01\x01\x05"
    if len(body) != len(head) + 4 or not body.startswith(head):
        raise GbcsInvalid("not ECS04a Adjust Meter Balance")
    return {"operation": "adjust", "amount_mp": str(int.from_bytes(body[-4:], "big", signed=True))}


_ECS04B = (
    b"\x03"
    + b"".join(b"\x03\x00\x70\x00\x00\x13\x0a" + bytes([i, 0xFF, 0x02]) for i in range(3))
    + b"\x03"
    + b"\x05\x00\x00\x00\x00" * 3
)


def _ecs04b_encode(parameters: Parameters, inputs: Inputs) -> bytes | None:
    if parameters.get("operation") != "reset" or not _only(parameters, "operation", "mode"):
        return None
    return enc.access_request(inputs.counter, _ECS04B, b"")


def _ecs04b_decode(content: bytes) -> dict[str, str]:
    if enc.access_body(content) != _ECS04B:
        raise GbcsInvalid("not ECS04b Reset Meter Balance")
    return {"operation": "reset"}


# ECS70 Set Clock: preset the clock (class 8, 0-0-1-0-0-255) to the current time, valid until
# current time plus tolerance, then adjust to it and read time and status back.
_CLOCK = bytes.fromhex("00080000010000ff")
_ECS70_SPECS = (
    b"\x05"
    + b"\x02" + _CLOCK + b"\x09"
    + b"\x03" + _CLOCK + b"\x05"
    + b"\x03" + _CLOCK + b"\x04"
    + b"\x01" + _CLOCK + b"\x02"
    + b"\x01" + _CLOCK + b"\x04"
)  # fmt: skip
_UNSPECIFIED_TIME = bytes.fromhex("ffffffffffffffffff8000ff")


def _clock_window(parameters: Parameters) -> tuple[datetime, datetime] | None:
    if set(parameters) != {"current_date_time", "tolerance_period_s"}:
        return None
    start = _instant(parameters["current_date_time"])
    return start, start + timedelta(seconds=int(parameters["tolerance_period_s"]))


def _clock_parameters(start: datetime, end: datetime) -> dict[str, str]:
    return {
        "current_date_time": _text(start),
        "tolerance_period_s": str(int((end - start).total_seconds())),
    }


def _ecs70_encode(parameters: Parameters, inputs: Inputs) -> bytes | None:
    window = _clock_window(parameters)
    if window is None:
        return None
    start, end = window
    data = (
        b"\x05\x16\x05\x02\x03"
        + b"\x09\x0c" + _UNSPECIFIED_TIME
        + b"\x09\x0c" + enc.dlms_datetime(start)
        + b"\x09\x0c" + enc.dlms_datetime(end)
        + b"\x0f\x00\x00\x00"
    )  # fmt: skip
    return enc.access_request(inputs.counter, _ECS70_SPECS, data)


def _ecs70_decode(content: bytes) -> dict[str, str]:
    body = enc.access_body(content)
    head = _ECS70_SPECS + b"\x05\x16\x05\x02\x03\x09\x0c" + _UNSPECIFIED_TIME + b"\x09\x0c"
    if len(body) != len(head) + 12 + 2 + 12 + 4 or not body.startswith(head):
        raise GbcsInvalid("not ECS70 Set Clock")
    start = enc.read_dlms_datetime(body[len(head) : len(head) + 12])
    end = enc.read_dlms_datetime(body[len(head) + 14 : len(head) + 26])
    if body[len(head) + 12 : len(head) + 14] != b"\x09\x0c" or body[-4:] != b"\x0f\x00\x00\x00":
        raise GbcsInvalid("not ECS70 Set Clock")
    return _clock_parameters(start, end)


# ECS30 (monthly) / ECS30a (the other periodicities) Set Billing Calendar: the execution
# times of the billing single action schedule (class 22, 0-0-15-0-0-255, attribute 4), one
# (time, date) per billing date in a year.
_BILLING = bytes.fromhex("010200160000" + "0f0000ff04")
_MONTHS_APART = {"Monthly": 0, "Quarterly": 3, "SixMonthly": 6, "Yearly": 12}


def _billing_dates(parameters: Parameters) -> list[tuple[int, int]] | None:
    """(month or 0xFF, day) of each billing date, or None if not an electricity calendar this
    codec writes (daily and weekly calendars keep opendcc's SMETS1 body)."""
    periodicity = parameters.get("periodicity", "")
    step = _MONTHS_APART.get(periodicity)
    keys = {"fuel", "billing_time", "periodicity", "day_of_month"}
    if step is None or parameters.get("fuel") != "electricity":
        return None
    day = int(parameters.get("day_of_month", "0"))
    if step == 0:
        return [(0xFF, day)] if set(parameters) == keys else None
    if set(parameters) != keys | {"start_month"}:
        return None
    start = int(parameters["start_month"])
    return [((start - 1 + n) % 12 + 1, day) for n in range(0, 12, step)]


def _billing_encode(monthly: bool) -> Encode:
    def encode(parameters: Parameters, inputs: Inputs) -> bytes | None:
        dates = _billing_dates(parameters)
        if dates is None or (parameters["periodicity"] == "Monthly") != monthly:
            return None
        hour, minute, second = (int(x) for x in parameters["billing_time"].split(":"))
        entries = b"".join(
            b"\x02\x02\x09\x04"
            + bytes([hour, minute, second, 0])
            + b"\x09\x05\xff\xff"
            + bytes([month, day, 0xFF])
            for month, day in dates
        )
        return enc.access_request(inputs.counter, _BILLING, bytes([1, 1, len(dates)]) + entries)

    return encode


def _billing_decode(content: bytes) -> dict[str, str]:
    body = enc.access_body(content)
    if (
        not body.startswith(_BILLING + b"\x01\x01")
        or len(body) != len(_BILLING) + 3 + 15 * body[len(_BILLING) + 2]
    ):
        raise GbcsInvalid("not ECS30 Set Billing Calendar")
    count = body[len(_BILLING) + 2]
    entries = [body[len(_BILLING) + 3 + 15 * n :][:15] for n in range(count)]
    if any(
        e[:4] != b"\x02\x02\x09\x04"
        or e[7:11] != b"\x00\x09\x05\xff"
        or e[11] != 0xFF
        or e[14] != 0xFF
        for e in entries
    ):
        raise GbcsInvalid("not ECS30 Set Billing Calendar")
    times = {e[4:7] for e in entries}
    days = {e[13] for e in entries}
    periodicity = {1: "Yearly", 2: "SixMonthly", 4: "Quarterly"}.get(count, "")
    if count == 1 and entries[0][12] == 0xFF:
        periodicity = "Monthly"
    if len(times) != 1 or len(days) != 1 or not periodicity:
        raise GbcsInvalid("an ECS30 calendar opendcc does not read")
    hour, minute, second = entries[0][4:7]
    parameters = {
        "fuel": "electricity",
        "billing_time": f"{hour:02d}:{minute:02d}:{second:02d}",
        "periodicity": periodicity,
        "day_of_month": str(entries[0][13]),
    }
    if periodicity != "Monthly":
        parameters["start_month"] = str(entries[0][12])
    return parameters


# ECS02 Set ESME to credit mode: the account (class 111, 0-1-19-0-0-255) mode and status, its
# credit/charge configuration (a single-element meter's two charges), and when it takes effect.
_ECS02_SPECS = b"\x03" + b"".join(
    b"\x02\x00\x6f\x00\x01\x13\x00\x00\xff" + bytes([a]) for a in (0x02, 0x0B, 0x0D)
)
_NOW_DLMS = bytes(9) + b"\x80\x00\xff"  # activation "immediately"
_NEVER_DLMS = b"\xff" * 9 + b"\x80\x00\xff"  # the cancellation of a future-dated change


def _ecs02_data() -> bytes:
    first, second = (
        bytes.fromhex("020309060000130a00ff09060000131400ff0403e0"),
        bytes.fromhex("020309060000130a00ff09060000131404ff0403e0"),
    )
    return b"\x03\x02\x02\x16\x01\x16\x01\x01\x02" + first + second


def _ecs02_encode(parameters: Parameters, inputs: Inputs) -> bytes | None:
    if parameters.get("mode") != "credit" or not _only(parameters, "mode", EXECUTE_AT):
        return None
    when = parameters.get(EXECUTE_AT)
    if when is None:
        activation = _NOW_DLMS
    elif _instant(when) == CANCEL_AT:
        activation = _NEVER_DLMS
    else:
        activation = enc.dlms_datetime(_instant(when))
    return enc.access_request(
        inputs.counter, _ECS02_SPECS, _ecs02_data() + b"\x09\x0c" + activation
    )


def _ecs02_decode(content: bytes) -> dict[str, str]:
    body = enc.access_body(content)
    head = _ECS02_SPECS + _ecs02_data() + b"\x09\x0c"
    if len(body) != len(head) + 12 or not body.startswith(head):
        raise GbcsInvalid("not ECS02 Set to Credit Mode (single element)")
    activation = body[len(head) :]
    if activation == _NOW_DLMS:
        return {"mode": "credit"}
    if activation == _NEVER_DLMS:
        return {"mode": "credit", EXECUTE_AT: _text(CANCEL_AT)}
    return {"mode": "credit", EXECUTE_AT: _text(enc.read_dlms_datetime(activation))}


# ECS07 Update Debt: the two time-debt and the payment-debt charges (class 113,
# 0-0-19-20-{1,2,3}-255): the time debts' daily recovery rates (a unit charge: commodity scale
# 0, price scale, price per day), the payment debt's recovery per payment, the collection
# periods (one day), then the adjustments of each register.
def _charge(n: int) -> bytes:
    return b"\x00\x71\x00\x00\x13\x14" + bytes([n, 0xFF])


_ECS07_SPECS = bytes([10]) + b"".join(
    bytes([kind]) + _charge(n) + bytes([attribute])
    for kind, n, attribute in (
        (2, 1, 6), (2, 2, 6), (2, 3, 13), (2, 1, 8), (2, 2, 8),
        (3, 1, 2), (3, 2, 2), (3, 3, 4), (3, 1, 4), (3, 2, 4),
    )
)  # fmt: skip
_DAY = b"\x06" + (86400).to_bytes(4, "big")
_MP_PER_POUND_EXPONENT = 5  # 1 GBP = 10^5 milli-pennies


def _unit_charge(rate_mp: int) -> bytes:
    """A daily recovery rate as DLMS writes it: the fewest digits and the matching scale."""
    digits, scale = rate_mp, -_MP_PER_POUND_EXPONENT
    while digits and digits % 10 == 0:
        digits, scale = digits // 10, scale + 1
    return (
        b"\x02\x03\x02\x02\x0f\x00\x0f" + scale.to_bytes(1, "big", signed=True)
        + b"\x02\x03\x12\x00\x00\x09\x06" + bytes(6) + b"\x0f\x00"
        + b"\x01\x01\x02\x02\x09\x00\x10" + digits.to_bytes(2, "big", signed=True)
    )  # fmt: skip


def _read_unit_charge(raw: bytes) -> int:
    template = _unit_charge(0)
    if len(raw) != len(template) or raw[:7] != template[:7] or raw[8:30] != template[8:30]:
        raise GbcsInvalid("not an ECS07 unit charge")
    scale = int.from_bytes(raw[7:8], "big", signed=True) + _MP_PER_POUND_EXPONENT
    digits = int.from_bytes(raw[30:], "big", signed=True)
    if scale < 0:
        raise GbcsInvalid("an ECS07 rate finer than a milli-penny")
    return int(digits * 10**scale)


_ECS07_KEYS = (
    "fuel", "time_debt_1_mp", "time_debt_2_mp", "payment_debt_mp",
    "debt_recovery_per_payment_bp", "recovery_rate_1_mp", "recovery_rate_2_mp",
)  # fmt: skip


def _ecs07_encode(parameters: Parameters, inputs: Inputs) -> bytes | None:
    if set(parameters) != set(_ECS07_KEYS) or parameters["fuel"] != "electricity":
        return None
    value = {k: int(parameters[k]) for k in _ECS07_KEYS[1:]}
    data = (
        bytes([10])
        + _unit_charge(value["recovery_rate_1_mp"])
        + _unit_charge(value["recovery_rate_2_mp"])
        + b"\x12" + value["debt_recovery_per_payment_bp"].to_bytes(2, "big")
        + _DAY + _DAY
        + b"\x0f\x00\x0f\x00"
        + b"".join(
            b"\x05" + value[k].to_bytes(4, "big", signed=True)
            for k in ("payment_debt_mp", "time_debt_1_mp", "time_debt_2_mp")
        )
    )  # fmt: skip
    return enc.access_request(inputs.counter, _ECS07_SPECS, data)


def _ecs07_decode(content: bytes) -> dict[str, str]:
    body = enc.access_body(content)
    at = len(_ECS07_SPECS) + 1
    if len(body) != at + 32 * 2 + 3 + 10 + 4 + 15 or not body.startswith(_ECS07_SPECS + b"\x0a"):
        raise GbcsInvalid("not ECS07 Update Debt")
    rate_1 = _read_unit_charge(body[at : at + 32])
    rate_2 = _read_unit_charge(body[at + 32 : at + 64])
    rest = body[at + 64 :]
    if rest[0] != 0x12 or rest[3:17] != _DAY + _DAY + b"\x0f\x00\x0f\x00":
        raise GbcsInvalid("not ECS07 Update Debt")
    debts = [rest[17 + 5 * n : 22 + 5 * n] for n in range(3)]
    if any(d[0] != 0x05 for d in debts):
        raise GbcsInvalid("not ECS07 Update Debt")
    payment, time_1, time_2 = (int.from_bytes(d[1:], "big", signed=True) for d in debts)
    return {
        "fuel": "electricity",
        "time_debt_1_mp": str(time_1),
        "time_debt_2_mp": str(time_2),
        "payment_debt_mp": str(payment),
        "debt_recovery_per_payment_bp": str(int.from_bytes(rest[1:3], "big")),
        "recovery_rate_1_mp": str(rate_1),
        "recovery_rate_2_mp": str(rate_2),
    }


# --------------------------------------------------------------------------- GSME: GBZ

_METERING = 0x0702
_PREPAYMENT = 0x0705


def _zcl(command: int, payload: bytes) -> bytes:
    return bytes([0x01, 0x00, command]) + payload  # cluster-specific, sequence 0


def _one_frame(content: bytes, cluster: int, command: int) -> bytes:
    components = enc.gbz_components(content)
    if len(components) != 1 or components[0][0] != cluster:
        raise GbcsInvalid("not this GBZ command")
    frame = components[0][1]
    if frame[:3] != bytes([0x01, 0x00, command]):
        raise GbcsInvalid("not this ZCL command")
    return frame[3:]


def _implementation(parameters: Parameters) -> bytes:
    when = parameters.get(EXECUTE_AT)
    if when is None:
        return enc.zigbee_time(None)
    instant = _instant(when)
    if instant == CANCEL_AT:
        return enc.ZIGBEE_NEVER.to_bytes(4, "little")
    return enc.zigbee_time(instant)


def _implementation_parameters(raw: bytes) -> dict[str, str]:
    if raw == enc.ZIGBEE_NEVER.to_bytes(4, "little"):
        return {EXECUTE_AT: _text(CANCEL_AT)}
    instant = enc.read_zigbee_time(raw)
    return {} if instant is None else {EXECUTE_AT: _text(instant)}


def _gsme_supply(proposed: int) -> tuple[Encode, Decode]:
    """GCS32 / GCS39: ZCL Metering ChangeSupply, immediately."""

    def encode(parameters: Parameters, inputs: Inputs) -> bytes | None:
        if parameters:
            return None
        payload = (
            b"\x00" * 4  # provider id
            + enc.zigbee_time(inputs.now)  # issuer event id
            + b"\x00" * 8  # request date-time, implementation date-time: now
            + bytes([proposed, 0x01])  # proposed supply status, acknowledge required
        )
        return enc.gbz((_METERING, _zcl(0x0B, payload)))

    def decode(content: bytes) -> dict[str, str]:
        payload = _one_frame(content, _METERING, 0x0B)
        if len(payload) != 18 or payload[8:] != b"\x00" * 8 + bytes([proposed, 0x01]):
            raise GbcsInvalid("not this supply command")
        return {}

    return encode, decode


def _gcs06_encode(parameters: Parameters, inputs: Inputs) -> bytes | None:
    # ZCL Prepayment SelectAvailableEmergencyCredit: issued now, by the ESI.
    return None if parameters else enc.gbz((_PREPAYMENT, _zcl(0x00, b"\x00" * 5)))


def _gcs06_decode(content: bytes) -> dict[str, str]:
    if _one_frame(content, _PREPAYMENT, 0x00) != b"\x00" * 5:
        raise GbcsInvalid("not GCS06 Activate Emergency Credit")
    return {}


# GCS40a-d: ZCL Prepayment CreditAdjustment, its adjustment type naming the balance (meter
# balance in prepayment, accrued debt in credit mode) and what is done to it.
_ADJUSTMENTS = {
    ("prepayment", "adjust"): 0x00,
    ("prepayment", "reset"): 0x01,
    ("credit", "reset"): 0x02,
    ("credit", "adjust"): 0x03,
}


def _gcs40(kind: int) -> tuple[Encode, Decode]:
    def encode(parameters: Parameters, inputs: Inputs) -> bytes | None:
        content = _gcs40_encode(parameters, inputs)
        return content if content is not None and content[-5] == kind else None

    def decode(content: bytes) -> dict[str, str]:
        parameters = _gcs40_decode(content)
        if _ADJUSTMENTS[(parameters["mode"], parameters["operation"])] != kind:
            raise GbcsInvalid("another GCS40 meter balance update")
        return parameters

    return encode, decode


def _gcs40_encode(parameters: Parameters, inputs: Inputs) -> bytes | None:
    key = (parameters.get("mode", ""), parameters.get("operation", ""))
    kind = _ADJUSTMENTS.get(key)
    if kind is None or not _only(parameters, "mode", "operation", "amount_mp"):
        return None
    amount = int(parameters.get("amount_mp", "0")) if key[1] == "adjust" else 0
    if (key[1] == "adjust") != ("amount_mp" in parameters):
        return None
    payload = (
        enc.zigbee_time(inputs.now)  # issuer event id
        + b"\x00" * 4  # start time: now
        + bytes([kind])
        + amount.to_bytes(4, "little", signed=True)
    )
    return enc.gbz((_PREPAYMENT, _zcl(0x05, payload)))


def _gcs40_decode(content: bytes) -> dict[str, str]:
    payload = _one_frame(content, _PREPAYMENT, 0x05)
    found = {v: k for k, v in _ADJUSTMENTS.items()}.get(payload[8]) if len(payload) == 13 else None
    if found is None or payload[4:8] != b"\x00" * 4:
        raise GbcsInvalid("not a GCS40 meter balance update")
    mode, operation = found
    parameters = {"mode": mode, "operation": operation}
    if operation == "adjust":
        parameters["amount_mp"] = str(int.from_bytes(payload[9:], "little", signed=True))
    return parameters


# GCS02 / GCS03: ZCL Prepayment ChangePaymentMode; the payment control configuration bits.
_CREDIT_CONFIG = 0x0C94
_PREPAYMENT_CONFIG = 0x0097
_DEBT_WHILE_EMERGENCY = 0x0800  # set unless debt recovery is suspended in emergency credit
_SUSPEND_WHEN_DISABLED = 0x0400


def _gcs_payment_mode(mode: str) -> tuple[Encode, Decode]:
    def encode(parameters: Parameters, inputs: Inputs) -> bytes | None:
        return (
            _gcs_payment_mode_encode(parameters, inputs) if parameters.get("mode") == mode else None
        )

    def decode(content: bytes) -> dict[str, str]:
        parameters = _gcs_payment_mode_decode(content)
        if parameters["mode"] != mode:
            raise GbcsInvalid(f"not a change to {mode} mode")
        return parameters

    return encode, decode


def _gcs_payment_mode_encode(parameters: Parameters, inputs: Inputs) -> bytes | None:
    mode = parameters.get("mode")
    rest = {k: v for k, v in parameters.items() if k not in ("mode", EXECUTE_AT)}
    if mode == "credit" and not rest:
        config, cutoff = _CREDIT_CONFIG, 0xFFFFFFFF.to_bytes(4, "little")
    elif mode == "prepayment" and set(rest) == {
        "suspend_debt_disabled",
        "suspend_debt_emergency",
        "disablement_threshold_mp",
    }:
        config = _PREPAYMENT_CONFIG
        if rest["suspend_debt_emergency"] == "0":
            config |= _DEBT_WHILE_EMERGENCY
        if rest["suspend_debt_disabled"] == "1":
            config |= _SUSPEND_WHEN_DISABLED
        cutoff = int(rest["disablement_threshold_mp"]).to_bytes(4, "little", signed=True)
    else:
        return None
    payload = (
        b"\x00" * 4  # provider id
        + enc.zigbee_time(inputs.now)  # issuer event id
        + _implementation(parameters)
        + config.to_bytes(2, "little")
        + cutoff
    )
    return enc.gbz((_PREPAYMENT, _zcl(0x06, payload)))


def _gcs_payment_mode_decode(content: bytes) -> dict[str, str]:
    payload = _one_frame(content, _PREPAYMENT, 0x06)
    if len(payload) != 18:
        raise GbcsInvalid("not a GCS02/GCS03 payment mode change")
    config = int.from_bytes(payload[12:14], "little")
    parameters = _implementation_parameters(payload[8:12])
    if config == _CREDIT_CONFIG and payload[14:] == b"\xff" * 4:
        return {**parameters, "mode": "credit"}
    if config & ~(_DEBT_WHILE_EMERGENCY | _SUSPEND_WHEN_DISABLED) != _PREPAYMENT_CONFIG:
        raise GbcsInvalid("not a GCS03 payment mode change")
    return {
        **parameters,
        "mode": "prepayment",
        "suspend_debt_disabled": "1" if config & _SUSPEND_WHEN_DISABLED else "0",
        "suspend_debt_emergency": "0" if config & _DEBT_WHILE_EMERGENCY else "1",
        "disablement_threshold_mp": str(int.from_bytes(payload[14:], "little", signed=True)),
    }


# GCS25 Set Billing Calendar: ZCL Price PublishBillingPeriod, then PublishBlockPeriod, for the
# same start and duration in months (duration type 0x23), as the DSP publishes them.
_PRICE = 0x0700
_MONTHS = {"Monthly": 1, "Quarterly": 3, "SixMonthly": 6, "Yearly": 12}


def _gcs25(monthly: bool) -> Encode:
    """GCS25 writes a monthly calendar, GCS25a the others (as DCC's RTDS does)."""

    def encode(parameters: Parameters, inputs: Inputs) -> bytes | None:
        if (parameters.get("periodicity") == "Monthly") != monthly:
            return None
        return _gcs25_encode(parameters, inputs)

    return encode


def _gcs25_encode(parameters: Parameters, inputs: Inputs) -> bytes | None:
    months = _MONTHS.get(parameters.get("periodicity", ""))
    keys = {"fuel", "billing_period_start", "periodicity"}
    if months is None or parameters.get("fuel") != "gas" or set(parameters) != keys:
        return None
    period = (
        b"\x00" * 4  # provider id
        + enc.zigbee_time(inputs.now)  # issuer event id
        + enc.zigbee_time(_instant(parameters["billing_period_start"]))
        + months.to_bytes(3, "little")
    )
    return enc.gbz(
        (_PRICE, b"\x09\x00\x09" + period + b"\x23\x00"),
        (_PRICE, b"\x09\x01\x01" + period + b"\x02\x23\x00\x01"),
    )


def _gcs25_decode(content: bytes) -> dict[str, str]:
    components = enc.gbz_components(content)
    if [cluster for cluster, _ in components] != [_PRICE, _PRICE]:
        raise GbcsInvalid("not GCS25 Set Billing Calendar")
    billing, block = (frame for _, frame in components)
    period = billing[3:18]
    if (
        billing[:3] != b"\x09\x00\x09"
        or billing[18:] != b"\x23\x00"
        or block != b"\x09\x01\x01" + period + b"\x02\x23\x00\x01"
        or period[:4] != b"\x00" * 4
    ):
        raise GbcsInvalid("not GCS25 Set Billing Calendar")
    start = enc.read_zigbee_time(period[8:12])
    months = int.from_bytes(period[12:15], "little")
    periodicity = {v: k for k, v in _MONTHS.items()}.get(months)
    if start is None or periodicity is None:
        raise GbcsInvalid("a GCS25 calendar opendcc does not read")
    return {"fuel": "gas", "billing_period_start": _text(start), "periodicity": periodicity}


# GCS04 Update Debt: three ZCL Prepayment ChangeDebt commands, incrementing debt 1 and 2 (time
# based, a recovery amount per day, or per hour when the daily rate is a whole number of
# milli-pennies per hour, as DUIS's hourly rates are) and debt 3 (a percentage per payment).
_HOURLY, _DAILY = 0x00, 0x01


def _change_debt(
    now: datetime, amount: int, *, method: int, kind: int, rate_per_day: int | None, percent: int
) -> bytes:
    if rate_per_day is None:
        frequency, rate = _DAILY, 0
    elif rate_per_day % 24 == 0 and rate_per_day:
        frequency, rate = _HOURLY, rate_per_day // 24
    else:
        frequency, rate = _DAILY, rate_per_day
    return (
        enc.zigbee_time(now)  # issuer event id
        + b"\x00"  # no debt label
        + amount.to_bytes(4, "little")
        + bytes([method, kind])
        + bytes(6)  # recovery starts now; collection time midnight
        + bytes([frequency])
        + rate.to_bytes(4, "little")
        + percent.to_bytes(2, "little")
    )


def _read_change_debt(frame: bytes, seq: int, method: int, kind: int) -> tuple[int, int, int]:
    """(amount, recovery per day, percentage) of one ChangeDebt command."""
    payload = frame[3:]
    if frame[:3] != bytes([0x01, seq, 0x02]) or len(payload) != 24 or payload[4] != 0:
        raise GbcsInvalid("not a GCS04 ChangeDebt command")
    if payload[9:11] != bytes([method, kind]) or payload[11:17] != bytes(6):
        raise GbcsInvalid("not a GCS04 ChangeDebt command")
    rate = int.from_bytes(payload[18:22], "little")
    per_day = rate * 24 if payload[17] == _HOURLY else rate
    if payload[17] not in (_HOURLY, _DAILY) or (payload[17] == _HOURLY and not rate):
        raise GbcsInvalid("a GCS04 recovery frequency opendcc does not read")
    amount = int.from_bytes(payload[5:9], "little")
    return amount, per_day, int.from_bytes(payload[22:24], "little")


def _gcs04_encode(parameters: Parameters, inputs: Inputs) -> bytes | None:
    if set(parameters) != set(_ECS07_KEYS) or parameters["fuel"] != "gas":
        return None
    value = {k: int(parameters[k]) for k in _ECS07_KEYS[1:]}
    now = inputs.now
    return enc.gbz(
        (
            _PREPAYMENT,
            _zcl(
                0x02,
                _change_debt(
                    now,
                    value["time_debt_1_mp"],
                    method=0,
                    kind=1,
                    rate_per_day=value["recovery_rate_1_mp"],
                    percent=0,
                ),
            ),
        ),
        (
            _PREPAYMENT,
            b"\x01\x01\x02"
            + _change_debt(
                now,
                value["time_debt_2_mp"],
                method=0,
                kind=3,
                rate_per_day=value["recovery_rate_2_mp"],
                percent=0,
            ),
        ),
        (
            _PREPAYMENT,
            b"\x01\x02\x02"
            + _change_debt(
                now,
                value["payment_debt_mp"],
                method=1,
                kind=5,
                rate_per_day=None,
                percent=value["debt_recovery_per_payment_bp"],
            ),
        ),
    )


def _gcs04_decode(content: bytes) -> dict[str, str]:
    components = enc.gbz_components(content)
    if [cluster for cluster, _ in components] != [_PREPAYMENT] * 3:
        raise GbcsInvalid("not GCS04 Update Debt")
    (time_1, rate_1, p1), (time_2, rate_2, p2), (payment, rate_3, percent) = (
        _read_change_debt(frame, seq, method, kind)
        for (_, frame), seq, method, kind in zip(
            components, (0, 1, 2), (0, 0, 1), (1, 3, 5), strict=True
        )
    )
    if p1 or p2 or rate_3:
        raise GbcsInvalid("a GCS04 debt update opendcc does not read")
    return {
        "fuel": "gas",
        "time_debt_1_mp": str(time_1),
        "time_debt_2_mp": str(time_2),
        "payment_debt_mp": str(payment),
        "debt_recovery_per_payment_bp": str(percent),
        "recovery_rate_1_mp": str(rate_1),
        "recovery_rate_2_mp": str(rate_2),
    }


# --------------------------------------------------------------------------- ASN.1 use cases


def _gcs28_encode(parameters: Parameters, inputs: Inputs) -> bytes | None:
    """GCS28 Set Time: the validity window, as two GeneralizedTimes."""
    window = _clock_window(parameters)
    if window is None:
        return None
    return enc.der(0x30, enc.generalized_time(window[0]) + enc.generalized_time(window[1]))


def _gcs28_decode(content: bytes) -> dict[str, str]:
    items = enc.der_items(content)
    if len(items) != 1 or items[0][0] != 0x30:
        raise GbcsInvalid("not GCS28 Set Time")
    times = enc.der_items(items[0][1])
    if [tag for tag, _ in times] != [0x18, 0x18]:
        raise GbcsInvalid("not GCS28 Set Time")
    return _clock_parameters(*(enc.read_generalized_time(v) for _, v in times))


def _cs06_encode(parameters: Parameters, inputs: Inputs) -> bytes | None:
    """CS06 Activate Firmware: the image hash, the originator counter, when (if dated)."""
    if set(parameters) - {EXECUTE_AT} != {"hash"}:
        return None
    digest = bytes.fromhex(parameters["hash"])
    if parameters["hash"] != digest.hex():
        return None
    body = enc.der(0x04, digest) + enc.der_integer(inputs.counter)
    if EXECUTE_AT in parameters:
        instant = _instant(parameters[EXECUTE_AT])
        if instant == CANCEL_AT:
            body += enc.der(0x18, enc.GENERALIZED_CANCEL.encode("ascii"))
        else:
            body += enc.generalized_time(instant)
    return enc.der(0x30, body)


def _cs06_decode(content: bytes) -> dict[str, str]:
    items = enc.der_items(content)
    if len(items) != 1 or items[0][0] != 0x30:
        raise GbcsInvalid("not CS06 Activate Firmware")
    fields = enc.der_items(items[0][1])
    tags = [tag for tag, _ in fields]
    if tags not in ([0x04, 0x02], [0x04, 0x02, 0x18]):
        raise GbcsInvalid("not CS06 Activate Firmware")
    parameters = {"hash": fields[0][1].hex()}
    if len(fields) == 3:
        text = fields[2][1].decode("ascii", "replace")
        instant = (
            CANCEL_AT if text == enc.GENERALIZED_CANCEL else enc.read_generalized_time(fields[2][1])
        )
        parameters[EXECUTE_AT] = _text(instant)
    return parameters


# --------------------------------------------------------------------------- the table

_ENABLE, _DISABLE, _ARM = (_esme_script(s) for s in (0x33, 0x34, 0x36))
_GAS_OFF, _GAS_ARM = _gsme_supply(0x00), _gsme_supply(0x01)

USE_CASES: tuple[UseCase, ...] = (
    UseCase("ECS01a", 0x0019, "1.1.1", "ESME"),
    UseCase("GCS01a", 0x006B, "1.1.1", "GSME"),
    UseCase("ECS01c", 0x00B7, "1.1.2", "ESME"),
    UseCase("ECS01b", 0x00A2, "1.2.1", "ESME"),
    UseCase("GCS01b", 0x00A3, "1.2.1", "GSME"),
    UseCase("ECS01d", 0x00C7, "1.2.2", "ESME"),
    UseCase("ECS04a", 0x001C, "1.5", "ESME", _ecs04a_encode, _ecs04a_decode),
    UseCase("ECS04b", 0x00B3, "1.5", "ESME", _ecs04b_encode, _ecs04b_decode),
    UseCase("GCS40a", 0x0086, "1.5", "GSME", *_gcs40(0x00)),
    UseCase("GCS40b", 0x00B4, "1.5", "GSME", *_gcs40(0x01)),
    UseCase("GCS40c", 0x00C0, "1.5", "GSME", *_gcs40(0x03)),
    UseCase("GCS40d", 0x00C2, "1.5", "GSME", *_gcs40(0x02)),
    UseCase("ECS02", 0x001A, "1.6", "ESME", _ecs02_encode, _ecs02_decode),
    UseCase("ECS03", 0x001B, "1.6", "ESME"),
    UseCase("GCS02", 0x006C, "1.6", "GSME", *_gcs_payment_mode("credit")),
    UseCase("GCS03", 0x006D, "1.6", "GSME", *_gcs_payment_mode("prepayment")),
    UseCase("ECS05", 0x001D, "1.7", "ESME"),
    UseCase("ECS08", 0x001F, "2.1", "ESME"),
    UseCase("GCS05", 0x006F, "2.1", "GSME"),
    UseCase("ECS07", 0x001E, "2.3", "ESME", _ecs07_encode, _ecs07_decode),
    UseCase("GCS04", 0x006E, "2.3", "GSME", _gcs04_encode, _gcs04_decode),
    UseCase("ECS09", 0x0020, "2.5", "ESME", _ecs09_encode, _ecs09_decode),
    UseCase("GCS06", 0x0070, "2.5", "GSME", _gcs06_encode, _gcs06_decode),
    UseCase("ECS28a", 0x0043, "6.4.1", "ESME"),
    UseCase("GCS23", 0x007C, "6.6", "GSME"),
    UseCase("GCS24", 0x007D, "6.7", "GSME"),
    UseCase("ECS30", 0x0046, "6.8", "ESME", _billing_encode(monthly=True), _billing_decode),
    UseCase("ECS30a", 0x00D7, "6.8", "ESME", _billing_encode(monthly=False), _billing_decode),
    UseCase("GCS25", 0x007E, "6.8", "GSME", _gcs25(monthly=True), _gcs25_decode),
    UseCase("GCS25a", 0x00D8, "6.8", "GSME", _gcs25(monthly=False), _gcs25_decode),
    UseCase("ECS70", 0x0062, "6.11", "ESME", _ecs70_encode, _ecs70_decode),
    UseCase("GCS28", 0x007F, "6.11", "GSME", _gcs28_encode, _gcs28_decode),
    UseCase("ECS81", 0x0068, "6.25", "ESME"),
    UseCase("ECS48", 0x00DB, "6.26", "ESME"),
    UseCase("ECS42", 0x004F, "7.1", "ESME", *_ENABLE),
    UseCase("ECS43", 0x0050, "7.2", "ESME", *_DISABLE),
    UseCase("GCS32", 0x0081, "7.2", "GSME", *_GAS_OFF),
    UseCase("ECS44", 0x0051, "7.3", "ESME", *_ARM),
    UseCase("GCS39", 0x0085, "7.3", "GSME", *_GAS_ARM),
    UseCase("ECS38", 0x004B, "7.12", "ESME"),
    UseCase("ECS70", 0x0062, "8.1.1", "ESME", _ecs70_encode, _ecs70_decode),
    UseCase("GCS28", 0x007F, "8.1.1", "GSME", _gcs28_encode, _gcs28_decode),
    UseCase("CS03A1", 0x000D, "8.7.1", "any"),
    UseCase("CS04AC", 0x000F, "8.8.1", "any"),
    UseCase("CS06", 0x0012, "11.3", "any", _cs06_encode, _cs06_decode),
)

# An SRV no use case names (none should remain among the critical ones): message code 0.
UNMAPPED = 0x0000


def use_cases(srv: str, device_type: str | None = None) -> list[UseCase]:
    """The use cases of ``srv`` (on ``device_type`` if given), in the table's order."""
    return [
        u
        for u in USE_CASES
        if u.srv == srv and (device_type is None or u.device_type in (device_type, "any"))
    ]


def smets1_body(parameters: Parameters) -> bytes:
    """opendcc's SMETS1 body: the parameters, sorted, as UTF8String pairs under tag 0xE1."""
    pairs = b"".join(
        enc.der(0x0C, key.encode("utf-8")) + enc.der(0x0C, value.encode("utf-8"))
        for key, value in sorted(parameters.items())
    )
    return enc.der(SMETS1_BODY, pairs)


def read_smets1_body(content: bytes) -> dict[str, str]:
    items = enc.der_items(content)
    if len(items) != 1 or items[0][0] != SMETS1_BODY:
        raise GbcsInvalid("not an opendcc SMETS1 body")
    values = enc.der_items(items[0][1])
    if len(values) % 2 or any(tag != 0x0C for tag, _ in values):
        raise GbcsInvalid("an opendcc SMETS1 body holds UTF8String pairs")
    try:
        texts = [value.decode("utf-8") for _, value in values]
    except UnicodeDecodeError:
        raise GbcsInvalid("an opendcc SMETS1 body holds UTF-8 text") from None
    parameters = dict(zip(texts[::2], texts[1::2], strict=True))
    if len(parameters) * 2 != len(texts):
        raise GbcsInvalid("an opendcc SMETS1 body names a parameter twice")
    return parameters


@dataclass(frozen=True, slots=True)
class Built:
    use_case: str  # the GBCS use case's name (or "SMETS1" where none is known)
    exact: bool  # True: the use case's own command body; False: opendcc's SMETS1 body
    message: GeneralSigning


def build(  # noqa: PLR0917 - the SRV, device and parties are the message's natural inputs
    srv: str,
    device_type: str,
    originator: Eui64,
    recipient: Eui64,
    parameters: Parameters,
    inputs: Inputs,
) -> Built:
    """The General Signing message of ``srv``'s instruction to ``recipient``."""
    candidates = use_cases(srv, device_type)
    fitting: list[UseCase] = []
    for case in candidates:
        if case.encode is None or case.decode is None:
            continue
        try:
            content = case.encode(parameters, inputs)
            exact = content is not None and case.decode(content) == dict(parameters)
        except (GbcsInvalid, ValueError, OverflowError):
            continue
        if content is not None:
            fitting.append(case)
        if content is not None and exact:
            message = GeneralSigning(
                inputs.counter, originator, recipient, case.message_code, content
            )
            return Built(case.name, True, message)
    chosen = (fitting or candidates)[:1]
    code = chosen[0].message_code if chosen else UNMAPPED
    name = chosen[0].name if chosen else "SMETS1"
    body = smets1_body(parameters)
    return Built(name, False, GeneralSigning(inputs.counter, originator, recipient, code, body))


def read(srv: str, message: GeneralSigning) -> dict[str, str]:
    """The parameters of ``srv``'s instruction in ``message``; ``GbcsInvalid`` when it is
    another SRV's message or its body is not the use case's."""
    cases = [u for u in use_cases(srv) if u.message_code == message.message_code]
    if not cases and not (message.message_code == UNMAPPED and not use_cases(srv)):
        raise GbcsInvalid(
            f"the GBCS message code 0x{message.message_code:04X} is not one of SRV {srv}'s"
            " use cases"
        )
    if message.content[:1] == bytes([SMETS1_BODY]):
        return read_smets1_body(message.content)
    for case in cases:
        if case.decode is not None:
            return case.decode(message.content)
    raise GbcsInvalid(f"the GBCS message for SRV {srv} carries no command opendcc reads")
