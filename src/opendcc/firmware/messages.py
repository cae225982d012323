"""DCC alert N14: firmware from an 11.1 Update Firmware could not be distributed to meters.

The alert carries ``sr:FirmwareDistributionFailure`` (the 11.1 RequestID and the Device IDs
that failed) and goes to the User who sent the request, signed by the DSP, with ResponseID
``DCC:User:counter`` (the counter from the alert signer, so AlertIDs never repeat).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from lxml import etree

from opendcc.alerts.codes import DCC_ALERTS, DccEvent
from opendcc.alerts.messages import AlertSigner
from opendcc.core.eui import Eui64
from opendcc.core.request_id import RequestId
from opendcc.duis.alerts import DCC_ID, dcc_alert
from opendcc.duis.response import sign_document, text_child, to_bytes
from opendcc.duis.xml import sr
from opendcc.queue.outbox import Message
from opendcc.smki.credentials import SigningCredentials


def distribution_failure(
    request_id: RequestId,
    meters: Sequence[Eui64],
    *,
    url: str,
    now: datetime,
    dsp: SigningCredentials,
    signer: AlertSigner,
) -> Message:
    """The signed N14 alert for ``meters`` of the 11.1 request ``request_id``."""
    if not meters:
        raise ValueError("N14 names at least one meter")
    spec = DCC_ALERTS[DccEvent.FIRMWARE_DISTRIBUTION_FAILED]
    user = request_id.originator
    response_id = RequestId(Eui64.parse(DCC_ID), user, signer.next_counter())
    content = etree.Element(sr(spec.element))
    text_child(content, sr("UpdateFirmwareRequestID"), request_id)
    text_child(content, sr("MeterIDs"), ",".join(str(m) for m in meters))
    tree = dcc_alert(spec.code, content, now, response_id=response_id, request_id=request_id)
    body = to_bytes(sign_document(tree, dsp))
    return Message(f"alert:{response_id}", str(user), url, body)
