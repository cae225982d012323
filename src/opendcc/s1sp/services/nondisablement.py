"""2.1 Update Prepay Configuration's non-disablement calendar, carried whole.

A SMETS1 meter here models the calendar as one switch (``non_disablement_calendar``: does it
ever start a period), but the User signs the whole calendar, and the GBCS pre-command (ECS08)
holds it whole. So the instruction carries it too, as text parameters the DSP countersigns
and the DCO compares like any other. The electricity calendar (for ECS08) as two:

- ``special_days``: ``<index>=<date>`` per special day, comma-separated, in the given order;
- ``non_disablement_schedule``: one entry per ``ElectricityNonDisablementSchedule``, in the
  given order, ``;``-separated, each ``<START|STOP>/<ISO weekdays, e.g. 67>/<special day ids,
  ascending, e.g. 1.2.5>/<HH:MM:SS.hh>/<start date>/<end date>``.

A date is the 5-byte DLMS (COSEM) date as hex, which says everything a DUIS ``Date`` or
``xs:date`` can: year (FFFF unspecified, as DUIS's year 65535), month (FF unspecified), day
(FE last, FD second last of the month, FF unspecified), day of week (1 Monday..7, FF
unspecified).

The gas calendar (``GasNonDisablementCalendar``, for GCS05) rides as four parameters:

- ``day_profiles``: ``<day id>=<HH:MM:SS>/<START|STOP>,...`` per day profile (``HH:MM:SS.hh``
  when not on the second), ``;``-separated;
- ``week_profiles``: ``<week id>=<day id Monday>.<...>.<day id Sunday>``, ``;``-separated;
- ``seasons``: ``<date>=<week id>``, comma-separated;
- ``special_days``: ``<date>=<day id>``, comma-separated;

all in the given order, a date being the 4-byte ZigBee date as hex: year - 1900, month,
day, day of week (FF unspecified each).
"""

from __future__ import annotations

import re

from lxml import etree

from opendcc.duis.xml import sr
from opendcc.s1sp.services.base import InvalidParameters, child_of

_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_UNSPECIFIED_YEAR = 0xFFFF
_UNSPECIFIED = 0xFF
_LAST_DAY, _SECOND_LAST_DAY = 0xFE, 0xFD
_XS_DATE = re.compile(r"(\d{4,5})-(\d{2})-(\d{2})(Z|[+-]\d{2}:\d{2})?")
_XS_TIME = re.compile(r"(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,2})\d*)?(?:Z|([+-])(\d{2}):(\d{2}))?")
_MINUTES_PER_DAY = 1440
_SCRIPTS = ("START", "STOP")


def _number(element: etree._Element, low: int, high: int) -> int:
    text = (element.text or "").strip()
    if not text.isdigit() or not low <= int(text) <= high:
        raise InvalidParameters(f"{etree.QName(element).localname} is not {low}-{high}: {text!r}")
    return int(text)


def _part(parent: etree._Element, local: str, low: int, high: int, others: dict[str, int]) -> int:
    """One field of a DUIS ``Date``: ``Specified<local>`` or one of its named choices."""
    chosen = child_of(parent, local)
    for element in chosen:
        name = etree.QName(element).localname
        if name == f"Specified{local}":
            return _number(element, low, high)
        if name in others:
            return others[name]
    raise InvalidParameters(f"{local} holds none of the choices DUIS allows")


def duis_date(date: etree._Element) -> str:
    """A DUIS ``Date`` (Year, Month, DayOfMonth, DayOfWeek) as a DLMS date in hex."""
    year = _part(date, "Year", 2014, 9999, {"NonSpecifiedYear": _UNSPECIFIED_YEAR})
    month = _part(date, "Month", 1, 12, {"NonSpecifiedMonth": _UNSPECIFIED})
    day = _part(
        date,
        "DayOfMonth",
        1,
        31,
        {
            "LastDayOfMonth": _LAST_DAY,
            "SecondLastDayOfMonth": _SECOND_LAST_DAY,
            "NonSpecifiedDayOfMonth": _UNSPECIFIED,
        },
    )
    weekday = _part(date, "DayOfWeek", 1, 7, {"NonSpecifiedDayOfWeek": _UNSPECIFIED})
    return (year.to_bytes(2, "big") + bytes([month, day, weekday])).hex().upper()


