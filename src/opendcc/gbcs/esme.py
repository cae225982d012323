"""The ESME (electricity meter) GBCS use cases opendcc writes exactly: DLMS COSEM (Device
Language Message Specification) access-requests, as DCC's RTDS writes them.

``CODECS`` maps a use case's name to its (encode, decode) pair (see ``codec``). Pure.
"""

from __future__ import annotations

from datetime import UTC, datetime

from opendcc.gbcs import encoding as enc
from opendcc.gbcs.codec import (
    CANCEL_AT,
    DEBT_KEYS,
    EXECUTE_AT,
    PREPAYMENT_CONFIGURATION_KEYS,
    Codec,
    Decode,
    Encode,
    Inputs,
    Parameters,
    as_instant,
    as_text,
    clock_parameters,
    clock_window,
    is_whole_tariff,
    only,
    price_update,
)
from opendcc.gbcs.message import GbcsInvalid

# The ESME's supply control script table (class 9, OBIS 0-0-10-0-106-255), method 1 (execute).
_SUPPLY_SCRIPTS = bytes.fromhex("0103000900000a006aff01")


def _fixed(body: bytes, refusal: str) -> tuple[Encode, Decode]:
    """The codec of a command that takes no parameters: always ``body``, no data; decoding
    anything else is ``GbcsInvalid(refusal)``."""

    def encode(parameters: Parameters, inputs: Inputs) -> bytes | None:
        return enc.access_request(inputs.counter, body, b"") if not parameters else None

    def decode(content: bytes) -> dict[str, str]:
        if enc.access_body(content) != body:
            raise GbcsInvalid(refusal)
        return {}

    return encode, decode


def _esme_script(script: int) -> tuple[Encode, Decode]:
    body = _SUPPLY_SCRIPTS + b"\x01\x12" + script.to_bytes(2, "big")
    return _fixed(body, "not this supply command")


_ACCOUNT = bytes.fromhex("0070") + bytes.fromhex("0000130a00ff")  # class 112, 0-0-19-10-0-255
_EMERGENCY_CREDIT = bytes.fromhex("010300700000130a01ff03") + b"\x01\x0f\x00"


# The ESME's balance commands name no payment mode: ECS04a adjusts the balance of a meter in
# prepayment mode and ECS04b resets it in credit mode (the pairs DCC's RTDS sends). A SMETS1
# instruction for the other pairs keeps opendcc's SMETS1 body under the same message code.
def _ecs04a_encode(parameters: Parameters, inputs: Inputs) -> bytes | None:
    if parameters.get("operation") != "adjust" or not only(
        parameters, "mode", "operation", "amount_mp"
    ):
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
    amount = int.from_bytes(body[-4:], "big", signed=True)
    return {"mode": "prepayment", "operation": "adjust", "amount_mp": str(amount)}


_ECS04B = (
    b"\x03"
    + b"".join(b"\x03\x00\x70\x00\x00\x13\x0a" + bytes([i, 0xFF, 0x02]) for i in range(3))
    + b"\x03"
    + b"\x05\x00\x00\x00\x00" * 3
)


def _ecs04b_encode(parameters: Parameters, inputs: Inputs) -> bytes | None:
    if parameters.get("operation") != "reset" or not only(parameters, "operation", "mode"):
        return None
    return enc.access_request(inputs.counter, _ECS04B, b"")


def _ecs04b_decode(content: bytes) -> dict[str, str]:
    if enc.access_body(content) != _ECS04B:
        raise GbcsInvalid("not ECS04b Reset Meter Balance")
    return {"mode": "credit", "operation": "reset"}


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


def _ecs70_encode(parameters: Parameters, inputs: Inputs) -> bytes | None:
    window = clock_window(parameters)
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
    return clock_parameters(start, end)


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
    if parameters.get("mode") != "credit" or not only(parameters, "mode", EXECUTE_AT):
        return None
    when = parameters.get(EXECUTE_AT)
    if when is None:
        activation = _NOW_DLMS
    elif as_instant(when) == CANCEL_AT:
        activation = _NEVER_DLMS
    else:
        activation = enc.dlms_datetime(as_instant(when))
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
        return {"mode": "credit", EXECUTE_AT: as_text(CANCEL_AT)}
    return {"mode": "credit", EXECUTE_AT: as_text(enc.read_dlms_datetime(activation))}


