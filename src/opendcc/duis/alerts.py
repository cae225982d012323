"""DUIS Alerts as the DCC sends them: Device Alerts, DCC Alerts and S1SP Alerts.

Alerts reach a DCC User unasked, as an ``sr:Response`` with ResponseCode I0:

- a Device Alert carries a meter's GBCS (Great Britain Companion Specification) alert; for a
  SMETS1 (first-generation) device it comes instead as the S1SP's (SMETS1 Service Provider's)
  signed MMC (Message Mapping Catalogue) alert inside an ``sr:SMETS1ResponseMessage``;
- a DCC Alert (``DCCAlertMessage``) is raised by the DCC itself: a quarantined request from
  anomaly detection (AD), a power outage, a command that could not be delivered, ...;
- an S1SP Alert is a DCC Alert that carries the S1SP's own signed ``sr:S1SPAlert``.

Builders are pure (values and ``now`` in, an ``lxml`` tree out) and follow the DUIS v5.4 XSD's
element order. Sign the result with ``opendcc.duis.response.sign_document``.
"""

from __future__ import annotations

import base64
import copy
import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from lxml import etree

from opendcc.core.errors import ResponseCode
from opendcc.core.eui import Eui64
from opendcc.core.request_id import RequestId
from opendcc.duis.response import (
    NSMAP,
    S1SP_SIGNED,
    SCHEMA_VERSION,
    Header,
    find_required,
    format_datetime,
    new_response,
    signed_standalone,
    smets1_message,
    smets1_signed_response,
    text_child,
)
from opendcc.duis.xml import SR_NS, ra, sr
from opendcc.duis.xmldsig import CertificateLookup, SignerPolicy, verify
from opendcc.smki.certificates import CertificateInfo
from opendcc.smki.credentials import SigningCredentials

_HEX_OCTETS = re.compile(r"(?:[0-9A-Fa-f]{2})+")
_UTRN = re.compile(r"[0-9]{20}")
_SCHEDULE_ID_MAX = 10**12  # sr:scheduleID
_MAX_MPXN = 13  # sr:ImportMPxN
_MAX_ALERT_TEXT = 250  # ra:DeviceAlertContentType/AlertDescription

# The DCCAlertCode values DUIS v5.4 enumerates (there is no N32).
DCC_ALERT_CODES = frozenset({"AD1", "N999", *(f"N{n}" for n in range(1, 66) if n != 32)})

# The v5.4 XSD ties no DCCAlertCode to S1SPAlertDSP (no comment or annotation names one), so
# the code is a parameter of ``s1sp_alert``. The default is N999, the one code the XSD keeps
# outside the numbered N1-N65 sequence; override it where a deployment's DUIS table says so.
S1SP_DCC_ALERT_CODE = "N999"

# The DCC's own EUI-64 in the ZAZ1 test PKI: the originator of DCC Alerts' ResponseIDs.
DCC_ID = "90-B3-D5-1F-30-00-00-02"


@dataclass(frozen=True, slots=True)
class Throttled:
    """``ThrottledAlertSequenceId`` and ``ThrottledAlertCount`` of a DCC Alert: how many device
    alerts the DCC held back, in the device's ``sequence``-th throttled window."""

    sequence: int
    count: int

    def __post_init__(self) -> None:
        if not (0 <= self.sequence < 2**32 and 0 <= self.count < 2**32):
            raise ValueError("throttled alert sequence and count are unsigned 32-bit")


def _hex_code(code: str, what: str) -> str:
    if not _HEX_OCTETS.fullmatch(code):
        raise ValueError(f"{what} must be whole octets of hex, like 8F3E: {code!r}")
    return code.upper()


def _schedule_id(value: int) -> int:
    if not 0 <= value <= _SCHEDULE_ID_MAX:
        raise ValueError(f"a DSP schedule id is 0..{_SCHEDULE_ID_MAX}: {value}")
    return value


# --------------------------------------------------------------------------- Device Alerts


def device_alert(
    response_id: RequestId,
    *,
    alert_code: str,
    gbcs_payload: bytes,
    now: datetime,
    request_id: RequestId | None = None,
) -> etree._ElementTree:
    """A Device Alert: the device's GBCS alert, base64, with its alert code (e.g. ``8F3E``).

    ``response_id`` is device:User:counter, the device naming itself as originator and the
    User the alert is for; ``request_id`` is set only for alerts that a request caused.
    """
    tree, body = new_response(Header(ResponseCode.SUCCESS, now, request_id, response_id))
    message = etree.SubElement(body, sr("DeviceAlertMessage"))
    text_child(message, sr("AlertCode"), _hex_code(alert_code, "AlertCode"))
    text_child(message, sr("GBCSPayload"), base64.b64encode(gbcs_payload).decode("ascii"))
    return tree


