"""The SMETS1 auxiliary load control services: switches, their calendar and the boost button.

A SMETS1 (first-edition) electricity meter may carry up to five Auxiliary Load Control Switches
(ALCS), relays that switch a load such as storage heating on a calendar of their own; a boost
button switches the loads added to it on for a while. The DUIS (DCC User Interface
Specification) SRVs (Service Reference Variants) below travel as flat text parameters, so every
wire protocol carries them as they are and the DCO (dual control) compares them:

- 7.5 Activate / 7.6 Deactivate Auxiliary Load: ``switch`` (1-5) and ``duration`` (minutes the
  switch is held so before the calendar takes it back; 0: until 7.8 resets it).
- 7.8 Reset Auxiliary Load: ``switch``: back to calendar control now.
- 7.9 Add / 7.10 Remove Auxiliary Load To/From Boost Button: ``switches``, the indices whose
  flag is ``true``, comma-separated ascending (a ``false`` flag leaves that switch as it is).
- 6.14.1 Update Device Configuration (ALC Descriptions): ``description.<n>`` per switch n.
- 6.14.2 Update Device Configuration (ALC Scheduler): ``schedule.<i>`` per connection schedule
  (from 0, in body order), ``special_day.<n>`` per special day and ``switch_type.<n>`` per
  switch (``ALCS``, or ``HCALCS <EUI-64>``). A schedule is one line of space-separated fields:
  ``<switch> on|off <days> <HH:MM:SS> <start> <end> <special days>``, days ``Mon,Tue...`` (or
  ``-``), special days ``1,2`` (or ``-``); a date is ``<year>-<month>-<day>-<weekday>``, each
  field a number or ``*`` where DUIS says NonSpecified (weekday 1 is Monday).
- 7.7 Read ALCS Data: no parameters; 7.11 Read Boost Button Details: the log period.

Result keys: 7.7 ``switches``: (index, description, type, state 0/1) per switch; 7.11
``boost_events``: (start, end) per boost in the period, newest first, and ``boost_switches``:
the five flags (0/1) of which switch the button boosts. The writes answer with their empty MMC
``ra:<Name>Rsp``. The meter carries them out (``opendcc.sim.services.alcs``);
``ExecutionDateTime`` (6.14.2 may be future-dated) is the DSP's or head-end's business.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime

from lxml import etree

from opendcc.core.eui import Eui64
from opendcc.duis.response import format_datetime
from opendcc.duis.xml import sr
from opendcc.s1sp.services.base import (
    InvalidParameters,
    Result,
    Service,
    int_of,
    log_period,
    no_parameters,
    str_of,
    tuple_of,
)
from opendcc.s1sp.services.xml import ack, add, response_element

SWITCHES = 5
DESCRIPTION_LIMIT = 22  # DUIS SwitchDescription and MMC Description: up to 22 characters
SPECIAL_DAYS = 20
SCHEDULES = 48
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
DAY_NAMES = tuple(day[:3] for day in DAYS)
_TIME = re.compile(r"(\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(?:Z|[+-]00:00)?")
_PRINTABLE = re.compile(r"[ -~]+")
_DATE_FIELDS = (
    ("Year", "SpecifiedYear", "NonSpecifiedYear", 0, 9999),
    ("Month", "SpecifiedMonth", "NonSpecifiedMonth", 1, 12),
    ("DayOfMonth", "SpecifiedDayOfMonth", "NonSpecifiedDayOfMonth", 1, 31),
    ("DayOfWeek", "SpecifiedDayOfWeek", "NonSpecifiedDayOfWeek", 1, 7),
)


def _index(element: etree._Element, top: int = SWITCHES) -> int:
    text = element.get("index", "")
    if not text.isdigit() or not 1 <= int(text) <= top:
        name = etree.QName(element).localname
        raise InvalidParameters(f"{name} index is 1 to {top}, not {text!r}")
    return int(text)


def _only(body: etree._Element, local: str) -> etree._Element:
    found = body.findall(sr(local))
    if len(found) != 1:
        raise InvalidParameters(f"{etree.QName(body).localname} holds one {local}")
    return found[0]


def _switching(local: str) -> Callable[[etree._Element], dict[str, str]]:
    """7.5 / 7.6: the switch and how long it is held so."""

    def read(body: etree._Element) -> dict[str, str]:
        element = _only(body, local)
        duration = (element.findtext(sr("Duration")) or "").strip()
        if not duration.isdigit() or int(duration) > 0xFFFF:
            raise InvalidParameters(f"Duration is 0 to 65535 minutes, not {duration!r}")
        return {"switch": str(_index(element)), "duration": str(int(duration))}

    return read


def _reset(body: etree._Element) -> dict[str, str]:
    """7.8: the switch to return to calendar control."""
    return {"switch": str(_index(_only(body, "ResetALCSHCALCS")))}


def _boost(local: str) -> Callable[[etree._Element], dict[str, str]]:
    """7.9 / 7.10: the switches flagged ``true``."""

    def read(body: etree._Element) -> dict[str, str]:
        flagged: set[int] = set()
        for element in body.findall(sr(local)):
            flag = (element.text or "").strip()
            if flag not in {"true", "false", "1", "0"}:
                raise InvalidParameters(f"{local} is true or false, not {flag!r}")
            if flag in {"true", "1"}:
                flagged.add(_index(element))
        if not flagged:
            raise InvalidParameters(f"{etree.QName(body).localname} flags no switch")
        return {"switches": ",".join(str(n) for n in sorted(flagged))}

    return read


def _descriptions(body: etree._Element) -> dict[str, str]:
    """6.14.1: each switch's description."""
    found: dict[str, str] = {}
    for element in body.findall(sr("ALCSHCALCSDescription")):
        key = f"description.{_index(element)}"
        text = element.findtext(sr("SwitchDescription")) or ""
        if key in found:
            raise InvalidParameters(f"switch {key[12:]} is described twice")
        if len(text) > DESCRIPTION_LIMIT or not _PRINTABLE.fullmatch(text):
            raise InvalidParameters(
                f"a switch description is 1 to {DESCRIPTION_LIMIT} printable characters"
            )
        found[key] = text
    if not found:
        raise InvalidParameters("UpdateDeviceConfigurationALCDescriptions describes no switch")
    return found


