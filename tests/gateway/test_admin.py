"""The admin API over HTTP (an in-process client on ``create_app(hub)``): restricted mode set and
cleared by the responsible supplier only, the User's devices and device extract, alerts,
subscriptions, the firmware watch, and the audit record every call leaves."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select
from starlette.applications import Starlette

from opendcc.alerts.intake import Received
from opendcc.catalogue import UserRole
from opendcc.config import HubConfig
from opendcc.core.clock import FixedClock
from opendcc.core.eui import Eui64
from opendcc.gateway.app import create_app
from opendcc.hub import Hub
from opendcc.inventory import Device, Registration, SmiStatus
from opendcc.prepayment.registers import Kind
from opendcc.s1sp.contract import DeviceAlert
from opendcc.smki import SigningCredentials
from opendcc.store.audit import AuditRecord
from opendcc.store.tables import outbox, restriction_history, restrictions, s1sp_notices
from opendcc.store.users import User, UserStatus
from tests.inventory.test_devices import ESME, GPF, GSME, HUB, T0, installation

SUPPLIER = Eui64.parse("90-B3-D5-1F-30-01-00-00")  # IS and GS of the installation
NETWORK = Eui64.parse("90-B3-D5-1F-30-02-00-00")  # ED of the installation's MPAN
OTHER = Eui64.parse("90-B3-D5-1F-30-03-00-00")  # IS of another metering point
MPAN, MPRN, OTHER_MPAN = "1900000000017", "7000000001", "1900000000099"
OTHERS_ESME = Eui64.parse("00-DB-12-00-00-00-00-09")
NOW = T0 + timedelta(days=3)
TAMPER, LOW_CREDIT, FW_FAILED = 0x8F20, 0x8101, 0x8F1C

# The extract's columns, as the admin brief lists them.
EXTRACT_COLUMNS = [
    "device_id",
    "device_type",
    "status",
    "manufacturer",
    "model",
    "firmware_version",
    "mpxn",
    "cohort",
    "comms_hub_id",
    "gas_proxy_id",
    "commissioned_at",
    "restricted",
    "restricted_since",
    "restricted_by",
    "restricted_reason",
]


def estate_devices() -> list[Device]:
    others = Device(
        OTHERS_ESME, installation()[1].device_type, SmiStatus.COMMISSIONED, "Acme", "E", "acme",
        OTHER_MPAN, "1.0",
    )  # fmt: skip
    return [*installation(SmiStatus.COMMISSIONED), others]


def make_hub(database_url: str, dsp: SigningCredentials, s1sp: SigningCredentials) -> Hub:
    """A hub (not started) on ``database_url`` with the estate loaded, its clock at NOW."""
    users = tuple(
        User(user, roles, UserStatus.ACTIVE, f"http://127.0.0.1:9/{user.hex}")
        for user, roles in (
            (SUPPLIER, frozenset({UserRole.IS, UserRole.GS})),
            (NETWORK, frozenset({UserRole.ED})),
            (OTHER, frozenset({UserRole.IS})),
        )
    )
    config = HubConfig(
        database_url=database_url,
        host="127.0.0.1",
        port=0,
        dsp_credentials=dsp,
        s1sp_credentials=s1sp,
        users=users,
    )
    hub = Hub(config, FixedClock(NOW))
    hub.seed(T0)
    hub.inventory.put_devices(estate_devices(), T0)
    hub.inventory.register(
        [
            Registration(MPAN, UserRole.IS, SUPPLIER, T0),
            Registration(MPAN, UserRole.ED, NETWORK, T0),
            Registration(MPRN, UserRole.GS, SUPPLIER, T0),
            Registration(OTHER_MPAN, UserRole.IS, OTHER, T0),
        ]
    )
    return hub


@dataclass
class Admin:
    hub: Hub
    app: Starlette
    keys: dict[Eui64, str]

    @property
    def clock(self) -> FixedClock:
        assert isinstance(self.hub.clock, FixedClock)
        return self.hub.clock

    def call(
        self, method: str, path: str, user: Eui64 = SUPPLIER, body: Any = None, **params: str
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.keys[user]}"}
        return self.send(method, f"/admin/v1{path}", headers, body, params)

    def send(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        body: Any = None,
        params: dict[str, str] | None = None,
    ) -> httpx.Response:
        """One HTTP exchange with the app, in process (the hub's lifespan is not run)."""

        async def exchange() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
                return await client.request(method, path, json=body, headers=headers, params=params)

        return asyncio.run(exchange())

    def restrict(self, device: Eui64, user: Eui64 = SUPPLIER, reason: str = "refused") -> Any:
        body = {"restricted": True, "reason": reason}
        return self.call("PUT", f"/devices/{device}/restriction", user, body)

    def last_audit(self) -> AuditRecord:
        return self.hub.audit.records()[-1]

    def table(self, table: Any) -> list[Any]:
        with self.hub.engine.connect() as conn:
            return list(conn.execute(select(table)).all())


@pytest.fixture
def admin(
    engine: Engine, dcc_credentials: SigningCredentials, s1sp_credentials: SigningCredentials
) -> Iterator[Admin]:
    url = engine.url.render_as_string(hide_password=False)
    hub = make_hub(url, dcc_credentials, s1sp_credentials)
    keys = {
        SUPPLIER: hub.prepayment.registers.make_key(str(SUPPLIER), Kind.USER, NOW),
        NETWORK: hub.prepayment.registers.make_key(str(NETWORK), Kind.USER, NOW),
        # A supplier's UTRN service key opens the admin API too.
        OTHER: hub.prepayment.registers.make_key(str(OTHER), Kind.SUPPLIER, NOW),
    }
    yield Admin(hub, create_app(hub), keys)
    hub.engine.dispose()


# --------------------------------------------------------------------------- restricted mode


def test_the_responsible_supplier_restricts_a_meter(admin: Admin) -> None:
    answer = admin.restrict(ESME, reason="consumer refused smart functionality")
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "restrictions": [
            {
                "device": str(ESME),
                "meter": str(ESME),
                "restricted": True,
                "since": NOW.isoformat(),
                "changed_by": str(SUPPLIER),
                "reason": "consumer refused smart functionality",
            }
        ]
    }
    # In the store: the flag, one history row and one notice queued for the S1SP.
    assert [(r.device_id, r.restricted) for r in admin.table(restrictions)] == [(str(ESME), True)]
    assert len(admin.table(restriction_history)) == 1
    assert [n.device_id for n in admin.table(s1sp_notices)] == [str(ESME)]
    audit = admin.last_audit()
    assert (audit.endpoint, audit.outcome, audit.originator) == ("admin", "HTTP200", str(SUPPLIER))
    assert f"PUT /admin/v1/devices/{ESME}/restriction" in audit.reason


