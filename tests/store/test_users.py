from __future__ import annotations

from sqlalchemy import Engine
from tests.reference import KEYS, NOW, SUPPLIER

from opendcc.catalogue import UserRole
from opendcc.core.eui import Eui64
from opendcc.smki.credentials import load_certificate
from opendcc.store.users import AnomalyThreshold, User, UserStatus, UserStore

CERT = load_certificate((KEYS / "xml-sign-90B3D51F30010000-ds.pem").read_bytes())
ID = Eui64.parse(SUPPLIER)


def supplier(**changes: object) -> User:
    values: dict[str, object] = {
        "user_id": ID,
        "roles": frozenset({UserRole.IS, UserRole.GS}),
        "status": UserStatus.ACTIVE,
        "callback_url": "http://127.0.0.1:9/duis",
        "certificates": (CERT,),
        "thresholds": (AnomalyThreshold("4.1.1", 10, 60),),
    }
    values.update(changes)
    return User(**values)  # type: ignore[arg-type]


def test_a_user_round_trips_with_roles_certificates_and_thresholds(engine: Engine) -> None:
    store = UserStore(engine)
    store.put(supplier(), NOW)
    found = store.get(ID)
    assert found is not None
    assert found.roles == {UserRole.IS, UserRole.GS}
    assert found.certificates[0].serial_number == CERT.serial_number
    assert found.thresholds == (AnomalyThreshold("4.1.1", 10, 60),)
    assert found.active


def test_put_replaces_everything_the_user_holds(engine: Engine) -> None:
    store = UserStore(engine)
    store.put(supplier(), NOW)
    store.put(supplier(roles=frozenset({UserRole.ES}), certificates=(), thresholds=()), NOW)
    found = store.get(ID)
    assert found is not None
    assert found.roles == {UserRole.ES}
    assert found.certificates == ()
    assert store.lookup(CERT.issuer.rfc4514_string(), CERT.serial_number) is None


def test_certificates_are_found_by_issuer_and_serial_in_any_spelling(engine: Engine) -> None:
    store = UserStore(engine)
    store.put(supplier(), NOW)
    issuer = CERT.issuer.rfc4514_string()
    spaced = ", ".join(issuer.split(","))  # "CN=Z1, OU=07" names the same issuer
    info = store.lookup(spaced, CERT.serial_number)
    assert info is not None
    assert info.eui == ID
    assert store.lookup(issuer, CERT.serial_number + 1) is None
    assert store.lookup("not a name", CERT.serial_number) is None


def test_a_certificate_of_another_party_is_refused(engine: Engine) -> None:
    other = load_certificate((KEYS / "xml-sign-90B3D51F30020000-ds.pem").read_bytes())
    try:
        UserStore(engine).put(supplier(certificates=(other,)), NOW)
    except ValueError as exc:
        assert "does not belong" in str(exc)
    else:
        raise AssertionError("a certificate for another EUI was accepted")
    assert UserStore(engine).get(ID) is None


def test_suspend_activate_and_remove(engine: Engine) -> None:
    store = UserStore(engine)
    store.put(supplier(), NOW)
    assert store.set_status(ID, UserStatus.SUSPENDED)
    found = store.get(ID)
    assert found is not None
    assert not found.active
    assert not store.set_status(Eui64.parse("00-00-00-00-00-00-00-01"), UserStatus.ACTIVE)
    assert store.remove(ID)
    assert store.get(ID) is None
    assert store.lookup(CERT.issuer.rfc4514_string(), CERT.serial_number) is None
    assert store.all() == []
