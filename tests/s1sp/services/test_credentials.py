"""The security-credential SRVs: RTDS templates to parameters, the S1SP's record to Result, MMC.

Every RTDS template of 6.15.1, 6.15.2, 6.17, 6.21, 6.23, 6.24.1 and 6.24.2 must read into
parameters, be carried out on the simulated S1SP's record of a meter, and answer a schema-valid
MMC element; the record must hold what was set (6.24.1 reads back what 6.15.1 wrote, 6.15.2
takes only a certificate of the device's own key), and a refusal must change nothing.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID
from lxml import etree
from tests.s1sp.services.harness import ESME_ID, NOW, request_body, templates_for, validate_mmc

from opendcc.catalogue import default_catalogue
from opendcc.duis.schema import DuisSchema
from opendcc.duis.xml import ra
from opendcc.s1sp.services.base import InvalidParameters
from opendcc.s1sp.services.credentials import SERVICES
from opendcc.sim.services.credentials import EXECUTORS
from opendcc.sim.state import Esme, MeterError
from opendcc.sim.state.credentials import of
from opendcc.smki import SigningCredentials

SRVS = ("6.15.1", "6.15.2", "6.17", "6.21", "6.23", "6.24.1", "6.24.2")
SERVICE = {service.srv: service for service in SERVICES}
TEMPLATES = [(srv, path) for srv in SRVS for path in templates_for(srv)]


def esme() -> Esme:
    return Esme.for_device(ESME_ID, commissioned=NOW - timedelta(days=3))


def test_one_service_and_one_executor_each() -> None:
    assert tuple(SERVICE) == ("6.15.1", "6.15.2", "6.17", "6.21", "6.23", "6.24.1", "6.24.2")
    assert set(EXECUTORS) == set(SRVS)
    for srv in SRVS:
        element = default_catalogue().get(srv).body_element
        assert element is not None
        assert SERVICE[srv].command == element[0].lower() + element[1:]


@pytest.mark.parametrize(("srv", "path"), TEMPLATES, ids=[p.name for _, p in TEMPLATES])
def test_every_template_is_carried_out_and_answered_valid(
    srv: str, path: object, schema: DuisSchema, s1sp_credentials: SigningCredentials
) -> None:
    from pathlib import Path

    assert isinstance(path, Path)
    parameters = SERVICE[srv].parameters(request_body(path))
    result, alerts = EXECUTORS[srv](esme(), parameters, NOW)
    assert alerts == ()
    element = SERVICE[srv].response(result)
    validate_mmc(element, srv, schema, s1sp_credentials)
    # The RTDS device certificate is not of this device's key: the S1SP refuses it.
    assert element.get("MessageSuccess") == ("false" if srv == "6.15.2" else "true")


def _krp() -> dict[str, str]:
    (path,) = [
        p for p in templates_for("6.15.1") if "SupplierBySupplier_6.15.1_IMMEDIATE" in p.name
    ]
    return SERVICE["6.15.1"].parameters(request_body(path))


def test_a_replacement_is_read_back_by_6_24_1(
    schema: DuisSchema, s1sp_credentials: SigningCredentials
) -> None:
    meter = esme()
    parameters = _krp()
    assert parameters["role"] == "Supplier" and parameters["mode"] == "SupplierBySupplier"
    before, _ = EXECUTORS["6.24.1"](meter, {"roles": "Supplier"}, NOW)
    assert before == {"parties": (("Supplier", "trustAnchorNotFound"),)}
    EXECUTORS["6.15.1"](meter, parameters, NOW)
    after, _ = EXECUTORS["6.24.1"](meter, {"roles": "Supplier,NetworkOperator"}, NOW)
    signing = hashlib.sha1(base64.b64decode(parameters["signing"])).hexdigest()
    assert ("Supplier", "0", "DigitalSigning", "90-B3-D5-1F-30-01-00-00", signing) in after[
        "parties"
    ]
    assert after["parties"][-1] == ("NetworkOperator", "trustAnchorNotFound")
    element = SERVICE["6.24.1"].response(after)
    validate_mmc(element, "6.24.1", schema, s1sp_credentials)
    hashes_ = [e.text for e in element.iter(ra("ExistingCertificateHash"))]
    assert base64.b64encode(bytes.fromhex(signing)).decode() in hashes_
    # A second replacement reports the anchor it replaced.
    again, _ = EXECUTORS["6.15.1"](meter, parameters, NOW)
    first = again["replaced"][0]
    assert isinstance(first, tuple) and first[2] == "90-B3-D5-1F-30-01-00-00"


def test_a_floor_going_back_is_refused_and_changes_nothing() -> None:
    meter = esme()
    EXECUTORS["6.15.1"](meter, {**_krp(), "floor_seq": "10"}, NOW)
    held = dict(of(meter).anchors)
    with pytest.raises(MeterError):
        EXECUTORS["6.15.1"](meter, {**_krp(), "floor_seq": "9"}, NOW)
    assert of(meter).anchors == held
    assert of(meter).floors["Supplier"].floor_seq == 10


def test_6_17_answers_a_request_for_the_devices_own_key() -> None:
    meter = esme()
    result, _ = EXECUTORS["6.17"](meter, {"credential": "DigitalSignature"}, NOW)
    request = x509.load_der_x509_csr(base64.b64decode(str(result["csr"])))
    assert request.is_signature_valid
    assert request.public_key() == of(meter).key("DigitalSignature").public_key()


def _certificate_for(public_key: object) -> bytes:
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import Encoding

    issuer = ec.generate_private_key(ec.SECP256R1())
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "E357")])
    start = datetime(2024, 1, 1, tzinfo=UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public_key)
        .serial_number(1)
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=3650))
        .sign(issuer, hashes.SHA256())
    )
    return certificate.public_bytes(Encoding.DER)


def test_6_15_2_takes_only_a_certificate_of_the_devices_key() -> None:
    meter = esme()
    (path,) = templates_for("6.15.2")
    rtds = SERVICE["6.15.2"].parameters(request_body(path))
    refused, _ = EXECUTORS["6.15.2"](meter, rtds, NOW)
    assert refused == {"status": "wrongPublicKey"}
    held, _ = EXECUTORS["6.24.2"](meter, {"credential": "DigitalSignature"}, NOW)
    issued = x509.load_der_x509_certificate(base64.b64decode(str(held["certificate"])))
    assert issued.public_key() == of(meter).key("DigitalSignature").public_key()
    assert issued.issuer.rfc4514_string() == "CN=opendcc S1SP Device CA"
    own = _certificate_for(of(meter).key("DigitalSignature").public_key())
    parameters = {"device_certificate": base64.b64encode(own).decode()}
    assert EXECUTORS["6.15.2"](meter, parameters, NOW)[0] == {"status": "success"}
    read, _ = EXECUTORS["6.24.2"](meter, {"credential": "DigitalSignature"}, NOW)
    assert read == {"status": "success", "certificate": base64.b64encode(own).decode()}


def test_the_cos_body_reads_as_a_supplier_replacement_by_trans_cos() -> None:
    path = next(p for p in templates_for("6.23") if "IMMEDIATE" in p.name)
    body = request_body(path)
    before = etree.tostring(body)
    parameters = SERVICE["6.23"].parameters(body)
    assert etree.tostring(body) == before  # reading leaves the body as it was
    assert parameters["mode"] == "SupplierByTransCoS"
    assert parameters["role"] == "Supplier"
    assert parameters["mpxn"] == "1312345678333"
    assert parameters["time_checks"] == "true"
    assert {"signing", "key_agreement", "top_up", "path", "floor_seq"} <= set(parameters)


@pytest.mark.parametrize(
    ("srv", "replace", "by"),
    [
        ("6.15.1", b"<sr:RemotePartyRole>Supplier<", b"<sr:RemotePartyRole>Root<"),
        ("6.15.1", b"<sr:DigitalSigningCertificate>MII", b"<sr:DigitalSigningCertificate>*II"),
        ("6.15.1", b"<sr:RemotePartyFloorSeqNumber>0<", b"<sr:RemotePartyFloorSeqNumber>x<"),
        ("6.21", b"<sr:RemotePartyRole>Supplier<", b"<sr:RemotePartyRole>LoadController<"),
        ("6.17", b"Digital Signature", b"Something Else"),
    ],
)
def test_bad_bodies_are_invalid_parameters(srv: str, replace: bytes, by: bytes) -> None:
    path = next(p for p in templates_for(srv) if replace in p.read_bytes())
    body = etree.fromstring(path.read_bytes().replace(replace, by, 1))
    (element,) = body.iter("{*}" + str(default_catalogue().get(srv).body_element))
    with pytest.raises(InvalidParameters):
        SERVICE[srv].parameters(element)


@pytest.mark.parametrize("srv", ["6.15.1", "6.23"])
def test_comments_in_the_body_are_not_elements(srv: str) -> None:
    path = next(p for p in templates_for(srv) if "IMMEDIATE" in p.name)
    plain = SERVICE[srv].parameters(request_body(path))
    text = path.read_bytes().replace(
        b"<sr:DigitalSigningCertificate>", b"<!-- a note --><sr:DigitalSigningCertificate>", 1
    )
    (element,) = etree.fromstring(text).iter("{*}" + str(default_catalogue().get(srv).body_element))
    assert SERVICE[srv].parameters(element) == plain
