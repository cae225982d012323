"""The one exception a simulated meter raises, with a machine-readable reason.

A head-end simulator turns ``MeterError.reason`` into its own wire protocol's error code, so the
reasons are a closed set (``Reason``) rather than free text. ``MeterError`` is raised for illegal
input (a negative amount, an unknown TOU (time-of-use) rate, a naive datetime, time running
backwards) and for operations the meter's state forbids (anything on a decommissioned meter,
activating firmware that was never distributed, an illegal supply transition).
"""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    """Why a meter refused an operation; the values are stable, machine-readable strings."""

    INVALID_VALUE = "invalid_value"  # out of range, negative, malformed
    INVALID_TIME = "invalid_time"  # a naive datetime
    TIME_REVERSED = "time_reversed"  # ``now`` before the meter's last settled instant
    UNKNOWN_RATE = "unknown_rate"  # a TOU rate or block index the meter does not have
    DECOMMISSIONED = "decommissioned"
    WRONG_PAYMENT_MODE = "wrong_payment_mode"  # a prepayment operation in credit mode
    NO_CREDIT = "no_credit"  # enabling supply with prepayment credit exhausted
    EMERGENCY_CREDIT_UNAVAILABLE = "emergency_credit_unavailable"
    ILLEGAL_SUPPLY_TRANSITION = "illegal_supply_transition"
    FIRMWARE_NOT_DISTRIBUTED = "firmware_not_distributed"
    ALREADY_JOINED = "already_joined"
    NOT_JOINED = "not_joined"
    DEVICE_LOG_FULL = "device_log_full"
    UNSUPPORTED = "unsupported"  # e.g. writing a read-only OBIS object


class MeterError(Exception):
    """A simulated meter refused an operation; ``reason`` says why, ``detail`` for humans."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
