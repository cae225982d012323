"""5.1 Create Schedule, 5.2 Read Schedule and 5.3 Delete Schedule: non-device requests the
front door answers synchronously through these handlers (``opendcc.dsp.frontdoor.NonDevice``).

5.1 refuses with E11 a schedule opendcc cannot run: an SRV that is not DSP-schedulable on
SMETS1 (catalogue ``dcc_scheduled`` and ``smets1_supported``, and a core SMETS1 service), a
choice element that is not the SRV's, an end date before the start date, a schedule with no
occurrence left, or parameters SMETS1 cannot carry out. It then asks, as a run will, whether
the User may have the SRV carried out on the device now (``Authorise``: its own codes, E4 when
the User is not responsible, E71 for a restricted meter, ...). Accepted, it is answered I0
with ``sr:DSPScheduleID``.

5.2 and 5.3 name a DSPScheduleID or a DeviceID and only ever see the User's own active
schedules. Choices made where DUIS leaves room (the v5.4 XSD's ResponseMessage payload is
optional, and ``DSPSchedulesRead`` needs at least one schedule):

- a DSPScheduleID that is unknown or no longer active: E19; another User's: E4;
- 5.2 by DeviceID with no schedules of the User's for the device: I0 with no payload;
- 5.3 by DeviceID with none: E19; otherwise every one of them is deleted;
- 5.3 is answered I0 with no payload: the deletion is done when the answer is sent.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

from lxml import etree
from sqlalchemy import Connection

from opendcc.catalogue import Catalogue
from opendcc.catalogue.srv import UnknownServiceReferenceVariant
from opendcc.core.errors import DuisError, ResponseCode
from opendcc.core.eui import Eui64
from opendcc.dsp.access import AccessDenied, Granted
from opendcc.dsp.frontdoor import NonDevice, NonDeviceAnswer
from opendcc.duis.request import ServiceRequest
from opendcc.duis.response import text_child
from opendcc.duis.xml import parse_xml, sr
from opendcc.schedules.definition import InvalidSchedule, parse_definition, schedulable
from opendcc.schedules.settings import Authorise
from opendcc.schedules.store import ACTIVE, NewSchedule, ScheduleRow, ScheduleStore

E4 = ResponseCode.NOT_RESPONSIBLE_PARTY
E11 = ResponseCode.SRV_NOT_FOR_DEVICE_TYPE
E19 = ResponseCode.UNKNOWN_DEVICE


class ScheduleRequests:
    def __init__(
        self,
        *,
        store: ScheduleStore,
        catalogue: Catalogue,
        authorise: Authorise,
        wake: Callable[[], None],
    ) -> None:
        self.store = store
        self.catalogue = catalogue
        self.authorise = authorise
        self.wake = wake

    def handlers(self) -> Mapping[str, NonDevice]:
        return {"5.1": self.create, "5.2": self.read, "5.3": self.delete}

    # ------------------------------------------------------------------ 5.1

    def create(self, request: ServiceRequest, granted: Granted, now: datetime) -> NonDeviceAnswer:
        user = granted.user.user_id
        try:
            definition = parse_definition(request.body)
        except InvalidSchedule as exc:
            raise AccessDenied(E11, str(exc)) from None
        self._check_schedulable(definition.srv)
        first = definition.recurrence.first_at_or_after(now)
        if first is None:
            raise AccessDenied(E11, "the schedule has no occurrence left before its end date")
        definition.parameters(first)  # InvalidParameters: E11 at the front door
        self.authorise(user, definition.srv, definition.device_id, now)
        new = NewSchedule(
            user_id=user,
            device_id=definition.device_id,
            srv=definition.srv,
            recurrence=definition.recurrence,
            body=etree.tostring(request.body, encoding="unicode"),
            created_by=str(request.request_id),
        )

        def write(conn: Connection) -> etree._Element:
            schedule_id = self.store.insert_in(conn, new, now)
            element = etree.Element(sr("DSPScheduleID"))
            element.text = str(schedule_id)
            return element

        reason = f"schedule of {definition.srv} for {definition.device_id} created"
        return NonDeviceAnswer(write=write, reason=reason, then=self.wake)

    def _check_schedulable(self, srv: str) -> None:
        try:
            row = self.catalogue.get(srv)
        except UnknownServiceReferenceVariant:
            raise AccessDenied(E11, f"SRV {srv} is not in the catalogue") from None
        if not (row.dcc_scheduled and row.smets1_supported and schedulable(srv)):
            raise AccessDenied(E11, f"SRV {srv} cannot be DSP-scheduled for SMETS1 devices")

    # ------------------------------------------------------------------ 5.2 5.3

    def read(self, request: ServiceRequest, granted: Granted, now: datetime) -> NonDeviceAnswer:
        del now
        found = self._named(request.body, granted.user.user_id)
        payload = _schedules_read(found) if found else None
        return NonDeviceAnswer(write=lambda conn: payload, reason=f"{len(found)} schedules read")

    def delete(self, request: ServiceRequest, granted: Granted, now: datetime) -> NonDeviceAnswer:
        del now
        found = self._named(request.body, granted.user.user_id)
        if not found:
            raise AccessDenied(E19, "the User has no active schedule for that device")
        ids = [row.schedule_id for row in found]

        def write(conn: Connection) -> None:
            self.store.delete_in(conn, ids)

        deleted = ", ".join(str(i) for i in ids)
        return NonDeviceAnswer(write=write, reason=f"schedules {deleted} deleted")

    def _named(self, body: etree._Element, user: Eui64) -> list[ScheduleRow]:
        """The User's active schedules a ReadSchedule or DeleteSchedule names."""
        schedule_id = body.findtext(sr("DSPScheduleID"))
        if schedule_id is not None:
            if not schedule_id.strip().isdigit():
                raise AccessDenied(E19, f"not a DSPScheduleID: {schedule_id!r}")
            return [self._own(int(schedule_id.strip()), user)]
        try:
            device_id = Eui64.parse(body.findtext(sr("DeviceID")) or "")
        except DuisError as exc:
            raise AccessDenied(E19, f"no such device: {exc}") from None
        return self.store.active_for(user, device_id)

    def _own(self, schedule_id: int, user: Eui64) -> ScheduleRow:
        row = self.store.get(schedule_id)
        if row is None or row.state != ACTIVE:
            raise AccessDenied(E19, f"no active DCC schedule {schedule_id}")
        if row.user_id != user:
            raise AccessDenied(E4, f"DCC schedule {schedule_id} is not the User's")
        return row


def _schedules_read(rows: list[ScheduleRow]) -> etree._Element:
    """``sr:DSPSchedulesRead``: each schedule's id and the DSPSchedule as the User sent it."""
    element = etree.Element(sr("DSPSchedulesRead"))
    for row in rows:
        entry = etree.SubElement(element, sr("DSPSchedules"))
        text_child(entry, sr("DSPScheduleID"), row.schedule_id)
        details = parse_xml(row.body.encode("utf-8")).getroot()
        details.tag = sr("DSPScheduleDetails")
        entry.append(details)
    return element
