from __future__ import annotations

import dataclasses
from datetime import datetime

import pytest
from tests.reference import KEYS, NOW

from opendcc.core.errors import DuisError, ResponseCode
from opendcc.core.eui import Eui64
from opendcc.dco import DcoRejected, DualControl, countersign
from opendcc.dco.check import Authorise
from opendcc.duis.request import ServiceRequest
from opendcc.s1sp.contract import Instruction
from opendcc.sim.user import SimulatedUser
from opendcc.smki import SigningCredentials, TrustStore

METER = Eui64.parse("00-DB-12-34-56-78-90-A0")


def creds(name: str) -> SigningCredentials:
    return SigningCredentials.from_files(KEYS / f"{name}.key", KEYS / f"{name}.pem")


DSP = creds("dsp-xml-sign-90B3D51F30000002-ds")
SUPPLIER = SimulatedUser(creds("xml-sign-90B3D51F30010000-ds"))


def allow(_: ServiceRequest, __: datetime) -> None:
    return None


def refuse(_: ServiceRequest, __: datetime) -> None:
    raise DuisError("no longer responsible", code=ResponseCode.NOT_RESPONSIBLE_PARTY)


def setup(authorise: Authorise = allow) -> tuple[DualControl, Instruction, bytes]:
    document = SUPPLIER.request("4.1.1", METER, counter=42)
    instruction = Instruction(f"{SUPPLIER.user_id}:{METER}:42", "4.1.1", METER)
    dco = DualControl(DSP.info, TrustStore.from_directory(KEYS), authorise)
    return dco, instruction, document


def test_a_faithful_instruction_passes() -> None:
    dco, instruction, document = setup()
    dco.check(countersign(instruction, document, DSP), document, NOW)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"device_id": Eui64.parse("00-DB-12-34-56-78-90-A1")}, "countersignature"),
        ({"srv": "4.2"}, "countersignature"),
    ],
)
def test_an_instruction_altered_after_countersigning_is_refused(
    change: dict[str, object], reason: str
) -> None:
    dco, instruction, document = setup()
    signed = countersign(instruction, document, DSP)
    altered = dataclasses.replace(signed, instruction=dataclasses.replace(instruction, **change))
    with pytest.raises(DcoRejected) as caught:
        dco.check(altered, document, NOW)
    assert caught.value.reason == reason


def test_an_instruction_the_dsp_derived_wrongly_is_refused() -> None:
    dco, instruction, document = setup()
    wrong = dataclasses.replace(instruction, device_id=Eui64.parse("00-DB-12-34-56-78-90-A1"))
    with pytest.raises(DcoRejected) as caught:
        dco.check(countersign(wrong, document, DSP), document, NOW)
    assert caught.value.reason == "mismatch"


def test_another_request_or_a_forged_user_signature_is_refused() -> None:
    dco, instruction, document = setup()
    signed = countersign(instruction, document, DSP)
    with pytest.raises(DcoRejected) as caught:
        dco.check(signed, SUPPLIER.request("4.1.1", METER, counter=43), NOW)
    assert caught.value.reason == "request-digest"
    forged = document.replace(b"<sr:CommandVariant>1<", b"<sr:CommandVariant>2<")
    with pytest.raises(DcoRejected) as caught:
        dco.check(countersign(instruction, forged, DSP), forged, NOW)
    assert caught.value.reason == "user-signature"


def test_a_user_no_longer_authorised_is_refused_with_its_code() -> None:
    dco, instruction, document = setup(refuse)
    with pytest.raises(DcoRejected) as caught:
        dco.check(countersign(instruction, document, DSP), document, NOW)
    assert caught.value.code is ResponseCode.NOT_RESPONSIBLE_PARTY