def _date(element: etree._Element | None) -> str:
    """A DUIS ``sr:Date`` as ``year-month-day-weekday`` (``*`` where not specified)."""
    if element is None:
        raise InvalidParameters("a schedule date is missing")
    fields = []
    for local, specified, unspecified, low, high in _DATE_FIELDS:
        part = element.find(sr(local))
        value = None if part is None else part.find(sr(specified))
        if value is not None:
            text = (value.text or "").strip()
            if not text.isdigit() or not low <= int(text) <= high:
                raise InvalidParameters(f"{specified} is {low} to {high}, not {text!r}")
            fields.append(str(int(text)))
        elif part is not None and part.find(sr(unspecified)) is not None:
            fields.append("*")
        else:
            raise InvalidParameters(f"a schedule date has no {local}")
    return "-".join(fields)


def _schedule(element: etree._Element) -> str:
    switch = _only(element, "ActivateDeactivateSwitch")
    if switch.find(sr("ActivateSwitch")) is not None:
        action = "on"
    elif switch.find(sr("DeactivateSwitch")) is not None:
        action = "off"
    else:
        raise InvalidParameters("ActivateDeactivateSwitch names no action")
    special = sorted(
        _index(s, SPECIAL_DAYS) for s in element.findall(sr("SpecialDaysApplicability"))
    )
    days = [
        (d.text or "").strip()
        for d in element.iterfind(f"{sr('DaysOfWeekApplicability')}//{sr('DayOfWeekID')}")
    ]
    if any(day not in DAYS for day in days):
        raise InvalidParameters(f"a day of week is one of {', '.join(DAYS)}")
    when = _only(element, "ALCSScheduleDatesAndTime")
    time = _TIME.fullmatch((when.findtext(sr("SwitchTime")) or "").strip())
    if time is None or int(time[1]) > 23 or int(time[2]) > 59 or int(time[3]) > 59:
        raise InvalidParameters("SwitchTime is an xs:time in UTC")
    fields = (
        str(_index(switch)),
        action,
        ",".join(DAY_NAMES[DAYS.index(d)] for d in sorted(set(days), key=DAYS.index)) or "-",
        f"{time[1]}:{time[2]}:{time[3]}",
        _date(when.find(sr("StartDate"))),
        _date(when.find(sr("EndDate"))),
        ",".join(str(n) for n in special) or "-",
    )
    return " ".join(fields)


