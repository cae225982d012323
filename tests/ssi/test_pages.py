"""Every SSI page answers, shows only the principal's own data, and its CSV downloads work."""

from __future__ import annotations

from opendcc.service.incidents import Actor, Incidents
from tests.gateway.test_admin import NOW
from tests.ssi.conftest import OTHER, SUPPLIER, Ssi


def test_pages_answer_for_a_user_and_the_desk(ssi: Ssi) -> None:
    for who in (str(SUPPLIER), "desk"):
        browser = ssi.browser(who)
        for path in (
            "/",
            "/devices",
            "/incidents",
            "/status",
            "/performance",
            "/audit",
            "/reports",
        ):
            answer = browser.get(path)
            assert answer.status_code == 200, (who, path, answer.text[:300])
        assert "The hash chain verifies" in browser.get("/audit").text
        csv = browser.get("/reports", name="device-model", format="csv")
        assert csv.headers["content-type"].startswith("text/csv")
        assert csv.text.startswith("smi_status,manufacturer,model,devices")
        assert browser.get("/performance", format="csv").text.startswith("measure,")


def test_audit_rows_of_another_user_are_not_shown(ssi: Ssi) -> None:
    supplier, other = ssi.browser(str(SUPPLIER)), ssi.browser(str(OTHER))
    supplier.get("/devices", q="secret-search-by-supplier")
    assert "secret-search-by-supplier" not in other.get("/audit").text
    assert "secret-search-by-supplier" in supplier.get("/audit").text
    assert "secret-search-by-supplier" in ssi.browser("desk").get("/audit", user=str(SUPPLIER)).text


def test_only_the_desk_schedules_maintenance(ssi: Ssi) -> None:
    form = {
        "component": "database",
        "starts_at": (NOW.replace(tzinfo=None)).isoformat(timespec="minutes"),
        "ends_at": NOW.replace(tzinfo=None, year=NOW.year + 0).isoformat(timespec="minutes")[:-2]
        + "59",
        "description": "index rebuild",
    }
    assert ssi.browser(str(SUPPLIER)).post("/status/maintenance", form).status_code == 403
    desk = ssi.browser("desk")
    assert desk.post("/status/maintenance", form).status_code == 303
    assert "index rebuild" in ssi.browser(str(SUPPLIER)).get("/status").text


def test_an_incident_page_shows_its_clocks(ssi: Ssi) -> None:
    n = Incidents(ssi.hub.engine).raise_incident(
        Actor.user(SUPPLIER), NOW, title="Clocked", description="", category=2
    )
    page = ssi.browser(str(SUPPLIER)).get(f"/incidents/{n}").text
    assert 'id="sla-response"' in page and 'id="sla-resolution"' in page


def test_the_audit_page_reports_a_tampered_chain(ssi: Ssi) -> None:
    from sqlalchemy import update

    from opendcc.store.tables import audit_log

    desk = ssi.browser("desk")
    assert "The hash chain verifies" in desk.get("/audit").text
    desk.get("/devices", q="something")  # more records, verified incrementally
    assert "The hash chain verifies" in desk.get("/audit").text
    with ssi.hub.engine.begin() as conn:  # an old record edited after it was verified
        conn.execute(update(audit_log).where(audit_log.c.id == 1).values(reason="edited"))
    assert "broken at record 1" in desk.get("/audit", verify="full").text
    assert "broken at record 1" in desk.get("/audit").text  # and it stays reported


def test_a_major_incident_is_a_service_alert_for_every_user(ssi: Ssi) -> None:
    desk = ssi.browser("desk")
    raised = desk.post("/incidents", {"title": "Gateway degraded", "category": "1", "major": "on"})
    assert raised.status_code == 303
    other = ssi.browser(str(OTHER))
    assert "Major incident" in other.get("/status").text
    assert "Gateway degraded" in other.get("/status").text
    number = raised.headers["location"].split("/")[-1].split("?")[0]
    assert other.get(f"/incidents/{number}").status_code == 404  # the alert, not the incident
