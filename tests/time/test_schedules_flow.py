"""DCC schedules through the running hub, with real head-ends and time moved by the test.

A daily 4.6.1 schedule runs every day at its time, each run a signed Response carrying its
DSPScheduleID; it survives a restart; after three days down only the run within the missed-run
window is made; it stops (with DCC alert N16) when the supplier changes; 5.2 reads it and 5.3
deletes it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from lxml import etree
from tests.reference import XSD_V54
from tests.time.rig import Rig, code_of, timed_estate, wait_until

from opendcc.catalogue import UserRole
from opendcc.core.eui import Eui64
from opendcc.dsp.access import Endpoint
from opendcc.duis.schema import load_schema
from opendcc.duis.xml import parse_xml, sr
from opendcc.inventory.registration import Registration

COHORT = "landis"
FIRST = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
GAINING = Eui64.parse("90-B3-D5-1F-30-09-00-00")


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    config = "[schedules]\nspread_seconds = 60\nmissed_window_seconds = 86400\n"
    with timed_estate(tmp_path, config) as running:
        yield running  # type: ignore[misc]


def _create(rig: Rig, device: Eui64) -> int:
    body = (
        "<sr:CreateSchedule><sr:ScheduleFrequency>Daily</sr:ScheduleFrequency>"
        "<sr:ScheduleStartDate>2026-03-02</sr:ScheduleStartDate>"
        "<sr:ScheduleExecutionStartTime>01:00:00</sr:ScheduleExecutionStartTime>"
        "<sr:DSPScheduledServiceReference>4.6</sr:DSPScheduledServiceReference>"
        "<sr:DSPScheduledServiceReferenceVariant>4.6.1</sr:DSPScheduledServiceReferenceVariant>"
        f"<sr:DeviceID>{device}</sr:DeviceID>"
        "<sr:DSPRetrieveImportDailyReadLog><sr:StartDateOffset>-1</sr:StartDateOffset>"
        "<sr:StartTime>00:00:00</sr:StartTime><sr:EndDateOffset>0</sr:EndDateOffset>"
        "<sr:EndTime>00:00:00</sr:EndTime></sr:DSPRetrieveImportDailyReadLog>"
        "</sr:CreateSchedule>"
    )
    answer = rig.post(Endpoint.NON_DEVICE, rig.supplier.request("5.1", device, cv=8, body=body))
    assert answer.code == "I0", answer.reason
    return int(parse_xml(answer.body).getroot().findtext(f".//{sr('DSPScheduleID')}") or "0")


def _run_key(schedule: int, day: int) -> str:
    return f"S:{schedule}:{(FIRST + timedelta(days=day)).isoformat()}"


def _until(rig: Rig, instant: datetime) -> None:
    rig.clock.set(instant)


def test_a_daily_schedule_runs_each_day_across_a_restart_and_a_missed_window(rig: Rig) -> None:
    device, _ = rig.meter_of(COHORT)
    core = rig.core(COHORT)
    schedule = _create(rig, device)
    schema = load_schema(XSD_V54)

    assert not wait_until(lambda: _run_key(schedule, 0) in rig.delivered_keys(), timeout=1.0)
    _until(rig, FIRST + timedelta(minutes=2))
    root = rig.delivered(_run_key(schedule, 0))
    assert code_of(root) == "I0"
    assert root.findtext(f".//{sr('DSPScheduleID')}") == str(schedule)
    schema.validate(root.getroottree())
    executed = core.executions[device]

    rig.restart()  # the schedule is in the store, not in the process
    _until(rig, FIRST + timedelta(days=1, minutes=2))
    assert code_of(rig.delivered(_run_key(schedule, 1))) == "I0"
    assert core.executions[device] == executed + 1

    rig.stop()  # three days down: days 2 and 3 are outside the one-day window
    _until(rig, FIRST + timedelta(days=4, minutes=2))
    rig.start()
    assert code_of(rig.delivered(_run_key(schedule, 4))) == "I0"
    assert not {_run_key(schedule, 2), _run_key(schedule, 3)} & rig.delivered_keys()
    assert core.executions[device] == executed + 2

    # 5.2 reads it back, schema-valid.
    read = f"<sr:ReadSchedule><sr:DeviceID>{device}</sr:DeviceID></sr:ReadSchedule>"
    answer = rig.post(Endpoint.NON_DEVICE, rig.supplier.request("5.2", device, cv=8, body=read))
    assert answer.code == "I0"
    found = parse_xml(answer.body).getroot()
    schema.validate(found.getroottree())
    assert found.findtext(f".//{sr('DSPSchedules')}/{sr('DSPScheduleID')}") == str(schedule)

    # 5.3 deletes it: no more runs.
    delete = (
        f"<sr:DeleteSchedule><sr:DSPScheduleID>{schedule}</sr:DSPScheduleID></sr:DeleteSchedule>"
    )
    answer = rig.post(Endpoint.NON_DEVICE, rig.supplier.request("5.3", device, cv=8, body=delete))
    assert answer.code == "I0"
    _until(rig, FIRST + timedelta(days=5, minutes=2))
    assert not wait_until(lambda: _run_key(schedule, 5) in rig.delivered_keys(), timeout=1.5)


def test_a_schedule_stops_when_its_user_is_no_longer_the_supplier(rig: Rig) -> None:
    device, _ = rig.meter_of(COHORT)
    schedule = _create(rig, device)
    _until(rig, FIRST + timedelta(minutes=2))
    assert code_of(rig.delivered(_run_key(schedule, 0))) == "I0"

    mpan = rig.installs[COHORT].mpan
    hub = rig.running
    hub.inventory.register([Registration(mpan, UserRole.IS, GAINING, FIRST + timedelta(hours=12))])
    hub.inventory.clear_cache()
    _until(rig, FIRST + timedelta(days=1, minutes=2))

    def removal() -> etree._Element | None:
        for key in rig.delivered_keys():
            root = parse_xml(rig.callback.body_of(key)).getroot()
            if root.findtext(f".//{sr('DCCAlertCode')}") == "N16":
                return root
        return None

    assert wait_until(lambda: removal() is not None)
    alert = removal()
    assert alert is not None
    load_schema(XSD_V54).validate(alert.getroottree())
    assert alert.findtext(f".//{sr('DSPScheduleRemoval')}/{sr('DSPScheduleID')}") == str(schedule)
    assert _run_key(schedule, 1) not in rig.delivered_keys()
    _until(rig, FIRST + timedelta(days=2, minutes=2))
    assert not wait_until(lambda: _run_key(schedule, 2) in rig.delivered_keys(), timeout=1.0)
