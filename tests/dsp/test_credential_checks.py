"""The SMKI repository check of replacement certificates (``opendcc.smki.replacement``).

The RTDS 6.15.1, 6.21 and 6.23 bodies carry certificates issued by the ZAZ1 Organisation CA
(Z1), with Z1's certificate as their certification path; the test SMKI repository (the ZAZ1
key directory) holds certificates Z1 issued. Each must pass at an instant inside their validity;
each way a certificate can be wrong must be refused with its reason.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import Engine
from tests.inventory.test_devices import ESME, T0, installation
from tests.reference import KEYS, require_reference
from tests.s1sp.services.harness import request_body, templates_for

from opendcc.catalogue import UserRole
from opendcc.core.clock import FixedClock
from opendcc.core.errors import ResponseCode
from opendcc.core.eui import Eui64
from opendcc.dsp.access import AccessDenied
from opendcc.dsp.credentials import CredentialChecks
from opendcc.inventory import InventoryStore, Registration, SmiStatus
from opendcc.s1sp.contract import Instruction
from opendcc.s1sp.services.credentials import SERVICES
from opendcc.smki import TrustStore
from opendcc.smki.replacement import check, party

SERVICE = {service.srv: service for service in SERVICES}
AT = datetime(2026, 1, 1, tzinfo=UTC)  # the RTDS certificates run 2025-09-01 to 2035
REPLACING = [(srv, p) for srv in ("6.15.1", "6.21", "6.23") for p in templates_for(srv)]


@pytest.fixture(scope="module")
def repository() -> TrustStore:
    require_reference()
    return TrustStore.from_directory(KEYS)


def _parameters(srv: str, name: str) -> dict[str, str]:
    (path,) = [p for p in templates_for(srv) if p.name == name]
    return SERVICE[srv].parameters(request_body(path))


SUPPLIER = ("6.15.1", "CS02bSupplierBySupplier_6.15.1_IMMEDIATE_SUCCESS_REQUEST_DUIS.XML")


@pytest.mark.parametrize(("srv", "path"), REPLACING, ids=[p.name for _, p in REPLACING])
def test_every_rtds_replacement_passes(srv: str, path: object, repository: TrustStore) -> None:
    from pathlib import Path

    assert isinstance(path, Path)
    parameters = SERVICE[srv].parameters(request_body(path))
    assert check(parameters, repository, AT) is None


def test_the_party_is_the_certificates_holder() -> None:
    assert party(_parameters(*SUPPLIER)) == Eui64.parse("90-B3-D5-1F-30-01-00-00")


def test_a_ca_the_repository_does_not_know_is_refused() -> None:
    why = check(_parameters(*SUPPLIER), TrustStore(), AT)
    assert why is not None and "SMKI repository" in why


def test_a_role_other_than_the_certificates_is_refused(repository: TrustStore) -> None:
    parameters = {**_parameters(*SUPPLIER), "role": "NetworkOperator"}
    why = check(parameters, repository, AT)
    assert why == "the signing certificate is for SUPPLIER, not NETWORK_OPERATOR"


def test_certificates_of_two_parties_are_refused(repository: TrustStore) -> None:
    cos = _parameters("6.23", "CS02bSupplierByTransCoS_6.23_IMMEDIATE_SUCCESS_REQUEST_DUIS.XML")
    parameters = {**_parameters(*SUPPLIER), "key_agreement": cos["key_agreement"]}
    why = check(parameters, repository, AT)
    assert why is not None and "one remote party" in why


def test_swapped_usages_are_refused(repository: TrustStore) -> None:
    original = _parameters(*SUPPLIER)
    parameters = {**original, "signing": original["key_agreement"]}
    why = check(parameters, repository, AT)
    assert why is not None and "key usage" in why


def test_out_of_validity_is_refused_only_with_time_checks(repository: TrustStore) -> None:
    parameters = _parameters(*SUPPLIER)  # ApplyTimeBasedCPVChecks false in this template
    later = datetime(2040, 1, 1, tzinfo=UTC)
    assert check(parameters, repository, later) is None
    why = check({**parameters, "time_checks": "true"}, repository, later)
    assert why is not None and "not valid at 2040" in why


def test_a_certificate_no_path_certificate_issued_is_refused(repository: TrustStore) -> None:
    original = _parameters(*SUPPLIER)
    genuine = x509.load_der_x509_certificate(base64.b64decode(original["signing"]))
    forger = ec.generate_private_key(ec.SECP256R1())
    forged = (
        x509.CertificateBuilder()
        .subject_name(genuine.subject)
        .issuer_name(genuine.issuer)  # claims Z1, signed by someone else
        .public_key(forger.public_key())
        .serial_number(7)
        .not_valid_before(AT - timedelta(days=1))
        .not_valid_after(AT + timedelta(days=1))
        .add_extension(genuine.extensions.get_extension_for_class(x509.KeyUsage).value, True)
        .sign(forger, hashes.SHA256())
    )
    der = forged.public_bytes(serialization.Encoding.DER)
    why = check({**original, "signing": base64.b64encode(der).decode()}, repository, AT)
    assert why == "no certification path certificate issued the signing certificate"


def test_not_a_certificate_is_refused(repository: TrustStore) -> None:
    parameters = {**_parameters(*SUPPLIER), "top_up": base64.b64encode(b"junk").decode()}
    assert check(parameters, repository, AT) == "the top_up certificate is not an X.509 certificate"


# 6.23 follows the change of supplier in the registration data.

COS_TEMPLATE = "CS02bSupplierByTransCoS_6.23_IMMEDIATE_SUCCESS_REQUEST_DUIS.XML"
LOSING = Eui64.parse("90-B3-D5-1F-30-01-00-00")
GAINING = Eui64.parse("90-B3-D5-1F-30-03-00-00")  # the holder of the RTDS CoS certificates


def _checks(engine: Engine, repository: TrustStore, now: datetime) -> CredentialChecks:
    inventory = InventoryStore(engine)
    with engine.begin() as conn:
        inventory.add_in(conn, installation(SmiStatus.COMMISSIONED), T0, "test")
    inventory.register([Registration(MPAN, UserRole.IS, LOSING, T0)])
    return CredentialChecks(FixedClock(now), repository, inventory)


def _cos(mpxn: str = "1900000000017", **more: str) -> Instruction:
    parameters = {**_parameters("6.23", COS_TEMPLATE), "mpxn": mpxn, **more}
    return Instruction(f"{LOSING}:{ESME}:1", "6.23", ESME, parameters)


MPAN = "1900000000017"


def test_cos_takes_the_gaining_suppliers_certificates_from_its_effective_date(
    engine: Engine, repository: TrustStore
) -> None:
    checks = _checks(engine, repository, AT)
    with pytest.raises(AccessDenied) as refused:
        checks.vet(_cos())  # the registration still names the losing supplier
    assert refused.value.code is ResponseCode.NOT_RESPONSIBLE_PARTY
    assert f"registered supplier of {MPAN}" in str(refused.value)
    effective = AT + timedelta(days=3)
    checks.inventory.registrations.change_supplier(MPAN, UserRole.IS, GAINING, effective)
    with pytest.raises(AccessDenied):
        checks.vet(_cos())  # not yet effective now ...
    checks.vet(_cos(execute_at="2026-01-04T00:00:00.000Z"))  # ... but when carried out
    assert isinstance(checks.clock, FixedClock)
    checks.clock.set(effective)
    checks.vet(_cos())


def test_cos_names_the_devices_metering_point(engine: Engine, repository: TrustStore) -> None:
    checks = _checks(engine, repository, AT)
    with pytest.raises(AccessDenied) as refused:
        checks.vet(_cos(mpxn="1312345678333"))
    assert refused.value.code is ResponseCode.NOT_RESPONSIBLE_PARTY
    assert str(refused.value) == f"ImportMPxN 1312345678333 is not the metering point of {ESME}"


def test_a_refused_certificate_is_e11(engine: Engine, repository: TrustStore) -> None:
    checks = _checks(engine, repository, AT)
    parameters = {**_parameters(*SUPPLIER), "role": "NetworkOperator"}
    with pytest.raises(AccessDenied) as refused:
        checks.vet(Instruction("x", "6.15.1", ESME, parameters))
    assert refused.value.code is ResponseCode.SRV_NOT_FOR_DEVICE_TYPE
    junk = {"device_certificate": base64.b64encode(b"junk").decode()}
    with pytest.raises(AccessDenied):
        checks.vet(Instruction("x", "6.15.2", ESME, junk))
    checks.vet(Instruction("x", "6.24.1", ESME, {"roles": "Supplier"}))  # nothing to check
