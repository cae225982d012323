"""Sign-in, sessions, CSRF and who sees what: a User never sees another User's devices,
incidents or audit rows; the service desk sees all; every action is audited."""

from __future__ import annotations

from opendcc.store.audit import AuditLog
from tests.gateway.test_admin import MPAN, OTHERS_ESME
from tests.inventory.test_devices import ESME
from tests.ssi.conftest import OTHER, SUPPLIER, Ssi


def test_sign_in_needs_a_live_credential_of_that_user(ssi: Ssi) -> None:
    client = ssi.browser(str(SUPPLIER)).client
    assert client.get("/ssi/").status_code == 200
    cookie = client.cookies.jar
    flags = next(c for c in cookie if c.name == "opendcc_ssi")
    assert flags.path == "/ssi"
    # another User's ID with this User's credential: refused
    wrong = client.post(
        "/ssi/login",
        data={"user_id": str(OTHER), "credential": ssi.credentials[str(SUPPLIER)]},
        follow_redirects=False,
    )
    assert wrong.status_code == 401
    anonymous = ssi.browser(str(SUPPLIER)).client
    anonymous.cookies.clear()
    assert anonymous.get("/ssi/devices", follow_redirects=False).status_code == 303
    audit = AuditLog(ssi.hub.engine).records()
    assert any(r.endpoint == "ssi" and r.outcome == "HTTP401" for r in audit)


def test_the_set_cookie_is_httponly_and_samesite(ssi: Ssi) -> None:
    from starlette.testclient import TestClient

    from opendcc.gateway.app import create_app

    client = TestClient(create_app(ssi.hub), base_url="http://hub")
    answer = client.post(
        "/ssi/login",
        data={"user_id": str(SUPPLIER), "credential": ssi.credentials[str(SUPPLIER)]},
        follow_redirects=False,
    )
    header = answer.headers["set-cookie"].lower()
    assert "httponly" in header
    assert "samesite=strict" in header


def test_every_post_needs_the_session_csrf_token(ssi: Ssi) -> None:
    supplier = ssi.browser(str(SUPPLIER))
    refused = supplier.post("/incidents", {"title": "x", "category": "3"}, csrf=False)
    assert refused.status_code == 403
    forged = supplier.client.post(
        "/ssi/incidents", data={"title": "x", "category": "3", "csrf": "guess"}
    )
    assert forged.status_code == 403
    assert ssi.hub.engine and not supplier.client.get("/ssi/incidents").text.count(">x<")


def test_a_user_sees_only_its_own_devices(ssi: Ssi) -> None:
    supplier, other = ssi.browser(str(SUPPLIER)), ssi.browser(str(OTHER))
    assert supplier.get(f"/devices/{ESME}").status_code == 200
    assert other.get(f"/devices/{ESME}").status_code == 404
    assert other.get(f"/devices/{OTHERS_ESME}").status_code == 200
    link = f'href="/ssi/devices/{ESME}"'
    assert link in supplier.get("/devices", q=MPAN).text
    assert link not in other.get("/devices", q=MPAN).text
    assert link not in other.get("/devices", q=str(ESME)).text
    desk = ssi.browser("desk")
    assert desk.get(f"/devices/{ESME}").status_code == 200
    assert desk.get(f"/devices/{OTHERS_ESME}").status_code == 200


def test_a_user_sees_only_its_own_incidents(ssi: Ssi) -> None:
    supplier, other = ssi.browser(str(SUPPLIER)), ssi.browser(str(OTHER))
    raised = supplier.post(
        "/incidents", {"title": "Meter silent", "category": "3", "device": str(ESME)}
    )
    assert raised.status_code == 303
    number = raised.headers["location"].split("/")[-1].split("?")[0]
    assert supplier.get(f"/incidents/{number}").status_code == 200
    assert other.get(f"/incidents/{number}").status_code == 404
    assert "Meter silent" not in other.get("/incidents").text
    # nor about another User's device
    refused = other.post("/incidents", {"title": "theirs", "category": "3", "device": str(ESME)})
    assert refused.status_code == 404
    # the desk sees it, and can name the other User an interested party
    desk = ssi.browser("desk")
    assert "Meter silent" in desk.get("/incidents").text
    added = desk.post(f"/incidents/{number}", {"do": "party", "user_id": str(OTHER)})
    assert added.status_code == 303
    assert other.get(f"/incidents/{number}").status_code == 200
    # a User does not assign or hold
    assert supplier.post(f"/incidents/{number}", {"do": "hold"}).status_code == 403


def test_every_action_is_audited_with_who(ssi: Ssi) -> None:
    supplier = ssi.browser(str(SUPPLIER))
    supplier.get(f"/devices/{ESME}")
    records = [r for r in AuditLog(ssi.hub.engine).records() if r.endpoint == "ssi"]
    assert any(str(ESME) in r.reason and r.originator == str(SUPPLIER) for r in records)
    assert AuditLog(ssi.hub.engine).verify_chain() is None


def test_a_suspended_user_is_refused_from_then_on(ssi: Ssi) -> None:
    from opendcc.store.users import UserStatus

    supplier = ssi.browser(str(SUPPLIER))
    assert supplier.get("/").status_code == 200
    ssi.hub.users.set_status(SUPPLIER, UserStatus.SUSPENDED)
    assert supplier.get("/").status_code == 403


def test_sign_in_from_another_site_is_refused(ssi: Ssi) -> None:
    from starlette.testclient import TestClient

    from opendcc.gateway.app import create_app

    client = TestClient(create_app(ssi.hub), base_url="http://hub")
    answer = client.post(
        "/ssi/login",
        data={"user_id": str(SUPPLIER), "credential": ssi.credentials[str(SUPPLIER)]},
        headers={"Origin": "http://evil.example"},
        follow_redirects=False,
    )
    assert answer.status_code == 403
    assert "opendcc_ssi" not in answer.headers.get("set-cookie", "")


def test_unknown_pages_and_bad_input_never_answer_5xx(ssi: Ssi) -> None:
    desk = ssi.browser("desk")
    for path, params in (
        ("/devices/not-an-eui", {}),
        ("/incidents/99999", {}),
        ("/incidents/abc", {}),
        ("/reports", {"name": "nope"}),
        ("/audit", {"from": "yesterday"}),
        ("/status", {"month": "2026-13"}),
        ("/performance", {"month": "x"}),
    ):
        assert desk.get(path, **params).status_code in (400, 404), path
    assert desk.post("/incidents", {"title": "t", "category": "9"}).status_code == 400
    assert desk.post("/incidents/99999", {"do": "update", "text": "x"}).status_code == 404
    assert desk.post("/status/maintenance", {"component": "x"}).status_code == 400
