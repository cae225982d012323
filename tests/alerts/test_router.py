"""Alert routing on a real store: recipients by role, subscriptions, restricted mode's
diagnostics log, storm protection, the firmware watch and the outbox's order per device."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from lxml import etree
from sqlalchemy import Engine, select
from tests.inventory.test_devices import ESME, GSME, T0, installation

from opendcc.alerts.intake import AlertRouter, Received
from opendcc.alerts.messages import AlertSigner
from opendcc.alerts.store import AlertRecord, Choice, FirmwareWatch, Subscriptions
from opendcc.alerts.throttle import StormPolicy, Throttle
from opendcc.catalogue import UserRole
from opendcc.core.clock import FixedClock
from opendcc.core.eui import Eui64
from opendcc.duis.xml import SR_NS
from opendcc.inventory import InventoryStore, Registration, SmiStatus
from opendcc.inventory.restriction import Restrictions
from opendcc.queue.outbox import Outbox
from opendcc.s1sp.contract import DeviceAlert
from opendcc.smki import SigningCredentials
from opendcc.store.requests import RequestStore
from opendcc.store.tables import outbox

SUPPLIER = Eui64.parse("90-B3-D5-1F-30-01-00-00")
NETWORK = Eui64.parse("90-B3-D5-1F-30-01-00-03")
GAS_SUPPLIER = Eui64.parse("90-B3-D5-1F-30-01-00-01")
URLS = {u: f"http://127.0.0.1:9/{u}" for u in (SUPPLIER, NETWORK, GAS_SUPPLIER)}
NS = {"sr": SR_NS, "ra": "http://www.dccinterface.co.uk/ResponseAndAlert"}

TAMPER, LOW_CREDIT, CLOCK, FW_FAILED, FW_OK = 0x8F20, 0x8101, 0x8103, 0x8F1C, 0x8F1D


@dataclass
class Rig:
    engine: Engine
    router: AlertRouter
    restrictions: Restrictions
    subscriptions: Subscriptions
    record: AlertRecord
    clock: FixedClock
    sent: list[Received] = field(default_factory=list)

    def route(self, device: Eui64, *codes: int, **values: object) -> int:
        batch = [
            Received("acme", DeviceAlert(device, code, self.clock.now(), dict(values)))
            for code in codes
        ]
        return self.router.route(batch)

    def messages(self) -> list[tuple[str, str, str | None]]:
        """(user, alert code in the document, ordering key) of every outbox row, in order."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(outbox).order_by(outbox.c.id)).all()
        return [(r.user_id, _code(r.body), r.ordering_key) for r in rows]


def _code(body: bytes) -> str:
    root = etree.fromstring(body)
    for path in ("//ra:GBCSHexAlertCode", "//sr:DCCAlertCode"):
        found = root.xpath(path, namespaces=NS)
        if found:
            return str(found[0].text)
    raise AssertionError("no alert code")


@pytest.fixture
def rig(
    engine: Engine, dcc_credentials: SigningCredentials, s1sp_credentials: SigningCredentials
) -> Rig:
    clock = FixedClock(T0 + timedelta(days=3))
    inventory = InventoryStore(engine)
    with engine.begin() as conn:
        inventory.add_in(conn, installation(SmiStatus.COMMISSIONED), T0, "test")
    inventory.register(
        [
            Registration("1900000000017", UserRole.IS, SUPPLIER, T0),
            Registration("1900000000017", UserRole.ED, NETWORK, T0),
            Registration("7000000001", UserRole.GS, GAS_SUPPLIER, T0),
        ]
    )
    restrictions = Restrictions(engine, inventory)
    subscriptions = Subscriptions(engine, cache_seconds=0)
    router = AlertRouter(
        engine=engine,
        clock=clock,
        inventory=inventory,
        callback_of=URLS.get,
        restricted_among=restrictions.restricted_among,
        subscriptions=subscriptions,
        signer=AlertSigner(dcc_credentials, s1sp_credentials),
        watch=FirmwareWatch(engine, threshold=2),
        throttle=Throttle(StormPolicy(device_limit=3, window_s=60, cohort_limit=1000)),
    )
    return Rig(engine, router, restrictions, subscriptions, AlertRecord(engine), clock)


def test_recipients_by_role(rig: Rig) -> None:
    assert rig.route(ESME, TAMPER) == 2  # supplier and network operator
    assert rig.route(ESME, LOW_CREDIT) == 1  # the supplier only
    assert rig.route(GSME, TAMPER) == 1  # the gas supplier; no gas transporter registered
    assert [(u, c) for u, c, _ in rig.messages()] == [
        (str(SUPPLIER), "8F20"),
        (str(NETWORK), "8F20"),
        (str(SUPPLIER), "8101"),
        (str(GAS_SUPPLIER), "8F20"),
    ]
    # Each User's messages about a device keep their order: the key is User and device.
    assert {k for _, _, k in rig.messages()} == {
        f"{SUPPLIER}|{ESME}",
        f"{NETWORK}|{ESME}",
        f"{GAS_SUPPLIER}|{GSME}",
    }