def _scheduler(body: etree._Element) -> dict[str, str]:
    """6.14.2: the connection schedules, special days and switch types."""
    schedules = body.findall(sr("ALCSHCALCSConnectionSchedule"))
    if not 1 <= len(schedules) <= SCHEDULES:
        raise InvalidParameters(f"an ALCS calendar holds 1 to {SCHEDULES} schedules")
    found = {f"schedule.{i}": _schedule(s) for i, s in enumerate(schedules)}
    for day in body.iterfind(f"{sr('ALCSHCALCSSpecialDays')}/{sr('ALCSHCALCSSpecialDay')}"):
        key = f"special_day.{_index(day, SPECIAL_DAYS)}"
        if key in found:
            raise InvalidParameters("a special day is given twice")
        found[key] = _date(day)
    for switch in body.findall(sr("SwitchTypeAndId")):
        key = f"switch_type.{_index(switch)}"
        hcalcs = switch.find(sr("HCALCS"))
        if key in found:
            raise InvalidParameters("a switch's type is given twice")
        if hcalcs is not None:
            try:
                found[key] = f"HCALCS {Eui64.parse((hcalcs.text or '').strip())}"
            except ValueError:
                raise InvalidParameters("HCALCS is an EUI-64") from None
        elif switch.find(sr("ALCS")) is not None:
            found[key] = "ALCS"
        else:
            raise InvalidParameters("SwitchTypeAndId names neither ALCS nor HCALCS")
    return found


# --------------------------------------------------------------------------- responses


def _type_and_identifier(parent: etree._Element, text: str) -> None:
    element = add(parent, "TypeAndIdentifier")
    if text.startswith("HCALCS "):
        add(element, "HCALCS", text.removeprefix("HCALCS "))
    else:
        add(element, "ALCS")


def alcs_data(result: Result) -> etree._Element:
    """7.7: each switch's description, type and state."""
    element = response_element("ReadALCSDataRsp")
    for record in tuple_of(result["switches"]):
        index, description, kind, state = tuple_of(record)
        switch = add(element, "AuxiliaryLoadControlSwitch")
        switch.set("Index", str(int_of(index)))
        if str_of(description):
            add(switch, "Description", str_of(description))
        _type_and_identifier(switch, str_of(kind))
        add(switch, "State", "true" if int_of(state) else "false")
    return element


def boost_details(result: Result) -> etree._Element:
    """7.11: the boosts in the period and which switches the button boosts."""
    element = response_element("ReadBoostButtonDetailsRsp")
    for record in tuple_of(result["boost_events"]):
        start, end = tuple_of(record)
        entry = add(element, "EventLogEntry")
        add(entry, "BoostEnd", _instant(end))
        add(entry, "BoostStart", _instant(start))
    flags = tuple_of(result["boost_switches"])
    add(element, "BoostFunctionAvailability", "true")
    for n, flag in enumerate(flags, start=1):
        add(element, f"BoostFunctionControl{n}Value", "true" if int_of(flag) else "false")
    return element


def _instant(value: object) -> str:
    if not isinstance(value, datetime):
        raise TypeError(f"expected a date-time, got {value!r}")
    return format_datetime(value)


SERVICES: tuple[Service, ...] = (
    Service(
        "6.14.1",
        "updateDeviceConfigurationALCDescriptions",
        _descriptions,
        ack("UpdateDeviceConfigurationALCDescriptionsRsp"),
        writes=True,
    ),
    Service(
        "6.14.2",
        "updateDeviceConfigurationALCScheduler",
        _scheduler,
        ack("UpdateDeviceConfigurationALCSchedulerRsp"),
        writes=True,
    ),
    Service(
        "7.5",
        "activateAuxiliaryLoad",
        _switching("ActivateALCSHCALCS"),
        ack("ActivateAuxiliaryLoadRsp"),
        writes=True,
    ),
    Service(
        "7.6",
        "deactivateAuxiliaryLoad",
        _switching("DeactivateALCSHCALCS"),
        ack("DeactivateAuxiliaryLoadRsp"),
        writes=True,
    ),
    Service("7.7", "readALCSData", no_parameters, alcs_data),
    Service("7.8", "resetAuxiliaryLoad", _reset, ack("ResetAuxiliaryLoadRsp"), writes=True),
    Service(
        "7.9",
        "addAuxiliaryLoadToBoostButton",
        _boost("AddToBoostButton"),
        ack("AddAuxiliaryLoadToBoostButtonRsp"),
        writes=True,
    ),
    Service(
        "7.10",
        "removeAuxiliaryLoadFromBoostButton",
        _boost("RemoveFromBoostButton"),
        ack("RemoveAuxiliaryLoadFromBoostButtonRsp"),
        writes=True,
    ),
    Service("7.11", "readBoostButtonDetails", log_period, boost_details),
)
