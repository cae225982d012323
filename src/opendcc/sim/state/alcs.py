"""A SMETS1 electricity meter's Auxiliary Load Control Switches (ALCS) and boost button.

Up to five relays (SMETS1 makes them optional; the simulated ESME has all five) switch loads
such as storage heating. Each follows the meter's ALCS calendar (DUIS 6.14.2): connection
schedules that turn a switch on or off at a time of day, on days of the week or on special
days, between a start and an end date. A User may override a switch (7.5 on, 7.6 off) for a
number of minutes (0: until 7.8 returns it to calendar control); the consumer's boost button
turns the switches added to it (7.9, 7.10) on for a while. Commands are written to the ALCS
event log (6.13 ``ALCSEvent``), boosts to the boost log (7.11).

Everything here is an immutable value: ``Alcs`` is replaced, never changed, and ``state``
works the calendar out for any instant, so a read needs no stored timer.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta

from opendcc.sim.state.errors import MeterError, Reason

SWITCHES = 5
SPECIAL_DAYS = 20
SCHEDULES = 48
ALCS_LOG_ENTRIES = 100  # the MMC's ALCSEventLogEntry maxOccurs
BOOST_LOG_ENTRIES = 25  # the MMC's boost EventLogEntry maxOccurs
DESCRIPTION_LIMIT = 22
DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
ON, OFF, REVERT = "On", "Off", "Revert to calendar control"  # the MMC's SwitchAction values

# A date pattern: year, month, day of month, day of week (1 = Monday); None where unspecified.
DatePattern = tuple[int | None, int | None, int | None, int | None]
_ANY: DatePattern = (None, None, None, None)


def _fail(detail: str) -> MeterError:
    return MeterError(Reason.INVALID_VALUE, detail)


def switch_number(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= SWITCHES:
        raise _fail(f"an ALCS switch is 1 to {SWITCHES}, not {text!r}")
    return int(text)


def parse_date(text: str) -> DatePattern:
    """``year-month-day-weekday``, ``*`` where unspecified."""
    parts = text.split("-")
    if len(parts) != 4 or not all(p == "*" or p.isdigit() for p in parts):
        raise _fail(f"a schedule date is year-month-day-weekday, not {text!r}")
    y, m, d, w = (None if p == "*" else int(p) for p in parts)
    if (m is not None and not 1 <= m <= 12) or (d is not None and not 1 <= d <= 31):
        raise _fail(f"not a date: {text!r}")
    if w is not None and not 1 <= w <= 7:
        raise _fail(f"a day of week is 1 (Monday) to 7, not {w}")
    return y, m, d, w


def matches(pattern: DatePattern, day: date) -> bool:
    actual = (day.year, day.month, day.day, day.isoweekday())
    return all(p is None or p == a for p, a in zip(pattern, actual, strict=True))


def _within(start: DatePattern, end: DatePattern, day: date) -> bool:
    """Whether ``day`` falls between the start and end dates (year, month, day as specified;
    a range whose end comes before its start wraps over the year's end)."""
    actual = (day.year, day.month, day.day)

    def key(pattern: DatePattern) -> tuple[tuple[int, ...], tuple[int, ...]]:
        fields = [i for i in range(3) if pattern[i] is not None]
        return tuple(actual[i] for i in fields), tuple(pattern[i] or 0 for i in fields)

    (after, low), (before, high) = key(start), key(end)
    if low <= high or start[0] is not None:
        return after >= low and before <= high
    return after >= low or before <= high


@dataclass(frozen=True, slots=True)
class Schedule:
    """One connection schedule: switch ``switch`` on (or off) at ``second`` of the day."""

    switch: int
    on: bool
    days: frozenset[int]  # ISO weekdays, 1 = Monday
    second: int  # of the UTC day
    start: DatePattern
    end: DatePattern
    special_days: frozenset[int]

    @classmethod
    def parse(cls, text: str) -> Schedule:
        """``<switch> on|off <days> <HH:MM:SS> <start> <end> <special days>`` (see
        ``opendcc.s1sp.services.alcs``)."""
        fields = text.split(" ")
        if len(fields) != 7 or fields[1] not in {"on", "off"}:
            raise _fail(f"not an ALCS schedule: {text!r}")
        switch, action, days, clock, start, end, special = fields
        if days != "-" and not set(days.split(",")) <= set(DAY_NAMES):
            raise _fail(f"days of week are {','.join(DAY_NAMES)}, not {days!r}")
        hms = clock.split(":")
        if len(hms) != 3 or not all(p.isdigit() for p in hms):
            raise _fail(f"a switch time is HH:MM:SS, not {clock!r}")
        hour, minute, second = (int(p) for p in hms)
        if hour > 23 or minute > 59 or second > 59:
            raise _fail(f"not a time of day: {clock!r}")
        specials = () if special == "-" else special.split(",")
        if not all(s.isdigit() and 1 <= int(s) <= SPECIAL_DAYS for s in specials):
            raise _fail(f"special days are 1 to {SPECIAL_DAYS}, not {special!r}")
        return cls(
            switch=switch_number(switch),
            on=action == "on",
            days=frozenset(
                () if days == "-" else (DAY_NAMES.index(d) + 1 for d in days.split(","))
            ),
            second=hour * 3600 + minute * 60 + second,
            start=parse_date(start),
            end=parse_date(end),
            special_days=frozenset(int(s) for s in specials),
        )


@dataclass(frozen=True, slots=True)
class Override:
    """A User's 7.5 / 7.6 command: the switch is held ``on`` (or off) until ``until``."""

    on: bool
    until: datetime | None  # None: until reset (7.8)


@dataclass(frozen=True, slots=True)
class Calendar:
    schedules: tuple[Schedule, ...] = ()
    special_days: Mapping[int, DatePattern] = field(default_factory=dict)

    def switches_at(self, switch: int, day: date) -> Iterator[Schedule]:
        """The schedules of ``switch`` that apply on ``day``: those naming one of its special
        days if it is one, else those naming its day of week, between their dates."""
        special = {n for n, pattern in self.special_days.items() if matches(pattern, day)}
        for schedule in self.schedules:
            if schedule.switch != switch or not _within(schedule.start, schedule.end, day):
                continue
            applies = (
                bool(schedule.special_days & special)
                if special
                else day.isoweekday() in schedule.days
            )
            if applies:
                yield schedule

    def state(self, switch: int, at: datetime) -> bool:
        """The switch's calendar state at ``at``: its latest scheduled switching within the
        week before (off if none)."""
        for back in range(8):
            day = (at - timedelta(days=back)).date()
            seconds = at.hour * 3600 + at.minute * 60 + at.second if back == 0 else 86_400
            due = [s for s in self.switches_at(switch, day) if s.second <= seconds]
            if due:
                return max(due, key=lambda s: (s.second, s.on)).on
        return False


@dataclass(frozen=True, slots=True)
class Alcs:
    """The five switches: descriptions, types, calendar, overrides, boost and logs."""

    descriptions: Mapping[int, str] = field(default_factory=dict)
    types: Mapping[int, str] = field(default_factory=dict)  # "ALCS" or "HCALCS <EUI-64>"
    calendar: Calendar = Calendar()
    overrides: Mapping[int, Override] = field(default_factory=dict)
    boosted: frozenset[int] = frozenset()  # the switches the boost button turns on
    boosts: tuple[tuple[datetime, datetime], ...] = ()  # (start, end), newest first
    log: tuple[tuple[datetime, int, str], ...] = ()  # (at, switch, action), newest first

    def state(self, switch: int, at: datetime) -> bool:
        """Whether ``switch`` is on at ``at``: a boost, else a User's override, else the
        calendar."""
        if switch in self.boosted and any(start <= at < end for start, end in self.boosts):
            return True
        override = self.overrides.get(switch)
        if override is not None and (override.until is None or at < override.until):
            return override.on
        return self.calendar.state(switch, at)

    def switch_type(self, switch: int) -> str:
        return self.types.get(switch, "ALCS")

    def _logged(
        self, at: datetime, switch: int, action: str
    ) -> tuple[tuple[datetime, int, str], ...]:
        return ((at, switch, action), *self.log)[:ALCS_LOG_ENTRIES]

    def command(self, at: datetime, switch: int, *, on: bool, minutes: int) -> Alcs:
        """7.5 / 7.6: hold ``switch`` on (off) for ``minutes`` (0: until reset)."""
        if not 0 <= minutes <= 0xFFFF:
            raise _fail(f"a duration is 0 to 65535 minutes, not {minutes}")
        until = at + timedelta(minutes=minutes) if minutes else None
        overrides = {**self.overrides, switch: Override(on, until)}
        return replace(self, overrides=overrides, log=self._logged(at, switch, ON if on else OFF))

    def reset(self, at: datetime, switch: int) -> Alcs:
        """7.8: ``switch`` follows the calendar again."""
        overrides = {n: o for n, o in self.overrides.items() if n != switch}
        return replace(self, overrides=overrides, log=self._logged(at, switch, REVERT))

    def describe(self, descriptions: Mapping[int, str]) -> Alcs:
        """6.14.1: new descriptions for the switches named."""
        for text in descriptions.values():
            if not 1 <= len(text) <= DESCRIPTION_LIMIT or not text.isprintable():
                raise _fail(f"a switch description is 1 to {DESCRIPTION_LIMIT} characters")
        return replace(self, descriptions={**self.descriptions, **descriptions})

    def schedule(
        self,
        schedules: tuple[Schedule, ...],
        special_days: Mapping[int, DatePattern],
        types: Mapping[int, str],
    ) -> Alcs:
        """6.14.2: a new calendar (it replaces the old one) and the switches' types."""
        if not 1 <= len(schedules) <= SCHEDULES:
            raise _fail(f"an ALCS calendar holds 1 to {SCHEDULES} schedules")
        named = {n for s in schedules for n in s.special_days}
        if not named <= set(special_days):
            raise _fail(f"a schedule names special day {min(named - set(special_days))}, not given")
        calendar = Calendar(tuple(schedules), dict(special_days))
        return replace(self, calendar=calendar, types={**self.types, **types})

    def boost_switches(self, switches: frozenset[int], *, add: bool) -> Alcs:
        """7.9 / 7.10: add ``switches`` to (or remove them from) the boost button."""
        boosted = self.boosted | switches if add else self.boosted - switches
        return replace(self, boosted=boosted)

    def boost(self, at: datetime, minutes: int) -> Alcs:
        """The consumer pressed the boost button: the boosted switches are on for ``minutes``."""
        if not self.boosted:
            raise MeterError(Reason.UNSUPPORTED, "no switch is added to the boost button")
        if minutes <= 0:
            raise _fail("a boost lasts at least a minute")
        boosts = ((at, at + timedelta(minutes=minutes)), *self.boosts)[:BOOST_LOG_ENTRIES]
        return replace(self, boosts=boosts)
