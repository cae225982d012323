from __future__ import annotations

import base64
import dataclasses
from datetime import datetime

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from tests.reference import KEYS, NOW

from opendcc.core.errors import DuisError, ResponseCode
from opendcc.core.eui import Eui64
from opendcc.dco import DcoRejected, DualControl, countersign
from opendcc.dco.check import Authorise
from opendcc.dsp.instruct import Instructions
from opendcc.duis import precommand
from opendcc.duis.request import ServiceRequest, parse_request
from opendcc.s1sp.contract import Instruction
from opendcc.sim.user import SimulatedUser
from opendcc.smki import SigningCredentials, TrustStore

METER = Eui64.parse("00-DB-12-34-56-78-90-A0")


def creds(name: str) -> SigningCredentials:
    return SigningCredentials.from_files(KEYS / f"{name}.key", KEYS / f"{name}.pem")


DSP = creds("dsp-xml-sign-90B3D51F30000002-ds")
SUPPLIER = SimulatedUser(creds("xml-sign-90B3D51F30010000-ds"))
OTHER = SimulatedUser(creds("xml-sign-90B3D51F30020000-ds"), SUPPLIER.user_id)
_DSP_PUBLIC = DSP.info.certificate.public_key()
assert isinstance(_DSP_PUBLIC, ec.EllipticCurvePublicKey)
INSTRUCTIONS = Instructions(_DSP_PUBLIC)


def allow(_: ServiceRequest, __: datetime) -> None:
    return None


def refuse(_: ServiceRequest, __: datetime) -> None:
    raise DuisError("no longer responsible", code=ResponseCode.NOT_RESPONSIBLE_PARTY)


def setup(authorise: Authorise = allow) -> tuple[DualControl, Instruction, bytes]:
    document = SUPPLIER.request("4.1.1", METER, counter=42)
    instruction = Instruction(f"{SUPPLIER.user_id}:{METER}:42", "4.1.1", METER)
    dco = DualControl(DSP.info, TrustStore.from_directory(KEYS), authorise, INSTRUCTIONS.read)
    return dco, instruction, document


def test_a_faithful_instruction_passes_and_is_sealed_by_the_dco() -> None:
    dco, instruction, document = setup()
    sealed = dco.check(countersign(instruction, document, DSP), document, NOW)
    assert sealed.instruction == instruction
    dco.public_key.verify(sealed.seal, instruction.canonical(), ec.ECDSA(hashes.SHA256()))


def test_parameters_other_than_the_user_asked_for_are_refused() -> None:
    document = SUPPLIER.request(
        "3.1",
        METER,
        counter=44,
        body="<sr:DisplayMessage><sr:SupplierMessage>Hello"
        "</sr:SupplierMessage></sr:DisplayMessage>",
    )
    dco, _, _ = setup()
    asked = INSTRUCTIONS.read(parse_request(document))
    dco.check(countersign(asked, document, DSP), document, NOW)
    changed = dataclasses.replace(asked, parameters={**asked.parameters, "message": "Goodbye"})
    with pytest.raises(DcoRejected) as caught:
        dco.check(countersign(changed, document, DSP), document, NOW)
    assert caught.value.reason == "mismatch"
    assert "parameters" in str(caught.value)


def _precommand(parameters: dict[str, str] | None = None) -> bytes:
    rid = f"{SUPPLIER.user_id}:{METER}:50"
    pre = precommand.PreCommand(rid, SUPPLIER.user_id, "7.2", METER, parameters or {}, "now")
    return precommand.issue(pre, DSP.key)


def test_a_signed_precommand_passes_only_with_the_users_own_signature() -> None:
    dco, _, _ = setup()
    payload = _precommand()
    document = SUPPLIER.signed_precommand("7.2", METER, payload)
    instruction = INSTRUCTIONS.read(parse_request(document))
    assert (instruction.srv, instruction.device_id) == ("7.2", METER)
    dco.check(countersign(instruction, document, DSP), document, NOW)
    # Another key signed the pre-command, though the request is the User's.
    signed = precommand.sign(payload, OTHER.credentials.key)
    forged = SUPPLIER.request(
        "7.2",
        METER,
        cv=5,
        body="<sr:SignedPreCommand><sr:GBCSPayload>"
        + base64.b64encode(signed).decode()
        + "</sr:GBCSPayload></sr:SignedPreCommand>",
    )
    instruction = INSTRUCTIONS.read(parse_request(forged))
    with pytest.raises(DcoRejected) as caught:
        dco.check(countersign(instruction, forged, DSP), forged, NOW)
    assert caught.value.reason == "request"


def test_a_precommand_altered_after_the_dsp_issued_it_is_refused() -> None:
    payload = _precommand({"x": "1"}).replace(b'"x":"1"', b'"x":"2"')
    with pytest.raises(precommand.PreCommandInvalid):
        precommand.read(payload, _DSP_PUBLIC)


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
