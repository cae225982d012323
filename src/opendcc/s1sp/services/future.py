"""Future-dated instructions held by the head-end: the ``execute_at`` parameter and its alerts.

DUIS (DCC User Interface Specification) lets a User future-date many Service Requests (an
``sr:ExecutionDateTime``). For a SMETS1 device the DSP (Data Service Provider) either holds the
instruction itself until it is due (the DSP pattern), or, where the cohort's head-end can hold
it (``CohortProfile.device_future_dating``, the Device pattern), sends it at once with the
generic parameter ``execute_at``: an ISO 8601 instant in UTC with a ``Z``, as
``opendcc.duis.response.format_datetime`` writes it. Any instruction may carry it, so it is read
here and never by an SRV's own parameters.

A head-end with ``device_future_dating`` that receives an instruction whose ``execute_at`` is
later than its clock's now checks the device exists and is reachable, keeps the instruction
and answers SUCCESS at once with the Result ``held_until`` (the instant, in that form). At that
instant it carries the instruction out exactly as it would have (``execute_at`` stripped) and
alerts the outcome for the device: ``FUTURE_DATED_EXECUTED`` (0x8F66) with ``request_id``,
``srv``, ``outcome`` ``success`` and the Result's own values, or ``FUTURE_DATED_FAILED``
(0x8F67) with ``request_id``, ``srv``, ``outcome`` ``failed`` and ``detail``. An ``execute_at``
at or before now is carried out at once; a head-end without device future dating ignores it
(the DSP sends those only when they are due). The DCC cancels a held instruction with the
notice 99.2 (``opendcc.s1sp.services.notices``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from opendcc.duis.response import format_datetime
from opendcc.s1sp.services.base import InvalidParameters, Parameters

EXECUTE_AT = "execute_at"  # the instruction parameter: when the head-end carries it out
HELD_UNTIL = "held_until"  # the Result of an instruction the head-end holds
FUTURE_DATED_EXECUTED = 0x8F66  # a held instruction was carried out
FUTURE_DATED_FAILED = 0x8F67  # a held instruction was carried out and the device refused it
OUTCOME_SUCCESS = "success"
OUTCOME_FAILED = "failed"


def execute_at(parameters: Parameters) -> datetime | None:
    """The instant ``parameters`` future-date their instruction to, if any; ``InvalidParameters``
    if it is not an ISO 8601 date-time with a time zone."""
    text = parameters.get(EXECUTE_AT)
    if text is None:
        return None
    try:
        instant = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidParameters(f"{EXECUTE_AT} is not an ISO 8601 date-time: {text!r}") from None
    if instant.utcoffset() is None:
        raise InvalidParameters(f"{EXECUTE_AT} has no time zone: {text!r}")
    return instant


def without_execute_at(parameters: Parameters) -> dict[str, str]:
    """The SRV's own parameters: ``parameters`` without ``execute_at``."""
    return {name: value for name, value in parameters.items() if name != EXECUTE_AT}


def future_dated(parameters: Parameters, instant: datetime) -> dict[str, str]:
    """``parameters`` future-dated to ``instant`` (what the hub sends a Device-pattern cohort)."""
    return {**parameters, EXECUTE_AT: format_datetime(instant)}


def held_result(instant: datetime) -> Mapping[str, str]:
    """The Result a head-end answers for an instruction it holds until ``instant``."""
    return {HELD_UNTIL: format_datetime(instant)}


def held_until(data: Mapping[str, Any]) -> datetime | None:
    """When the head-end will carry out an instruction it answered as held (an outcome's
    ``data``), whichever form the wire gave it; None if the instruction was not held."""
    value = data.get(HELD_UNTIL)
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            instant = datetime.fromisoformat(value)
        except ValueError:
            return None
        return instant if instant.utcoffset() is not None else None
    return None
