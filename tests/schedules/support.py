"""What the schedule tests share: a DSPSchedule body, a User, a fake authorise and submit."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from lxml import etree
from sqlalchemy import Engine

from opendcc.alerts.messages import AlertSigner
from opendcc.catalogue import UserRole
from opendcc.catalogue.devices import DeviceType
from opendcc.catalogue.srv import default_catalogue
from opendcc.core.clock import FixedClock
from opendcc.core.errors import ResponseCode
from opendcc.core.eui import Eui64
from opendcc.core.request_id import RequestId
from opendcc.dsp.access import AccessDenied, Granted
from opendcc.duis.request import CommandVariant, ServiceRequest
from opendcc.duis.xml import SR_NS, sr
from opendcc.inventory import Device, SmiStatus
from opendcc.s1sp.contract import Instruction, Outcome, OutcomeStatus
from opendcc.schedules import Schedules, ScheduleSettings
from opendcc.smki import SigningCredentials
from opendcc.store.users import User, UserStatus

SUPPLIER = Eui64.parse("90-B3-D5-1F-30-01-00-00")
OTHER = Eui64.parse("90-B3-D5-1F-30-02-00-00")
METER = Eui64.parse("88-73-84-57-00-2F-96-1E")
CALLBACK = "http://127.0.0.1:9/duis"
COHORT = "test-cohort"
_counter = iter(range(1000, 10**6))


def user(user_id: Eui64 = SUPPLIER) -> User:
    return User(user_id, frozenset({UserRole.IS}), UserStatus.ACTIVE, CALLBACK)


def dsp_schedule(
    *,
    frequency: str = "Daily",
    start: str = "2024-06-02",
    end: str | None = None,
    at: str | None = "01:00:00",
    srv: str = "4.6.1",
    choice: str = "DSPRetrieveImportDailyReadLog",
    offsets: tuple[int, str, int, str] | None = (-1, "00:00:00", 0, "00:00:00"),
    device: Eui64 = METER,
    tag: str = "CreateSchedule",
) -> etree._Element:
    """An ``sr:CreateSchedule`` in the v5.4 XSD's element order."""
    body = etree.Element(sr(tag), nsmap={"sr": SR_NS})
    values = [("ScheduleFrequency", frequency), ("ScheduleStartDate", start)]
    values += [("ScheduleEndDate", end)] if end else []
    values += [("ScheduleExecutionStartTime", at)] if at else []
    reference = ".".join(srv.split(".")[:2])
    values += [
        ("DSPScheduledServiceReference", reference),
        ("DSPScheduledServiceReferenceVariant", srv),
        ("DeviceID", str(device)),
    ]
    for local, text in values:
        etree.SubElement(body, sr(local)).text = text
    element = etree.SubElement(body, sr(choice))
    if offsets is not None:
        names = ("StartDateOffset", "StartTime", "EndDateOffset", "EndTime")
        for local, value in zip(names, offsets, strict=True):
            etree.SubElement(element, sr(local)).text = str(value)
    return body


def service_request(srv: str, body: etree._Element, originator: Eui64 = SUPPLIER) -> ServiceRequest:
    dcc = Eui64.parse("90-B3-D5-1F-30-00-00-02")
    return ServiceRequest(
        request_id=RequestId(originator, dcc, next(_counter)),
        command_variant=CommandVariant.NON_DEVICE,
        service_reference=srv,
        srv=srv,
        body=body,
        document=body.getroottree(),
        schema_version="5.4",
    )


def granted(srv: str, user_id: Eui64 = SUPPLIER) -> Granted:
    return Granted(user(user_id), default_catalogue().get(srv), frozenset({UserRole.IS}), None)


def device(device_id: Eui64 = METER) -> Device:
    return Device(device_id, DeviceType.ESME, SmiStatus.COMMISSIONED, "ACME", "M1", cohort=COHORT)


@dataclass
class Authority:
    """``Authorise`` whose answer a test sets: the device, or a refusal code."""

    refusal: ResponseCode | None = None
    calls: int = 0

    def __call__(self, user_id: Eui64, srv: str, device_id: Eui64, now: datetime) -> Device:
        self.calls += 1
        if self.refusal is not None:
            raise AccessDenied(self.refusal, f"refused {self.refusal} for {user_id} at {now}")
        return device(device_id)


@dataclass
class HeadEnd:
    """``Submit`` that records each instruction and answers a 4.6.1 daily read log."""

    status: OutcomeStatus = OutcomeStatus.SUCCESS
    fail_next: int = 0  # raise this many times first (a run interrupted mid-way)
    seen: list[tuple[str, Instruction]] = field(default_factory=list)

    async def __call__(self, cohort: str, instruction: Instruction) -> Outcome:
        self.seen.append((cohort, instruction))
        if self.fail_next:
            self.fail_next -= 1
            raise ConnectionError("head-end went away")
        data: dict[str, Any] = {}
        if self.status is OutcomeStatus.SUCCESS:
            taken = datetime.fromisoformat(instruction.parameters["end"].replace("Z", "+00:00"))
            data = {"fuel": "electricity", "daily_reads": ((taken, 123456, (1, 2, 3, 4)),)}
        return Outcome(instruction.request_id, self.status, data, "")


@dataclass
class Rig:
    schedules: Schedules
    clock: FixedClock
    authority: Authority
    head_end: HeadEnd


def rig(
    engine: Engine,
    clock: FixedClock,
    dcc: SigningCredentials,
    s1sp: SigningCredentials,
    *,
    settings: ScheduleSettings | None = None,
    authority: Authority | None = None,
    head_end: HeadEnd | None = None,
    busy: Callable[[], bool] = lambda: False,
    prefetch: Callable[[Sequence[Eui64]], object] = lambda _devices: None,
) -> Rig:
    authority = authority or Authority()
    head_end = head_end or HeadEnd()
    schedules = Schedules(
        engine=engine,
        clock=clock,
        catalogue=default_catalogue(),
        authorise=authority,
        submit=head_end,
        dsp=dcc,
        s1sp=s1sp,
        signer=AlertSigner(dcc, s1sp),
        callback_of=lambda user_id: CALLBACK,
        settings=settings or ScheduleSettings(poll=0.01),
        interactive_busy=busy,
        prefetch=prefetch,
    )
    return Rig(schedules, clock, authority, head_end)
