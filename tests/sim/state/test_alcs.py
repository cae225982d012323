"""The ALCS model: a switch's calendar, its overrides, the boost button, worked out per instant."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from opendcc.sim.state import MeterError, Reason
from opendcc.sim.state.alcs import Alcs, Calendar, Schedule, parse_date

WEEKDAYS_ON = Schedule.parse("1 on Mon,Tue,Wed,Thu,Fri 06:00:00 *-*-*-* *-*-*-* -")
WEEKDAYS_OFF = Schedule.parse("1 off Mon,Tue,Wed,Thu,Fri 10:00:00 *-*-*-* *-*-*-* -")
CHRISTMAS_ON = Schedule.parse("1 on - 12:00:00 *-*-*-* *-*-*-* 1")
WINTER_ON = Schedule.parse("2 on Mon,Tue,Wed,Thu,Fri,Sat,Sun 00:30:00 *-10-1-* *-3-31-* -")
CALENDAR = Calendar(
    (WEEKDAYS_ON, WEEKDAYS_OFF, CHRISTMAS_ON, WINTER_ON), {1: parse_date("*-12-25-*")}
)


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_a_weekday_schedule_switches_on_and_off_and_holds_over_the_weekend() -> None:
    assert CALENDAR.state(1, at(2024, 6, 3, 5, 59)) is False  # Monday before 06:00
    assert CALENDAR.state(1, at(2024, 6, 3, 6)) is True
    assert CALENDAR.state(1, at(2024, 6, 7, 9, 59)) is True  # Friday
    assert CALENDAR.state(1, at(2024, 6, 8, 9)) is False  # Saturday: Friday's 10:00 off holds


def test_a_special_day_takes_only_the_schedules_that_name_it() -> None:
    christmas = at(2024, 12, 25, 8)  # a Wednesday: the weekday 06:00 on does not apply
    assert CALENDAR.state(1, christmas) is False  # the day before's 10:00 off still holds
    assert CALENDAR.state(1, christmas.replace(hour=12)) is True


def test_a_date_range_over_the_years_end_wraps() -> None:
    assert CALENDAR.state(2, at(2024, 1, 15, 1)) is True  # inside 1 October - 31 March
    assert CALENDAR.state(2, at(2024, 10, 1, 1)) is True
    assert CALENDAR.state(2, at(2024, 6, 15, 1)) is False


def test_an_override_ends_after_its_minutes_and_a_reset_returns_to_the_calendar() -> None:
    alcs = Alcs(calendar=CALENDAR)
    noon = at(2024, 6, 3, 12)
    held = alcs.command(noon, 1, on=True, minutes=90)
    assert held.state(1, noon + timedelta(minutes=89)) is True
    assert held.state(1, noon + timedelta(minutes=90)) is False
    forever = held.command(noon, 1, on=True, minutes=0)
    assert forever.state(1, noon + timedelta(days=30)) is True
    back = forever.reset(noon + timedelta(hours=1), 1)
    assert back.state(1, noon + timedelta(hours=2)) is False
    assert [action for _, _, action in back.log] == [
        "Revert to calendar control",
        "On",
        "On",
    ]


def test_the_boost_button_turns_on_only_its_switches_for_its_time() -> None:
    alcs = Alcs().boost_switches(frozenset({3}), add=True)
    boosted = alcs.boost(at(2024, 6, 3, 20), 30)
    assert boosted.state(3, at(2024, 6, 3, 20, 29)) is True
    assert boosted.state(3, at(2024, 6, 3, 20, 30)) is False
    assert boosted.state(4, at(2024, 6, 3, 20, 10)) is False
    with pytest.raises(MeterError) as refused:
        Alcs().boost(at(2024, 6, 3, 20), 30)
    assert refused.value.reason is Reason.UNSUPPORTED


@pytest.mark.parametrize(
    "text",
    [
        "6 on Mon 06:00:00 *-*-*-* *-*-*-* -",
        "1 maybe Mon 06:00:00 *-*-*-* *-*-*-* -",
        "1 on Funday 06:00:00 *-*-*-* *-*-*-* -",
        "1 on Mon 24:00:00 *-*-*-* *-*-*-* -",
        "1 on Mon 06:00:00 *-13-*-* *-*-*-* -",
        "1 on Mon 06:00:00 *-*-*-* *-*-*-* 21",
        "1 on Mon 06:00:00",
    ],
)
def test_a_schedule_off_the_format_is_refused(text: str) -> None:
    with pytest.raises(MeterError) as refused:
        Schedule.parse(text)
    assert refused.value.reason is Reason.INVALID_VALUE
