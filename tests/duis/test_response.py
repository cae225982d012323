"""DUIS Responses built by opendcc: schema-valid, signed like DCC, with S1SP signatures inside."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta, timezone

import pytest
from lxml import etree
from tests.duis.support import DCC, DCC_POLICY, NOW, REQUEST_ID, S1SP, publish
from tests.reference import REFERENCE

from opendcc.core import RequestId, ResponseCode
from opendcc.duis.request import parse_request
from opendcc.duis.response import (
    MissingElement,
    RequestRef,
    Smets1Payload,
    Smets1Status,
    acknowledgement,
    format_datetime,
    response,
    sign_document,
    smets1_response,
    to_bytes,
    verify_smets1_signed_response,
)
from opendcc.duis.schema import DuisSchema
from opendcc.duis.xml import DS_NS, RA_NS, SR_NS, ds, parse_xml, ra, sr
from opendcc.duis.xmldsig import (
    DCC_SIGNED,
    SignatureFailure,
    SignatureInvalid,
    SignerPolicy,
    verify,
)
from opendcc.smki import SigningCredentials, TrustStore

NON_DEVICE_ID = RequestId.parse("90-B3-D5-1F-30-01-00-00:90-B3-D5-1F-30-00-00-02:1766940660265")


def header(tree: etree._ElementTree, local: str) -> str | None:
    return tree.getroot().findtext(f"{sr('Header')}/{sr(local)}")


def built(s1sp_credentials: SigningCredentials) -> dict[str, etree._ElementTree]:
    inventory = etree.Element(sr("DSPInventory"))
    device = etree.SubElement(inventory, sr("Device"))
    for local, text in (
        ("DeviceID", "88-73-84-57-00-2F-96-1E"),
        ("DeviceType", "ESME"),
        ("DeviceManufacturer", "106C"),
        ("DeviceModel", "433100AC"),
    ):
        etree.SubElement(device, sr(local)).text = text
    rsp = etree.Element(ra("ClearEventLogRsp"), MessageSuccess="true")
    return {
        "acknowledgement": acknowledgement(RequestRef(REQUEST_ID, "11.2", "11.2"), NOW),
        "I0 with GBCS payload": response(
            REQUEST_ID,
            service_reference="11.2",
            srv="11.2",
            code=ResponseCode.SUCCESS,
            now=NOW,
            payload=b"\xdd\x00\x00\x00\x00\x00\x00\x55\x11",
        ),
        "error without RequestID": response(
            None, service_reference="11.2", srv="11.2", code=ResponseCode.ROLE_NOT_ELIGIBLE, now=NOW
        ),
        "non-device 8.2": response(
            NON_DEVICE_ID,
            service_reference="8.2",
            srv="8.2",
            code=ResponseCode.SUCCESS,
            now=NOW,
            payload=inventory,
        ),
        "SMETS1 I0": smets1_response(
            REQUEST_ID,
            service_reference="3.3",
            srv="3.3",
            code=ResponseCode.SUCCESS,
            now=NOW,
            s1sp_credentials=s1sp_credentials,
            payload=Smets1Payload(smets_data=rsp),
        ),
        "SMETS1 E21": smets1_response(
            REQUEST_ID,
            service_reference="4.1",
            srv="4.1.1",
            code=ResponseCode.NO_DEVICE_RESPONSE,
            now=NOW,
            s1sp_credentials=s1sp_credentials,
        ),
    }


KINDS = [
    "acknowledgement",
    "I0 with GBCS payload",
    "error without RequestID",
    "non-device 8.2",
    "SMETS1 I0",
    "SMETS1 E21",
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
    assert received.getroot().get("schemaVersion") == "5.4"


def test_root_declares_sr_ra_ds_like_dcc(s1sp_credentials: SigningCredentials) -> None:
    root = built(s1sp_credentials)["acknowledgement"].getroot()
    assert root.nsmap == {"sr": SR_NS, "ra": RA_NS, "ds": DS_NS}
    assert root.prefix == "sr"


def test_acknowledgement_from_a_parsed_request(schema: DuisSchema) -> None:
    template = REFERENCE / "samples/duis-templates/ECS52_11.2_SUCCESS_REQUEST_DUIS.XML"
    request = parse_request(template.read_bytes())
    tree = acknowledgement(request, NOW)
    schema.validate(tree)
    assert header(tree, "ResponseCode") == "I99"
    assert header(tree, "RequestID") == str(request.request_id)
    assert header(tree, "ResponseID") == str(request.request_id.response_id())
    message = tree.getroot().find(f"{sr('Body')}/{sr('ResponseMessage')}")
    assert message is not None
    assert [etree.QName(child).localname for child in message] == [
        "ServiceReference",
        "ServiceReferenceVariant",
    ]


def test_response_id_is_the_swapped_request_id(s1sp_credentials: SigningCredentials) -> None:
    tree = built(s1sp_credentials)["I0 with GBCS payload"]
    assert header(tree, "RequestID") == str(REQUEST_ID)
    assert header(tree, "ResponseID") == (
        "88-73-84-57-00-2F-96-1E:90-B3-D5-1F-30-01-00-00:1660751141087"
    )
    assert header(tree, "ResponseDateTime") == "2026-01-01T00:00:00.000Z"


def test_gbcs_payload_is_base64(s1sp_credentials: SigningCredentials) -> None:
    tree = built(s1sp_credentials)["I0 with GBCS payload"]
    text = tree.getroot().findtext(f".//{sr('GBCSPayload')}")
    assert text is not None
    assert base64.b64decode(text) == b"\xdd\x00\x00\x00\x00\x00\x00\x55\x11"


def test_error_without_request_id_has_neither_id(s1sp_credentials: SigningCredentials) -> None:
    tree = built(s1sp_credentials)["error without RequestID"]
    assert header(tree, "RequestID") is None
    assert header(tree, "ResponseID") is None
    assert header(tree, "ResponseCode") == "E2"


def test_non_device_response_carries_only_the_request_id_like_dcc(
    s1sp_credentials: SigningCredentials,
) -> None:
    tree = built(s1sp_credentials)["non-device 8.2"]
    assert header(tree, "RequestID") == str(NON_DEVICE_ID)
    assert header(tree, "ResponseID") is None
    assert tree.getroot().find(f".//{sr('DSPInventory')}/{sr('Device')}") is not None


def test_response_id_can_be_forced_or_suppressed() -> None:
    forced = response(
        NON_DEVICE_ID,
        service_reference="8.2",
        srv="8.2",
        code=ResponseCode.SUCCESS,
        now=NOW,
        include_response_id=True,
    )
    assert header(forced, "ResponseID") == str(NON_DEVICE_ID.response_id())
    with pytest.raises(ValueError, match="RequestID"):
        response(
            None,
            service_reference="8.2",
            srv="8.2",
            code=ResponseCode.SUCCESS,
            now=NOW,
            include_response_id=True,
        )


def test_body_payload_is_copied_not_moved_and_must_be_in_sr() -> None:
    holder = etree.Element("holder")
    body = etree.SubElement(holder, sr("DSPScheduleID"))
    body.text = "12"

    def schedule_response(payload: etree._Element) -> etree._ElementTree:
        return response(
            REQUEST_ID,
            service_reference="5.1",
            srv="5.1",
            code=ResponseCode.SUCCESS,
            now=NOW,
            payload=payload,
        )

    tree = schedule_response(body)
    assert body.getparent() is holder
    assert tree.getroot().findtext(f".//{sr('DSPScheduleID')}") == "12"
    with pytest.raises(ValueError, match="ServiceUserGateway"):
        schedule_response(etree.Element("DSPScheduleID"))


def test_to_bytes_is_utf8_with_declaration_and_no_indentation(
    s1sp_credentials: SigningCredentials,
) -> None:
    data = to_bytes(built(s1sp_credentials)["acknowledgement"])
    assert data.startswith(b'<?xml version="1.0" encoding="UTF-8"?><sr:Response ')
    assert b"\n" not in data
    assert b">  <" not in data


def test_signature_is_the_last_child(dcc_credentials: SigningCredentials) -> None:
    tree = sign_document(
        acknowledgement(RequestRef(REQUEST_ID, "11.2", "11.2"), NOW), dcc_credentials
    )
    assert tree.getroot()[-1].tag == ds("Signature")
    assert tree.getroot()[-1].prefix == "ds"


@pytest.mark.parametrize(
    ("instant", "expected"),
    [
        (datetime(2022, 8, 17, 15, 45, 42, 790_999, tzinfo=UTC), "2022-08-17T15:45:42.790Z"),
        (
            datetime(2022, 8, 17, 16, 45, 42, tzinfo=timezone(timedelta(hours=1))),
            "2022-08-17T15:45:42.000Z",
        ),
    ],
)
def test_datetimes_are_utc_with_milliseconds(instant: datetime, expected: str) -> None:
    assert format_datetime(instant) == expected


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone"):
        acknowledgement(RequestRef(REQUEST_ID, "11.2", "11.2"), datetime(2026, 1, 1))


# --------------------------------------------------------------------------- SMETS1


def smets1_signed(tree: etree._ElementTree) -> etree._Element:
    path = f"{sr('Body')}/{sr('SMETS1ResponseMessage')}/{sr('SMETS1SignedResponse')}"
    found = tree.getroot().find(path)
    assert found is not None
    return found


def test_smets1_inner_signature_is_the_s1sps(
    trust_store: TrustStore,
    dcc_credentials: SigningCredentials,
    s1sp_credentials: SigningCredentials,
) -> None:
    received = publish(built(s1sp_credentials)["SMETS1 I0"], dcc_credentials)
    signer = verify_smets1_signed_response(received, trust_store, NOW)
    assert signer.eui == S1SP
    pinned = SignerPolicy(frozenset({signer.role}) if signer.role else frozenset(), S1SP)
    assert verify_smets1_signed_response(received, trust_store, NOW, pinned).eui == S1SP


def test_smets1_inner_carries_ids_time_and_outcome(s1sp_credentials: SigningCredentials) -> None:
    inner = smets1_signed(built(s1sp_credentials)["SMETS1 I0"])
    assert inner.get("schemaVersion") == "5.4"
    mmc = inner.find(f"{sr('SMETS1Response')}/{sr('Header')}")
    assert mmc is not None
    assert mmc.findtext(ra("BusinessOriginatorID")) == "88-73-84-57-00-2F-96-1E"
    assert mmc.findtext(ra("BusinessTargetID")) == "90-B3-D5-1F-30-01-00-00"
    assert mmc.findtext(ra("OriginatorCounter")) == "1660751141087"
    assert mmc.findtext(ra("ServiceReferenceVariant")) == "3.3"
    assert mmc.findtext(ra("Timestamp")) == "2026-01-01T00:00:00.000Z"
    assert inner.find(f".//{ra('SMETSData')}/{ra('ClearEventLogRsp')}") is not None
    assert inner[-1].tag == ds("Signature")


def test_smets1_error_code_is_signed_inside_too(s1sp_credentials: SigningCredentials) -> None:
    tree = built(s1sp_credentials)["SMETS1 E21"]
    assert header(tree, "ResponseCode") == "E21"
    status = smets1_signed(tree).find(f".//{ra('SMETS1Debug')}/{ra('SMETS1Response')}")
    assert status is not None
    assert (status.get("ResponseCode"), status.get("Position")) == ("21", "1")
    assert status.findtext(ra("Error")) == "E21"


def test_smets1_explicit_statuses_are_kept_in_order(
    schema: DuisSchema, dcc_credentials: SigningCredentials, s1sp_credentials: SigningCredentials
) -> None:
    statuses = (Smets1Status(7, "meter busy"), Smets1Status(9, "retry exhausted"))
    tree = smets1_response(
        REQUEST_ID,
        service_reference="4.1",
        srv="4.1.1",
        code=ResponseCode.NO_DEVICE_RESPONSE,
        now=NOW,
        s1sp_credentials=s1sp_credentials,
        payload=Smets1Payload(statuses=statuses),
    )
    schema.validate(publish(tree, dcc_credentials))
    entries = smets1_signed(tree).findall(f".//{ra('SMETS1Response')}")
    assert [(e.get("ResponseCode"), e.get("Position")) for e in entries] == [("7", "1"), ("9", "2")]
    with pytest.raises(ValueError, match="250"):
        Smets1Status(1, "x" * 251)


def test_smets1_inner_digest_holds_in_place_in_the_outer_document(
    dcc_credentials: SigningCredentials, s1sp_credentials: SigningCredentials
) -> None:
    # A verifier that canonicalises the embedded element where it stands (inclusive C14N,
    # ancestors' namespaces in scope) must digest exactly what the S1SP signed standalone.
    received = publish(built(s1sp_credentials)["SMETS1 I0"], dcc_credentials)
    inner = smets1_signed(received)
    signature = inner[-1]
    digest = signature.findtext(f"{ds('SignedInfo')}/{ds('Reference')}/{ds('DigestValue')}")
    inner.remove(signature)
    in_place = etree.tostring(inner, method="c14n", exclusive=False, with_comments=False)
    assert base64.b64encode(hashlib.sha256(in_place).digest()).decode() == digest


def test_tampering_one_inner_byte_breaks_the_inner_signature(
    trust_store: TrustStore,
    dcc_credentials: SigningCredentials,
    s1sp_credentials: SigningCredentials,
) -> None:
    data = to_bytes(sign_document(built(s1sp_credentials)["SMETS1 I0"], dcc_credentials))
    tampered = data.replace(b'MessageSuccess="true"', b'MessageSuccess="trye"', 1)
    assert tampered != data
    with pytest.raises(SignatureInvalid) as caught:
        verify_smets1_signed_response(parse_xml(tampered), trust_store, NOW)
    assert caught.value.reason == SignatureFailure.DIGEST_MISMATCH


def test_smets1_inner_signer_must_fit_the_policy(
    trust_store: TrustStore,
    dcc_credentials: SigningCredentials,
    s1sp_credentials: SigningCredentials,
) -> None:
    received = publish(built(s1sp_credentials)["SMETS1 I0"], dcc_credentials)
    with pytest.raises(SignatureInvalid) as caught:
        verify_smets1_signed_response(received, trust_store, NOW, SignerPolicy(DCC_SIGNED))
    assert caught.value.reason == SignatureFailure.WRONG_CERTIFICATE_TYPE


def test_verifying_a_response_without_smets1_part_says_so(
    s1sp_credentials: SigningCredentials,
) -> None:
    with pytest.raises(MissingElement):
        verify_smets1_signed_response(built(s1sp_credentials)["acknowledgement"], TrustStore(), NOW)