# ECS03 Set ESME to prepayment mode: the account's mode and status, the disablement threshold
# (class 9000, 0-0-94-44-128-22) and its activation, the credit/charge configuration of a
# single-element meter (which charges each credit pays: time debts 1 and 2 flagged 0xC0 rather
# than 0xE0 when debt recovery is suspended while the supply is disabled, the emergency credit's
# pairs present when it is suspended in emergency credit, as DCC's RTDS writes them), and when.
_THRESHOLD = b"\x23\x28\x00\x00\x5e\x2c\x80\x16"
_ECS03_SPECS = b"\x05" + b"".join(
    b"\x02" + target + bytes([attribute])
    for target, attribute in (
        (b"\x00\x6f\x00\x01\x13\x00\x00\xff", 0x02),
        (_THRESHOLD, 0x04),
        (b"\x00\x6f\x00\x01\x13\x00\x00\xff", 0x0B),
        (_THRESHOLD, 0x06),
        (b"\x00\x6f\x00\x01\x13\x00\x00\xff", 0x0D),
    )
)


def _pairing(credit: int, charge: int, flags: int) -> bytes:
    return (
        b"\x02\x03\x09\x06\x00\x00\x13\x0a" + bytes([credit, 0xFF])
        + b"\x09\x06\x00\x00\x13\x14" + bytes([charge, 0xFF])
        + b"\x04\x03" + bytes([flags])
    )  # fmt: skip


def _ecs03_pairings(disabled: bool, emergency: bool) -> bytes:
    x = 0xC0 if disabled else 0xE0
    pairs = [
        (0, 0, 0xE0), (0, 4, 0xE0), (0, 1, x), (0, 2, x), (0, 3, 0xE0),
        (1, 3, 0xE0), (1, 0, 0xE0), (1, 4, 0xE0), (1, 1, x), (1, 2, x),
    ]  # fmt: skip
    if emergency:
        pairs += [(2, 4, 0xE0), (2, 1, 0xE0), (2, 2, 0xE0)]
    return b"\x01" + bytes([len(pairs)]) + b"".join(_pairing(*p) for p in pairs)


def _activation(parameters: Parameters) -> bytes:
    when = parameters.get(EXECUTE_AT)
    if when is None:
        return _NOW_DLMS
    if as_instant(when) == CANCEL_AT:
        return _NEVER_DLMS
    return enc.dlms_datetime(as_instant(when))


def _activation_parameters(raw: bytes) -> dict[str, str]:
    if raw == _NOW_DLMS:
        return {}
    if raw == _NEVER_DLMS:
        return {EXECUTE_AT: as_text(CANCEL_AT)}
    return {EXECUTE_AT: as_text(enc.read_dlms_datetime(raw))}


_ECS03_KEYS = (
    "mode",
    "suspend_debt_disabled",
    "suspend_debt_emergency",
    "disablement_threshold_mp",
)


def _ecs03_encode(parameters: Parameters, inputs: Inputs) -> bytes | None:
    if parameters.get("mode") != "prepayment" or set(parameters) - {EXECUTE_AT} != set(_ECS03_KEYS):
        return None
    flags = (parameters["suspend_debt_disabled"], parameters["suspend_debt_emergency"])
    if not set(flags) <= {"0", "1"}:
        return None
    when = b"\x09\x0c" + _activation(parameters)
    data = (
        b"\x05\x02\x02\x16\x02\x16\x01"
        + b"\x05" + int(parameters["disablement_threshold_mp"]).to_bytes(4, "big", signed=True)
        + _ecs03_pairings(flags[0] == "1", flags[1] == "1")
        + when + when
    )  # fmt: skip
    return enc.access_request(inputs.counter, _ECS03_SPECS, data)


def _ecs03_decode(content: bytes) -> dict[str, str]:
    body = enc.access_body(content)
    head = _ECS03_SPECS + b"\x05\x02\x02\x16\x02\x16\x01\x05"
    if not body.startswith(head) or len(body) < len(head) + 4 + 28:
        raise GbcsInvalid("not ECS03 Set to Prepayment Mode")
    threshold = int.from_bytes(body[len(head) : len(head) + 4], "big", signed=True)
    when = body[-12:]
    # The flags are read by writing each of the four ways and finding the one sent.
    for disabled in ("0", "1"):
        for emergency in ("0", "1"):
            parameters = {
                "mode": "prepayment",
                "suspend_debt_disabled": disabled,
                "suspend_debt_emergency": emergency,
                "disablement_threshold_mp": str(threshold),
                **_activation_parameters(when),
            }
            written = _ecs03_encode(parameters, Inputs(0, _EPOCH))
            if written is not None and written[6:] == body:
                return parameters
    raise GbcsInvalid("an ECS03 configuration opendcc does not read")