@dataclass(frozen=True, slots=True)
class Smets1DeviceAlert:
    """A SMETS1 device's alert as the S1SP reports it (``ra:DeviceAlertContent``).

    ``payload`` is one ``ra:DeviceAlertMessagePayload`` child (e.g.
    ``ra:SupplyOutageRestoreAlert``) for the few alerts that carry data.
    """

    description: str
    raised_at: datetime
    gbcs_hex_alert_code: str | None = None
    payload: etree._Element | None = None

    def __post_init__(self) -> None:
        if len(self.description) > _MAX_ALERT_TEXT:
            raise ValueError(f"AlertDescription is limited to {_MAX_ALERT_TEXT} characters")


def smets1_device_alert(
    response_id: RequestId,
    *,
    alert: Smets1DeviceAlert,
    now: datetime,
    s1sp_credentials: SigningCredentials,
    request_id: RequestId | None = None,
) -> etree._ElementTree:
    """A SMETS1 Device Alert: the S1SP's signed alert inside an SMETS1ResponseMessage."""
    inner_body = etree.Element(sr("Body"), nsmap=NSMAP)
    message = etree.SubElement(inner_body, sr("DeviceAlertMessage"))
    content = etree.SubElement(message, ra("DeviceAlertContent"))
    if alert.gbcs_hex_alert_code is not None:
        code = _hex_code(alert.gbcs_hex_alert_code, "GBCSHexAlertCode")
        text_child(content, ra("GBCSHexAlertCode"), code)
    text_child(content, ra("AlertDescription"), alert.description)
    text_child(content, ra("Timestamp"), format_datetime(alert.raised_at))
    if alert.payload is not None:
        etree.SubElement(content, ra("Payload")).append(copy.deepcopy(alert.payload))
    signed = smets1_signed_response(response_id, None, inner_body, now, s1sp_credentials)
    header = Header(ResponseCode.SUCCESS, now, request_id, response_id)
    return smets1_message(header, None, signed)


# --------------------------------------------------------------------------- DCC Alerts


class DccAlertContent(Protocol):
    """A typed DCCAlert choice: it renders its own ``sr`` element."""

    def to_element(self) -> etree._Element: ...


class QuarantineBreach(StrEnum):
    """Which anomaly-detection limit a quarantined request breached."""

    USER_THRESHOLD = "ADUserThresholdBreach"
    DCC_THRESHOLD = "ADDCCThresholdBreach"
    ATTRIBUTE_LIMITS = "ADAttributeLimitsBreach"


@dataclass(frozen=True, slots=True)
class QuarantinedRequest:
    """Anomaly detection held a request back; the DCC tells the User which and why."""

    breach: QuarantineBreach
    request_id: RequestId
    quarantine_event_ref: int

    def __post_init__(self) -> None:
        if not 0 <= self.quarantine_event_ref < 10**20:
            raise ValueError("QuarantineEventRef has at most 20 digits")

    def to_element(self) -> etree._Element:
        element = etree.Element(sr("QuarantinedRequest"))
        breach = etree.SubElement(element, sr(self.breach.value))
        text_child(breach, sr("RequestID"), self.request_id)
        text_child(breach, sr("QuarantineEventRef"), self.quarantine_event_ref)
        return element


@dataclass(frozen=True, slots=True)
class PowerOutageEvent:
    """A Communications Hub reported loss of supply at a metering point."""

    comms_hub_id: Eui64
    started_at: datetime
    mpxn: str

    def __post_init__(self) -> None:
        if not 1 <= len(self.mpxn) <= _MAX_MPXN:
            raise ValueError(f"an MPxN is 1..{_MAX_MPXN} characters: {self.mpxn!r}")

    def to_element(self) -> etree._Element:
        element = etree.Element(sr("PowerOutageEvent"))
        text_child(element, sr("CommsHubDeviceID"), self.comms_hub_id)
        text_child(element, sr("StartDateTime"), format_datetime(self.started_at))
        text_child(element, sr("MPxN"), self.mpxn)
        return element


@dataclass(frozen=True, slots=True)
class CommandFailure:
    """A command for a device (possibly DSP-scheduled) could not be delivered."""

    command_request_id: RequestId
    device_id: Eui64
    dsp_schedule_id: int | None = None

    def __post_init__(self) -> None:
        if self.dsp_schedule_id is not None:
            _schedule_id(self.dsp_schedule_id)

    def to_element(self) -> etree._Element:
        element = etree.Element(sr("CommandFailure"))
        text_child(element, sr("CommandRequestID"), self.command_request_id)
        if self.dsp_schedule_id is not None:
            text_child(element, sr("DSPScheduleID"), self.dsp_schedule_id)
        text_child(element, sr("DeviceID"), self.device_id)
        return element


