from __future__ import annotations

import base64
import dataclasses
from datetime import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from tests.reference import GBCS_KEYSTORE, KEYS, NOW

from opendcc.core.errors import DuisError, ResponseCode
from opendcc.core.eui import Eui64
from opendcc.dco import DcoRejected, DualControl, countersign
from opendcc.dco.check import Authorise
from opendcc.dsp.instruct import Instructions
from opendcc.duis import precommand
from opendcc.duis.request import ServiceRequest, parse_request
from opendcc.gbcs import message as gbcs
from opendcc.s1sp.contract import Instruction
from opendcc.sim.user import SimulatedUser
from opendcc.smki import SigningCredentials, TrustStore
from opendcc.smki.certificates import gbcs_signing_keys

METER = Eui64.parse("00-DB-12-34-56-78-90-A0")


def creds(name: str) -> SigningCredentials:
    return SigningCredentials.from_files(KEYS / f"{name}.key", KEYS / f"{name}.pem")


DSP = creds("dsp-xml-sign-90B3D51F30000002-ds")
SUPPLIER = SimulatedUser(creds("xml-sign-90B3D51F30010000-ds"))
OTHER = SimulatedUser(creds("xml-sign-90B3D51F30020000-ds"), SUPPLIER.user_id)
INSTRUCTIONS = Instructions()


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


def _precommand(srv: str = "7.2", parameters: dict[str, str] | None = None) -> bytes:
    """The GBCS pre-command the DSP issues for a CV 4 with counter 50."""
    return precommand.issue(srv, "ESME", SUPPLIER.user_id, METER, 50, parameters or {}, NOW)


def _cv5(
    signed: bytes, srv: str = "7.2", target: Eui64 = METER, counter: int | None = None
) -> bytes:
    return SUPPLIER.request(
        srv,
        target,
        cv=5,
        counter=counter,
        body="<sr:SignedPreCommand><sr:GBCSPayload>"
        + base64.b64encode(signed).decode()
        + "</sr:GBCSPayload></sr:SignedPreCommand>",
    )


def _refused(dco: DualControl, document: bytes) -> DcoRejected:
    instruction = INSTRUCTIONS.read(parse_request(document))
    with pytest.raises(DcoRejected) as caught:
        dco.check(countersign(instruction, document, DSP), document, NOW)
    return caught.value


def test_a_signed_precommand_passes_only_with_the_users_own_signature() -> None:
    dco, _, _ = setup()
    payload = _precommand()
    assert payload[0] == 0xDF  # a GBCS General Signing message
    document = SUPPLIER.signed_precommand("7.2", METER, payload)
    instruction = INSTRUCTIONS.read(parse_request(document))
    assert (instruction.srv, instruction.device_id) == ("7.2", METER)
    dco.check(countersign(instruction, document, DSP), document, NOW)
    # Another key signed the pre-command, though the request is the User's.
    forged = _cv5(gbcs.sign(payload, OTHER.credentials.key))
    assert _refused(dco, forged).reason == "request"


def test_a_tampered_byte_in_the_signed_command_is_refused() -> None:
    dco, _, _ = setup()
    signed = bytearray(gbcs.sign(_precommand("6.11", _CLOCK), SUPPLIER.credentials.key))
    signed[-74] ^= 0x01  # the seconds of the validity window's end, in the command body
    assert _refused(dco, _cv5(bytes(signed), "6.11")).reason == "request"


def test_a_command_for_another_device_or_srv_is_refused() -> None:
    signed = gbcs.sign(_precommand(), SUPPLIER.credentials.key)
    other = Eui64.parse("00-DB-12-34-56-78-90-A1")
    with pytest.raises(precommand.PreCommandInvalid, match="to 00-DB-12-34-56-78-90-A0"):
        INSTRUCTIONS.read(parse_request(_cv5(signed, target=other)))
    with pytest.raises(precommand.PreCommandInvalid, match=r"not one of SRV 7\.1"):
        INSTRUCTIONS.read(parse_request(_cv5(signed, srv="7.1")))


