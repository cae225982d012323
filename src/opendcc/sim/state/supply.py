"""The supply (load switch or gas valve) lifecycle of a simulated meter: one transition table.

A SMETS1 (Smart Metering Equipment Technical Specifications, first edition) meter's supply is
enabled, disabled or armed. Armed means "off, but the consumer may turn it on" (by pressing a
button on the meter or the PPMID, the prepayment meter interface device). Suppliers drive it
with DUIS SRVs 7.1 Enable Supply, 7.2 Disable Supply and 7.3 Arm Supply; prepayment drives it
too: running out of credit disables it, and restoring credit (a top-up, emergency credit, a
switch to credit mode) arms it. Only a supply disabled for lack of credit is armed by credit; a
supply the Supplier disabled stays disabled until the Supplier says otherwise.

Every legal move is one row of ``TRANSITIONS``; anything else raises ``MeterError``.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum

from opendcc.sim.state.errors import MeterError, Reason


class Supply(Enum):
    ENABLED = "enabled"
    DISABLED = "disabled"
    ARMED = "armed"


class SupplyEvent(Enum):
    ENABLE = "enable"  # 7.1 Enable Supply
    DISABLE = "disable"  # 7.2 Disable Supply
    ARM = "arm"  # 7.3 Arm Supply
    CREDIT_EXHAUSTED = "credit_exhausted"
    CREDIT_RESTORED = "credit_restored"
    CONSUMER_ENABLE = "consumer_enable"  # the consumer presses the button on an armed meter


_E, _D, _A = Supply.ENABLED, Supply.DISABLED, Supply.ARMED

TRANSITIONS: Mapping[tuple[Supply, SupplyEvent], Supply] = {
    (_E, SupplyEvent.ENABLE): _E,
    (_D, SupplyEvent.ENABLE): _E,
    (_A, SupplyEvent.ENABLE): _E,
    (_E, SupplyEvent.DISABLE): _D,
    (_D, SupplyEvent.DISABLE): _D,
    (_A, SupplyEvent.DISABLE): _D,
    # Arming an enabled supply would switch it off without a disable: GBCS refuses it too.
    (_D, SupplyEvent.ARM): _A,
    (_A, SupplyEvent.ARM): _A,
    (_E, SupplyEvent.CREDIT_EXHAUSTED): _D,
    (_D, SupplyEvent.CREDIT_RESTORED): _A,
    (_A, SupplyEvent.CONSUMER_ENABLE): _E,
}


def next_supply(state: Supply, event: SupplyEvent) -> Supply:
    """The supply state after ``event``; raises ``MeterError`` for an illegal move."""
    try:
        return TRANSITIONS[state, event]
    except KeyError:
        raise MeterError(
            Reason.ILLEGAL_SUPPLY_TRANSITION, f"cannot {event.value} a supply that is {state.value}"
        ) from None
