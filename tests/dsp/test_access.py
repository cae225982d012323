"""Access control in its documented order, with in-memory Users and inventory."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from tests.reference import NOW, REFERENCE, SUPPLIER

from opendcc.catalogue import DeviceType, UserRole, default_catalogue
from opendcc.core.errors import ResponseCode
from opendcc.core.eui import Eui64
from opendcc.dsp.access import AccessControl, AccessDenied, Endpoint
from opendcc.duis.request import ServiceRequest, parse_request
from opendcc.inventory import Device, SmiStatus
from opendcc.sim.user import BODIES, REQUEST
from opendcc.store.users import User, UserStatus

USER = Eui64.parse(SUPPLIER)
METER = Eui64.parse("00-DB-12-34-56-78-90-A0")
HUB = Eui64.parse("00-DB-12-34-56-78-92-00")
MPAN = "1900000000160"


class Users:
    def __init__(self, *users: User) -> None:
        self.users = {u.user_id: u for u in users}

    def get(self, user_id: Eui64) -> User | None:
        return self.users.get(user_id)


class Inventory:
    def __init__(
        self, *devices: Device, registered: dict[tuple[str, UserRole], tuple[Eui64, datetime]]
    ) -> None:
        self.devices = {d.device_id: d for d in devices}
        self.registered = registered

    def device(self, device_id: Eui64) -> Device | None:
        return self.devices.get(device_id)

    def responsible(self, mpxn: str, role: UserRole, at: datetime) -> Eui64 | None:
        found = self.registered.get((mpxn, role))
        return found[0] if found and found[1] <= at else None


def request(
    srv: str = "4.1.1", target: Eui64 = METER, cv: int = 1, body: str | None = None
) -> ServiceRequest:
    text = REQUEST.format(
        request_id=f"{USER}:{target}:1",
        cv=cv,
        sr=srv.rsplit(".", 1)[0] if srv.count(".") == 2 else srv,
        srv=srv,
        body=(body or BODIES[srv]).format(target=target),
    )
    return parse_request(text.encode())


def control(
    *,
    roles: frozenset[UserRole] = frozenset({UserRole.IS}),
    status: UserStatus = UserStatus.ACTIVE,
    smi: SmiStatus = SmiStatus.COMMISSIONED,
    since: datetime = NOW - timedelta(days=1),
) -> AccessControl:
    user = User(USER, roles, status, "http://127.0.0.1:9/")
    meter = Device(METER, DeviceType.ESME, smi, "M", "X", "c", MPAN)
    hub = Device(HUB, DeviceType.CHF, SmiStatus.COMMISSIONED, "M", "X", "c", None)
    inventory = Inventory(meter, hub, registered={(MPAN, UserRole.IS): (USER, since)})
    return AccessControl(default_catalogue(), Users(user), inventory)


def denied(
    access: AccessControl, req: ServiceRequest, endpoint: Endpoint = Endpoint.SEND
) -> ResponseCode:
    with pytest.raises(AccessDenied) as caught:
        access.check(req, endpoint, NOW)
    assert caught.value.code is not None
    return caught.value.code


def test_granted() -> None:
    granted = control().check(request(), Endpoint.SEND, NOW)
    assert granted.roles == {UserRole.IS}
    assert granted.device is not None


def test_each_failure_has_its_code() -> None:
    assert (
        denied(AccessControl(default_catalogue(), Users(), Inventory(registered={})), request())
        is ResponseCode.INVALID_USER_ROLE
    )
    assert (
        denied(control(status=UserStatus.SUSPENDED), request()) is ResponseCode.USER_STATUS_INVALID
    )
    assert (
        denied(control(roles=frozenset({UserRole.ES})), request()) is ResponseCode.ROLE_NOT_ELIGIBLE
    )
    assert (
        denied(control(), request(cv=4), Endpoint.TRANSFORM)
        is ResponseCode.COMMAND_VARIANT_NOT_ALLOWED
    )
    assert denied(control(), request(), Endpoint.NON_DEVICE) is ResponseCode.WRONG_URL
    unknown = Eui64.parse("00-DB-12-34-56-78-99-99")
    assert denied(control(), request(target=unknown)) is ResponseCode.UNKNOWN_DEVICE
    assert denied(control(), request(target=HUB)) is ResponseCode.SRV_NOT_FOR_DEVICE_TYPE
    assert (
        denied(control(smi=SmiStatus.SUSPENDED), request())
        is ResponseCode.DEVICE_STATUS_INCOMPATIBLE
    )
    assert (
        denied(control(since=NOW + timedelta(seconds=1)), request())
        is ResponseCode.NOT_RESPONSIBLE_PARTY
    )


def test_the_order_is_the_documented_one() -> None:
    # Suspended AND not eligible AND wrong endpoint: E3 comes first.
    access = control(status=UserStatus.SUSPENDED, roles=frozenset({UserRole.ES}))
    assert denied(access, request(), Endpoint.NON_DEVICE) is ResponseCode.USER_STATUS_INVALID
    # Unknown device AND wrong endpoint: E13 comes before any device check.
    unknown = Eui64.parse("00-DB-12-34-56-78-99-99")
    assert denied(control(), request(target=unknown), Endpoint.NON_DEVICE) is ResponseCode.WRONG_URL


def test_non_device_requests_skip_device_checks() -> None:
    granted = control().check(request("8.2", cv=8), Endpoint.NON_DEVICE, NOW)
    assert granted.device is None


def test_responsibility_starts_at_its_effective_time() -> None:
    since = NOW
    assert control(since=since).check(request(), Endpoint.SEND, NOW).device is not None


def test_the_gas_supplier_operates_only_the_gas_meter() -> None:
    """GS holds the MPRN: the GSME is its to operate; the ESME on the same hub is not (E4)."""
    gsme_id, mprn = Eui64.parse("00-DB-12-34-56-78-90-B0"), "7000000001"
    user = User(USER, frozenset({UserRole.GS}), UserStatus.ACTIVE, "http://127.0.0.1:9/")
    meter = Device(METER, DeviceType.ESME, SmiStatus.COMMISSIONED, "M", "X", "c", MPAN)
    gsme = Device(gsme_id, DeviceType.GSME, SmiStatus.COMMISSIONED, "M", "X", "c", mprn)
    since = NOW - timedelta(days=1)
    inventory = Inventory(
        meter,
        gsme,
        registered={(mprn, UserRole.GS): (USER, since), (MPAN, UserRole.IS): (HUB, since)},
    )
    access = AccessControl(default_catalogue(), Users(user), inventory)
    assert access.check(request(target=gsme_id), Endpoint.SEND, NOW).device == gsme
    assert denied(access, request(target=METER)) is ResponseCode.NOT_RESPONSIBLE_PARTY


def test_every_srv_is_open_to_exactly_the_roles_of_duis_request_matrix() -> None:
    # The hub's access matrix (the catalogue's eligible roles, which access control asks) is
    # DUIS's: each SRV is open to the roles its row lists and refused (E2) to every other.
    rows = json.loads((REFERENCE / "data/duis-request-matrix.json").read_text())
    catalogue = default_catalogue()
    assert len(rows) > 100
    for row in rows:
        srv = catalogue.get(row["Service Reference Variant"])
        listed = set(row["Eligible User Roles"])
        assert {r.value for r in UserRole if srv.is_eligible(r)} == listed, srv.srv


def test_a_role_refusal_says_who_may_send_it() -> None:
    with pytest.raises(
        AccessDenied, match=r"SRV 4\.1\.1 is not open to ES, only to ED, GS, GT, IS$"
    ):
        control(roles=frozenset({UserRole.ES})).check(request(), Endpoint.SEND, NOW)


def test_an_srv_duis_opens_to_no_role_says_so() -> None:
    body = "<sr:ServiceOptOut/>"
    with pytest.raises(AccessDenied, match=r"SRV 8\.5 is not open to IS: DUIS opens it to no User"):
        control().check(request("8.5", body=body), Endpoint.SEND, NOW)