def dcc_alert(
    code: str,
    alert: DccAlertContent | etree._Element,
    now: datetime,
    *,
    response_id: RequestId | None = None,
    request_id: RequestId | None = None,
    throttled: Throttled | None = None,
) -> etree._ElementTree:
    """A DCC Alert with DCCAlertCode ``code`` (``AD1``, ``N12``, ...) and one DCCAlert choice.

    ``alert`` is a typed helper or any ``sr`` element of the DCCAlert choice (copied, not
    moved). ``response_id`` (DCC:User:counter) names the recipient User when the caller has one.
    """
    if code not in DCC_ALERT_CODES:
        raise ValueError(f"not a DUIS DCCAlertCode: {code!r}")
    content = copy.deepcopy(alert) if isinstance(alert, etree._Element) else alert.to_element()
    if etree.QName(content).namespace != SR_NS:
        raise ValueError(f"a DCCAlert choice must be an element in {SR_NS}")
    tree, body = new_response(Header(ResponseCode.SUCCESS, now, request_id, response_id))
    message = etree.SubElement(body, sr("DCCAlertMessage"))
    text_child(message, sr("DCCAlertCode"), code)
    if throttled is not None:
        text_child(message, sr("ThrottledAlertSequenceId"), throttled.sequence)
        text_child(message, sr("ThrottledAlertCount"), throttled.count)
    etree.SubElement(message, sr("DCCAlert")).append(content)
    return tree


# --------------------------------------------------------------------------- S1SP Alerts


@dataclass(frozen=True, slots=True)
class S1spAlert:
    """What an S1SP reports in an ``sr:S1SPAlert`` (its code is the S1SP's own string)."""

    code: str
    raised_at: datetime
    request_id: RequestId | None = None
    device_id: Eui64 | None = None
    additional_information: str | None = None
    utrn: str | None = None

    def __post_init__(self) -> None:
        if not self.code:
            raise ValueError("an S1SP alert needs its S1SPAlertCode")
        if self.utrn is not None and not _UTRN.fullmatch(self.utrn):
            raise ValueError(f"a UTRN is 20 decimal digits: {self.utrn!r}")

    def signed(self, s1sp_credentials: SigningCredentials) -> etree._Element:
        """The standalone ``sr:S1SPAlert``, signed by the S1SP, ready to embed."""
        root = etree.Element(sr("S1SPAlert"), nsmap=NSMAP)
        root.set("schemaVersion", SCHEMA_VERSION)
        fields = (
            ("RequestID", self.request_id),
            ("DeviceID", self.device_id),
            ("S1SPAlertCode", self.code),
            ("AdditionalInformation", self.additional_information),
            ("UTRN", self.utrn),
        )
        for local, value in fields:
            if value is not None:
                text_child(root, sr(local), value)
        text_child(root, sr("DateTime"), format_datetime(self.raised_at))
        return signed_standalone(root, s1sp_credentials)


def s1sp_alert(
    alert: S1spAlert,
    *,
    now: datetime,
    s1sp_credentials: SigningCredentials,
    dcc_alert_code: str = S1SP_DCC_ALERT_CODE,
    response_id: RequestId | None = None,
    dsp_schedule_id: int | None = None,
    throttled: Throttled | None = None,
) -> etree._ElementTree:
    """A DCC Alert carrying the S1SP's signed alert (``S1SPAlertDSP/S1SPAlert``).

    The S1SPAlert is signed on its own first, then embedded; the outer Response is signed
    later, by the DCC, with ``sign_document``.
    """
    # Same declarations as the signed S1SPAlert, so embedding renames no prefix inside it.
    wrapper = etree.Element(sr("S1SPAlertDSP"), nsmap=NSMAP)
    wrapper.append(alert.signed(s1sp_credentials))
    if dsp_schedule_id is not None:
        text_child(wrapper, sr("DSPScheduleID"), _schedule_id(dsp_schedule_id))
    return dcc_alert(
        dcc_alert_code,
        wrapper,
        now,
        response_id=response_id,
        request_id=alert.request_id,
        throttled=throttled,
    )


def verify_s1sp_alert(
    tree: etree._ElementTree | etree._Element,
    lookup: CertificateLookup,
    now: datetime,
    policy: SignerPolicy = S1SP_SIGNED,
) -> CertificateInfo:
    """Check the S1SP's signature on the embedded S1SPAlert; return its signer."""
    path = "/".join(
        sr(local) for local in ("Body", "DCCAlertMessage", "DCCAlert", "S1SPAlertDSP", "S1SPAlert")
    )
    return verify(find_required(tree, path), lookup, policy, now)