def test_signed_device_alert_with_a_stable_alert_id(rig: Rig) -> None:
    rig.route(ESME, TAMPER)
    listed = rig.record.for_user(SUPPLIER)
    assert len(listed) == 1
    alert_id = listed[0].alert_id
    originator, user, counter = alert_id.split(":")
    assert (originator, user) == (str(ESME), str(SUPPLIER)) and int(counter) > 0
    fetched = rig.record.fetch(SUPPLIER, alert_id)
    assert fetched is not None and fetched.body == listed[0].body
    root = etree.fromstring(fetched.body)
    assert root.findtext(f"{{{SR_NS}}}Header/{{{SR_NS}}}ResponseID") == alert_id
    assert rig.record.fetch(NETWORK, alert_id) is None  # not another User's


def test_subscriptions_apply_to_non_mandatory_alerts_only(rig: Rig) -> None:
    rig.subscriptions.choose(SUPPLIER, LOW_CREDIT, Choice.OFF, rig.clock.now())
    rig.subscriptions.choose(SUPPLIER, CLOCK, Choice.ON, rig.clock.now())  # off by default
    rig.route(ESME, LOW_CREDIT, CLOCK, TAMPER)
    codes = [(u, c) for u, c, _ in rig.messages()]
    assert (str(SUPPLIER), "8101") not in codes
    assert (str(SUPPLIER), "8103") in codes
    assert (str(NETWORK), "8103") not in codes  # the network operator did not subscribe
    assert (str(SUPPLIER), "8F20") in codes


def test_restricted_device_alerts_go_to_the_diagnostics_log_only(rig: Rig) -> None:
    rig.restrictions.change(
        ESME, restricted=True, by=SUPPLIER, reason="refused", now=rig.clock.now()
    )
    rig.subscriptions.choose(SUPPLIER, CLOCK, Choice.ON, rig.clock.now())
    rig.route(ESME, LOW_CREDIT, TAMPER, CLOCK, FW_OK)
    delivered = sorted({c for _, c, _ in rig.messages()})
    assert delivered == ["8103", "8F1D", "8F20"]  # security, firmware, critical
    recorded = {a.code for a in rig.record.alerts(ESME)}
    assert "8101" not in recorded  # not in the alert record either
    diagnostics = rig.record.diagnostics(ESME)
    assert [(d.code, d.reason) for d in diagnostics] == [("8101", "restricted")]


def test_storm_throttled_but_critical_delivered_and_the_user_told(rig: Rig) -> None:
    queued = rig.route(ESME, *([LOW_CREDIT] * 10), TAMPER)
    assert queued == 3 + 2  # three low-credit alerts, then the tamper to both Users
    dispositions = [a.disposition for a in rig.record.alerts(ESME)]
    assert dispositions.count("throttled") == 7
    rig.clock.advance(timedelta(seconds=120))
    rig.router.route([])  # the window has closed: one DCC alert about the held ones
    told = [(u, c) for u, c, _ in rig.messages()][5:]
    assert told == [(str(SUPPLIER), "N45")]
    body = rig.record.for_user(SUPPLIER)[-1].body
    root = etree.fromstring(body)
    assert root.xpath("string(//sr:ThrottledAlertCount)", namespaces=NS) == "7"
    assert root.xpath("string(//sr:ThrottledAlertSequenceId)", namespaces=NS) == "1"


def test_the_firmware_watch_flags_a_restricted_device_once(rig: Rig) -> None:
    rig.restrictions.change(
        ESME, restricted=True, by=SUPPLIER, reason="refused", now=rig.clock.now()
    )
    rig.route(ESME, FW_FAILED, version="2.0")
    assert rig.router.watch.flagged() == []
    rig.route(ESME, FW_FAILED, version="2.0")
    flagged = rig.router.watch.flagged()
    assert [(w.device_id, w.failures) for w in flagged] == [(ESME, 2)]
    rig.route(ESME, FW_FAILED, version="2.0")  # already flagged: not told again
    n46 = [(u, c) for u, c, _ in rig.messages() if c == "N46"]
    assert n46 == [(str(SUPPLIER), "N46")]
    rig.route(ESME, FW_OK)
    assert rig.router.watch.flagged() == []


def test_an_unrestricted_device_is_not_watched(rig: Rig) -> None:
    rig.route(ESME, FW_FAILED, FW_FAILED, FW_FAILED)
    assert rig.router.watch.of(ESME) is None


def test_the_outbox_delivers_a_devices_alerts_to_a_user_in_order(rig: Rig, engine: Engine) -> None:
    rig.route(ESME, TAMPER, LOW_CREDIT)
    box = Outbox(engine, RequestStore(engine))
    now = rig.clock.now()
    first = box.claim(now, 10, timedelta(seconds=30))
    # The supplier's two alerts share a key: only the first is out; the network's goes too.
    assert sorted((m.user_id, _code(m.body)) for _, m in first) == [
        (str(SUPPLIER), "8F20"),
        (str(NETWORK), "8F20"),
    ]
    supplier_first = next(i for i, m in first if m.user_id == str(SUPPLIER))
    box.failed(supplier_first, 0, "HTTP 503", now)
    # While the first waits for its retry, the second does not overtake it.
    assert box.claim(now + timedelta(milliseconds=100), 10, timedelta(seconds=30)) == []
    retried = box.claim(now + timedelta(seconds=5), 10, timedelta(seconds=30))
    assert [_code(m.body) for _, m in retried] == ["8F20"]
    box.delivered(retried[0][0], retried[0][1], now)
    after = box.claim(now + timedelta(seconds=6), 10, timedelta(seconds=30))
    assert [_code(m.body) for _, m in after] == ["8101"]
