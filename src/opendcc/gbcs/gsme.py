"""The GSME (gas meter) GBCS use cases opendcc writes exactly: GBZ (GB ZigBee) payloads of ZCL
(ZigBee Cluster Library) commands, and GCS28's ASN.1, as DCC's RTDS writes them.

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
    instant = as_instant(when)
    if instant == CANCEL_AT:
        return enc.ZIGBEE_NEVER.to_bytes(4, "little")
    return enc.zigbee_time(instant)


def _implementation_parameters(raw: bytes) -> dict[str, str]:
    if raw == enc.ZIGBEE_NEVER.to_bytes(4, "little"):
        return {EXECUTE_AT: as_text(CANCEL_AT)}
    instant = enc.read_zigbee_time(raw)
    return {} if instant is None else {EXECUTE_AT: as_text(instant)}


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
    if kind is None or not only(parameters, "mode", "operation", "amount_mp"):
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
        + enc.zigbee_time(as_instant(parameters["billing_period_start"]))
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
    return {"fuel": "gas", "billing_period_start": as_text(start), "periodicity": periodicity}


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
    if set(parameters) != set(DEBT_KEYS) or parameters["fuel"] != "gas":
        return None
    value = {k: int(parameters[k]) for k in DEBT_KEYS[1:]}
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


def _gcs28_encode(parameters: Parameters, inputs: Inputs) -> bytes | None:
    """GCS28 Set Time: the validity window, as two GeneralizedTimes."""
    window = clock_window(parameters)
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
    return clock_parameters(*(enc.read_generalized_time(v) for _, v in times))


# GCS01b Update Price: ZCL Price PublishTariffInformation (TOU or block charging scheme, GBP,
# prices in 10^-5 GBP, i.e. milli-pennies, the standing charge) then PublishPriceMatrix (a TOU
# price per tier, or a price per block of the one block tariff), from when they take effect.
# opendcc's instruction names a gas meter's TOU rates by number and its block tariff as rate 8.
_GBP = (826).to_bytes(2, "little")
_BLOCK_RATE = 8


def _gas_prices(parameters: Parameters) -> tuple[bool, list[int]] | None:
    """(block tariff?, prices by tier or block), or None when not a gas price update opendcc
    writes this way."""
    keys = {k for k in parameters if not k.startswith("price.")}
    if parameters.get("fuel") != "gas" or keys - {EXECUTE_AT} != {"fuel", "standing_charge_mp"}:
        return None
    rows = {
        int(k.removeprefix("price.")): v.split(",")
        for k, v in parameters.items()
        if k.startswith("price.")
    }
    if list(rows) == [_BLOCK_RATE] and len(rows[_BLOCK_RATE]) > 1:
        return True, [int(v) for v in rows[_BLOCK_RATE]]
    if (
        not rows
        or any(len(v) != 1 for v in rows.values())
        or sorted(rows) != list(range(1, len(rows) + 1))
    ):
        return None
    return False, [int(rows[tier][0]) for tier in sorted(rows)]


def _gcs01b_encode(parameters: Parameters, inputs: Inputs) -> bytes | None:
    found = _gas_prices(parameters)
    if found is None:
        return None
    block, prices = found
    start = _implementation(parameters)
    matrix_start = b"\xfe\xff\xff\xff" if start == b"\xff" * 4 else start  # as the RTDS cancels
    now = enc.zigbee_time(inputs.now)
    # charging scheme (TOU 0x00, block 0x10), no label, tiers in use, block thresholds in use
    scheme, counts = (
        (b"\x10", bytes([0, len(prices) - 1])) if block else (b"\x00", bytes([len(prices), 0]))
    )
    tariff = (
        bytes(4) + now + b"\x01\x00\x00\x00" + start
        + (scheme + b"\x00" + counts)
        + b"\x00" + _GBP + b"\x50"
        + int(parameters["standing_charge_mp"]).to_bytes(4, "little")
        + b"\xff\x01\x00\x00\xe8\x03\x00"
    )  # fmt: skip
    entries = b"".join(
        bytes([n if block else n + 1]) + price.to_bytes(4, "little")
        for n, price in enumerate(prices)
    )
    matrix = (
        bytes(4)
        + now
        + matrix_start
        + b"\x01\x00\x00\x00\x00\x01"
        + bytes([0 if block else 1])
        + entries
    )
    return enc.gbz((_PRICE, b"\x09\x00\x04" + tariff), (_PRICE, b"\x09\x01\x05" + matrix))


def _gcs01b_decode(content: bytes) -> dict[str, str]:
    components = enc.gbz_components(content)
    if [cluster for cluster, _ in components] != [_PRICE, _PRICE] or len(components[1][1]) < 22:
        raise GbcsInvalid("not GCS01b Update Price")
    tariff, matrix = components[0][1], components[1][1]
    if len(tariff) != 38 or tariff[:3] != b"\x09\x00\x04" or matrix[:3] != b"\x09\x01\x05":
        raise GbcsInvalid("not GCS01b Update Price")
    block = matrix[21] == 0  # sub-payload control: 0 block, 1 TOU
    entries = matrix[22:]
    if len(entries) % 5:
        raise GbcsInvalid("not GCS01b Update Price")
    prices = [int.from_bytes(entries[n + 1 : n + 5], "little") for n in range(0, len(entries), 5)]
    parameters: dict[str, str] = {
        "fuel": "gas",
        "standing_charge_mp": str(int.from_bytes(tariff[27:31], "little")),
        **_implementation_parameters(tariff[15:19]),
    }
    if block:
        parameters[f"price.{_BLOCK_RATE}"] = ",".join(map(str, prices))
    else:
        parameters.update({f"price.{n}": str(p) for n, p in enumerate(prices, start=1)})
    # Whatever was read must be what opendcc writes for it: the rest of both commands checked.
    if (
        _gcs01b_encode(parameters, Inputs(0, enc.read_zigbee_time(tariff[7:11]) or _EPOCH))
        != content
    ):
        raise GbcsInvalid("a GCS01b price update opendcc does not read")
    return parameters


# GCS05 Update Prepayment Configuration: four prepayment commands (Emergency Credit Setup, Set
# Overall Debt Cap, Set Low Credit Warning Level, which GBZ dates in its component header
# rather than its payload, and Set Maximum Credit Limit), then the friendly credit calendar
# (calendar type 3) as the calendar cluster publishes it: the calendar, each day profile, each
# week profile, the seasons and the special days. A calendar's cancellation is 0xFFFFFFFE.
_CALENDAR = 0x0707
_FRIENDLY_CREDIT = 0x03
_CALENDAR_NEVER = (0xFFFFFFFE).to_bytes(4, "little")
_GCS05_KEYS = PREPAYMENT_CONFIGURATION_KEYS | {
    "day_profiles",
    "week_profiles",
    "seasons",
    "special_days",
}
_ACTIONS = {"START": 0x01, "STOP": 0x00}
_WEEK = 7


def _u32(value: str) -> bytes:
    return int(value).to_bytes(4, "little")


def _pairs(text: str, separator: str) -> list[tuple[str, str]]:
    return [(a, b) for a, _, b in (e.partition("=") for e in text.split(separator))] if text else []


def _u8(text: str) -> bytes:
    value = int(text)
    if str(value) != text:
        raise ValueError("a number not written plainly")
    return value.to_bytes(1, "big")


def _zigbee_date(text: str) -> bytes:
    raw = bytes.fromhex(text)
    if len(raw) != 4 or raw.hex().upper() != text:
        raise ValueError("not a ZigBee date")
    return raw


def _day_entries(text: str) -> bytes:
    entries = b""
    for entry in text.split(","):
        at, _, action = entry.partition("/")
        hour, minute, second = (int(x) for x in at.split(":"))
        if second or hour >= 24 or f"{hour:02d}:{minute:02d}:00" != at:
            raise ValueError("a ZigBee day profile switches on the minute")
        entries += (60 * hour + minute).to_bytes(2, "little") + bytes([_ACTIONS[action]])
    return entries


def _gcs05_frames(parameters: Parameters, inputs: Inputs) -> list[tuple[int, int, bytes]]:
    """(cluster, GBZ control's from-date flag, ZCL frame) of each component, in order."""
    now = enc.zigbee_time(inputs.now)
    start = _implementation(parameters)
    calendar_start = _CALENDAR_NEVER if start == enc.ZIGBEE_NEVER.to_bytes(4, "little") else start
    ids = b"\x00" * 4 + now + now  # provider, issuer event, issuer calendar
    days = _pairs(parameters["day_profiles"], ";")
    weeks = _pairs(parameters["week_profiles"], ";")
    seasons = _pairs(parameters["seasons"], ",")
    special = _pairs(parameters["special_days"], ",")
    prepayment = [
        bytes([0x03]) + now + start + _u32(parameters["emergency_credit_limit_mp"])
        + _u32(parameters["emergency_credit_threshold_mp"]),
        bytes([0x0C]) + b"\x00" * 4 + now + start + _u32(parameters["debt_recovery_cap_mp"]),
        bytes([0x09]) + _u32(parameters["low_credit_threshold_mp"]),
        bytes([0x0B]) + b"\x00" * 4 + now + start + _u32(parameters["max_meter_balance_mp"])
        + _u32(parameters["max_credit_threshold_mp"]),
    ]  # fmt: skip
    calendar = [
        bytes([0x00]) + ids + calendar_start + bytes([_FRIENDLY_CREDIT, 0x00, 0x00])
        + bytes([len(seasons), len(weeks), len(days)])
    ]  # fmt: skip
    for day, entries in days:
        raw = _day_entries(entries)
        calendar.append(
            bytes([0x01]) + ids + _u8(day) + bytes([len(raw) // 3, 0, 1, _FRIENDLY_CREDIT]) + raw
        )
    for week, day_ids in weeks:
        refs = day_ids.split(".")
        if len(refs) != _WEEK:
            raise ValueError("a week profile names seven days")
        calendar.append(bytes([0x02]) + ids + _u8(week) + b"".join(_u8(d) for d in refs))
    calendar.append(
        bytes([0x03]) + ids + b"\x00\x01"
        + b"".join(_zigbee_date(date) + _u8(week) for date, week in seasons)
    )  # fmt: skip
    calendar.append(
        bytes([0x04]) + ids + calendar_start + bytes([_FRIENDLY_CREDIT, len(special), 0, 1])
        + b"".join(_zigbee_date(date) + _u8(day) for date, day in special)
    )  # fmt: skip
    frames = [(_PREPAYMENT, 0x01, command) for command in prepayment]
    frames += [(_CALENDAR, 0x09, command) for command in calendar]
    return [
        (cluster, 0x10 if n == 2 else 0x00, bytes([control, n]) + command)
        for n, (cluster, control, command) in enumerate(frames)
    ]


def _gcs05_encode(parameters: Parameters, inputs: Inputs) -> bytes | None:
    if parameters.get("fuel") != "gas" or set(parameters) - {EXECUTE_AT} != _GCS05_KEYS:
        return None
    starts = any(
        entry.endswith("/START")
        for _, entries in _pairs(parameters["day_profiles"], ";")
        for entry in entries.split(",")
    )
    if parameters["non_disablement_calendar"] != ("1" if starts else "0"):
        return None  # the switch says what the calendar does
    frames = _gcs05_frames(parameters, inputs)
    parts = [enc.GBZ_PROFILE, bytes([len(frames)])]
    for n, (cluster, flags, frame) in enumerate(frames):
        dated = start_of_low_credit(parameters) if flags else b""
        control = flags | (0x01 if n == len(frames) - 1 else 0x00)
        body = dated + frame
        parts.append(bytes([control]) + cluster.to_bytes(2, "big") + len(body).to_bytes(2, "big"))
        parts.append(body)
    return b"".join(parts)


def start_of_low_credit(parameters: Parameters) -> bytes:
    """When the low credit warning level takes effect: GBZ's from-date, a ZigBee UTC time
    written big-endian (0 is now)."""
    return _implementation(parameters)[::-1]


def _gcs05_read(content: bytes) -> dict[str, str]:
    components = enc.gbz_components(content)
    clusters = [cluster for cluster, _ in components]
    if clusters[:4] != [_PREPAYMENT] * 4 or set(clusters[4:]) != {_CALENDAR}:
        raise GbcsInvalid("not GCS05 Update Prepayment Configuration")
    frames = [frame for _, frame in components]
    setup, cap, low, limit, publish = frames[:5]
    counts = publish[22:25]
    days = frames[5 : 5 + counts[2]]
    weeks = frames[5 + counts[2] : 5 + counts[2] + counts[1]]
    if len(frames) != 5 + counts[2] + counts[1] + 2:
        raise GbcsInvalid("not GCS05 Update Prepayment Configuration")
    season_frame, special_frame = frames[-2:]
    ids = 15  # header (3), provider, issuer event and issuer calendar ids (4 each), then data

    def u32(raw: bytes) -> str:
        return str(int.from_bytes(raw, "little"))

    actions = {v: k for k, v in _ACTIONS.items()}
    day_profiles = []
    for frame in days:
        entries = frame[ids + 5 :]
        switches = []
        for at in range(0, len(entries), 3):
            hour, minute = divmod(int.from_bytes(entries[at : at + 2], "little"), 60)
            switches.append(f"{hour:02d}:{minute:02d}:00/{actions[entries[at + 2]]}")
        day_profiles.append(f"{frame[ids]}={','.join(switches)}")
    week_profiles = [f"{f[ids]}={'.'.join(str(d) for d in f[ids + 1 :])}" for f in weeks]
    seasons = season_frame[ids + 2 :]
    special = special_frame[ids + 8 :]
    parameters = {
        "fuel": "gas",
        "debt_recovery_cap_mp": u32(cap[15:19]),
        "emergency_credit_limit_mp": u32(setup[11:15]),
        "emergency_credit_threshold_mp": u32(setup[15:19]),
        "low_credit_threshold_mp": u32(low[7:11]),
        "non_disablement_calendar": "1" if "/START" in ";".join(day_profiles) else "0",
        "max_meter_balance_mp": u32(limit[15:19]),
        "max_credit_threshold_mp": u32(limit[19:23]),
        "day_profiles": ";".join(day_profiles),
        "week_profiles": ";".join(week_profiles),
        "seasons": ",".join(
            f"{seasons[at : at + 4].hex().upper()}={seasons[at + 4]}"
            for at in range(0, len(seasons), 5)
        ),
        "special_days": ",".join(
            f"{special[at : at + 4].hex().upper()}={special[at + 4]}"
            for at in range(0, len(special), 5)
        ),
        **_implementation_parameters(setup[7:11]),
    }
    return parameters


def _gcs05_decode(content: bytes) -> dict[str, str]:
    try:
        parameters = _gcs05_read(content)
        now = enc.read_zigbee_time(enc.gbz_components(content)[0][1][3:7])
        written = _gcs05_encode(parameters, Inputs(0, now or _EPOCH))
    except (ValueError, KeyError, IndexError) as exc:
        raise GbcsInvalid(f"a GCS05 configuration opendcc does not read: {exc}") from None
    # What is read is what is written: every other byte must be as opendcc writes it.
    if written != content:
        raise GbcsInvalid("a GCS05 configuration opendcc does not read")
    return parameters


# GCS01a Update Import Tariff: the tariff's calendar as the calendar cluster publishes it
# (calendar type 0, delivered: the calendar, each day profile with its one price tier from
# midnight, 0 for the block tariff, each week profile, the seasons and the special days),
# then GCS01b's tariff information and price matrix with, for a block tariff, the block
# thresholds between them. The SMETS1 parameters (the one-day switching table, the block
# thresholds it uses) are read from the whole tariff as the S1SP reads them from DUIS.
_DELIVERED = 0x00
_SLOTS = 48


def _gcs01a_components(parameters: Parameters, inputs: Inputs) -> list[tuple[int, int, bytes]]:
    """(cluster, command, payload after the ZCL header) of each component, in order."""
    priced = price_update(parameters)
    update = _gcs01b_encode(priced, inputs)
    found = _gas_prices(priced)
    if update is None or found is None:
        raise ValueError("not gas prices opendcc writes")
    block, prices = found
    matrix = (
        [int(v) for v in parameters["threshold_matrix"].split(",")]
        if parameters["threshold_matrix"]
        else []
    )
    if block != bool(matrix) or (block and len(matrix) != len(prices) - 1):
        raise ValueError("the thresholds GBCS publishes are those between the block prices")
    start = _implementation(parameters)
    calendar_start = _CALENDAR_NEVER if start == enc.ZIGBEE_NEVER.to_bytes(4, "little") else start
    now = enc.zigbee_time(inputs.now)
    ids = bytes(4) + now + now
    days = _pairs(parameters["day_profiles"], ";")
    weeks = _pairs(parameters["week_profiles"], ";")
    seasons = _pairs(parameters["seasons"], ",")
    special = _pairs(parameters["special_days"], ",")
    parts: list[tuple[int, int, bytes]] = [
        (
            _CALENDAR,
            0x00,
            ids + calendar_start + bytes([_DELIVERED, 0, 0, len(seasons), len(weeks), len(days)]),
        )
    ]
    parts += [
        (_CALENDAR, 0x01, ids + _u8(day) + bytes([1, 0, 1, _DELIVERED]) + b"\x00\x00" + _u8(tier))
        for day, tier in days
    ]
    for week, refs in weeks:
        if len(refs.split(".")) != _WEEK:
            raise ValueError("a week profile names seven days")
        parts.append((_CALENDAR, 0x02, ids + _u8(week) + b"".join(_u8(d) for d in refs.split("."))))
    parts.append(
        (
            _CALENDAR,
            0x03,
            ids + b"\x00\x01" + b"".join(_zigbee_date(d) + _u8(w) for d, w in seasons),
        )
    )
    parts.append(
        (_CALENDAR, 0x04, ids + calendar_start + bytes([_DELIVERED, len(special), 0, 1])
         + b"".join(_zigbee_date(d) + _u8(day) for d, day in special))
    )  # fmt: skip
    (_, tariff), (_, price_matrix) = enc.gbz_components(update)
    parts.append((_PRICE, 0x04, tariff[3:]))
    if block:
        matrix_start = price_matrix[11:15]
        parts.append(
            (_PRICE, 0x06, bytes(4) + now + matrix_start + b"\x01\x00\x00\x00\x00\x01\x01"
             + bytes([len(matrix)]) + b"".join(t.to_bytes(6, "little") for t in matrix))
        )  # fmt: skip
    parts.append((_PRICE, 0x05, price_matrix[3:]))
    return parts


def _gcs01a_encode(parameters: Parameters, inputs: Inputs) -> bytes | None:
    if not is_whole_tariff(parameters, "gas"):
        return None
    parts = _gcs01a_components(parameters, inputs)
    return enc.gbz(
        *(
            (cluster, bytes([0x09, n, command]) + payload)
            for n, (cluster, command, payload) in enumerate(parts)
        )
    )


def _gas_one_day(whole: dict[str, str]) -> tuple[str, str]:
    """The SMETS1 switching table and block thresholds of a whole gas tariff: the one rate
    every referenced day holds (TOU rate n, or 8 for the block tariff)."""
    weeks = dict(_pairs(whole["week_profiles"], ";"))
    referenced = {d for _, w in _pairs(whole["seasons"], ",") for d in weeks[w].split(".")}
    referenced |= {d for _, d in _pairs(whole["special_days"], ",")}
    tiers = {tier for day, tier in _pairs(whole["day_profiles"], ";") if day in referenced}
    if len(tiers) != 1:
        raise GbcsInvalid("a tariff switching differently on different days")
    tier = int(tiers.pop())
    rate = tier or _BLOCK_RATE
    return ",".join([str(rate)] * _SLOTS), whole["threshold_matrix"] if not tier else ""


def _gcs01a_read(content: bytes) -> tuple[dict[str, str], datetime]:
    components = enc.gbz_components(content)
    frames = [frame for _, frame in components]
    publish = frames[0]
    if components[0][0] != _CALENDAR or publish[2] != 0x00:
        raise GbcsInvalid("not GCS01a Update Import Tariff")
    _, n_weeks, n_days = publish[22:25]  # seasons, week and day profiles
    ids = 15
    days = frames[1 : 1 + n_days]
    weeks = frames[1 + n_days : 1 + n_days + n_weeks]
    seasons = frames[1 + n_days + n_weeks][ids + 2 :]
    special = frames[2 + n_days + n_weeks][ids + 8 :]
    prices = frames[3 + n_days + n_weeks :]
    tariff, matrix = prices[0], prices[-1]
    # block thresholds: header, provider, issuer event, start, issuer tariff id, command
    # index and count, sub-payload control, the tier and count, then 6 bytes each
    thresholds = prices[1][23:] if len(prices) == 3 else b""
    update = _gcs01b_decode(
        enc.gbz((_PRICE, b"\x09\x00" + tariff[2:]), (_PRICE, b"\x09\x01" + matrix[2:]))
    )
    whole = {
        "seasons": ",".join(
            f"{seasons[at : at + 4].hex().upper()}={seasons[at + 4]}"
            for at in range(0, len(seasons), 5)
        ),
        "week_profiles": ";".join(
            f"{f[ids]}={'.'.join(str(d) for d in f[ids + 1 :])}" for f in weeks
        ),
        "day_profiles": ";".join(f"{f[ids]}={f[-1]}" for f in days),
        "special_days": ",".join(
            f"{special[at : at + 4].hex().upper()}={special[at + 4]}"
            for at in range(0, len(special), 5)
        ),
        "threshold_matrix": ",".join(
            str(int.from_bytes(thresholds[at : at + 6], "little"))
            for at in range(0, len(thresholds), 6)
        ),
    }
    switching, used = _gas_one_day(whole)
    now = enc.read_zigbee_time(publish[7:11])
    return {
        **update,
        "switching_table": switching,
        "block_thresholds": used,
        **whole,
    }, now or _EPOCH


def _gcs01a_decode(content: bytes) -> dict[str, str]:
    try:
        parameters, now = _gcs01a_read(content)
        written = _gcs01a_encode(parameters, Inputs(0, now))
    except (ValueError, KeyError, IndexError) as exc:
        raise GbcsInvalid(f"a GCS01a tariff opendcc does not read: {exc}") from None
    # What is read is what is written: every other byte must be as opendcc writes it.
    if written != content:
        raise GbcsInvalid("a GCS01a tariff opendcc does not read")
    return parameters


_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)

CODECS: dict[str, Codec] = {
    "GCS01a": (_gcs01a_encode, _gcs01a_decode),
    "GCS01b": (_gcs01b_encode, _gcs01b_decode),
    "GCS02": _gcs_payment_mode("credit"),
    "GCS03": _gcs_payment_mode("prepayment"),
    "GCS04": (_gcs04_encode, _gcs04_decode),
    "GCS05": (_gcs05_encode, _gcs05_decode),
    "GCS06": (_gcs06_encode, _gcs06_decode),
    "GCS25": (_gcs25(monthly=True), _gcs25_decode),
    "GCS25a": (_gcs25(monthly=False), _gcs25_decode),
    "GCS28": (_gcs28_encode, _gcs28_decode),
    "GCS32": _gsme_supply(0x00),
    "GCS39": _gsme_supply(0x01),
    "GCS40a": _gcs40(0x00),
    "GCS40b": _gcs40(0x01),
    "GCS40c": _gcs40(0x03),
    "GCS40d": _gcs40(0x02),
}
