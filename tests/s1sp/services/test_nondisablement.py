"""2.1's non-disablement calendar, carried whole for the GBCS pre-command: what the DUIS
templates read as, and bad calendars refused with InvalidParameters (so the request is
refused with a DUIS code, nothing changed)."""

from __future__ import annotations

import copy
from collections.abc import Callable

import pytest
from lxml import etree
from tests.s1sp.services.harness import request_body, templates_for

from opendcc.duis.xml import sr
from opendcc.s1sp.services.base import InvalidParameters
from opendcc.s1sp.services.nondisablement import xs_date, xs_time
from opendcc.s1sp.services.prepayment import prepay_configuration_parameters


def _body(name: str) -> etree._Element:
    path = next(p for p in templates_for("2.1") if p.name == name)
    return copy.deepcopy(request_body(path))


ELEC = "ECS08_2.1_IMMEDIATE_SUCCESS_REQUEST_DUIS.XML"
GAS = "GCS05_2.1_IMMEDIATE_SUCCESS_REQUEST_DUIS.XML"


def test_a_date_of_any_year_and_a_time_to_the_hundredth() -> None:
    assert xs_date("65535-07-26Z") == "FFFF071AFF"
    assert xs_date("2014-10-27") == "07DE0A1BFF"
    assert xs_time("09:30:00.00Z") == "09:30:00.00"
    assert xs_time("18:45:07.5Z") == "18:45:07.50"
    assert xs_time("00:30:00+01:00") == "23:30:00.00"  # moved to UTC
    assert xs_time("23:30:00-01:00") == "00:30:00.00"
    assert xs_time("07:00:00") == "07:00:00.00"  # no zone: UTC


@pytest.mark.parametrize("text", ["2014-13-01Z", "27/10/2014", "65536-01-01Z", "2014-10-27+1"])
def test_a_date_that_is_not_an_xs_date_is_refused(text: str) -> None:
    with pytest.raises(InvalidParameters):
        xs_date(text)


@pytest.mark.parametrize("text", ["24:00:00Z", "9:30", "09:30:00+1"])
def test_a_time_that_is_not_an_xs_time_is_refused(text: str) -> None:
    with pytest.raises(InvalidParameters):
        xs_time(text)


def _first(body: etree._Element, local: str) -> etree._Element:
    found = next(body.iter(sr(local)), None)
    assert found is not None, local
    return found


def _set_text(local: str, text: str) -> Callable[[etree._Element], None]:
    def change(body: etree._Element) -> None:
        _first(body, local).text = text

    return change


def _drop(local: str) -> Callable[[etree._Element], None]:
    def change(body: etree._Element) -> None:
        element = _first(body, local)
        parent = element.getparent()
        assert parent is not None
        parent.remove(element)

    return change


@pytest.mark.parametrize(
    ("name", "change", "message"),
    [
        (ELEC, _set_text("DayOfWeekID", "Caturday"), "not a day of the week"),
        (ELEC, _set_text("NonDisablementScript", "PAUSE"), "START or STOP"),
        (ELEC, _set_text("SwitchTime", "09:30"), "not an xs:time"),
        (ELEC, _set_text("SpecialDayID", "21"), "not 1-20"),
        (ELEC, _set_text("SpecifiedMonth", "13"), "not 1-12"),
        (GAS, _set_text("NonDisablementAction", "PAUSE"), "START or STOP"),
        (GAS, _drop("ReferencedDayName"), "for each of 7 days"),
        (GAS, _set_text("SpecifiedDayOfMonth", "32"), "not 1-31"),
    ],
)
def test_a_bad_calendar_is_refused(
    name: str, change: Callable[[etree._Element], None], message: str
) -> None:
    body = _body(name)
    prepay_configuration_parameters(body)  # the template itself reads
    change(body)
    with pytest.raises(InvalidParameters, match=message):
        prepay_configuration_parameters(body)