_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def _charge(n: int) -> bytes:
    return b"\x00\x71\x00\x00\x13\x14" + bytes([n, 0xFF])


# ECS01b Update Price: the standing charge (charge 0-0-19-20-4-255) and the price matrix of
# the primary element (charge 0-0-19-20-0-255: commodity scale 3, price scale -5, i.e. milli-
# pennies, per kWh of register 1-0-1-8-0-255): 48 TOU prices (index 1-48) and four blocks of
# eight block-tariff prices (index 0xA1-0xD8: block, then row), then when each takes effect.
# opendcc's instruction names the meter's rates: a TOU rate by its number, block-tariff row n
# as rate 9 - n with its block prices.
_ECS01B_SPECS = b"\x04" + b"".join(
    b"\x02" + _charge(n) + bytes([attribute]) for n, attribute in ((4, 6), (0, 6), (4, 7), (0, 7))
)
_TOU_PRICES, _BLOCKS, _ROWS = 48, 4, 8
_PRICE_INDICES = [*range(1, _TOU_PRICES + 1)] + [
    0xA0 + 0x10 * block + row for block in range(_BLOCKS) for row in range(1, _ROWS + 1)
]
_PRICE_HEAD = (
    bytes.fromhex("020302020f030ffb02031200030906010001" + "0800ff0f02")
    + b"\x01"
    + bytes([len(_PRICE_INDICES)])
)


def _standing(charge_mp: int) -> bytes:
    return (
        bytes.fromhex("020302020f000ffb020312000009060000000000000f000101020209")
        + b"\x00\x10"
        + charge_mp.to_bytes(2, "big", signed=True)
    )


def _matrix(parameters: Parameters) -> dict[int, int] | None:
    """Price index -> milli-pennies, or None when the prices do not fit the matrix."""
    prices: dict[int, int] = {}
    for key, value in parameters.items():
        if not key.startswith("price."):
            continue
        rate = int(key.removeprefix("price."))
        row = [int(v) for v in value.split(",")]
        if not 1 <= rate <= _ROWS or 0 in row:
            return None  # a zero price reads back as no price
        if len(row) == 1:
            prices[rate] = row[0]
        elif len(row) <= _BLOCKS:
            prices.update({0xA0 + 0x10 * b + (_ROWS + 1 - rate): p for b, p in enumerate(row)})
        else:
            return None
    return prices


def _ecs01b_encode(parameters: Parameters, inputs: Inputs) -> bytes | None:
    keys = {k for k in parameters if not k.startswith("price.")}
    if parameters.get("fuel") != "electricity" or keys - {EXECUTE_AT} != {
        "fuel",
        "standing_charge_mp",
    }:
        return None
    prices = _matrix(parameters)
    if prices is None:
        return None
    when = b"\x09\x0c" + _activation(parameters)
    matrix = b"".join(
        b"\x02\x02\x09\x01"
        + bytes([i])
        + b"\x10"
        + prices.get(i, 0).to_bytes(2, "big", signed=True)
        for i in _PRICE_INDICES
    )
    data = (
        b"\x04"
        + _standing(int(parameters["standing_charge_mp"]))
        + _PRICE_HEAD
        + matrix
        + when
        + when
    )
    return enc.access_request(inputs.counter, _ECS01B_SPECS, data)


def _ecs01b_decode(content: bytes) -> dict[str, str]:
    body = enc.access_body(content)
    standing = len(_standing(0))
    head = _ECS01B_SPECS + b"\x04"
    at = len(head) + standing
    end = at + len(_PRICE_HEAD) + 8 * len(_PRICE_INDICES)
    if len(body) != end + 28 or not body.startswith(head) or body[at:end].find(_PRICE_HEAD) != 0:
        raise GbcsInvalid("not ECS01b Update Price")
    if body[len(head) : at - 2] != _standing(0)[:-2] or body[end : end + 2] != b"\x09\x0c":
        raise GbcsInvalid("not ECS01b Update Price")
    if body[end + 2 : end + 14] != body[end + 16 :] or body[end + 14 : end + 16] != b"\x09\x0c":
        raise GbcsInvalid("an ECS01b whose parts take effect at different times")
    entries = body[at + len(_PRICE_HEAD) : end]
    prices: dict[int, int] = {}
    for n, index in enumerate(_PRICE_INDICES):
        entry = entries[8 * n : 8 * n + 8]
        if entry[:6] != b"\x02\x02\x09\x01" + bytes([index]) + b"\x10":
            raise GbcsInvalid("not ECS01b Update Price")
        if price := int.from_bytes(entry[6:], "big", signed=True):
            prices[index] = price
    parameters = {
        "fuel": "electricity",
        "standing_charge_mp": str(int.from_bytes(body[at - 2 : at], "big", signed=True)),
        **_activation_parameters(body[end + 2 : end + 14]),
    }
    for rate in range(1, _ROWS + 1):
        row = [prices.pop(0xA0 + 0x10 * b + (_ROWS + 1 - rate), 0) for b in range(_BLOCKS)]
        while row and row[-1] == 0:
            row.pop()
        tou = prices.pop(rate, None)
        if tou is not None and row:
            raise GbcsInvalid(f"rate {rate} has a TOU price and block prices")
        if tou is not None or row:
            parameters[f"price.{rate}"] = str(tou) if tou is not None else ",".join(map(str, row))
    if prices:
        raise GbcsInvalid("an ECS01b price opendcc's meters do not hold")
    return parameters


