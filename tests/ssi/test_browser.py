"""The SSI in a real browser (Debian's Chromium driven by Playwright) against a real hub and
head-end simulator, each its own process: a supplier signs in, finds a device, runs a
connectivity check, raises an incident and watches its SLA clock, is refused another User's
device; a head-end outage raises an incident and turns its component red; the desk schedules
maintenance; the CPM charts and the audit search show; a dead-lettered delivery raises the
supplier's own incident, whose evidence is its dead letters page, where it redrives the letter
and the hub delivers it.

Screenshots of the main pages go to ``$OPENDCC_SSI_SCREENSHOTS`` when set (``docs/ssi`` for the
documentation), else to the test's temporary directory.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright
from sqlalchemy import insert

from opendcc.sim import scenario
from opendcc.store.tables import dead_letters
from tests.gateway.harness import Estate, cohort, estate, response_code, user

CHROMIUM = "/usr/bin/chromium"
TIMEOUT_MS = 30_000  # generous: the machine may be busy; nothing waits this long when it is not


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Estate]:
    previous = os.environ.get("OPENDCC_SSI_MONITOR_SECONDS")
    os.environ["OPENDCC_SSI_MONITOR_SECONDS"] = "0.5"  # the hub process inherits it
    try:
        with estate(tmp_path_factory.mktemp("ssi"), xsd=False) as hub:
            yield hub
    finally:
        if previous is None:
            os.environ.pop("OPENDCC_SSI_MONITOR_SECONDS", None)
        else:
            os.environ["OPENDCC_SSI_MONITOR_SECONDS"] = previous


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            yield launched
        finally:
            launched.close()


def credential(hub: Estate, principal: str, *extra: str) -> str:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "opendcc",
            "ssi",
            "credential",
            "-c",
            str(hub.config),
            principal,
            *extra,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def sign_in(browser: Browser, hub: Estate, name: str, secret: str) -> Page:
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(f"{hub.hub.url}/ssi/")
    expect(page).to_have_url(f"{hub.hub.url}/ssi/login?next=/ssi/")
    page.fill("input[name=user_id]", name)
    page.fill("input[name=credential]", secret)
    page.click("button[type=submit]")
    expect(page.locator("#who")).to_contain_text(name)
    return page


def shots() -> Path | None:
    target = os.environ.get("OPENDCC_SSI_SCREENSHOTS")
    return Path(target) if target else None


def snap(page: Page, name: str, tmp: Path) -> None:
    folder = shots() or tmp
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def test_the_ssi_in_a_browser(running: Estate, browser: Browser, tmp_path: Path) -> None:
    hub, base = running, running.hub.url
    meter = scenario.METERS[0]
    # a request for the device page's lifecycle and for CPM1
    answer = hub.post("serviceS", user(scenario.SUPPLIER_KEY).request("4.1.1", meter.device_id))
    assert response_code(answer.content) == "I99"

    supplier = sign_in(
        browser, hub, str(scenario.SUPPLIER), credential(hub, str(scenario.SUPPLIER))
    )
    # a wrong credential is refused
    stranger = browser.new_context().new_page()
    stranger.goto(f"{base}/ssi/login")
    stranger.fill("input[name=user_id]", str(scenario.SUPPLIER))
    stranger.fill("input[name=credential]", "ssi_wrong")
    stranger.click("button[type=submit]")
    expect(stranger.locator(".error")).to_contain_text("do not match")
    snap(supplier, "home", tmp_path)

    # find a device by its MPxN, open it, run the connectivity check
    supplier.fill("input[name=q]", str(meter.mpxn))
    supplier.click("text=Search")
    supplier.click(f"text={meter.device_id}")
    expect(supplier.locator("#device-id")).to_have_text(str(meter.device_id))
    expect(supplier.locator("#restricted")).to_have_text("Not restricted")
    deadline = time.monotonic() + 30
    while "responded" not in supplier.locator("#requests").inner_text():
        assert time.monotonic() < deadline, "the 4.1.1 request never showed as responded"
        time.sleep(0.3)
        supplier.reload()
    expect(supplier.locator("#requests")).to_contain_text("S1SP")
    supplier.click("#run-check")
    expect(supplier.locator("#check-result")).to_contain_text("Reachable")
    snap(supplier, "device", tmp_path)

    # raise an incident about it and watch the SLA clock run
    supplier.click("text=Raise an incident about this device")
    supplier.fill("#raise input[name=title]", "Meter reads slowly")
    supplier.select_option("#raise select[name=category]", "2")
    supplier.fill("#raise textarea[name=description]", "4.1.1 takes long")
    supplier.click("#raise button[type=submit]")
    expect(supplier.locator("#status")).to_have_text("open")
    clock = supplier.locator("#sla-response .elapsed")
    first = clock.inner_text()
    expect(clock).not_to_have_text(first)  # it ticks
    expect(supplier.locator("#sla-response .state")).to_have_text("running")
    supplier.set_input_files(
        "input[type=file]",
        files=[{"name": "trace.txt", "mimeType": "text/plain", "buffer": b"trace"}],
    )
    supplier.click("button[value=attach]")
    expect(supplier.get_by_role("link", name="trace.txt")).to_be_visible()
    snap(supplier, "incident", tmp_path)

    # another User's device: refused as not found
    supplier.goto(f"{base}/ssi/devices/{scenario.OTHERS_METER.device_id}")
    expect(supplier.locator(".error")).to_contain_text("no device")
    supplier.goto(f"{base}/ssi/devices?q={scenario.OTHERS_METER.mpxn}")
    expect(supplier.locator("table")).to_contain_text("No device of yours")

    # the desk: a head-end outage turns its component red and raises an incident
    desk = sign_in(browser, hub, "desk", credential(hub, "desk", "--desk"))
    component = f"headend:{cohort()}"
    desk.goto(f"{base}/ssi/status")
    expect(desk.locator(f"[id='{component}']")).to_have_attribute("data-state", "up")
    hub.headend.kill()
    deadline = time.monotonic() + 30
    while desk.locator(f"[id='{component}']").get_attribute("data-state") != "down":
        assert time.monotonic() < deadline, "the head-end outage was never seen"
        time.sleep(0.5)
        desk.reload()
    expect(desk.locator(f"[id='{component}'] .badge")).to_have_class("badge red")
    expect(desk.locator("#service-alerts")).to_contain_text("incident #")
    snap(desk, "status", tmp_path)
    desk.click("#service-alerts a")
    expect(desk.locator("h1")).to_contain_text(f"Head-end of cohort {cohort()} is down")
    expect(desk.locator("#assignee")).to_contain_text(f"s1sp: {cohort()}")
    expect(desk.locator("#evidence")).to_have_attribute("href", f"/ssi/status#{component}")

    # the desk schedules maintenance
    desk.goto(f"{base}/ssi/status")
    desk.select_option("#schedule select[name=component]", "database")
    desk.fill("#schedule input[name=starts_at]", "2099-01-01T01:00")
    desk.fill("#schedule input[name=ends_at]", "2099-01-01T03:00")
    desk.fill("#schedule input[name=description]", "Database upgrade")
    desk.click("#schedule button[type=submit]")
    expect(desk.locator("#maintenance")).to_contain_text("Database upgrade")

    # the desk assigns the supplier's incident to the S1SP: the response clock stops
    desk.goto(f"{base}/ssi/incidents")
    desk.get_by_role("link", name="Meter reads slowly").click()
    desk.select_option("select[name=kind]", "s1sp")
    desk.click("button[value=assign]")
    expect(desk.locator("#sla-response .state")).to_have_text("met")

    # CPM charts
    supplier.goto(f"{base}/ssi/performance")
    expect(supplier.locator("#charts svg")).to_have_count(2)
    expect(supplier.locator("#cpm")).to_contain_text("family 4")
    snap(supplier, "performance", tmp_path)

    # audit search by device: the chain verifies, the User sees its own rows only
    supplier.click("nav >> text=Audit")
    supplier.fill("#audit-search input[name=device]", str(meter.device_id))
    supplier.fill("#audit-search input[name=srv]", "4.1.1")
    supplier.click("#audit-search button[type=submit]")
    expect(supplier.locator("#chain")).to_have_text("The hash chain verifies.")
    expect(supplier.locator("#audit")).to_contain_text("I99")
    expect(supplier.locator("#audit")).to_contain_text(str(meter.device_id))
    assert "desk" not in supplier.locator("#audit").inner_text()
    snap(supplier, "audit", tmp_path)
    supplier.goto(f"{base}/ssi/reports?name=device-model")
    expect(supplier.locator("#report")).to_contain_text("S1-ESME")
    # the desk's audit search shows the hub's own finding: the head-end outage
    desk.goto(f"{base}/ssi/audit?code=DOWN")
    expect(desk.locator("#audit")).to_contain_text(f"{component} down")
    desk.goto(f"{base}/ssi/incidents")
    expect(desk.locator("#incidents")).to_contain_text("Meter reads slowly")
    snap(desk, "incidents", tmp_path)

    # a delivery dead-lettered (as the deliverer leaves one after its retries): the monitor
    # raises the supplier's own incident, assigned to it; its evidence is the dead letters page,
    # where the supplier redrives the letter and the hub delivers it to its endpoint
    key = f"response:{scenario.SUPPLIER}:dead-1"
    with hub.engine.begin() as conn:
        conn.execute(
            insert(dead_letters).values(
                message_key=key,
                user_id=str(scenario.SUPPLIER),
                url=hub.callback.url,
                body=b"<dead-lettered/>",
                created_at=datetime.now(UTC),
                dead_at=datetime.now(UTC),
                attempts=3,
                last_error="HTTP 400 from the endpoint",
                permanent=True,
            )
        )
    deadline = time.monotonic() + 30
    supplier.goto(f"{base}/ssi/incidents")
    while "Deliveries dead-lettered" not in supplier.locator("#incidents").inner_text():
        assert time.monotonic() < deadline, "the dead letter never raised an incident"
        time.sleep(0.5)
        supplier.reload()
    supplier.get_by_role("link", name="Deliveries dead-lettered").click()
    expect(supplier.locator("#assignee")).to_have_text(f"user: {scenario.SUPPLIER}")
    supplier.click("#evidence")
    expect(supplier.locator("#dead-letters")).to_contain_text("HTTP 400 from the endpoint")
    expect(supplier.locator("#dead-letters")).to_contain_text("refused for good")
    snap(supplier, "dead-letters", tmp_path)
    supplier.click("#dead-letters button[type=submit]")
    expect(supplier.locator(".flash")).to_contain_text("redriven")
    expect(supplier.locator("#dead-letters")).to_contain_text("No dead letters")
    assert hub.callback.wait_for({key}, 30), "the redriven letter was never delivered"
