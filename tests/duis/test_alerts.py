"""DUIS Alerts built by opendcc: Device, DCC and S1SP alerts, schema-valid and signed like DCC."""

from __future__ import annotations

import base64

import pytest
from lxml import etree
from tests.duis.support import DCC, DCC_POLICY, NOW, REQUEST_ID, S1SP, publish

from opendcc.core import Eui64, RequestId
from opendcc.duis.alerts import (
    DCC_ALERT_CODES,
    S1SP_DCC_ALERT_CODE,
    CommandFailure,
    PowerOutageEvent,
    QuarantineBreach,
    QuarantinedRequest,
    S1spAlert,
    Smets1DeviceAlert,
    dcc_alert,
    device_alert,
    s1sp_alert,
    smets1_device_alert,
    verify_s1sp_alert,
)
from opendcc.duis.response import (
    MissingElement,
    sign_document,
    to_bytes,
    verify_smets1_signed_response,
)
from opendcc.duis.schema import DuisSchema
from opendcc.duis.xml import parse_xml, ra, sr
from opendcc.duis.xmldsig import (
    SignatureFailure,
    SignatureInvalid,
    verify,
)
from opendcc.smki import SigningCredentials, TrustStore

DEVICE = Eui64.parse("88-73-84-57-00-2F-96-1E")
ALERT_ID = RequestId.parse("88-73-84-57-00-2F-96-1E:90-B3-D5-1F-30-01-00-00:4096")
UTRN = "73450123456789012345"


def s1sp_report() -> S1spAlert:
    return S1spAlert(
        code="S1SP-UTRN-REJECTED",
        raised_at=NOW,
        request_id=REQUEST_ID,
        device_id=DEVICE,
        additional_information="top-up refused by the meter",
        utrn=UTRN,
    )


def built(s1sp_credentials: SigningCredentials) -> dict[str, etree._ElementTree]:
    return {
        "device alert": device_alert(
            ALERT_ID, alert_code="8f3e", gbcs_payload=b"\xdd\x00\x8f\x3e", now=NOW
        ),
        "SMETS1 device alert": smets1_device_alert(
            ALERT_ID,
            alert=Smets1DeviceAlert("Supply Outage", NOW, gbcs_hex_alert_code="8F35"),
            now=NOW,
            s1sp_credentials=s1sp_credentials,
        ),
        "quarantined request": dcc_alert(
            "AD1", QuarantinedRequest(QuarantineBreach.USER_THRESHOLD, REQUEST_ID, 12345), NOW
        ),
        "power outage": dcc_alert(
            "N1", PowerOutageEvent(DEVICE, NOW, "1234567890123"), NOW, response_id=ALERT_ID
        ),
        "command failure": dcc_alert(
            "N12", CommandFailure(REQUEST_ID, DEVICE, dsp_schedule_id=77), NOW
        ),
        "S1SP alert": s1sp_alert(
            s1sp_report(), now=NOW, s1sp_credentials=s1sp_credentials, dsp_schedule_id=77
        ),
    }


KINDS = [
    "device alert",
    "SMETS1 device alert",
    "quarantined request",
    "power outage",
    "command failure",
    "S1SP alert",
]


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_is_schema_valid_and_signed_by_the_dcc(
    kind: str,
    schema: DuisSchema,
    trust_store: TrustStore,
    dcc_credentials: SigningCredentials,
    s1sp_credentials: SigningCredentials,
) -> None:
    received = publish(built(s1sp_credentials)[kind], dcc_credentials)
    schema.validate(received)
    assert verify(received.getroot(), trust_store, DCC_POLICY, NOW).eui == DCC
    assert received.getroot().findtext(f"{sr('Header')}/{sr('ResponseCode')}") == "I0"


def test_device_alert_names_the_device_and_carries_the_payload(
    s1sp_credentials: SigningCredentials,
) -> None:
    root = built(s1sp_credentials)["device alert"].getroot()
    assert root.findtext(f"{sr('Header')}/{sr('ResponseID')}") == str(ALERT_ID)
    assert root.find(f"{sr('Header')}/{sr('RequestID')}") is None
    message = root.find(f"{sr('Body')}/{sr('DeviceAlertMessage')}")
    assert message is not None
    assert message.findtext(sr("AlertCode")) == "8F3E"
    assert base64.b64decode(message.findtext(sr("GBCSPayload")) or "") == b"\xdd\x00\x8f\x3e"
    with pytest.raises(ValueError, match="hex"):
        device_alert(ALERT_ID, alert_code="8F3", gbcs_payload=b"", now=NOW)


def test_smets1_device_alert_is_signed_by_the_s1sp(
    trust_store: TrustStore,
    dcc_credentials: SigningCredentials,
    s1sp_credentials: SigningCredentials,
) -> None:
    received = publish(built(s1sp_credentials)["SMETS1 device alert"], dcc_credentials)
    assert verify_smets1_signed_response(received, trust_store, NOW).eui == S1SP
    content = received.getroot().find(f".//{ra('DeviceAlertContent')}")
    assert content is not None
    assert content.findtext(ra("GBCSHexAlertCode")) == "8F35"
    assert content.findtext(ra("AlertDescription")) == "Supply Outage"


def dcc_alert_content(tree: etree._ElementTree) -> tuple[str | None, etree._Element]:
    message = tree.getroot().find(f"{sr('Body')}/{sr('DCCAlertMessage')}")
    assert message is not None
    dcc_alert_choice = message.find(sr("DCCAlert"))
    assert dcc_alert_choice is not None
    return message.findtext(sr("DCCAlertCode")), dcc_alert_choice[0]