def xs_date(text: str) -> str:
    """An ``xs:date`` (year 65535: any year; the date as written, whatever its zone) as a
    DLMS date in hex."""
    found = _XS_DATE.fullmatch(text.strip())
    if found is None:
        raise InvalidParameters(f"not an xs:date: {text!r}")
    year, month, day = (int(found.group(n)) for n in (1, 2, 3))
    if not (year <= _UNSPECIFIED_YEAR and 1 <= month <= 12 and 1 <= day <= 31):
        raise InvalidParameters(f"not a date: {text!r}")
    return (year.to_bytes(2, "big") + bytes([month, day, _UNSPECIFIED])).hex().upper()


def xs_time(text: str) -> str:
    """An ``xs:time`` as ``HH:MM:SS.hh`` in UTC (a time with an offset is moved to UTC; one
    without is taken as UTC)."""
    found = _XS_TIME.fullmatch(text.strip())
    if found is None:
        raise InvalidParameters(f"not an xs:time: {text!r}")
    hour, minute, second = (int(found.group(n)) for n in (1, 2, 3))
    if hour > 23 or minute > 59 or second > 59:
        raise InvalidParameters(f"not a time of day: {text!r}")
    hundredths = int((found.group(4) or "0").ljust(2, "0"))
    if found.group(5):
        offset = int(found.group(6)) * 60 + int(found.group(7))
        utc = (hour * 60 + minute - (offset if found.group(5) == "+" else -offset)) % (
            _MINUTES_PER_DAY
        )
        hour, minute = divmod(utc, 60)
    return f"{hour:02d}:{minute:02d}:{second:02d}.{hundredths:02d}"


def _special_days(calendar: etree._Element) -> str:
    days = calendar.find(sr("ElectricitySpecialDays"))
    entries: list[str] = []
    seen: set[str] = set()
    for day in [] if days is None else days.findall(sr("SpecialDay")):
        index = day.get("index", "").strip()
        if not index.isdigit() or index in seen:
            raise InvalidParameters(f"a special day's index is missing or repeated: {index!r}")
        seen.add(index)
        entries.append(f"{int(index)}={duis_date(child_of(day, 'Date'))}")
    return ",".join(entries)


def _schedule_entry(schedule: etree._Element) -> str:
    script = (child_of(schedule, "NonDisablementScript").text or "").strip()
    if script not in _SCRIPTS:
        raise InvalidParameters(f"a non-disablement script is START or STOP, not {script!r}")
    weekdays = sorted(
        {
            _weekday(element)
            for element in child_of(schedule, "DaysOfWeekApplicability").iter(sr("DayOfWeekID"))
        }
    )
    special = sorted(
        {
            _number(element, 1, 20)
            for element in child_of(schedule, "SpecialDaysApplicability").iter(sr("SpecialDayID"))
        }
    )
    times = child_of(schedule, "ScheduleDatesAndTime")
    return "/".join(
        (
            script,
            "".join(map(str, weekdays)),
            ".".join(map(str, special)),
            xs_time(child_of(times, "SwitchTime").text or ""),
            xs_date(child_of(times, "StartDate").text or ""),
            xs_date(child_of(times, "EndDate").text or ""),
        )
    )


def _weekday(element: etree._Element) -> int:
    """The ISO number of a ``DayOfWeekID`` (1 is Monday)."""
    name = (element.text or "").strip()
    if name not in _WEEKDAYS:
        raise InvalidParameters(f"not a day of the week: {name!r}")
    return _WEEKDAYS.index(name) + 1


