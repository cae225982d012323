"""1.1.1 Update Import Tariff's electricity switching table, carried whole.

A SMETS1 meter here follows one switching table every day (``switching_table``) with one
set of block thresholds, but the User signs the whole tariff: its named seasons, week and
day profiles, special days and threshold matrix, as the GBCS pre-command (ECS01a) holds it.
So the instruction carries it too, as text parameters the DSP countersigns and the DCO
compares like any other (the meter simulators and head-ends use only the one-day table):

- ``seasons``: ``<name, UTF-8 as hex>=<start date>=<week name>``, ``;``-separated;
- ``week_profiles``: ``<week name>=<day name Monday>.<...>.<day name Sunday>``, ``;``-separated;
- ``day_profiles``: ``<day name>=<HH:MM:SS.hh>/<script>,...``, ``;``-separated, the script
  being the TOU rate n or 100 + n for block tariff n (as GBCS selects the tariff scripts);
- ``special_days``: ``<date>=<day name>``, comma-separated;
- ``threshold_matrix``: the thresholds of each row as given, comma-separated, rows
  ``;``-separated;

all in the given order, a date being the 5-byte DLMS date in hex (``nondisablement``).
"""

from __future__ import annotations

from lxml import etree

from opendcc.duis.xml import sr
from opendcc.s1sp.services.base import InvalidParameters, child_of
from opendcc.s1sp.services.nondisablement import duis_date, xs_time, zigbee_date

_BLOCK_SCRIPTS = 100  # block tariff n runs tariff script 100 + n
_WEEK = 7


def _whole(parent: etree._Element, local: str) -> int:
    text = (child_of(parent, local).text or "").strip()
    if not text.isdigit():
        raise InvalidParameters(f"{local} is not a number: {text!r}")
    return int(text)


def _script(entry: etree._Element) -> int:
    tou = entry.find(sr("TOUTariffAction"))
    if tou is not None:
        return _whole(entry, "TOUTariffAction")
    return _BLOCK_SCRIPTS + _whole(entry, "BlockTariffAction")


def _week(week: etree._Element) -> str:
    by_day: dict[int, int] = {}
    for ref in week.findall(sr("ReferencedDayName")):
        index = ref.get("index", "").strip()
        text = (ref.text or "").strip()
        if not index.isdigit() or not 1 <= int(index) <= _WEEK or not text.isdigit():
            raise InvalidParameters(f"a week profile's day {index!r} is not named")
        by_day[int(index)] = int(text)
    if sorted(by_day) != list(range(1, _WEEK + 1)):
        raise InvalidParameters("a week profile names a day profile for each of 7 days")
    return f"{_whole(week, 'WeekName')}={'.'.join(str(by_day[d]) for d in range(1, 8))}"


def electricity_tariff_parameters(elements: etree._Element) -> dict[str, str]:
    """The whole ``ElecTariffElements`` switching table and thresholds, as above."""
    table = child_of(elements, "SwitchingTable")
    seasons = [
        "=".join(
            (
                (child_of(season, "SeasonName").text or "").encode("utf-8").hex().upper(),
                duis_date(child_of(season, "SeasonStartDate")),
                str(_whole(season, "ReferencedWeekName")),
            )
        )
        for season in child_of(table, "Seasons").findall(sr("Season"))
    ]
    weeks = [_week(w) for w in child_of(table, "WeekProfiles").findall(sr("WeekProfile"))]
    days = []
    for profile in child_of(table, "DayProfiles").findall(sr("DayProfile")):
        switches = [
            f"{xs_time(child_of(entry, 'StartTime').text or '')}/{_script(entry)}"
            for entry in profile.findall(sr("ProfileSchedule"))
        ]
        days.append(f"{_whole(profile, 'DayName')}={','.join(switches)}")
    special = [
        f"{duis_date(child_of(day, 'Date'))}={_whole(day, 'ReferencedDayName')}"
        for day in child_of(elements, "SpecialDays").findall(sr("SpecialDay"))
    ]
    rows = [
        ",".join(
            (value.text or "").strip()
            for value in sorted(
                row.findall(sr("BlockThreshold")), key=lambda v: int(v.get("index", "0") or 0)
            )
        )
        for row in sorted(
            child_of(elements, "ThresholdMatrix").findall(sr("Thresholds")),
            key=lambda r: int(r.get("index", "0") or 0),
        )
    ]
    return {
        "seasons": ";".join(seasons),
        "week_profiles": ";".join(weeks),
        "day_profiles": ";".join(days),
        "special_days": ",".join(special),
        "threshold_matrix": ";".join(rows),
    }


# --------------------------------------------------------------------------- gas


def gas_tariff_parameters(elements: etree._Element) -> dict[str, str]:
    """The whole ``GasTariffElements``: ``seasons`` (``<date>=<week name>``), ``week_profiles``
    (as for electricity), ``day_profiles`` (``<day name>=<TOU rate, or 0 for the block
    tariff>``), ``special_days`` (``<date>=<day name>``), a date being the 4-byte ZigBee date
    in hex (``nondisablement``), and ``threshold_matrix`` (every threshold given)."""
    table = child_of(elements, "SwitchingTable")
    seasons = [
        f"{zigbee_date(child_of(s, 'SeasonStartDate'))}={_whole(s, 'ReferencedWeekName')}"
        for s in child_of(table, "Seasons").findall(sr("Season"))
    ]
    weeks = [_week(w) for w in child_of(table, "WeekProfiles").findall(sr("WeekProfile"))]
    days = [
        f"{_whole(p, 'DayName')}="
        + (str(_whole(p, "TOUTariffAction")) if p.find(sr("TOUTariffAction")) is not None else "0")
        for p in child_of(table, "DayProfiles").findall(sr("DayProfile"))
    ]
    special = [
        f"{zigbee_date(child_of(d, 'Date'))}={_whole(d, 'ReferencedDayName')}"
        for d in child_of(elements, "SpecialDays").findall(sr("SpecialDay"))
    ]
    thresholds = sorted(
        child_of(elements, "ThresholdMatrix").findall(sr("BlockThreshold")),
        key=lambda v: int(v.get("index", "0") or 0),
    )
    return {
        "seasons": ",".join(seasons),
        "week_profiles": ";".join(weeks),
        "day_profiles": ";".join(days),
        "special_days": ",".join(special),
        "threshold_matrix": ",".join((v.text or "").strip() for v in thresholds),
    }