@pytest.mark.parametrize("caller", [OTHER, NETWORK], ids=["another supplier", "network"])
def test_only_the_responsible_supplier_may(admin: Admin, caller: Eui64) -> None:
    answer = admin.restrict(ESME, user=caller)
    assert answer.status_code == 403
    assert answer.json()["code"] == "E4"
    assert str(caller) in answer.json()["error"]
    assert admin.table(restrictions) == []
    assert admin.table(restriction_history) == []
    assert admin.table(s1sp_notices) == []
    audit = admin.last_audit()
    assert (audit.endpoint, audit.outcome, audit.originator) == ("admin", "HTTP403", str(caller))


def test_a_gas_meter_takes_its_gpf_with_it(admin: Admin) -> None:
    answer = admin.restrict(GSME)
    assert answer.status_code == 200, answer.text
    states = {(r["device"], r["meter"], r["restricted"]) for r in answer.json()["restrictions"]}
    assert states == {(str(GSME), str(GSME), True), (str(GPF), str(GSME), True)}
    assert admin.hub.restrictions.restricted_among({GSME, GPF, ESME}) == {GSME, GPF}


def test_clear_and_the_history_of_who_when_why(admin: Admin) -> None:
    assert admin.restrict(ESME, reason="consumer refused").status_code == 200
    set_at = admin.clock.now()
    admin.clock.advance(timedelta(hours=2))
    cleared = admin.call(
        "PUT", f"/devices/{ESME}/restriction", body={"restricted": False, "reason": "agreed"}
    )
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["restrictions"][0]["restricted"] is False

    shown = admin.call("GET", f"/devices/{ESME}/restriction", user=NETWORK)  # ED may read
    assert shown.status_code == 200, shown.text
    state = shown.json()
    assert (state["restricted"], state["since"]) == (False, admin.clock.now().isoformat())
    assert state["history"] == [
        {
            "restricted": True,
            "at": set_at.isoformat(),
            "changed_by": str(SUPPLIER),
            "reason": "consumer refused",
        },
        {
            "restricted": False,
            "at": (set_at + timedelta(hours=2)).isoformat(),
            "changed_by": str(SUPPLIER),
            "reason": "agreed",
        },
    ]
    refused = admin.call("GET", f"/devices/{ESME}/restriction", user=OTHER)
    assert (refused.status_code, refused.json()["code"]) == (403, "E4")


