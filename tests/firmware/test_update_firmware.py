"""11.1 Update Firmware: every listed device on the right DSPUpdateFirmwareWarning list, a
pending distribution for each applicable one, a schema-valid Response; E11 and nothing stored
when no device can take the image."""

from __future__ import annotations

from datetime import timedelta

import pytest
from lxml import etree
from sqlalchemy import func, select
from tests.firmware.rig import (
    APPLICABLE,
    APPLICABLE_TOO,
    BUSY,
    IMAGE,
    IMAGE_V3,
    NOT_COMMISSIONED,
    NOT_THEIRS,
    SUPPLIER,
    UNKNOWN,
    WRONG_MODEL,
    Rig,
)

from opendcc.core.errors import ResponseCode
from opendcc.dsp.access import AccessDenied
from opendcc.duis.response import response, sign_document
from opendcc.duis.schema import DuisSchema
from opendcc.duis.xml import SR_NS
from opendcc.firmware import DistributionState, image_hash
from opendcc.inventory import CplStatus
from opendcc.s1sp.services import InvalidParameters
from opendcc.smki import SigningCredentials
from opendcc.store.tables import firmware_distributions

NS = {"sr": SR_NS}


def lists(payload: etree._Element | None) -> dict[str, list[str]]:
    if payload is None:
        return {}
    assert payload.tag == f"{{{SR_NS}}}DSPUpdateFirmwareWarning"
    return {etree.QName(child).localname: (child.text or "").split(",") for child in payload}


def distributions(rig: Rig) -> int:
    with rig.engine.connect() as conn:
        query = select(func.count()).select_from(firmware_distributions)
        return int(conn.execute(query).scalar_one())


def test_each_device_lands_on_its_list(
    rig: Rig, schema: DuisSchema, dcc_credentials: SigningCredentials
) -> None:
    earlier = rig.occupy(BUSY)
    rig.clock.advance(timedelta(minutes=1))
    listed = [APPLICABLE, UNKNOWN, NOT_THEIRS, NOT_COMMISSIONED, WRONG_MODEL, BUSY, APPLICABLE_TOO]
    request = rig.request(listed)
    schema.validate(request.document)  # the request itself is DUIS

    answer, payload = rig.answer(request)

    assert answer.code is ResponseCode.ACKNOWLEDGED
    assert lists(payload) == {
        "InvalidDeviceIDList": [str(UNKNOWN), str(NOT_THEIRS)],
        "NotCommissionedDeviceIDList": [str(NOT_COMMISSIONED)],
        "NotApplicableFirmwareDeviceIDList": [str(WRONG_MODEL)],
        "OtherRequestInProgressList": [str(BUSY)],
    }
    rows = rig.rows(request)
    assert set(rows) == {APPLICABLE, APPLICABLE_TOO}
    digest = image_hash(IMAGE)
    for device_id, cohort in ((APPLICABLE, "acme"), (APPLICABLE_TOO, "beta")):
        row = rows[device_id]
        assert (row.state, row.cohort, row.model, row.version) == (
            DistributionState.PENDING,
            cohort,
            "E100",
            "2.0",
        )
        assert (row.image_hash, row.user_id, row.attempts) == (digest, SUPPLIER, 0)
    assert [r.device_id for r in rig.firmware.store.of_request(earlier.request_id)] == [BUSY]

    # The full Response the front door signs validates against the DUIS XSD.
    document = response(
        request.request_id,
        service_reference=request.service_reference,
        srv=request.srv,
        code=answer.code,
        now=rig.clock.now(),
        payload=payload,
    )
    signed = sign_document(document, dcc_credentials)
    schema.validate(signed)
    assert signed.findtext("sr:Header/sr:ResponseCode", namespaces=NS) == "I99"
    warning = signed.find("sr:Body/sr:ResponseMessage/sr:DSPUpdateFirmwareWarning", NS)
    assert warning is not None


def test_all_applicable_answers_i99_without_a_warning(rig: Rig, schema: DuisSchema) -> None:
    request = rig.request([APPLICABLE, APPLICABLE_TOO, APPLICABLE])  # a repeat counts once
    answer, payload = rig.answer(request)
    assert (answer.code, payload) == (ResponseCode.ACKNOWLEDGED, None)
    assert set(rig.rows(request)) == {APPLICABLE, APPLICABLE_TOO}
    document = response(
        request.request_id,
        service_reference="11.1",
        srv="11.1",
        code=answer.code,
        now=rig.clock.now(),
        payload=payload,
    )
    schema.validate(document)


def test_a_second_request_while_one_is_pending_is_in_progress(rig: Rig) -> None:
    rig.answer(rig.request([APPLICABLE, APPLICABLE_TOO]))
    second = rig.request([APPLICABLE])
    with pytest.raises(AccessDenied) as refused:
        rig.answer(second)
    assert refused.value.code is ResponseCode.SRV_NOT_FOR_DEVICE_TYPE
    assert "OtherRequestInProgressList 1" in str(refused.value)
    assert rig.rows(second) == {}


@pytest.mark.parametrize(
    "case", ["version off the CPL", "version differs", "unknown image", "nobody applicable"]
)
def test_no_applicable_device_is_refused_with_e11_and_nothing_stored(rig: Rig, case: str) -> None:
    before = distributions(rig)
    devices = [APPLICABLE, APPLICABLE_TOO]
    image, version = IMAGE, "2.0"
    if case == "version off the CPL":
        rig.cpl.set_status("Acme", "E100", "2.0", CplStatus.WITHDRAWN)
    elif case == "version differs":
        version = "3.0"
    elif case == "unknown image":
        image = IMAGE_V3
    else:
        devices = [UNKNOWN, NOT_THEIRS, NOT_COMMISSIONED, WRONG_MODEL]
    request = rig.request(devices, image=image, version=version)
    with pytest.raises(AccessDenied) as refused:
        rig.firmware.update_firmware(request, rig.granted(request), rig.clock.now())
    assert refused.value.code is ResponseCode.SRV_NOT_FOR_DEVICE_TYPE
    assert "no listed device can take firmware" in str(refused.value)
    assert distributions(rig) == before


def test_an_unreadable_body_is_refused(rig: Rig) -> None:
    request = rig.request([APPLICABLE])
    image = request.body.find("sr:FirmwareImage", NS)
    assert image is not None
    image.text = "not base64!"
    with pytest.raises(InvalidParameters, match="not base64"):
        rig.firmware.update_firmware(request, rig.granted(request), rig.clock.now())
    assert distributions(rig) == 0
