"""The migration lifecycle of one installation, its failure categories and the retry strategy.

States (one transition table; an illegal transition raises):

- ``rejected``: data validation refused the record (terminal).
- ``validated``: accepted; devices are Pending in the inventory; device testing is due now.
- ``scheduled``: a dormant installation waiting for its scheduled time.
- ``retry_wait``: device testing failed with a retryable category; due again later.
- ``tested``: the S1SP (SMETS1 Service Provider) reached every meter; devices are Installed
  Not Commissioned; commissioning is due.
- ``commissioned``: devices Commissioned and operable (terminal but for withdrawal).
- ``failed``: a non-retryable failure, or too many attempts; devices Withdrawn (terminal).
- ``withdrawn``: taken out of opendcc after migrating (terminal).

Device testing failure categories and the retry strategy (``RetryPolicy``): a retryable
failure (no WAN, no response, HAN error on the gas side) is retried after 15 minutes, 1 hour,
4 hours and 12 hours, so an installation gets at most 5 attempts over about 17 hours; the 5th
failure ends it as ``too_many_attempts``. Missing keys (the S1SP holds no security credentials
for the device: the original operator must hand them over and the supplier resubmit) and a
firmware version not on the CPL fail at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from opendcc.inventory.status import InventoryError


class InstallationState(StrEnum):
    REJECTED = "rejected"
    VALIDATED = "validated"
    SCHEDULED = "scheduled"
    RETRY_WAIT = "retry_wait"
    TESTED = "tested"
    COMMISSIONED = "commissioned"
    FAILED = "failed"
    WITHDRAWN = "withdrawn"


_I = InstallationState
_TESTABLE = frozenset({_I.TESTED, _I.RETRY_WAIT, _I.FAILED, _I.WITHDRAWN})

TRANSITIONS: Mapping[InstallationState, frozenset[InstallationState]] = {
    _I.REJECTED: frozenset(),
    _I.VALIDATED: _TESTABLE,
    _I.SCHEDULED: _TESTABLE,
    _I.RETRY_WAIT: _TESTABLE,
    _I.TESTED: frozenset({_I.COMMISSIONED, _I.WITHDRAWN}),
    _I.COMMISSIONED: frozenset({_I.WITHDRAWN}),
    _I.FAILED: frozenset(),
    _I.WITHDRAWN: frozenset(),
}

# States with work still to do, and the states a device test may start from.
DUE = frozenset({_I.VALIDATED, _I.SCHEDULED, _I.RETRY_WAIT, _I.TESTED})
TESTING_FROM = frozenset({_I.VALIDATED, _I.SCHEDULED, _I.RETRY_WAIT})


class IllegalMigrationTransition(InventoryError):
    def __init__(self, source: InstallationState, target: InstallationState) -> None:
        super().__init__(f"{source} -> {target} is not a legal migration transition")


def check(source: InstallationState, target: InstallationState) -> None:
    if target not in TRANSITIONS[source]:
        raise IllegalMigrationTransition(source, target)


class FailureCategory(StrEnum):
    NO_WAN = "no_wan"  # the head-end could not reach the comms hub over the WAN
    NO_RESPONSE = "no_response"  # reached, but no answer in time (or the head-end is down)
    HAN_ERROR_GAS = "han_error_gas"  # the comms hub could not reach the gas meter on the HAN
    MISSING_KEYS = "missing_keys"  # the S1SP holds no security credentials for the device
    FIRMWARE_NOT_ON_CPL = "firmware_not_on_cpl"  # the device runs firmware not on the CPL
    DEVICE_MISMATCH = "device_mismatch"  # the head-end does not know the device
    TOO_MANY_ATTEMPTS = "too_many_attempts"

    @property
    def retryable(self) -> bool:
        return self in _RETRYABLE


_RETRYABLE = frozenset(
    {FailureCategory.NO_WAN, FailureCategory.NO_RESPONSE, FailureCategory.HAN_ERROR_GAS}
)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 5
    delays: tuple[timedelta, ...] = (
        timedelta(minutes=15),
        timedelta(hours=1),
        timedelta(hours=4),
        timedelta(hours=12),
    )

    def __post_init__(self) -> None:
        if not 1 <= self.max_attempts <= 5:
            raise ValueError("an installation gets 1 to 5 device-testing attempts")
        if len(self.delays) < self.max_attempts - 1:
            raise ValueError("one retry delay is needed per retry")

    def after_failure(
        self, category: FailureCategory, attempts: int, now: datetime
    ) -> tuple[InstallationState, FailureCategory, datetime | None]:
        """Where an installation goes after its ``attempts``-th failed device test."""
        if not category.retryable:
            return InstallationState.FAILED, category, None
        if attempts >= self.max_attempts:
            return InstallationState.FAILED, FailureCategory.TOO_MANY_ATTEMPTS, None
        return InstallationState.RETRY_WAIT, category, now + self.delays[attempts - 1]
