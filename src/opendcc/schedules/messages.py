"""What a DCC schedule sends its User: each run's Response, and N16 when the DCC stops it.

A run's Response is a SMETS1 Response like the router's answer to a User's own request (the
S1SP's signed ``SMETS1SignedResponse`` with the SRV's MMC element or its failure status, the
whole Response signed by the DCC), except that no request preceded it: its header has no
RequestID, only a ResponseID ``device:User:counter``, and its ``SMETS1ResponseMessage`` names
the schedule (``DSPScheduleID``). Its outbox key is ``S:<schedule id>:<nominal instant>``, so
a run answered twice is delivered once.

N16 (``DSPScheduleRemoval``: DeviceID and DSPScheduleID) is the DCC alert that tells a User the
DCC removed one of its schedules, when the User is no longer responsible for the device (change
of supplier) or the device has left service. Its ResponseID is ``DCC:User:counter``.
"""

from __future__ import annotations

from datetime import datetime

from lxml import etree

from opendcc.alerts.codes import DCC_ALERTS, DccEvent
from opendcc.alerts.messages import AlertSigner
from opendcc.core.errors import ResponseCode
from opendcc.core.eui import Eui64
from opendcc.core.request_id import RequestId
from opendcc.duis.alerts import DCC_ID, dcc_alert
from opendcc.duis.response import (
    Smets1Payload,
    scheduled_smets1_response,
    sign_document,
    text_child,
    to_bytes,
)
from opendcc.duis.xml import sr
from opendcc.queue.outbox import Message
from opendcc.smki.credentials import SigningCredentials


def run_key(schedule_id: int, nominal: datetime) -> str:
    """The outbox key of the Response to occurrence ``nominal`` of a schedule."""
    return f"S:{schedule_id}:{nominal.isoformat()}"


def instruction_id(schedule_id: int, nominal: datetime) -> str:
    """The instruction's id for occurrence ``nominal``: the same on every attempt, so the
    head-end carries the run out once."""
    return f"SCHED-{schedule_id}-{nominal:%Y%m%dT%H%M%SZ}"


class ScheduleMessages:
    """Signs what the schedules send: the DCC's key outside, the S1SP's inside."""

    def __init__(
        self, *, dsp: SigningCredentials, s1sp: SigningCredentials, signer: AlertSigner
    ) -> None:
        self.dsp = dsp
        self.s1sp = s1sp
        self.signer = signer

    def run_response(
        self,
        *,
        schedule_id: int,
        device_id: Eui64,
        user_id: Eui64,
        service_reference: str,
        srv: str,
        code: ResponseCode,
        payload: Smets1Payload,
        now: datetime,
    ) -> bytes:
        response_id = RequestId(device_id, user_id, self.signer.next_counter())
        tree = scheduled_smets1_response(
            response_id,
            dsp_schedule_id=schedule_id,
            service_reference=service_reference,
            srv=srv,
            code=code,
            now=now,
            s1sp_credentials=self.s1sp,
            payload=payload,
        )
        return to_bytes(sign_document(tree, self.dsp))

    def removal(
        self, *, schedule_id: int, device_id: Eui64, user_id: Eui64, url: str, now: datetime
    ) -> Message:
        """N16: the DCC removed the User's schedule."""
        spec = DCC_ALERTS[DccEvent.SCHEDULE_REMOVED]
        response_id = RequestId(Eui64.parse(DCC_ID), user_id, self.signer.next_counter())
        content = etree.Element(sr(spec.element))
        text_child(content, sr("DeviceID"), device_id)
        text_child(content, sr("DSPScheduleID"), schedule_id)
        tree = dcc_alert(spec.code, content, now, response_id=response_id)
        body = to_bytes(sign_document(tree, self.dsp))
        return Message(f"alert:{response_id}", str(user_id), url, body)
