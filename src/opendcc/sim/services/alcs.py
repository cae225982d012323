"""Head-end simulators carry out the auxiliary load control services on an ESME.

The parameters are those of ``opendcc.s1sp.services.alcs``; the meter's switches, calendar,
boost button and logs are ``opendcc.sim.state.alcs``. A gas meter has no switches and refuses.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from opendcc.core.eui import Eui64
from opendcc.s1sp.services.base import Parameters, Result
from opendcc.sim.services.base import Execute, electricity_meter
from opendcc.sim.services.reads import _within
from opendcc.sim.state import Esme, MeterError, MeterState, Reason
from opendcc.sim.state.alcs import BOOST_LOG_ENTRIES, Schedule, parse_date, switch_number
from opendcc.sim.state.device import Alerts

_NO_SWITCHES = "a gas meter has no auxiliary load control switches"


def _esme(meter: MeterState) -> Esme:
    return electricity_meter(meter, _NO_SWITCHES)


def _parameter(parameters: Parameters, key: str) -> str:
    try:
        return parameters[key]
    except KeyError:
        raise MeterError(Reason.INVALID_VALUE, f"no {key} given") from None


def _numbered(parameters: Parameters, prefix: str) -> dict[int, str]:
    """The parameters ``<prefix>.<n>``, by n."""
    found = {}
    for key, value in parameters.items():
        if key.startswith(f"{prefix}."):
            number = key.removeprefix(f"{prefix}.")
            if not number.isdigit():
                raise MeterError(Reason.INVALID_VALUE, f"not a {prefix} number: {key!r}")
            found[int(number)] = value
    return found


def _switching(*, on: bool) -> Execute:
    def execute(meter: MeterState, parameters: Parameters, now: datetime) -> tuple[Result, Alerts]:
        esme = _esme(meter)
        switch = switch_number(_parameter(parameters, "switch"))
        duration = _parameter(parameters, "duration")
        if not duration.isdigit():
            raise MeterError(Reason.INVALID_VALUE, f"a duration is minutes, not {duration!r}")
        return {}, esme.switch_alcs(now, switch, on=on, minutes=int(duration))

    return execute


def _reset(meter: MeterState, parameters: Parameters, now: datetime) -> tuple[Result, Alerts]:
    esme = _esme(meter)
    return {}, esme.reset_alcs(now, switch_number(_parameter(parameters, "switch")))


def _boost(*, add: bool) -> Execute:
    def execute(meter: MeterState, parameters: Parameters, now: datetime) -> tuple[Result, Alerts]:
        esme = _esme(meter)
        switches = frozenset(
            switch_number(s) for s in _parameter(parameters, "switches").split(",")
        )
        return {}, esme.boost_alcs(now, switches, add=add)

    return execute


def _describe(meter: MeterState, parameters: Parameters, now: datetime) -> tuple[Result, Alerts]:
    esme = _esme(meter)
    descriptions = {
        switch_number(str(n)): text for n, text in _numbered(parameters, "description").items()
    }
    if not descriptions:
        raise MeterError(Reason.INVALID_VALUE, "no switch is described")
    return {}, esme.describe_alcs(now, descriptions)


def _switch_type(text: str) -> str:
    if text == "ALCS":
        return text
    kind, _, device = text.partition(" ")
    try:
        if kind == "HCALCS":
            return f"HCALCS {Eui64.parse(device)}"
    except ValueError:
        pass
    raise MeterError(Reason.INVALID_VALUE, f"a switch is ALCS or HCALCS <EUI-64>, not {text!r}")


def _schedule(meter: MeterState, parameters: Parameters, now: datetime) -> tuple[Result, Alerts]:
    esme = _esme(meter)
    schedules = _numbered(parameters, "schedule")
    if sorted(schedules) != list(range(len(schedules))):
        raise MeterError(Reason.INVALID_VALUE, "schedules are numbered from 0 without a gap")
    special: Mapping[int, str] = _numbered(parameters, "special_day")
    types = _numbered(parameters, "switch_type")
    return {}, esme.schedule_alcs(
        now,
        tuple(Schedule.parse(schedules[i]) for i in range(len(schedules))),
        {n: parse_date(text) for n, text in special.items()},
        {switch_number(str(n)): _switch_type(text) for n, text in types.items()},
    )


def _read(meter: MeterState, parameters: Parameters, now: datetime) -> tuple[Result, Alerts]:
    """7.7 Read ALCS Data."""
    records = tuple(
        (n, description, kind, int(state))
        for n, description, kind, state in _esme(meter).alcs_switches(now)
    )
    return {"switches": records}, ()


def _boost_details(
    meter: MeterState, parameters: Parameters, now: datetime
) -> tuple[Result, Alerts]:
    """7.11 Read Boost Button Details: the boosts begun in the period, which switches boost."""
    esme = _esme(meter)
    events = _within(esme.boost_log(now), parameters, lambda boost: boost[0], BOOST_LOG_ENTRIES)
    flags = tuple(int(n in esme.boosted_switches) for n in range(1, 6))
    return {"boost_events": events, "boost_switches": flags}, ()


EXECUTORS: Mapping[str, Execute] = {
    "6.14.1": _describe,
    "6.14.2": _schedule,
    "7.5": _switching(on=True),
    "7.6": _switching(on=False),
    "7.7": _read,
    "7.8": _reset,
    "7.9": _boost(add=True),
    "7.10": _boost(add=False),
    "7.11": _boost_details,
}