def test_a_device_never_restricted_reads_as_not_restricted(admin: Admin) -> None:
    shown = admin.call("GET", f"/devices/{GSME}/restriction").json()
    assert (shown["restricted"], shown["since"], shown["history"]) == (False, None, [])


@pytest.mark.parametrize(
    ("device", "status", "code"),
    [
        (Eui64.parse("00-DB-12-00-00-00-09-99"), 404, "E19"),  # not in the inventory
        (HUB, 422, "E11"),  # a comms hub is not a meter
        (GPF, 422, "E11"),  # a GPF follows its GSME; it is not set on its own
    ],
)
def test_unknown_devices_and_non_meters_are_refused(
    admin: Admin, device: Eui64, status: int, code: str
) -> None:
    answer = admin.restrict(device)
    assert (answer.status_code, answer.json()["code"]) == (status, code)
    assert admin.last_audit().outcome == f"HTTP{status}"
    assert admin.table(restrictions) == []


def test_unknown_device_is_404_to_read_too(admin: Admin) -> None:
    answer = admin.call("GET", "/devices/00-DB-12-00-00-00-09-99/restriction")
    assert (answer.status_code, answer.json()["code"]) == (404, "E19")


@pytest.mark.parametrize(
    "body",
    [{"restricted": True, "reason": "  "}, {"restricted": True}, {"restricted": "yes"}, [1]],
)
def test_a_malformed_change_is_400(admin: Admin, body: Any) -> None:
    answer = admin.call("PUT", f"/devices/{ESME}/restriction", body=body)
    assert answer.status_code == 400
    assert answer.json()["code"] is None
    assert admin.table(restrictions) == []


# --------------------------------------------------------------------------- the estate


def ids(answer: httpx.Response) -> list[str]:
    assert answer.status_code == 200, answer.text
    return [d["device_id"] for d in answer.json()["devices"]]


def test_search_the_callers_devices(admin: Admin) -> None:
    admin.restrict(ESME)
    installation_ids = sorted(str(d.device_id) for d in installation())
    assert ids(admin.call("GET", "/devices")) == installation_ids  # not the other's meter
    assert ids(admin.call("GET", "/devices", restricted="true")) == [str(ESME)]
    assert ids(admin.call("GET", "/devices", restricted="false")) == [
        i for i in installation_ids if i != str(ESME)
    ]
    assert ids(admin.call("GET", "/devices", type="GSME")) == [str(GSME)]
    assert ids(admin.call("GET", "/devices", mpxn=MPRN)) == sorted([str(GSME), str(GPF)])
    # The network operator holds ED for the MPAN only: its devices there.
    assert ids(admin.call("GET", "/devices", user=NETWORK)) == sorted([str(HUB), str(ESME)])
    assert ids(admin.call("GET", "/devices", user=OTHER)) == [str(OTHERS_ESME)]

    row = admin.call("GET", "/devices", restricted="true").json()["devices"][0]
    assert (row["restricted"], row["restricted_since"]) == (True, NOW.isoformat())


def test_search_pages_by_device_id(admin: Admin) -> None:
    first = admin.call("GET", "/devices", limit="3").json()
    assert len(first["devices"]) == 3 and first["next"] == first["devices"][-1]["device_id"]
    rest = admin.call("GET", "/devices", limit="3", after=first["next"]).json()
    assert rest["next"] is None
    seen = [d["device_id"] for d in first["devices"] + rest["devices"]]
    assert seen == sorted(str(d.device_id) for d in installation())
    assert admin.call("GET", "/devices", limit="1001").status_code == 400
    assert admin.call("GET", "/devices", restricted="maybe").status_code == 400