def test_a_command_not_from_an_earlier_transform_is_refused() -> None:
    signed = gbcs.sign(_precommand(), SUPPLIER.credentials.key)  # transaction counter 50
    with pytest.raises(precommand.PreCommandInvalid, match="counter 50 is not before"):
        INSTRUCTIONS.read(parse_request(_cv5(signed, counter=50)))
    assert INSTRUCTIONS.read(parse_request(_cv5(signed, counter=51))).srv == "7.2"


def test_the_dco_checks_the_gbcs_command_is_the_instruction_parameters_included() -> None:
    dco, _, _ = setup()
    document = _cv5(gbcs.sign(_precommand("6.11", _CLOCK), SUPPLIER.credentials.key), "6.11")
    asked = INSTRUCTIONS.read(parse_request(document))
    assert dict(asked.parameters) == _CLOCK
    later = dataclasses.replace(asked, parameters={**_CLOCK, "tolerance_period_s": "120"})
    with pytest.raises(DcoRejected) as caught:
        dco.check(countersign(later, document, DSP), document, NOW)
    assert caught.value.reason == "mismatch"


_CLOCK = {"current_date_time": "2024-06-01T12:00:00.000Z", "tolerance_period_s": "60"}
_KEYSTORE_DS = GBCS_KEYSTORE / "90b3d51f30010000-ds"


def test_round_trip_with_the_rtds_key_store() -> None:
    """The User signs with its GBCS digital-signing key from the RTDS key store; the DCO
    verifies with the public key of that certificate, registered for the User."""
    certificate = x509.load_pem_x509_certificate(_KEYSTORE_DS.with_suffix(".pem").read_bytes())
    key = serialization.load_pem_private_key(_KEYSTORE_DS.with_suffix(".key").read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    registered = gbcs_signing_keys([certificate, SUPPLIER.credentials.info.certificate])
    assert len(registered) == 1  # the Organisation certificate, not the XML-signing one
    instructions = Instructions(lambda user: registered if user == SUPPLIER.user_id else ())
    dco = DualControl(DSP.info, TrustStore.from_directory(KEYS), allow, instructions.read)
    user = SimulatedUser(SUPPLIER.credentials, gbcs_key=key)
    document = user.signed_precommand("7.2", METER, _precommand())
    instruction = instructions.read(parse_request(document))
    dco.check(countersign(instruction, document, DSP), document, NOW)
    # Once a GBCS key is registered, the XML-signing key no longer signs commands.
    xml_signed = _cv5(gbcs.sign(_precommand(), SUPPLIER.credentials.key))
    with pytest.raises(DcoRejected) as caught:
        dco.check(countersign(instruction, xml_signed, DSP), xml_signed, NOW)
    assert caught.value.reason == "request"


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


def test_the_dcos_own_parse_is_verified_once_and_a_change_to_it_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``read`` gives the DSP the DCO's parse of the bytes; the next check of those bytes
    verifies that parse instead of parsing again, and a change made to it meanwhile breaks the
    User's signature. Other bytes, or a second check, are parsed afresh."""
    from opendcc.dco import check as check_module

    dco, instruction, document = setup()
    parses: list[bytes] = []
    real = check_module.parse_request

    def counted(data: bytes) -> ServiceRequest:
        parses.append(data)
        return real(data)

    monkeypatch.setattr(check_module, "parse_request", counted)
    signed = countersign(instruction, document, DSP)
    request = dco.read(document)
    assert dco.check(signed, document, NOW).instruction == instruction
    assert parses == [document]  # the read's parse, verified by the check
    dco.check(signed, document, NOW)  # the read is used once
    assert len(parses) == 2
    # The DSP's copy of the parse changed after the read: the signature no longer holds.
    request = dco.read(document)
    counter = request.document.getroot().find(".//{*}RequestID")
    assert counter is not None and counter.text is not None
    counter.text = counter.text[:-2] + "99"
    with pytest.raises(DcoRejected) as caught:
        dco.check(signed, document, NOW)
    assert caught.value.reason == "user-signature"
    # Equal bytes that are not the object read are parsed afresh (and pass).
    dco.read(document)
    assert dco.check(signed, bytes(bytearray(document)), NOW).instruction == instruction