def test_quarantined_request_alert(s1sp_credentials: SigningCredentials) -> None:
    code, content = dcc_alert_content(built(s1sp_credentials)["quarantined request"])
    assert code == "AD1"
    breach = content.find(sr("ADUserThresholdBreach"))
    assert breach is not None
    assert breach.findtext(sr("RequestID")) == str(REQUEST_ID)
    assert breach.findtext(sr("QuarantineEventRef")) == "12345"
    with pytest.raises(ValueError, match="20 digits"):
        QuarantinedRequest(QuarantineBreach.DCC_THRESHOLD, REQUEST_ID, 10**20)


def test_power_outage_alert(s1sp_credentials: SigningCredentials) -> None:
    tree = built(s1sp_credentials)["power outage"]
    assert tree.getroot().findtext(f"{sr('Header')}/{sr('ResponseID')}") == str(ALERT_ID)
    _, content = dcc_alert_content(tree)
    assert content.findtext(sr("CommsHubDeviceID")) == str(DEVICE)
    assert content.findtext(sr("StartDateTime")) == "2026-01-01T00:00:00.000Z"
    with pytest.raises(ValueError, match="MPxN"):
        PowerOutageEvent(DEVICE, NOW, "12345678901234")


def test_command_failure_alert_keeps_xsd_order(s1sp_credentials: SigningCredentials) -> None:
    _, content = dcc_alert_content(built(s1sp_credentials)["command failure"])
    assert [etree.QName(child).localname for child in content] == [
        "CommandRequestID",
        "DSPScheduleID",
        "DeviceID",
    ]
    with pytest.raises(ValueError, match="schedule"):
        CommandFailure(REQUEST_ID, DEVICE, dsp_schedule_id=10**12 + 1)


def test_dcc_alert_accepts_a_raw_sr_element_and_refuses_unknown_codes(
    schema: DuisSchema, dcc_credentials: SigningCredentials
) -> None:
    removal = etree.Element(sr("DSPScheduleRemoval"))
    etree.SubElement(removal, sr("DeviceID")).text = str(DEVICE)
    etree.SubElement(removal, sr("DSPScheduleID")).text = "77"
    schema.validate(publish(dcc_alert("N4", removal, NOW), dcc_credentials))
    assert removal.getparent() is None  # copied, not moved
    with pytest.raises(ValueError, match="DCCAlertCode"):
        dcc_alert("N32", removal, NOW)
    with pytest.raises(ValueError, match="ServiceUserGateway"):
        dcc_alert("N4", etree.Element("DSPScheduleRemoval"), NOW)


def test_dcc_alert_codes_follow_the_xsd_enumeration() -> None:
    assert {"AD1", "N1", "N65", "N999"} <= DCC_ALERT_CODES
    assert "N32" not in DCC_ALERT_CODES
    assert S1SP_DCC_ALERT_CODE in DCC_ALERT_CODES


def test_s1sp_alert_is_signed_by_the_s1sp_and_carries_its_report(
    trust_store: TrustStore,
    dcc_credentials: SigningCredentials,
    s1sp_credentials: SigningCredentials,
) -> None:
    received = publish(built(s1sp_credentials)["S1SP alert"], dcc_credentials)
    assert verify_s1sp_alert(received, trust_store, NOW).eui == S1SP
    code, wrapper = dcc_alert_content(received)
    assert code == S1SP_DCC_ALERT_CODE
    inner = wrapper.find(sr("S1SPAlert"))
    assert inner is not None
    assert inner.get("schemaVersion") == "5.4"
    assert [etree.QName(child).localname for child in inner] == [
        "RequestID",
        "DeviceID",
        "S1SPAlertCode",
        "AdditionalInformation",
        "UTRN",
        "DateTime",
        "Signature",
    ]
    assert inner.findtext(sr("UTRN")) == UTRN
    assert wrapper.findtext(sr("DSPScheduleID")) == "77"
    header = received.getroot().find(sr("Header"))
    assert header is not None
    assert header.findtext(sr("RequestID")) == str(REQUEST_ID)


def test_s1sp_alert_minimal_and_with_another_code(
    schema: DuisSchema,
    trust_store: TrustStore,
    dcc_credentials: SigningCredentials,
    s1sp_credentials: SigningCredentials,
) -> None:
    tree = s1sp_alert(
        S1spAlert(code="HEARTBEAT-LOST", raised_at=NOW),
        now=NOW,
        s1sp_credentials=s1sp_credentials,
        dcc_alert_code="N60",
    )
    received = publish(tree, dcc_credentials)
    schema.validate(received)
    assert verify_s1sp_alert(received, trust_store, NOW).eui == S1SP
    assert dcc_alert_content(received)[0] == "N60"


def test_tampering_one_inner_byte_breaks_the_s1sp_signature(
    trust_store: TrustStore,
    dcc_credentials: SigningCredentials,
    s1sp_credentials: SigningCredentials,
) -> None:
    data = to_bytes(sign_document(built(s1sp_credentials)["S1SP alert"], dcc_credentials))
    tampered = data.replace(UTRN.encode(), b"8" + UTRN[1:].encode(), 1)
    assert tampered != data
    with pytest.raises(SignatureInvalid) as caught:
        verify_s1sp_alert(parse_xml(tampered), trust_store, NOW)
    assert caught.value.reason == SignatureFailure.DIGEST_MISMATCH


def test_s1sp_alert_validates_its_utrn() -> None:
    with pytest.raises(ValueError, match="UTRN"):
        S1spAlert(code="X", raised_at=NOW, utrn="1234")


def test_verifying_an_alert_without_s1sp_part_says_so(s1sp_credentials: SigningCredentials) -> None:
    with pytest.raises(MissingElement):
        verify_s1sp_alert(built(s1sp_credentials)["power outage"], TrustStore(), NOW)