def test_the_device_extract_as_csv(admin: Admin) -> None:
    admin.restrict(ESME, reason="consumer refused smart")
    answer = admin.call("GET", "/extract", format="csv")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/csv")
    reader = csv.DictReader(io.StringIO(answer.text))
    assert reader.fieldnames == EXTRACT_COLUMNS
    rows = {r["device_id"]: r for r in reader}
    assert set(rows) == {str(d.device_id) for d in installation()}  # not the other's meter
    meter = rows[str(ESME)]
    assert (meter["restricted"], meter["restricted_by"], meter["restricted_reason"]) == (
        "true",
        str(SUPPLIER),
        "consumer refused smart",
    )
    assert meter["restricted_since"] == NOW.isoformat()
    gas = rows[str(GSME)]
    assert (gas["restricted"], gas["restricted_since"], gas["gas_proxy_id"]) == (
        "false",
        "",
        str(GPF),
    )
    assert (gas["device_type"], gas["mpxn"], gas["comms_hub_id"]) == ("GSME", MPRN, str(HUB))


def test_the_device_extract_as_json(admin: Admin) -> None:
    admin.restrict(GSME)
    answer = admin.call("GET", "/extract", format="json")
    assert answer.status_code == 200, answer.text
    rows = {r["device_id"]: r for r in answer.json()}
    assert set(rows) == {str(d.device_id) for d in installation()}
    assert {d for d, r in rows.items() if r["restricted"]} == {str(GSME), str(GPF)}
    assert list(rows[str(GPF)]) == EXTRACT_COLUMNS
    # The other supplier's extract is its own meter; the network operator supplies nothing.
    others = admin.call("GET", "/extract", user=OTHER, format="json").json()
    assert [r["device_id"] for r in others] == [str(OTHERS_ESME)]
    assert admin.call("GET", "/extract", user=NETWORK, format="json").json() == []
    assert admin.call("GET", "/extract", format="xml").status_code == 400


# --------------------------------------------------------------------------- alerts


def route(admin: Admin, device: Eui64, *codes: int) -> int:
    now = admin.clock.now()
    batch = [Received("acme", DeviceAlert(device, code, now, {})) for code in codes]
    return admin.hub.alert_router.route(batch)


def test_alerts_listed_and_fetched_as_stored(admin: Admin) -> None:
    assert route(admin, ESME, TAMPER) == 2  # the supplier and the network operator
    listed = admin.call("GET", "/alerts")
    assert listed.status_code == 200, listed.text
    [alert] = listed.json()["alerts"]
    assert set(alert) == {"alert_id", "created_at", "delivered_at", "attempts", "last_error"}
    assert (alert["created_at"], alert["delivered_at"], alert["attempts"]) == (
        NOW.isoformat(),
        None,
        0,
    )
    with admin.hub.engine.connect() as conn:
        stored = conn.execute(
            select(outbox.c.body).where(outbox.c.message_key == f"alert:{alert['alert_id']}")
        ).scalar_one()
    fetched = admin.call("GET", f"/alerts/{alert['alert_id']}")
    assert fetched.status_code == 200
    assert fetched.headers["content-type"].startswith("application/xml")
    assert fetched.content == bytes(stored)
    # Not the network operator's message (it has its own), and none after NOW.
    assert admin.call("GET", f"/alerts/{alert['alert_id']}", user=NETWORK).status_code == 404
    assert len(admin.call("GET", "/alerts", user=NETWORK).json()["alerts"]) == 1
    later = (NOW + timedelta(seconds=1)).isoformat()
    assert admin.call("GET", "/alerts", since=later).json() == {"alerts": []}


def test_alert_subscriptions(admin: Admin) -> None:
    listed = admin.call("GET", "/alert-subscriptions").json()["alerts"]
    by_code = {a["code"]: a for a in listed}
    assert len(listed) == 13  # the device alert table's codes
    assert by_code["8101"] == {
        "code": "8101",
        "description": "Low credit",
        "category": "prepayment",
        "mandatory": False,
        "default_on": True,
        "choice": None,
        "receives": True,
    }
    assert (by_code["8103"]["default_on"], by_code["8103"]["receives"]) == (False, False)

    off = admin.call("PUT", "/alert-subscriptions/8101", body={"choice": "off"})
    assert off.status_code == 200, off.text
    assert (off.json()["choice"], off.json()["receives"]) == ("off", False)
    assert route(admin, ESME, LOW_CREDIT) == 0  # suppressed: the router sends nothing

    mandatory = admin.call("PUT", "/alert-subscriptions/8F20", body={"choice": "off"})
    assert mandatory.status_code == 409
    assert admin.last_audit().outcome == "HTTP409"

    reset = admin.call("DELETE", "/alert-subscriptions/8101")
    assert (reset.json()["choice"], reset.json()["receives"]) == (None, True)
    assert route(admin, ESME, LOW_CREDIT) == 1
    assert admin.call("PUT", "/alert-subscriptions/1234", body={"choice": "on"}).status_code == 404
    bad = admin.call("PUT", "/alert-subscriptions/8101", body={"choice": "maybe"})
    assert bad.status_code == 400