# ECS07 Update Debt: the two time-debt and the payment-debt charges (class 113,
# 0-0-19-20-{1,2,3}-255): the time debts' daily recovery rates (a unit charge: commodity scale
# 0, price scale, price per day), the payment debt's recovery per payment, the collection
# periods (one day), then the adjustments of each register.
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


def _ecs07_encode(parameters: Parameters, inputs: Inputs) -> bytes | None:
    if set(parameters) != set(DEBT_KEYS) or parameters["fuel"] != "electricity":
        return None
    value = {k: int(parameters[k]) for k in DEBT_KEYS[1:]}
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


# ECS08 / ECS08a Update Prepayment Configuration: the special days table (class 11,
# 0-1-11-0-2-255), the maximum meter balance and credit threshold (class 9000,
# 0-0-94-44-2-20 and -2-10; ECS08a sets the first one's attribute 4 rather than 2), the
# non-disablement schedule (class 10, 0-1-12-0-1-255: entries running the supply control
# script 0x20 START or 0x21 STOP), the debt recovery rate cap (per 604800 s, a week), the low
# credit, emergency credit limit and threshold, and when each of the eight takes effect.
def _ecs08_specs(balance_attribute: int) -> bytes:
    items = ["000B00010B0002FF02", f"232800005E2C02140{balance_attribute}", "232800005E2C020A04"]
    items += ["000A00010C0001FF02"]
    items += [f"232800005E2C80{i}04" for i in ("0C", "0D", "09", "02")]
    items += ["232800005E2C801F06", "232800005E2C800304", "232800005E2C021406"]
    items += [f"232800005E2C{i}06" for i in ("020A", "800C", "800D", "8009", "8002", "8003")]
    items += ["232800005E2C801C06"]
    return bytes([len(items)]) + b"".join(b"\x02" + bytes.fromhex(i) for i in items)


_ECS08_KEYS = PREPAYMENT_CONFIGURATION_KEYS | {"special_days", "non_disablement_schedule"}
_CAP_PERIOD = 604800  # seconds: the debt recovery rate cap is per week
_VALIDITY = b"\x12\xff\xff"  # a schedule entry's validity window: not limited
_SCRIPT_TABLE = b"\x09\x06" + bytes.fromhex("00000a006aff")
_SELECTORS = {"START": 0x20, "STOP": 0x21}
_WEEKDAY_BITS, _DATE_BYTES = 7, 5


def _i32(value: str) -> bytes:
    return b"\x05" + int(value).to_bytes(4, "big", signed=True)


