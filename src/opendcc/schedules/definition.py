"""What a DCC schedule asks for: the ``sr:DSPSchedule`` a User sends in 5.1 Create Schedule.

A DSP schedule names its recurrence (``opendcc.schedules.recurrence``), the device, the
scheduled SRV (``DSPScheduledServiceReferenceVariant``) and one ``DSP*`` choice element with
that SRV's parameters. A log read is scheduled with a ``ReadLogPeriodOffset``: day offsets (0 or
negative) and times of day, counted from the date of each occurrence. For occurrence ``N``:

    start = (N's date + StartDateOffset) at StartTime, end = (N's date + EndDateOffset) at EndTime

Each run is carried out exactly as the on-demand request would be: the runner builds the SRV's
own request body (``sr:RetrieveImportDailyReadLog`` with a ``ReadLogPeriod``, ...) for the
occurrence and reads the instruction parameters from it with ``opendcc.s1sp.services``, the
same function the DSP and the DCO use for a User's request.

``SCHEDULED`` lists every SRV DUIS lets a DSP schedule, with its choice element; the ones
opendcc carries out on SMETS1 are those with a core SMETS1 service (``schedulable``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TypeVar

from lxml import etree

from opendcc.core.errors import DuisError, ResponseCode
from opendcc.core.eui import Eui64
from opendcc.duis.response import format_datetime, text_child
from opendcc.duis.xml import sr
from opendcc.s1sp import services
from opendcc.schedules.recurrence import Frequency, Recurrence

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Scheduled:
    """One DSP-schedulable SRV: its DSPSchedule choice element and its on-demand body element;
    ``period``: the choice is a ReadLogPeriodOffset (else it carries nothing)."""

    element: str
    on_demand: str
    period: bool


# DUIS v5.4 DSPScheduledServiceReferenceVariant and the DSPSchedule choice.
SCHEDULED = {
    "4.2": Scheduled(
        "DSPReadInstantaneousExportRegisters", "ReadInstantaneousExportRegisters", False
    ),
    "4.6.1": Scheduled("DSPRetrieveImportDailyReadLog", "RetrieveImportDailyReadLog", True),
    "4.6.2": Scheduled("DSPRetrieveExportDailyReadLog", "RetrieveExportDailyReadLog", True),
    "4.8.1": Scheduled("DSPReadActiveImportProfileData", "ReadActiveImportProfileData", True),
    "4.8.2": Scheduled("DSPReadReactiveImportProfileData", "ReadReactiveImportProfileData", True),
    "4.8.3": Scheduled("DSPReadExportProfileData", "ReadExportProfileData", True),
    "4.10": Scheduled("DSPReadNetworkData", "ReadNetworkData", True),
    "4.12.1": Scheduled(
        "DSPReadMaximumDemandImportRegisters", "ReadMaximumDemandImportRegisters", False
    ),
    "4.12.2": Scheduled(
        "DSPReadMaximumDemandExportRegisters", "ReadMaximumDemandExportRegisters", False
    ),
    "4.14": Scheduled("DSPReadPrepaymentDailyReadLog", "ReadPrepaymentDailyReadLog", True),
    "4.15": Scheduled("DSPReadLoadLimitData", "ReadLoadLimitData", False),
    "4.16": Scheduled("DSPReadActivePowerImport", "ReadActivePowerImport", False),
    "4.17": Scheduled("DSPRetrieveDailyConsumptionLog", "RetrieveDailyConsumptionLog", True),
    "14.1": Scheduled("DSPRecordNetworkDataGAS", "RecordNetworkDataGAS", False),
}
_CHOICES = frozenset(s.element for s in SCHEDULED.values())


def schedulable(srv: str) -> bool:
    """Whether opendcc runs DSP schedules of ``srv`` on SMETS1 devices (a core service)."""
    return srv in SCHEDULED and srv in services.SERVICES


class InvalidSchedule(DuisError):
    """The DSPSchedule cannot be run as written (DUIS E11 at the front door)."""

    code = ResponseCode.SRV_NOT_FOR_DEVICE_TYPE
    http_status = 200


@dataclass(frozen=True, slots=True)
class LogOffset:
    """A ``ReadLogPeriodOffset``: the period each run reads, relative to its occurrence's date."""

    start_days: int
    start_time: time
    end_days: int
    end_time: time

    def period(self, nominal: datetime) -> tuple[datetime, datetime]:
        day = nominal.astimezone(UTC).date()
        start = datetime.combine(day + timedelta(days=self.start_days), self.start_time, UTC)
        end = datetime.combine(day + timedelta(days=self.end_days), self.end_time, UTC)
        return start, end


