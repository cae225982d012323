"""Alerts as the Users receive them: signed DUIS documents with a stable AlertID.

A device alert goes out as a SMETS1 Device Alert: the S1SP's signed ``ra:DeviceAlertContent``
inside an ``sr:SMETS1ResponseMessage``, the whole Response signed by the DCC. Its ResponseID
is ``device:User:counter``; a DCC Alert's is ``DCC:User:counter``. The counter comes from one
source per process, started at the clock's nanoseconds, so AlertIDs never repeat across
restarts. The AlertID is fixed when the alert is written to the outbox, so every redelivery
carries the same one (the outbox key is ``alert:<AlertID>``).
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from opendcc.alerts.codes import DCC_ALERTS, AlertSpec, DccEvent
from opendcc.core.eui import Eui64
from opendcc.core.request_id import RequestId
from opendcc.duis.alerts import (
    DCC_ID,
    CommandFailure,
    S1spAlert,
    Smets1DeviceAlert,
    Throttled,
    dcc_alert,
    s1sp_alert,
    smets1_device_alert,
)
from opendcc.duis.response import sign_document, to_bytes
from opendcc.queue.outbox import Message
from opendcc.smki.credentials import SigningCredentials

MAX_DESCRIPTION = 250


class AlertSigner:
    def __init__(self, dsp: SigningCredentials, s1sp: SigningCredentials) -> None:
        self.dsp = dsp
        self.s1sp = s1sp
        self._counter = itertools.count(time.time_ns())
        self._lock = threading.Lock()

    def next_counter(self) -> int:
        with self._lock:
            return next(self._counter)

    def device_alert(
        self,
        *,
        device_id: Eui64,
        spec: AlertSpec,
        raised_at: datetime,
        values: Mapping[str, Any],
        user: Eui64,
        url: str,
        now: datetime,
    ) -> Message:
        response_id = RequestId(device_id, user, self.next_counter())
        alert = Smets1DeviceAlert(describe(spec, values), raised_at, spec.hex)
        tree = smets1_device_alert(response_id, alert=alert, now=now, s1sp_credentials=self.s1sp)
        body = to_bytes(sign_document(tree, self.dsp))
        return Message(f"alert:{response_id}", str(user), url, body)

    def command_failure(
        self, event: DccEvent, request_id: RequestId, url: str, now: datetime
    ) -> Message:
        """N12/N13: the User's command for a device could not be carried out."""
        spec = DCC_ALERTS[event]
        response_id = RequestId(Eui64.parse(DCC_ID), request_id.originator, self.next_counter())
        content = CommandFailure(request_id, request_id.target)
        tree = dcc_alert(spec.code, content, now, response_id=response_id, request_id=request_id)
        body = to_bytes(sign_document(tree, self.dsp))
        return Message(f"alert:{response_id}", str(request_id.originator), url, body)

    def s1sp_notice(
        self,
        *,
        event: DccEvent,
        device_id: Eui64,
        information: str,
        user: Eui64,
        url: str,
        now: datetime,
        throttled: Throttled | None = None,
    ) -> Message:
        """A DCC alert carrying the S1SP's signed alert about a device (throttling, the
        firmware watch): its S1SPAlertCode is the event's name."""
        spec = DCC_ALERTS[event]
        response_id = RequestId(Eui64.parse(DCC_ID), user, self.next_counter())
        alert = S1spAlert(
            event.value, now, device_id=device_id, additional_information=information[:250]
        )
        tree = s1sp_alert(
            alert,
            now=now,
            s1sp_credentials=self.s1sp,
            dcc_alert_code=spec.code,
            response_id=response_id,
            throttled=throttled,
        )
        body = to_bytes(sign_document(tree, self.dsp))
        return Message(f"alert:{response_id}", str(user), url, body)


def describe(spec: AlertSpec, values: Mapping[str, Any]) -> str:
    """The AlertDescription: the alert's name and its values, within DUIS's 250 characters."""
    extra = "; ".join(f"{name}={value}" for name, value in sorted(values.items()))
    text = f"{spec.description}: {extra}" if extra else spec.description
    return text[:MAX_DESCRIPTION]
