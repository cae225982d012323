"""The core SMETS1 services, one table for every cohort (see ``base``).

Each module holds a family of SRVs and exports ``SERVICES``; ``SERVICES`` here joins them into
one mapping by SRV. Cohort profiles choose which of these they offer; protocols carry the
instruction and its ``Result``; the DSP and the DCO read parameters with the same function.
The ``notices`` family is the DCC's own management messages to an S1SP (``S1SP_NOTICES``):
every cohort carries them, but no User can request them; 11.1, the per-device firmware
distribution the hub makes of a User's non-device 11.1 request, is carried the same way
(``firmware``). ``future`` reads the generic ``execute_at`` parameter of an instruction a
head-end holds for later, and names the alerts it raises when it carries one out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from lxml import etree

from opendcc.s1sp.contract import UnsupportedService
from opendcc.s1sp.services.base import (
    DEFAULT_RESPONSE_TIME_S,
    BuildResponse,
    Datum,
    InvalidParameters,
    Parameters,
    ReadParameters,
    Result,
    Service,
    no_parameters,
    srv_table,
)
from opendcc.s1sp.services.firmware import ACTIVATE_FIRMWARE, FIRMWARE_DISTRIBUTION
from opendcc.s1sp.services.future import (
    EXECUTE_AT,
    FUTURE_DATED_EXECUTED,
    FUTURE_DATED_FAILED,
    HELD_UNTIL,
)
from opendcc.s1sp.services.notices import CANCEL_NOTICE, DECOMMISSION_NOTICE, RESTRICTION_NOTICE


def _families() -> list[Iterable[Service]]:
    from opendcc.s1sp.services import (
        alcs,
        behaviour,
        config,
        credentials,
        electives,
        firmware,
        notices,
        prepayment,
        reads,
        registers,
        settings,
    )

    return [
        prepayment.SERVICES,
        reads.SERVICES,
        config.SERVICES,
        settings.SERVICES,
        electives.SERVICES,
        credentials.SERVICES,
        notices.SERVICES,
        firmware.SERVICES,
        alcs.SERVICES,
        registers.SERVICES,
        behaviour.SERVICES,
    ]


SERVICES: Mapping[str, Service] = srv_table(
    (((service.srv, service) for service in family) for family in _families()), "defined"
)

# The core SMETS1 device services every cohort offers (8.3 Decommission Device is answered by
# the DSP itself, as a non-device request). The auxiliary load control services (6.14.1,
# 6.14.2, 7.5-7.11, ``alcs``) are among them: SMETS1 makes the switches optional, and every
# cohort's electricity meters here carry them (docs/cohorts.md).
CORE_SRVS = frozenset(
    [
        "1.1.1",
        "1.2.1",
        "1.5",
        "1.6",
        "1.7",
        "2.1",
        "2.2",
        "2.3",
        "2.5",
        "3.1",
        "3.2",
        "3.3",
        "3.4",
        "3.5",
        "4.1.1",
        "4.1.2",
        "4.1.3",
        "4.1.4",
        "4.3",
        "4.4.2",
        "4.4.3",
        "4.4.4",
        "4.4.5",
        "4.6.1",
        "4.8.1",
        "4.8.2",
        "4.10",
        "4.11.1",
        "4.12.1",
        "4.13",
        "4.14",
        "4.15",
        "4.16",
        "4.17",
        "4.18",
        "6.2.1",
        "6.2.2",
        "6.2.3",
        "6.2.4",
        "6.2.5",
        "6.2.7",
        "6.2.8",
        "6.2.9",
        "6.2.10",
        "6.4.1",
        "6.4.2",
        "6.5",
        "6.6",
        "6.7",
        "6.8",
        "6.11",
        "6.12",
        "6.13",
        "6.14.1",
        "6.14.2",
        "6.15.1",
        "6.15.2",
        "6.17",
        "6.18.1",
        "6.18.2",
        "6.20.1",
        "6.21",
        "6.23",
        "6.24.1",
        "6.24.2",
        "6.25",
        "6.26",
        "6.27",
        "7.1",
        "7.2",
        "7.3",
        "7.4",
        "7.5",
        "7.6",
        "7.7",
        "7.8",
        "7.9",
        "7.10",
        "7.11",
        "7.12",
        "8.1.1",
        "8.7.1",
        "8.7.2",
        "8.8.1",
        "8.8.2",
        "8.9",
        "8.11",
        "11.2",
        ACTIVATE_FIRMWARE,  # 11.3
    ]
)

# The DCC's own instructions to an S1SP, which no User request names for a device: the notices,
# outside the DUIS range (``notices``: 99.1 tells the head-end a meter's restricted mode, MP169,
# was set or cleared; 99.2 cancels an instruction it holds for later; 99.3 tells it a device
# was decommissioned, DUIS 8.3), and 11.1, the firmware
# image the DCC distributes to each device (``firmware``). Offered by every cohort, never
# elective.
S1SP_NOTICES = frozenset(
    {RESTRICTION_NOTICE, CANCEL_NOTICE, DECOMMISSION_NOTICE, FIRMWARE_DISTRIBUTION}
)

# A consumer keyed a UTRN (Unique Transaction Reference Number) in and the meter credited it;
# its values: ``utrn``, ``amount_p``, ``counter``, ``channel`` ("keypad").
UTRN_ACCEPTED_AT_KEYPAD = 0x8F3A

# The GBCS-style alert codes a SMETS1 meter raises through the core services and events:
# critical 0x8Fxx (firmware verification failed and activated, tamper, supply disabled for lack
# of credit, supply armed, power outage and restored), non-critical 0x81xx (low credit,
# emergency credit available, clock adjusted), the critical UTRN accepted at the keypad and,
# after it, the head-end's own alerts of a future-dated instruction it held and carried out
# or saw fail (``future``). Some cohorts number their codes in this order, so new codes go last.
# Cohorts map their own codes onto these.
GBCS_ALERTS = (
    *(0x8F1C, 0x8F1D, 0x8F20, 0x8F30, 0x8F31, 0x8F34, 0x8F35, 0x8101, 0x8102, 0x8103),
    UTRN_ACCEPTED_AT_KEYPAD,
    FUTURE_DATED_EXECUTED,
    FUTURE_DATED_FAILED,
)


def service(srv: str) -> Service:
    try:
        return SERVICES[srv]
    except KeyError:
        raise UnsupportedService(f"SRV {srv} is not a SMETS1 service of opendcc") from None


def parameters(srv: str, body: etree._Element) -> dict[str, str]:
    """The instruction parameters of ``srv`` read from its request's sr:Body child element."""
    return service(srv).parameters(body)


def response_element(srv: str, result: Result) -> etree._Element:
    """The MMC response element for a successful ``result`` of ``srv``."""
    return service(srv).response(result)


__all__ = [
    "ACTIVATE_FIRMWARE",
    "CANCEL_NOTICE",
    "CORE_SRVS",
    "DECOMMISSION_NOTICE",
    "DEFAULT_RESPONSE_TIME_S",
    "EXECUTE_AT",
    "FIRMWARE_DISTRIBUTION",
    "FUTURE_DATED_EXECUTED",
    "FUTURE_DATED_FAILED",
    "GBCS_ALERTS",
    "HELD_UNTIL",
    "RESTRICTION_NOTICE",
    "S1SP_NOTICES",
    "SERVICES",
    "UTRN_ACCEPTED_AT_KEYPAD",
    "BuildResponse",
    "Datum",
    "InvalidParameters",
    "Parameters",
    "ReadParameters",
    "Result",
    "Service",
    "no_parameters",
    "parameters",
    "response_element",
    "service",
]