def test_firmware_watch_lists_the_callers_flagged_devices(admin: Admin) -> None:
    admin.restrict(ESME)
    assert admin.call("GET", "/firmware-watch").json() == {"devices": []}
    for _ in range(admin.hub.firmware_watch.threshold):
        route(admin, ESME, FW_FAILED)
    [flagged] = admin.call("GET", "/firmware-watch").json()["devices"]
    assert (flagged["device_id"], flagged["failures"], flagged["restricted"]) == (
        str(ESME),
        admin.hub.firmware_watch.threshold,
        True,
    )
    assert flagged["flagged_at"] == NOW.isoformat()
    assert admin.call("GET", "/firmware-watch", user=OTHER).json() == {"devices": []}


# --------------------------------------------------------------------------- authentication


@pytest.mark.parametrize("header", [None, "Bearer nope", "Basic abc"])
def test_no_valid_key_is_401_and_audited(admin: Admin, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    answer = admin.send("GET", "/admin/v1/devices", headers)
    assert answer.status_code == 401
    assert answer.json() == {"error": "a valid bearer key is required", "code": None}
    audit = admin.last_audit()
    assert (audit.endpoint, audit.outcome, audit.originator) == ("admin", "HTTP401", None)


def test_a_psp_key_does_not_open_the_admin_api(admin: Admin) -> None:
    key = admin.hub.prepayment.registers.make_key("acme-payments", Kind.PSP, NOW)
    answer = admin.send("GET", "/admin/v1/devices", {"Authorization": f"Bearer {key}"})
    assert answer.status_code == 403


def test_an_admin_key_does_not_open_the_utrn_service(admin: Admin) -> None:
    headers = {"Authorization": f"Bearer {admin.keys[SUPPLIER]}"}
    assert admin.send("GET", "/utrn/v1/psps", headers).status_code == 403


def test_the_performance_report_for_any_user(admin: Admin) -> None:
    answer = admin.call("GET", "/performance", user=NETWORK)
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert (report["from"], report["to"]) == (
        (NOW - timedelta(days=1)).isoformat(),
        NOW.isoformat(),
    )
    assert report["srvs"] == [] and report["total"]["received"] == 0
    backwards = admin.call("GET", "/performance", to=T0.isoformat(), **{"from": NOW.isoformat()})
    assert backwards.status_code == 400


def test_a_gaining_supplier_sees_the_restriction_in_its_extract(admin: Admin) -> None:
    assert admin.restrict(OTHERS_ESME, user=OTHER, reason="refused").status_code == 200
    # Change of supplier: SUPPLIER gains OTHER_MPAN from an hour ago; a later one is not yet.
    admin.hub.inventory.register(
        [
            Registration(OTHER_MPAN, UserRole.IS, SUPPLIER, NOW - timedelta(hours=1)),
            Registration(OTHER_MPAN, UserRole.IS, NETWORK, NOW + timedelta(days=1)),
        ]
    )
    rows = {r["device_id"]: r for r in admin.call("GET", "/extract", format="json").json()}
    gained = rows[str(OTHERS_ESME)]
    assert (gained["restricted"], gained["restricted_by"]) == (True, str(OTHER))
    assert admin.call("GET", "/extract", user=OTHER, format="json").json() == []
    # Only the supplier responsible now may clear it.
    clear = {"restricted": False, "reason": "consumer agreed"}
    path = f"/devices/{OTHERS_ESME}/restriction"
    assert admin.call("PUT", path, user=OTHER, body=clear).status_code == 403
    assert admin.call("PUT", path, body=clear).status_code == 200
