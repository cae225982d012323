"""The critical transform flow the SMETS2 way, over real HTTP to a running hub.

The supplier has its GBCS digital-signing certificate from DCC's RTDS key store registered and
signs with that key, as a User's system signs a SMETS2 command. A CV 4 is answered with a GBCS
General Signing message; CV 5 with it signed goes through to the meter; a tampered byte, another
signer, another device or another SRV is refused with E1, audited, and nothing is stored or
sent to the head-end."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from opendcc.core.eui import Eui64
from opendcc.duis.schema import DuisSchema
from opendcc.duis.xml import parse_xml
from opendcc.gbcs import message as gbcs
from opendcc.sim import scenario
from opendcc.sim.user import SimulatedUser
from tests.gateway.harness import SR, Estate, estate, response_code, user
from tests.gateway.test_access_control import refused
from tests.reference import GBCS_KEYSTORE

METER = scenario.METERS[0].device_id
DS = GBCS_KEYSTORE / f"{scenario.SUPPLIER.to_bytes().hex()}-ds"


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Estate]:
    with estate(tmp_path_factory.mktemp("hub"), gbcs_certificate=DS.with_suffix(".pem")) as running:
        yield running


@pytest.fixture(scope="module")
def supplier() -> SimulatedUser:
    signer = user(scenario.SUPPLIER_KEY)
    key = serialization.load_pem_private_key(DS.with_suffix(".key").read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    signer.gbcs_key = key
    return signer


def _transform(hub: Estate, supplier: SimulatedUser, schema: DuisSchema) -> tuple[bytes, int]:
    counter = supplier.next_counter()
    answer = hub.post(
        "serviceT",
        supplier.request("7.2", METER, cv=4, body="<sr:DisableSupply/>", counter=counter),
    )
    assert answer.status_code == 200, answer.text
    assert response_code(answer.content) == "I0"
    document = parse_xml(answer.content)
    schema.validate(document)
    assert document.findtext(f".//{SR}PreCommand/{SR}GBCSVersion") == "4.0"
    payload = base64.b64decode(document.findtext(f".//{SR}PreCommand/{SR}GBCSPayload") or "")
    return payload, counter


def _cv5(supplier: SimulatedUser, signed: bytes, srv: str = "7.2", target: Eui64 = METER) -> bytes:
    body = (
        "<sr:SignedPreCommand><sr:GBCSPayload>"
        f"{base64.b64encode(signed).decode()}</sr:GBCSPayload></sr:SignedPreCommand>"
    )
    return supplier.request(srv, target, cv=5, body=body)


def test_a_transform_is_answered_with_the_gbcs_command_of_its_use_case(
    hub: Estate, supplier: SimulatedUser, schema: DuisSchema
) -> None:
    payload, counter = _transform(hub, supplier, schema)
    message = gbcs.decode(payload)
    assert (message.originator, message.recipient, message.counter) == (
        supplier.user_id,
        METER,
        counter,
    )
    assert message.message_code == 0x0050  # ECS43 Disable Supply
    # The ESME's supply control script table, disable script (as DCC's RTDS writes ECS43).
    assert message.content[6:] == bytes.fromhex("0103000900000a006aff0101120034")


def test_signed_the_gbcs_way_it_reaches_the_meter(
    hub: Estate, supplier: SimulatedUser, schema: DuisSchema
) -> None:
    payload, _ = _transform(hub, supplier, schema)
    request = supplier.signed_precommand("7.2", METER, payload)
    answer = hub.post("serviceS", request)
    assert answer.status_code == 200, answer.text
    assert response_code(answer.content) == "I99"
    request_id = parse_xml(request).findtext(f"{SR}Header/{SR}RequestID") or ""
    key = f"R:{METER}:{supplier.user_id}:{request_id.rsplit(':', 1)[1]}"
    assert hub.callback.wait_for({key}, timeout=30), hub.callback.keys()
    delivered = parse_xml(hub.callback.body_of(key))
    schema.validate(delivered)
    assert delivered.findtext(f"{SR}Header/{SR}ResponseCode") == "I0"


def test_a_command_signed_with_the_xml_key_instead_of_the_gbcs_key_is_refused(
    hub: Estate, supplier: SimulatedUser, schema: DuisSchema
) -> None:
    payload, _ = _transform(hub, supplier, schema)
    forged = _cv5(supplier, gbcs.sign(payload, supplier.credentials.key))
    assert "signature" in refused(hub, "serviceS", forged, 400, "E1")


def test_a_tampered_byte_is_refused(
    hub: Estate, supplier: SimulatedUser, schema: DuisSchema
) -> None:
    payload, _ = _transform(hub, supplier, schema)
    signed = bytearray(supplier.sign_precommand(payload))
    signed[len(payload) - 1] ^= 0x02  # the script id: 0x34 disable becomes 0x36 arm
    assert "signature" in refused(hub, "serviceS", _cv5(supplier, bytes(signed)), 400, "E1")


def test_a_command_for_another_device_or_srv_is_refused(
    hub: Estate, supplier: SimulatedUser, schema: DuisSchema
) -> None:
    payload, _ = _transform(hub, supplier, schema)
    signed = supplier.sign_precommand(payload)
    other = scenario.METERS[1].device_id
    reason = refused(hub, "serviceS", _cv5(supplier, signed, target=other), 400, "E1")
    assert f"not from {supplier.user_id} to {other}" in reason
    reason = refused(hub, "serviceS", _cv5(supplier, signed, srv="7.3"), 400, "E1")
    assert "not one of SRV 7.3" in reason


def test_what_is_not_a_general_signing_message_is_refused(
    hub: Estate, supplier: SimulatedUser
) -> None:
    reason = refused(hub, "serviceS", _cv5(supplier, b"\xc3" + bytes(80)), 400, "E1")
    assert "0x40" in reason or "0xDF" in reason