def _bits(members: set[int], size: int) -> bytes:
    """A DLMS bit-string of ``size`` bits, bit n (from 1, most significant first) set for n
    in ``members``."""
    if not members <= set(range(1, size + 1)):
        raise ValueError("a member outside the bit-string")
    value = sum(1 << (8 * ((size + 7) // 8) - n) for n in members)
    return b"\x04" + bytes([size]) + value.to_bytes((size + 7) // 8, "big")


def _dlms_date(text: str) -> bytes:
    raw = bytes.fromhex(text)
    if len(raw) != _DATE_BYTES or raw.hex().upper() != text:
        raise ValueError("not a DLMS date")
    return b"\x09\x05" + raw


def _special_days(text: str) -> tuple[bytes, int]:
    entries = [e.split("=") for e in text.split(",")] if text else []
    body = b"".join(
        b"\x02\x03\x12" + int(index).to_bytes(2, "big") + _dlms_date(date)
        + b"\x11" + int(index).to_bytes(1, "big")
        for index, date in entries
    )  # fmt: skip
    if any(str(int(index)) != index for index, _ in entries):
        raise ValueError("a special day index not written plainly")
    return b"\x01" + bytes([len(entries)]) + body, len(entries)


def _schedule(text: str, special_days: int) -> bytes:
    entries = [e.split("/") for e in text.split(";")] if text else []
    parts = []
    for n, (script, weekdays, special, at, start, end) in enumerate(entries, start=1):
        days = {int(d) for d in weekdays}
        ids = {int(i) for i in special.split(".")} if special else set()
        if (
            "".join(map(str, sorted(days))) != weekdays
            or ".".join(map(str, sorted(ids))) != special
        ):
            raise ValueError("a schedule entry not written canonically")
        clock, hundredths = at.split(".")
        hour, minute, second = (int(x) for x in clock.split(":"))
        if f"{hour:02d}:{minute:02d}:{second:02d}.{int(hundredths):02d}" != at:
            raise ValueError("a switch time not written canonically")
        parts.append(
            b"\x02\x0a\x12" + n.to_bytes(2, "big") + b"\x03\xff" + _SCRIPT_TABLE
            + b"\x12" + _SELECTORS[script].to_bytes(2, "big")
            + b"\x09\x04" + bytes([hour, minute, second, int(hundredths)])
            + _VALIDITY + _bits(days, _WEEKDAY_BITS) + _bits(ids, special_days)
            + _dlms_date(start) + _dlms_date(end)
        )  # fmt: skip
    return b"\x01" + bytes([len(parts)]) + b"".join(parts)


def _ecs08_encode(balance_attribute: int) -> Encode:
    def encode(parameters: Parameters, inputs: Inputs) -> bytes | None:
        if parameters.get("fuel") != "electricity" or set(parameters) - {EXECUTE_AT} != _ECS08_KEYS:
            return None
        days, count = _special_days(parameters["special_days"])
        schedule = _schedule(parameters["non_disablement_schedule"], count)
        starts = _schedule_starts(parameters["non_disablement_schedule"])
        if parameters["non_disablement_calendar"] != ("1" if starts else "0"):
            return None  # the switch says what the schedule does
        cap = int(parameters["debt_recovery_cap_mp"])
        when = b"\x09\x0c" + _activation(parameters)
        data = (
            b"\x12" + days
            + _i32(parameters["max_meter_balance_mp"])
            + _i32(parameters["max_credit_threshold_mp"])
            + schedule
            + b"\x12" + cap.to_bytes(2, "big")
            + b"\x05" + _CAP_PERIOD.to_bytes(4, "big")
            + _i32(parameters["low_credit_threshold_mp"])
            + _i32(parameters["emergency_credit_limit_mp"])
            + when
            + _i32(parameters["emergency_credit_threshold_mp"])
            + when * 8
        )  # fmt: skip
        return enc.access_request(inputs.counter, _ecs08_specs(balance_attribute), data)

    return encode


def _schedule_starts(text: str) -> bool:
    return any(entry.split("/")[0] == "START" for entry in text.split(";") if entry)


def _date_text(raw: object) -> str:
    if not isinstance(raw, bytes) or len(raw) != _DATE_BYTES:
        raise GbcsInvalid("not a DLMS date")
    return raw.hex().upper()


def _members(raw: object, size: int) -> list[str]:
    if not isinstance(raw, bytes):
        raise GbcsInvalid("not a bit-string")
    value = int.from_bytes(raw, "big")
    width = 8 * len(raw)
    return [str(n) for n in range(1, size + 1) if value >> (width - n) & 1]


def _ecs08_read(body: bytes, balance_attribute: int) -> dict[str, str]:
    specs = _ecs08_specs(balance_attribute)
    if not body.startswith(specs + b"\x12"):
        raise GbcsInvalid("not ECS08 Update Prepayment Configuration")
    at, values = len(specs) + 1, []
    for _ in range(specs[0]):
        value, at = enc.read_axdr(body, at)
        values.append(value)
    days, balance, credit, schedule, cap, _, low, limit, when, threshold = values[:10]
    if (
        not isinstance(days, tuple)
        or not isinstance(schedule, tuple)
        or not isinstance(when, bytes)
    ):
        raise GbcsInvalid("not ECS08 Update Prepayment Configuration")
    special = ",".join(
        f"{d[0]}={_date_text(d[1])}" for d in days if isinstance(d, tuple) and isinstance(d[0], int)
    )
    entries = []
    for entry in schedule:
        if not isinstance(entry, tuple) or len(entry) != 10 or not isinstance(entry[4], bytes):
            raise GbcsInvalid("not an ECS08 schedule entry")
        script = {v: k for k, v in _SELECTORS.items()}.get(
            entry[3] if isinstance(entry[3], int) else -1
        )
        hour, minute, second, hundredths = entry[4]
        entries.append(
            "/".join(
                (
                    script or "?",
                    "".join(_members(entry[6], _WEEKDAY_BITS)),
                    ".".join(_members(entry[7], len(days))),
                    f"{hour:02d}:{minute:02d}:{second:02d}.{hundredths:02d}",
                    _date_text(entry[8]),
                    _date_text(entry[9]),
                )
            )
        )
    text = ";".join(entries)
    return {
        "fuel": "electricity",
        "debt_recovery_cap_mp": str(cap),
        "emergency_credit_limit_mp": str(limit),
        "emergency_credit_threshold_mp": str(threshold),
        "low_credit_threshold_mp": str(low),
        "non_disablement_calendar": "1" if _schedule_starts(text) else "0",
        "max_meter_balance_mp": str(balance),
        "max_credit_threshold_mp": str(credit),
        "special_days": special,
        "non_disablement_schedule": text,
        **_activation_parameters(when),
    }


def _ecs08_decode(balance_attribute: int) -> Decode:
    def decode(content: bytes) -> dict[str, str]:
        body = enc.access_body(content)
        try:
            parameters = _ecs08_read(body, balance_attribute)
            written = _ecs08_encode(balance_attribute)(parameters, Inputs(0, _EPOCH))
        except (ValueError, TypeError, KeyError) as exc:
            raise GbcsInvalid(f"an ECS08 configuration opendcc does not read: {exc}") from None
        # What is read is what is written: the rest of the body (the script table, the
        # validity windows, the cap period, the eight activation times) must be as opendcc
        # writes it.
        if written is None or written[6:] != body:
            raise GbcsInvalid("an ECS08 configuration opendcc does not read")
        return parameters

    return decode


# ECS01a Update Import Tariff: the activity calendar's passive season, week and day profiles
# (class 20, 0-0-13-0-0-255, attributes 7-9), the special days table, the eight rows of block
# thresholds (register monitors 0-0-16-1-11..18-255), the block mode (true), the standing
# charge and price matrix as ECS01b writes them, then when each part takes effect. The
# SMETS1 parameters (the one-day switching table, the block thresholds it uses) are read
# from the whole tariff the way the S1SP reads them from DUIS.
_ECS01A_SPECS = bytes.fromhex(
    "15"
    "02001400000D0000FF07" "02001400000D0000FF08" "02001400000D0000FF09"
    "02000B00010B0000FF02"
    + "".join(f"02001500001001{n:02X}FF02" for n in range(0x0B, 0x13))
    + "02232800005E2C020004" "0200710000131404FF06" "0200710000131400FF06"
    "02001400000D0000FF0A" "02232800005E2C801D06" "02232800005E2C020006"
    "0200710000131404FF07" "0200710000131400FF07" "02232800003F0101FF06"
)  # fmt: skip
_TARIFF_SCRIPTS = b"\x09\x06" + bytes.fromhex("00000a0064ff")  # 0-0-10-0-100-255
_BLOCK_SCRIPT = 100  # block tariff n runs script 100 + n; TOU rate n script n
_THRESHOLD_ROWS = 8
_NO_THRESHOLD = 0xFFFFFFFF
_BLOCK_MODE = b"\x03\xff"
_ACTIVATIONS = 6
_SLOTS, _SLOT_MINUTES = 48, 30  # a SMETS1 switching table: the rate of each UTC half hour


def _octets(raw: bytes) -> bytes:
    return b"\x09" + bytes([len(raw)]) + raw


def _list(items: list[bytes]) -> bytes:
    return b"\x01" + bytes([len(items)]) + b"".join(items)


def _text_pairs(text: str, separator: str) -> list[list[str]]:
    return [entry.split("=") for entry in text.split(separator)] if text else []


def _ecs01a_calendar(parameters: Parameters) -> bytes:
    seasons = _list(
        [
            b"\x02\x03" + _octets(bytes.fromhex(name))
            + b"\x09\x0c" + bytes.fromhex(date) + bytes(4) + b"\x80\x00\xff"
            + _octets(bytes([int(week)]))
            for name, date, week in _text_pairs(parameters["seasons"], ";")
        ]
    )  # fmt: skip
    weeks = _list(
        [
            b"\x02\x08" + _octets(bytes([int(week)]))
            + b"".join(b"\x11" + bytes([int(d)]) for d in days.split("."))
            for week, days in _text_pairs(parameters["week_profiles"], ";")
        ]
    )  # fmt: skip
    profiles = []
    for day, switches in _text_pairs(parameters["day_profiles"], ";"):
        actions = []
        for switch in switches.split(","):
            at, _, script = switch.partition("/")
            clock, hundredths = at.split(".")
            hour, minute, second = (int(x) for x in clock.split(":"))
            actions.append(
                b"\x02\x03\x09\x04" + bytes([hour, minute, second, int(hundredths)])
                + _TARIFF_SCRIPTS + b"\x12" + int(script).to_bytes(2, "big")
            )  # fmt: skip
        profiles.append(b"\x02\x02\x11" + bytes([int(day)]) + _list(actions))
    special = _list(
        [
            b"\x02\x03\x12" + n.to_bytes(2, "big") + _dlms_date(date) + b"\x11" + bytes([int(day)])
            for n, (date, day) in enumerate(_text_pairs(parameters["special_days"], ","), start=1)
        ]
    )
    rows = parameters["threshold_matrix"].split(";")
    if len(rows) != _THRESHOLD_ROWS:
        raise ValueError("eight rows of block thresholds")
    thresholds = b"".join(
        _list([b"\x06" + int(v).to_bytes(4, "big") for v in row.split(",") if row]) for row in rows
    )
    return seasons + weeks + _list(profiles) + special + thresholds


def _ecs01a_encode(parameters: Parameters, inputs: Inputs) -> bytes | None:
    if not is_whole_tariff(parameters, "electricity"):
        return None
    update = _ecs01b_encode(price_update(parameters), inputs)
    if update is None:
        return None
    prices = enc.access_body(update)[len(_ECS01B_SPECS) + 1 : -28]  # standing charge, matrix
    when = b"\x09\x0c" + _activation(parameters)
    data = (
        _ECS01A_SPECS[:1] + _ecs01a_calendar(parameters) + _BLOCK_MODE + prices
        + when * _ACTIVATIONS
    )  # fmt: skip
    return enc.access_request(inputs.counter, _ECS01A_SPECS, data)


def _one_day_table(parameters: dict[str, str]) -> tuple[str, str]:
    """The SMETS1 switching table and block thresholds of a whole tariff (as the S1SP reads
    DUIS: the one table every referenced day follows, rate n for TOU rate n and 9 - n for
    block tariff n, the thresholds of the block tariffs it uses)."""
    weeks = dict(_text_pairs(parameters["week_profiles"], ";"))
    referenced = {
        d for _, _, w in _text_pairs(parameters["seasons"], ";") for d in weeks[w].split(".")
    }
    referenced |= {d for _, d in _text_pairs(parameters["special_days"], ",")}
    tables = set()
    for day, switches in _text_pairs(parameters["day_profiles"], ";"):
        if day not in referenced:
            continue
        schedule = []
        for switch in switches.split(","):
            at, _, script = switch.partition("/")
            hour, minute, rest = at.split(":")
            if rest != "00.00" or int(minute) % _SLOT_MINUTES:
                raise GbcsInvalid("a SMETS1 meter switches on the half hour")
            number = int(script)
            rate = number if number <= _BLOCK_SCRIPT else _ROWS + 1 - (number - _BLOCK_SCRIPT)
            if not 1 <= rate <= _ROWS:
                raise GbcsInvalid("a tariff script outside a SMETS1 meter's rates")
            schedule.append((int(hour) * 60 + int(minute), rate, number > _BLOCK_SCRIPT))
        schedule.sort()
        if len({start for start, _, _ in schedule}) != len(schedule):
            raise GbcsInvalid("a day profile switches twice at the same time")
        slots = []
        for slot in range(_SLOTS):
            current = schedule[-1][1:]  # before the first switch, the day's last one holds
            for start, rate, block in schedule:
                if start <= slot * _SLOT_MINUTES:
                    current = (rate, block)
            slots.append(current)
        tables.add(tuple(slots))
    if len(tables) != 1:
        raise GbcsInvalid("a tariff switching differently on different days")
    table = tables.pop()
    rows = parameters["threshold_matrix"].split(";")
    used = {
        tuple(int(v) for v in rows[_ROWS - rate].split(",") if v and int(v) < _NO_THRESHOLD)
        for rate, block in set(table)
        if block
    }
    if len(used) > 1:
        raise GbcsInvalid("block tariffs with different thresholds")
    thresholds = used.pop() if used else ()
    return ",".join(str(rate) for rate, _ in table), ",".join(map(str, thresholds))


def _seq(value: enc.AxdrValue) -> tuple[enc.AxdrValue, ...]:
    if not isinstance(value, tuple):
        raise GbcsInvalid("an A-XDR array or structure is expected")
    return value


def _raw(value: enc.AxdrValue) -> bytes:
    if not isinstance(value, bytes):
        raise GbcsInvalid("an A-XDR octet string is expected")
    return value


def _num(value: enc.AxdrValue) -> int:
    if not isinstance(value, int):
        raise GbcsInvalid("an A-XDR integer is expected")
    return value


def _ecs01a_read(body: bytes) -> dict[str, str]:
    at = len(_ECS01A_SPECS)
    values: list[enc.AxdrValue] = []
    raws: list[bytes] = []
    if not body.startswith(_ECS01A_SPECS + _ECS01A_SPECS[:1]):
        raise GbcsInvalid("not ECS01a Update Import Tariff")
    at += 1
    for _ in range(_ECS01A_SPECS[0]):
        start = at
        value, at = enc.read_axdr(body, at)
        values.append(value)
        raws.append(body[start:at])
    when = raws[15]
    update = _ecs01b_decode(
        enc.access_request(0, _ECS01B_SPECS, b"\x04" + raws[13] + raws[14] + when + when)
    )
    seasons, weeks, days, special = (_seq(v) for v in values[:4])
    whole = {
        "seasons": ";".join(
            f"{_raw(x[0]).hex().upper()}={_raw(x[1])[:5].hex().upper()}={_raw(x[2])[0]}"
            for x in map(_seq, seasons)
        ),
        "week_profiles": ";".join(
            f"{_raw(w[0])[0]}={'.'.join(str(_num(d)) for d in w[1:])}" for w in map(_seq, weeks)
        ),
        "day_profiles": ";".join(
            f"{_num(d[0])}="
            + ",".join(
                "{:02d}:{:02d}:{:02d}.{:02d}/{}".format(*_raw(a[0]), _num(a[2]))
                for a in map(_seq, _seq(d[1]))
            )
            for d in map(_seq, days)
        ),
        "special_days": ",".join(
            f"{_raw(x[1]).hex().upper()}={_num(x[2])}" for x in map(_seq, special)
        ),
        "threshold_matrix": ";".join(
            ",".join(str(_num(v)) for v in _seq(row)) for row in values[4:12]
        ),
    }
    switching, thresholds = _one_day_table(whole)
    return {**update, "switching_table": switching, "block_thresholds": thresholds, **whole}


def _ecs01a_decode(content: bytes) -> dict[str, str]:
    body = enc.access_body(content)
    try:
        parameters = _ecs01a_read(body)
        written = _ecs01a_encode(parameters, Inputs(0, _EPOCH))
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        raise GbcsInvalid(f"an ECS01a tariff opendcc does not read: {exc}") from None
    # What is read is what is written: every other byte must be as opendcc writes it.
    if written is None or written[6:] != body:
        raise GbcsInvalid("an ECS01a tariff opendcc does not read")
    return parameters


_ENABLE, _DISABLE, _ARM = (_esme_script(s) for s in (0x33, 0x34, 0x36))

CODECS: dict[str, Codec] = {
    "ECS01a": (_ecs01a_encode, _ecs01a_decode),
    "ECS01b": (_ecs01b_encode, _ecs01b_decode),
    "ECS02": (_ecs02_encode, _ecs02_decode),
    "ECS03": (_ecs03_encode, _ecs03_decode),
    "ECS04a": (_ecs04a_encode, _ecs04a_decode),
    "ECS04b": (_ecs04b_encode, _ecs04b_decode),
    "ECS07": (_ecs07_encode, _ecs07_decode),
    "ECS08": (_ecs08_encode(2), _ecs08_decode(2)),
    "ECS08a": (_ecs08_encode(4), _ecs08_decode(4)),
    "ECS09": _fixed(_EMERGENCY_CREDIT, "not ECS09 Activate Emergency Credit"),
    "ECS30": (_billing_encode(monthly=True), _billing_decode),
    "ECS30a": (_billing_encode(monthly=False), _billing_decode),
    "ECS42": _ENABLE,
    "ECS43": _DISABLE,
    "ECS44": _ARM,
    "ECS70": (_ecs70_encode, _ecs70_decode),
}