def calendar_parameters(calendar: etree._Element) -> dict[str, str]:
    """The whole ``ElectricityNonDisablementCalendar`` as the two parameters above."""
    schedules = calendar.findall(sr("ElectricityNonDisablementSchedule"))
    return {
        "special_days": _special_days(calendar),
        "non_disablement_schedule": ";".join(_schedule_entry(s) for s in schedules),
    }


# --------------------------------------------------------------------------- gas


def _wild(parent: etree._Element, local: str, low: int, high: int, unspecified: str) -> int:
    chosen = child_of(parent, local)
    for element in chosen:
        name = etree.QName(element).localname
        if name.startswith("Specified"):
            return _number(element, low, high)
        if name == unspecified:
            return _UNSPECIFIED
    raise InvalidParameters(f"{local} holds none of the choices DUIS allows")


def zigbee_date(date: etree._Element) -> str:
    """A DUIS gas date with wildcards as a ZigBee date (year - 1900, FF unspecified) in hex."""
    year = _wild(date, "GasYearWithWildcards", 1900, 2154, "NonSpecifiedYear")
    month = _wild(date, "GasMonthWithWildcards", 1, 12, "NonSpecifiedMonth")
    day = _wild(date, "GasDayOfMonthWithWildcards", 1, 31, "GasNonSpecifiedDayOfMonth")
    weekday = _wild(date, "GasDayOfWeekWithWildcards", 1, 7, "NonSpecifiedDayOfWeek")
    zig_year = _UNSPECIFIED if year == _UNSPECIFIED else year - 1900
    return bytes([zig_year, month, day, weekday]).hex().upper()


def _whole_time(text: str) -> str:
    found = _XS_TIME.fullmatch(text.strip())
    if found is None:
        raise InvalidParameters(f"not an xs:time: {text!r}")
    return xs_time(text)[:8] if not found.group(4) or int(found.group(4)) == 0 else xs_time(text)


def _name(parent: etree._Element, local: str) -> str:
    return str(_number(child_of(parent, local), 0, 255))


def gas_calendar_parameters(calendar: etree._Element) -> dict[str, str]:
    """The whole ``GasNonDisablementCalendar`` as the four parameters above."""
    days = []
    for profile in child_of(calendar, "DayProfiles").findall(sr("GasNonDisablementDayProfile")):
        actions = []
        for action in profile.findall(sr("TimeStartAction")):
            what = (child_of(action, "NonDisablementAction").text or "").strip()
            if what not in _SCRIPTS:
                raise InvalidParameters(f"a non-disablement action is START or STOP: {what!r}")
            actions.append(f"{_whole_time(child_of(action, 'StartTime').text or '')}/{what}")
        days.append(f"{_name(profile, 'GasDayName')}={','.join(actions)}")
    weeks = []
    for week in child_of(calendar, "WeekProfiles").findall(sr("WeekProfile")):
        by_day: dict[int, str] = {}
        for ref in week.findall(sr("ReferencedDayName")):
            index = ref.get("index", "").strip()
            if not index.isdigit() or not 1 <= int(index) <= len(_WEEKDAYS) or int(index) in by_day:
                raise InvalidParameters(f"a week profile's day index is not 1-7 once: {index!r}")
            by_day[int(index)] = str(_number(ref, 0, 255))
        if len(by_day) != len(_WEEKDAYS):
            raise InvalidParameters("a week profile names a day profile for each of 7 days")
        weeks.append(f"{_name(week, 'WeekName')}={'.'.join(by_day[d] for d in range(1, 8))}")
    seasons = [
        f"{zigbee_date(child_of(season, 'SeasonStartDate'))}={_name(season, 'ReferencedWeekName')}"
        for season in child_of(calendar, "SeasonProfiles").findall(sr("Season"))
    ]
    special = [
        f"{zigbee_date(child_of(day, 'Date'))}={_name(day, 'ReferencedDayName')}"
        for day in child_of(calendar, "SpecialDays").findall(sr("SpecialDay"))
    ]
    return {
        "day_profiles": ";".join(days),
        "week_profiles": ";".join(weeks),
        "seasons": ",".join(seasons),
        "special_days": ",".join(special),
    }