@dataclass(frozen=True, slots=True)
class ScheduleDefinition:
    """A parsed ``sr:DSPSchedule`` (``sr:CreateSchedule``) element."""

    recurrence: Recurrence
    service_reference: str
    srv: str
    device_id: Eui64
    choice: str  # the local name of the DSP* choice element
    offset: LogOffset | None  # for a ReadLogPeriodOffset choice

    def request_body(self, nominal: datetime) -> etree._Element:
        """The on-demand request body that occurrence ``nominal`` stands for."""
        scheduled = SCHEDULED[self.srv]
        body = etree.Element(sr(scheduled.on_demand))
        if self.offset is not None:
            start, end = self.offset.period(nominal)
            period = etree.SubElement(body, sr("ReadLogPeriod"))
            text_child(period, sr("StartDateTime"), format_datetime(start))
            text_child(period, sr("EndDateTime"), format_datetime(end))
        return body

    def parameters(self, nominal: datetime) -> dict[str, str]:
        """The instruction parameters of occurrence ``nominal`` (``InvalidParameters``)."""
        return services.parameters(self.srv, self.request_body(nominal))


def parse_definition(element: etree._Element) -> ScheduleDefinition:
    """Read a DSPSchedule; ``InvalidSchedule`` when it does not hang together.

    It checks what the XSD cannot: the choice element belongs to the SRV, the SRV to the
    Service Reference, the end date is not before the start date, and the log period does not
    end before it starts. Whether the SRV is schedulable is the caller's business.
    """
    srv = _text(element, "DSPScheduledServiceReferenceVariant")
    reference = _text(element, "DSPScheduledServiceReference")
    scheduled = SCHEDULED.get(srv)
    if scheduled is None:
        raise InvalidSchedule(f"SRV {srv} cannot be DSP-scheduled")
    if not (srv == reference or srv.startswith(f"{reference}.")):
        raise InvalidSchedule(f"SRV {srv} is not of Service Reference {reference}")
    choices = [child for child in element if etree.QName(child).localname in _CHOICES]
    if len(choices) != 1 or etree.QName(choices[0]).localname != scheduled.element:
        found = ", ".join(etree.QName(c).localname for c in choices) or "none"
        raise InvalidSchedule(f"SRV {srv} is scheduled with sr:{scheduled.element}, not {found}")
    try:
        device_id = Eui64.parse(_text(element, "DeviceID"))
        recurrence = Recurrence(
            Frequency(_text(element, "ScheduleFrequency")),
            _date(_text(element, "ScheduleStartDate")),
            _optional(element, "ScheduleEndDate", _date),
            _optional(element, "ScheduleExecutionStartTime", utc_time) or time(0, 0),
        )
    except ValueError as exc:
        raise InvalidSchedule(str(exc)) from None
    offset = _offset(choices[0]) if scheduled.period else None
    return ScheduleDefinition(recurrence, reference, srv, device_id, scheduled.element, offset)


def _offset(choice: etree._Element) -> LogOffset:
    try:
        offset = LogOffset(
            int(_text(choice, "StartDateOffset")),
            utc_time(_text(choice, "StartTime")),
            int(_text(choice, "EndDateOffset")),
            utc_time(_text(choice, "EndTime")),
        )
    except ValueError as exc:
        raise InvalidSchedule(f"not a ReadLogPeriodOffset: {exc}") from None
    start, end = offset.period(datetime(2000, 1, 1, tzinfo=UTC))
    if start > end:
        raise InvalidSchedule("the scheduled log period ends before it starts")
    return offset


def _text(parent: etree._Element, local: str) -> str:
    text = parent.findtext(sr(local))
    if text is None:
        raise InvalidSchedule(f"sr:{etree.QName(parent).localname} has no sr:{local}")
    return text.strip()


def _optional(parent: etree._Element, local: str, read: Callable[[str], T]) -> T | None:
    text = parent.findtext(sr(local))
    return None if text is None else read(text.strip())


def _date(text: str) -> date:
    """An xs:date; a time zone, if any, is ignored (DUIS dates are UK calendar dates)."""
    return date.fromisoformat(text[:10])


def utc_time(text: str) -> time:
    """An xs:time as naive UTC (a time with an offset is moved to UTC)."""
    value = time.fromisoformat(text.strip())
    if value.tzinfo is not None:
        value = datetime.combine(date(2000, 1, 1), value).astimezone(UTC).time()
    return value.replace(microsecond=0)
