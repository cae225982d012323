"""What a GBCS use case's codec works with: the SMETS1 instruction's parameters, the inputs a
command holds beyond them, and the helpers the ESME and GSME codecs share.

A codec is a pair: ``encode(parameters, inputs)`` gives the use case's command body, or None
when the parameters are not this use case's; ``decode(body)`` gives the parameters back, or
raises ``GbcsInvalid``. Pure.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from opendcc.gbcs.message import GbcsInvalid

EXECUTE_AT = "execute_at"
CANCEL_AT = datetime(3000, 12, 31, tzinfo=UTC)  # DUIS's ExecutionDateTime that cancels

Parameters = Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Inputs:
    """What a command holds beyond the SRV's parameters: the originator counter (the CV 4
    RequestID's), and the DSP's clock (GBZ commands carry it as their issuer event id)."""

    counter: int
    now: datetime


Encode = Callable[[Parameters, Inputs], bytes | None]  # None: not this use case's parameters
Decode = Callable[[bytes], dict[str, str]]
Codec = tuple[Encode, Decode]

# 2.3 Update Debt's parameters, on either fuel.
DEBT_KEYS = (
    "fuel", "time_debt_1_mp", "time_debt_2_mp", "payment_debt_mp",
    "debt_recovery_per_payment_bp", "recovery_rate_1_mp", "recovery_rate_2_mp",
)  # fmt: skip

# 2.1 Update Prepayment Configuration's parameters on either fuel (ECS08 and GCS05 each add
# the calendars their meter holds).
PREPAYMENT_CONFIGURATION_KEYS = frozenset({
    "fuel", "debt_recovery_cap_mp", "emergency_credit_limit_mp",
    "emergency_credit_threshold_mp", "low_credit_threshold_mp", "non_disablement_calendar",
    "max_meter_balance_mp", "max_credit_threshold_mp",
})  # fmt: skip

# 1.1.1 Update Import Tariff's parameters as a whole tariff (ECS01a, GCS01a), beside the
# "price." ones of its price update (ECS01b, GCS01b).
WHOLE_TARIFF_KEYS = frozenset({
    "fuel", "standing_charge_mp", "switching_table", "block_thresholds", "seasons",
    "week_profiles", "day_profiles", "special_days", "threshold_matrix",
})  # fmt: skip


def is_whole_tariff(parameters: Parameters, fuel: str) -> bool:
    """Whether ``parameters`` are a whole tariff on ``fuel`` (dated or not)."""
    keys = {k for k in parameters if not k.startswith("price.")}
    return parameters.get("fuel") == fuel and keys - {EXECUTE_AT} == WHOLE_TARIFF_KEYS


def price_update(parameters: Parameters) -> dict[str, str]:
    """What of a whole tariff its price update carries: the fuel, standing charge, prices."""
    dropped = WHOLE_TARIFF_KEYS - {"fuel", "standing_charge_mp"}
    return {k: v for k, v in parameters.items() if k not in dropped}


def as_text(instant: datetime) -> str:
    """A date-time as DUIS (and so the SMETS1 instruction) writes it."""
    utc = instant.astimezone(UTC)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}Z"


def as_instant(text: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise GbcsInvalid(f"not a date-time: {text!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def only(parameters: Parameters, *keys: str) -> bool:
    return set(parameters) <= set(keys)


def clock_window(parameters: Parameters) -> tuple[datetime, datetime] | None:
    if set(parameters) != {"current_date_time", "tolerance_period_s"}:
        return None
    start = as_instant(parameters["current_date_time"])
    return start, start + timedelta(seconds=int(parameters["tolerance_period_s"]))


def clock_parameters(start: datetime, end: datetime) -> dict[str, str]:
    return {
        "current_date_time": as_text(start),
        "tolerance_period_s": str(int((end - start).total_seconds())),
    }
