"""Alerts through the running hub: every cohort's head-end pushes over its own protocol, the hub
routes by role and delivers signed alerts to the Users' callbacks, in order, retrying a callback
that was down; restricted meters' alerts are filtered and the S1SP is told of the restriction;
storms are throttled with critical alerts through; undelivered commands raise N12."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from lxml import etree
from sqlalchemy import Engine, select
from tests.reference import KEYS
from tests.s1sp.contract.estate import PROFILES, Estate, estate

from opendcc.core.eui import Eui64
from opendcc.duis.alerts import DCC_ID
from opendcc.duis.authenticate import verify_document
from opendcc.duis.schema import DuisSchema
from opendcc.duis.xml import parse_xml, sr
from opendcc.hub import REGISTRY_CACHE_SECONDS
from opendcc.inventory import InventoryStore
from opendcc.inventory.restriction import Restrictions
from opendcc.sim import scenario
from opendcc.sim.headends.core import Faults
from opendcc.sim.user import Delivery
from opendcc.smki import TrustStore
from opendcc.store import create_engine_for
from opendcc.store.tables import alert_diagnostics, outbox

SUPPLIER, NETWORK = scenario.SUPPLIER, scenario.NETWORK_OPERATOR
RA = "{http://www.dccinterface.co.uk/ResponseAndAlert}"
STORM = "\n[alerts]\ndevice_limit = 3\nwindow_seconds = 3\n"


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Estate]:
    with estate(tmp_path_factory.mktemp("alerts"), extra_config=STORM) as running:
        yield running


@pytest.fixture(scope="module")
def engine(hub: Estate) -> Iterator[Engine]:
    engine = create_engine_for(hub.database())
    yield engine
    engine.dispose()


async def _on_loop(action: Callable[[], Any]) -> Any:
    return action()


def inject(hub: Estate, cohort: str, device: Eui64, event: str, count: int = 1) -> None:
    core = hub.headends.core(cohort)
    for _ in range(count):
        hub.headends.call(_on_loop(lambda: core.inject(device, event)))


def alerts_for(hub: Estate, device: Eui64, user: Eui64) -> list[Delivery]:
    prefix = f"alert:{device}:{user}:"
    with hub.callback._arrived:
        return [d for d in hub.callback.deliveries if d.key.startswith(prefix)]


def dcc_alerts_for(hub: Estate, user: Eui64) -> list[Delivery]:
    prefix = f"alert:{DCC_ID}:{user}:"
    with hub.callback._arrived:
        return [d for d in hub.callback.deliveries if d.key.startswith(prefix)]


def code_of(delivery: Delivery) -> str:
    root = etree.fromstring(delivery.body)
    code = root.findtext(f".//{RA}GBCSHexAlertCode") or root.findtext(f".//{sr('DCCAlertCode')}")
    return code or "?"


def wait_until(check: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


@pytest.mark.parametrize("cohort", [p.name for p in PROFILES])
def test_a_meters_alert_reaches_the_supplier_and_network_operator(
    hub: Estate, cohort: str, schema: DuisSchema
) -> None:
    device = hub.installs[cohort].devices["ESME"]
    inject(hub, cohort, device, "power_outage")
    for user in (SUPPLIER, NETWORK):
        wait_until(
            lambda user=user: any(code_of(d) == "8F34" for d in alerts_for(hub, device, user))
        )
    delivery = next(d for d in alerts_for(hub, device, SUPPLIER) if code_of(d) == "8F34")
    document = parse_xml(delivery.body)
    schema.validate(document)
    assert verify_document(document, TrustStore.from_directory(KEYS), datetime.now(UTC))
    alert_id = document.findtext(f"{sr('Header')}/{sr('ResponseID')}")
    assert delivery.key == f"alert:{alert_id}"


def test_a_non_mandatory_alert_goes_to_the_supplier_only(hub: Estate) -> None:
    cohort = PROFILES[0].name
    device = hub.installs[cohort].devices["ESME"]
    inject(hub, cohort, device, "low_credit")
    wait_until(lambda: any(code_of(d) == "8101" for d in alerts_for(hub, device, SUPPLIER)))
    time.sleep(0.5)
    assert not any(code_of(d) == "8101" for d in alerts_for(hub, device, NETWORK))


def test_restricted_meter_filtered_and_the_s1sp_told(hub: Estate, engine: Engine) -> None:
    cohort = PROFILES[1].name
    device = hub.installs[cohort].devices["ESME"]
    restrictions = Restrictions(engine, InventoryStore(engine))
    restrictions.change(
        device, restricted=True, by=SUPPLIER, reason="refused", now=datetime.now(UTC)
    )
    meter = hub.headends.core(cohort).meter(device)
    assert meter is not None
    wait_until(lambda: meter.restricted)  # the notice reached the head-end
    assert meter.restricted_by == str(SUPPLIER)
    time.sleep(REGISTRY_CACHE_SECONDS * 1.5)
    inject(hub, cohort, device, "low_credit")
    inject(hub, cohort, device, "tamper")
    wait_until(lambda: any(code_of(d) == "8F20" for d in alerts_for(hub, device, SUPPLIER)))
    assert not any(code_of(d) == "8101" for d in alerts_for(hub, device, SUPPLIER))
    with engine.connect() as conn:
        logged = conn.execute(
            select(alert_diagnostics.c.code).where(alert_diagnostics.c.device_id == str(device))
        ).scalars()
        assert list(logged) == ["8101"]
    restrictions.change(device, restricted=False, by=SUPPLIER, reason="", now=datetime.now(UTC))
    wait_until(lambda: not meter.restricted)


def test_a_storm_is_throttled_critical_alerts_still_go_and_the_supplier_is_told(
    hub: Estate,
) -> None:
    cohort = PROFILES[2].name
    device = hub.installs[cohort].devices["ESME"]
    inject(hub, cohort, device, "low_credit", count=12)
    inject(hub, cohort, device, "tamper")
    wait_until(lambda: any(code_of(d) == "8F20" for d in alerts_for(hub, device, SUPPLIER)))
    low = [d for d in alerts_for(hub, device, SUPPLIER) if code_of(d) == "8101"]
    assert len(low) <= 3

    def told() -> list[Delivery]:
        return [
            d
            for d in dcc_alerts_for(hub, SUPPLIER)
            if code_of(d) == "N45" and str(device).encode() in d.body
        ]

    wait_until(lambda: bool(told()), timeout=15)
    held = etree.fromstring(told()[0].body).findtext(f".//{sr('ThrottledAlertCount')}")
    assert int(held or 0) == 12 - len(low)


def test_a_callback_that_was_down_gets_every_alert_in_order(hub: Estate, engine: Engine) -> None:
    cohort = PROFILES[3].name
    device = hub.installs[cohort].devices["ESME"]
    hub.callback.up = False
    try:
        for event in ("power_outage", "power_restore", "tamper"):
            inject(hub, cohort, device, event)

        def retried() -> bool:
            with engine.connect() as conn:
                rows = conn.execute(
                    select(outbox.c.attempts).where(outbox.c.ordering_key == f"{SUPPLIER}|{device}")
                ).scalars()
                return any(a >= 1 for a in rows)

        wait_until(retried)
    finally:
        hub.callback.up = True
    wait_until(lambda: len(alerts_for(hub, device, SUPPLIER)) >= 3, timeout=40)
    assert [code_of(d) for d in alerts_for(hub, device, SUPPLIER)] == ["8F34", "8F35", "8F20"]


def test_an_undelivered_command_raises_n12_for_its_sender(hub: Estate) -> None:
    cohort = PROFILES[4].name
    device = hub.installs[cohort].devices["ESME"]
    core = hub.headends.core(cohort)
    core.meter_faults[device] = Faults(unreachable=True)
    try:
        request = hub.supplier.request("4.1.1", device)
        assert hub.post("serviceS", request).status_code == 200
        response = hub.response_to(request)
        assert response.findtext(f"{sr('Header')}/{sr('ResponseCode')}") == "E20"
    finally:
        del core.meter_faults[device]
    request_id = parse_xml(request).findtext(f"{sr('Header')}/{sr('RequestID')}")

    def n12() -> list[Delivery]:
        return [
            d
            for d in dcc_alerts_for(hub, SUPPLIER)
            if code_of(d) == "N12" and (request_id or "?").encode() in d.body
        ]

    wait_until(lambda: bool(n12()))
    failure = etree.fromstring(n12()[0].body).find(f".//{sr('CommandFailure')}")
    assert failure is not None
    assert failure.findtext(sr("DeviceID")) == str(device)


def test_configure_alert_behaviour_where_the_cohort_offers_it(hub: Estate) -> None:
    body = _configure_alerts_body()
    for profile in PROFILES:
        device = hub.installs[profile.name].devices["ESME"]
        request = hub.supplier.request("6.22", device, body=body)
        answer = hub.post("serviceS", request)
        code = answer.headers["X-DUIS-Response-Code"]
        if "6.22" not in profile.supported_srvs:
            assert code == "E11", profile.name
            continue
        assert code == "I99", profile.name
        response = hub.response_to(request)
        assert response.findtext(f"{sr('Header')}/{sr('ResponseCode')}") == "I0"
        meter = hub.headends.core(profile.name).meter(device)
        assert meter is not None and 0x810E in meter.disabled_alerts


def _configure_alerts_body() -> str:
    from tests.reference import TEMPLATES

    document = parse_xml((TEMPLATES / "ECS25a_6.22_SUCCESS_REQUEST_DUIS.XML").read_bytes())
    body = document.find(f"{sr('Body')}")
    assert body is not None
    return etree.tostring(body[0]).decode()


def test_the_alert_record_and_audit_trail_hold_no_restricted_drop(engine: Engine) -> None:
    from opendcc.store.tables import alerts, audit_log

    with engine.connect() as conn:
        diagnostics = conn.execute(select(alert_diagnostics)).all()
        assert diagnostics
        for row in diagnostics:
            recorded = conn.execute(
                select(alerts.c.id)
                .where(alerts.c.device_id == row.device_id)
                .where(alerts.c.code == row.code)
            ).all()
            assert recorded == []
        reasons = conn.execute(select(audit_log.c.reason)).scalars()
        assert not any("8101" in r for r in reasons)


def test_the_firmware_watch_flags_a_restricted_meter_whose_updates_keep_failing(
    hub: Estate, engine: Engine
) -> None:
    cohort = PROFILES[5].name
    device = hub.installs[cohort].devices["ESME"]
    restrictions = Restrictions(engine, InventoryStore(engine))
    restrictions.change(
        device, restricted=True, by=SUPPLIER, reason="refused", now=datetime.now(UTC)
    )
    time.sleep(REGISTRY_CACHE_SECONDS * 1.5)
    inject(hub, cohort, device, "firmware_failed", count=3)  # the default threshold: 3

    def n46() -> list[Delivery]:
        return [
            d
            for d in dcc_alerts_for(hub, SUPPLIER)
            if code_of(d) == "N46" and str(device).encode() in d.body
        ]

    wait_until(lambda: bool(n46()))
    # The failures themselves are firmware outcomes: delivered even from a restricted meter.
    failures = [d for d in alerts_for(hub, device, SUPPLIER) if code_of(d) == "8F1C"]
    assert len(failures) == 3
    inject(hub, cohort, device, "firmware_failed")
    time.sleep(1.5)
    assert len(n46()) == 1  # flagged once
