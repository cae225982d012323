"""Every access-control outcome, over real HTTP to a running hub, with its audit record."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from lxml import etree
from sqlalchemy import func, select

from opendcc.duis.authenticate import verify_document
from opendcc.duis.schema import DuisSchema
from opendcc.duis.xml import parse_xml
from opendcc.hub import REGISTRY_CACHE_SECONDS
from opendcc.sim import scenario
from opendcc.sim.user import SimulatedUser
from opendcc.smki import SigningCredentials, TrustStore, describe
from opendcc.store.audit import AuditLog
from opendcc.store.requests import REPLAY_WINDOW
from opendcc.store.tables import originator_counters, service_requests
from tests.gateway.harness import SR, Estate, estate, response_code, user
from tests.reference import KEYS, NOW

METER = scenario.METERS[0].device_id


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Estate]:
    with estate(tmp_path_factory.mktemp("hub")) as running:
        yield running


@pytest.fixture(scope="module")
def supplier() -> SimulatedUser:
    return user(scenario.SUPPLIER_KEY)


@pytest.fixture(scope="module")
def network_operator() -> SimulatedUser:
    return user(scenario.NETWORK_OPERATOR_KEY)


def stored(hub: Estate) -> int:
    with hub.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(service_requests)).scalar_one())


def last_counter(hub: Estate, who: SimulatedUser) -> str | None:
    with hub.engine.connect() as conn:
        return conn.execute(
            select(originator_counters.c.last_counter).where(
                originator_counters.c.user_id == str(who.user_id)
            )
        ).scalar_one_or_none()


def refused(hub: Estate, endpoint: str, body: bytes, status: int, code: str) -> str:
    """Post, expect a signed refusal with ``code``, and check it changed nothing but the audit."""
    before = stored(hub), AuditLog(hub.engine).records()
    answer = hub.post(endpoint, body)
    assert answer.status_code == status, answer.text
    assert response_code(answer.content) == code
    assert answer.headers["X-DUIS-Response-Code"] == code
    trust = TrustStore.from_directory(scenario_keys())
    assert verify_document(parse_xml(answer.content), trust, NOW).role is not None
    after = stored(hub), AuditLog(hub.engine).records()
    assert after[0] == before[0], "a refused request must not be stored"
    assert len(after[1]) == len(before[1]) + 1
    assert after[1][-1].outcome == code
    return answer.headers["X-OpenDCC-Reason"]


def scenario_keys() -> Path:
    return KEYS


def test_a_device_request_is_acknowledged_then_answered_at_the_callback(
    hub: Estate, supplier: SimulatedUser, schema: DuisSchema
) -> None:
    body = supplier.request("4.1.1", METER)
    answer = hub.post("serviceS", body)
    assert answer.status_code == 200, answer.text
    assert response_code(answer.content) == "I99"
    schema.validate(parse_xml(answer.content))
    request_id = parse_xml(body).findtext(f"{SR}Header/{SR}RequestID")
    assert request_id
    originator, target, counter = request_id.rsplit(":", 2)[0], METER, request_id.rsplit(":", 1)[1]
    key = f"R:{target}:{originator}:{counter}"
    assert hub.callback.wait_for({key}, timeout=30), hub.callback.keys()
    delivered = parse_xml(hub.callback.body_of(key))
    schema.validate(delivered)
    trust = TrustStore.from_directory(scenario_keys())
    assert verify_document(delivered, trust, NOW).eui is not None
    assert delivered.findtext(f"{SR}Header/{SR}ResponseCode") == "I0"
    registers = delivered.getroot().iter("{http://www.dccinterface.co.uk/ResponseAndAlert}*")
    assert any("Register" in etree.QName(e).localname for e in registers)


def test_read_inventory_is_answered_synchronously(
    hub: Estate, supplier: SimulatedUser, schema: DuisSchema
) -> None:
    answer = hub.post("serviceD", supplier.request("8.2", METER, cv=8))
    assert answer.status_code == 200, answer.text
    document = parse_xml(answer.content)
    schema.validate(document)
    assert document.findtext(f"{SR}Header/{SR}ResponseCode") == "I0"
    assert document.findtext(f".//{SR}DSPInventory/{SR}Device/{SR}DeviceID") == str(METER)


def test_not_xml_is_refused_in_plain_text(hub: Estate) -> None:
    before = len(AuditLog(hub.engine).records())
    answer = hub.post("serviceS", b"this is not a DUIS request")
    assert answer.status_code == 400
    assert answer.headers["content-type"].startswith("text/plain")
    records = AuditLog(hub.engine).records()
    assert len(records) == before + 1
    assert records[-1].outcome == "HTTP400"


def test_schema_invalid_is_refused_with_e1(hub: Estate, supplier: SimulatedUser) -> None:
    invalid = supplier.request(
        "4.1.1",
        METER,
        body="<sr:ReadInstantaneousImportRegisters><sr:Bogus/>"
        "</sr:ReadInstantaneousImportRegisters>",
    )
    reason = refused(hub, "serviceS", invalid, 400, "E1")
    assert "SchemaInvalid" in reason


def test_tampered_signature_is_refused(hub: Estate, supplier: SimulatedUser) -> None:
    body = (
        supplier.request("4.1.1", METER)
        .replace(
            b"ReadInstantaneousImportRegisters/>",
            b"ReadInstantaneousImportRegisters></sr:ReadInstantaneousImportRegisters>",
            1,
        )
        .replace(b"<sr:CommandVariant>1<", b"<sr:CommandVariant>2<", 1)
    )
    reason = refused(hub, "serviceS", body, 401, "E1")
    assert "digest-mismatch" in reason


def test_missing_signature_is_refused(hub: Estate, supplier: SimulatedUser) -> None:
    body = supplier.request("4.1.1", METER)
    root = parse_xml(body).getroot()
    root.remove(root[-1])  # the ds:Signature
    reason = refused(hub, "serviceS", etree.tostring(root), 401, "E1")
    assert "not signed" in reason


def test_a_certificate_unknown_to_the_smki_is_refused(hub: Estate) -> None:
    # Same subject as the supplier's XML-signing certificate, issued by a stranger.
    genuine = user(scenario.SUPPLIER_KEY).credentials.info.certificate
    key = ec.generate_private_key(ec.SECP256R1())
    rogue = (
        x509.CertificateBuilder()
        .subject_name(genuine.subject)
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "not the SMKI")]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(genuine.not_valid_before_utc)
        .not_valid_after(genuine.not_valid_after_utc)
        .sign(key, hashes.SHA256())
    )
    impostor = SimulatedUser(SigningCredentials(key, describe(rogue)))
    reason = refused(hub, "serviceS", impostor.request("4.1.1", METER), 401, "E1")
    assert "unknown-signer" in reason


def test_unknown_user_e1(hub: Estate) -> None:
    stranger = user(scenario.UNREGISTERED_KEY)
    reason = refused(hub, "serviceS", stranger.request("4.1.1", METER), 200, "E1")
    assert "not a DCC User" in reason


def test_role_not_eligible_e2(hub: Estate, network_operator: SimulatedUser) -> None:
    # 1.1.1 Update Import Tariff is open to import and gas suppliers, not distributors (ED).
    tariff = network_operator.request("1.1.1", METER, cv=4, body=_template_body("1.1.1"))
    assert "ED" in refused(hub, "serviceT", tariff, 200, "E2")


def test_suspended_user_e3(hub: Estate, network_operator: SimulatedUser) -> None:
    cli = [sys.executable, "-m", "opendcc", "users"]
    subprocess.run(
        [*cli, "suspend", "-c", str(hub.config), str(network_operator.user_id)], check=True
    )
    time.sleep(REGISTRY_CACHE_SECONDS + 0.1)  # another process's change reaches the hub
    try:
        refused(hub, "serviceS", network_operator.request("4.1.1", METER), 200, "E3")
    finally:
        subprocess.run(
            [*cli, "activate", "-c", str(hub.config), str(network_operator.user_id)], check=True
        )
        time.sleep(REGISTRY_CACHE_SECONDS + 0.1)


def test_command_variant_not_allowed_e12(hub: Estate, supplier: SimulatedUser) -> None:
    refused(hub, "serviceT", supplier.request("4.1.1", METER, cv=4), 200, "E12")


def test_wrong_endpoint_e13(hub: Estate, supplier: SimulatedUser) -> None:
    refused(hub, "serviceD", supplier.request("4.1.1", METER), 200, "E13")
    refused(hub, "serviceS", supplier.request("8.2", METER, cv=8), 200, "E13")


def test_unknown_device_e19(hub: Estate, supplier: SimulatedUser) -> None:
    refused(hub, "serviceS", supplier.request("4.1.1", scenario.UNKNOWN_DEVICE), 200, "E19")


def test_srv_not_for_device_type_e11(hub: Estate, supplier: SimulatedUser) -> None:
    refused(hub, "serviceS", supplier.request("4.1.1", scenario.COMMS_HUB.device_id), 200, "E11")


def test_device_status_incompatible_e5(hub: Estate, supplier: SimulatedUser) -> None:
    body = supplier.request("4.1.1", scenario.NOT_COMMISSIONED.device_id)
    refused(hub, "serviceS", body, 200, "E5")


def test_not_responsible_party_e4(hub: Estate, supplier: SimulatedUser) -> None:
    body = supplier.request("4.1.1", scenario.OTHERS_METER.device_id)
    refused(hub, "serviceS", body, 200, "E4")


def test_replay_is_refused_and_a_refused_counter_stays_free(
    hub: Estate, supplier: SimulatedUser
) -> None:
    counter = supplier.next_counter()
    # Refused (unknown device): the counter is not consumed ...
    refused(
        hub,
        "serviceS",
        supplier.request("4.1.1", scenario.UNKNOWN_DEVICE, counter=counter),
        200,
        "E19",
    )
    # ... so the same counter is accepted for a valid request,
    first = supplier.request("4.1.1", METER, counter=counter)
    assert response_code(hub.post("serviceS", first).content) == "I99"
    assert last_counter(hub, supplier) == f"{counter:020d}"
    # and then neither that request again nor a counter older than the replay window is
    # (both a signed E1 Response, HTTP 200, as any coded refusal) ...
    assert "replay" in refused(hub, "serviceS", first, 200, "E1")
    old = supplier.request("4.1.1", METER, counter=counter - REPLAY_WINDOW)
    assert "too old" in refused(hub, "serviceS", old, 200, "E1")
    # ... but a lower counter inside the window, never accepted, is (it was overtaken).
    lower = supplier.request("4.1.1", METER, counter=counter - 1)
    assert response_code(hub.post("serviceS", lower).content) == "I99"
    assert last_counter(hub, supplier) == f"{counter:020d}"
    assert "replay" in refused(hub, "serviceS", lower, 200, "E1")


def test_honest_concurrency_is_accepted_and_every_exact_replay_refused(
    hub: Estate, supplier: SimulatedUser
) -> None:
    """A User numbering requests as it makes them and sending them over several connections:
    they arrive out of order, and every one is accepted (within the replay window); sent again,
    all at once, every one is refused with a signed E1 Response."""
    bodies = [supplier.request("4.1.1", METER) for _ in range(12)]
    url = f"{hub.hub.url}/api/v1/serviceS"

    def post(body: bytes) -> httpx.Response:
        return httpx.post(url, content=body, headers={"Content-Type": "application/xml"})

    with ThreadPoolExecutor(6) as pool:  # newest first: most arrive after a higher counter
        first = list(pool.map(post, bodies[::-1]))
    assert [response_code(a.content) for a in first] == ["I99"] * len(bodies)
    with ThreadPoolExecutor(6) as pool:
        again = list(pool.map(post, bodies + bodies))
    assert {(a.status_code, response_code(a.content)) for a in again} == {(200, "E1")}
    assert all(a.headers["X-OpenDCC-Reason"].startswith("replay: ") for a in again)


def test_anomaly_threshold_quarantines_and_alerts(
    hub: Estate, network_operator: SimulatedUser
) -> None:
    codes = []
    ids = []
    for _ in range(5):
        body = network_operator.request("4.1.1", METER)
        ids.append(parse_xml(body).findtext(f"{SR}Header/{SR}RequestID"))
        codes.append(response_code(hub.post("serviceS", body).content))
    assert codes == ["I99"] * 5  # quarantine is decided after the acknowledgement's checks
    with hub.engine.connect() as conn:
        states = dict(
            conn.execute(
                select(service_requests.c.request_id, service_requests.c.state).where(
                    service_requests.c.request_id.in_(ids)
                )
            ).all()
        )
    quarantined = [rid for rid in ids if states[rid] == "quarantined"]
    assert len(quarantined) == 2  # the scenario allows 3 per hour
    keys = {f"AD1:{rid}" for rid in quarantined}
    assert hub.callback.wait_for(keys, timeout=30)
    alert = parse_xml(hub.callback.body_of(next(iter(keys))))
    assert alert.findtext(f".//{SR}DCCAlertCode") == "AD1"


def test_the_audit_chain_holds(hub: Estate) -> None:
    assert AuditLog(hub.engine).verify_chain() is None


def _template_body(srv: str) -> str:
    from tests.reference import TEMPLATES

    for path in sorted(TEMPLATES.iterdir()):
        document = parse_xml(path.read_bytes())
        if document.findtext(f"{SR}Header/{SR}ServiceReferenceVariant") == srv:
            body = document.find(f"{SR}Body")
            assert body is not None
            return etree.tostring(body[0]).decode()
    raise AssertionError(f"no template for {srv}")
