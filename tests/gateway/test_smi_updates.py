"""12.2 Device Pre-Notification and 8.4 Update Inventory on the SMETS1 SMI, over real HTTP.

A supplier pre-notifies a new IHD for a migrated installation (Pending in the SMI, its
pre-notifier recorded), corrects its details, and deletes it again (Withdrawn, history kept);
each answer is a signed, schema-valid I0 Response with its audit record. What SMETS1 cannot
take is refused with its code and reason, and changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from lxml import etree
from sqlalchemy import select

from opendcc.catalogue import default_catalogue
from opendcc.core.eui import Eui64
from opendcc.dsp.offering import Offer, non_device_entry
from opendcc.duis.schema import DuisSchema
from opendcc.duis.xml import parse_xml
from opendcc.sim import scenario
from opendcc.sim.user import DCC, SimulatedUser
from opendcc.store.audit import AuditLog
from opendcc.store.tables import device_status_history, devices, prenotifications
from tests.gateway.harness import SR, Estate, estate, response_code, user
from tests.reference import TEMPLATES

NEW_IHD = Eui64.parse("00-DB-12-34-56-78-9F-01")
METER = scenario.METERS[0].device_id
CHF_ID = Eui64.parse("00-DB-12-34-56-78-9F-02")
ESME_ID = Eui64.parse("00-DB-12-34-56-78-9F-03")
STATUS_CH = "<sr:UpdateDeviceStatusCH>Withdrawn</sr:UpdateDeviceStatusCH>"


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Estate]:
    with estate(tmp_path_factory.mktemp("hub")) as running:
        yield running


@pytest.fixture(scope="module")
def supplier() -> SimulatedUser:
    return user(scenario.SUPPLIER_KEY)


@pytest.fixture(scope="module")
def network_operator() -> SimulatedUser:
    return user(scenario.NETWORK_OPERATOR_KEY)


def _prenotification(device: Eui64, kind: str, model: str = "IHD-1") -> str:
    return (
        "<sr:DevicePrenotification>"
        f"<sr:DeviceID>{device}</sr:DeviceID>"
        "<sr:DeviceManufacturer>AB01</sr:DeviceManufacturer>"
        f"<sr:DeviceModel>{model}</sr:DeviceModel>"
        f"<sr:DeviceType>{kind}</sr:DeviceType>"
        "<sr:FirmwareVersion>00000001</sr:FirmwareVersion>"
        "</sr:DevicePrenotification>"
    )


def _update(device: Eui64, change: str) -> str:
    return f"<sr:UpdateInventory><sr:DeviceID>{device}</sr:DeviceID>{change}</sr:UpdateInventory>"


def _post(hub: Estate, who: SimulatedUser, srv: str, body: str) -> tuple[str, str]:
    answer = hub.post("serviceD", who.request(srv, DCC, cv=8, body=body))
    assert answer.status_code == 200, answer.text
    return response_code(answer.content), answer.headers.get("X-OpenDCC-Reason", "")


def _row(hub: Estate, device: Eui64) -> tuple[str, str, str | None] | None:
    with hub.engine.connect() as conn:
        row = conn.execute(
            select(devices.c.smi_status, devices.c.model, devices.c.firmware_version).where(
                devices.c.device_id == str(device)
            )
        ).first()
    return None if row is None else (row.smi_status, row.model, row.firmware_version)


def test_a_new_ihd_is_prenotified_updated_and_deleted(
    hub: Estate, supplier: SimulatedUser, network_operator: SimulatedUser, schema: DuisSchema
) -> None:
    body = supplier.request("12.2", DCC, cv=8, body=_prenotification(NEW_IHD, "IHD"))
    answer = hub.post("serviceD", body)
    assert answer.status_code == 200, answer.text
    schema.validate(parse_xml(answer.content))
    assert response_code(answer.content) == "I0"
    assert _row(hub, NEW_IHD) == ("pending", "IHD-1", "00000001")
    with hub.engine.connect() as conn:
        who = conn.execute(select(prenotifications.c.user_id)).scalars().all()
    assert who == [str(supplier.user_id)]
    # Only its pre-notifier may change it (it has no metering point yet).
    details = (
        "<sr:UpdateDeviceDetails><sr:DeviceModel>IHD-2</sr:DeviceModel></sr:UpdateDeviceDetails>"
    )
    code, reason = _post(hub, network_operator, "8.4", _update(NEW_IHD, details))
    assert code == "E4" and "did not pre-notify it" in reason
    assert _post(hub, supplier, "8.4", _update(NEW_IHD, details))[0] == "I0"
    assert _row(hub, NEW_IHD) == ("pending", "IHD-2", "00000001")
    # Pre-notified twice: refused.
    code, reason = _post(hub, supplier, "12.2", _prenotification(NEW_IHD, "IHD"))
    assert (code, reason) == ("E5", f"device {NEW_IHD} is already in the SMI (Pending)")
    assert _post(hub, supplier, "8.4", _update(NEW_IHD, "<sr:DeleteDevice/>"))[0] == "I0"
    assert _row(hub, NEW_IHD) == ("withdrawn", "IHD-2", "00000001")
    with hub.engine.connect() as conn:
        history = conn.execute(
            select(device_status_history.c.target).where(
                device_status_history.c.device_id == str(NEW_IHD)
            )
        ).scalars()
        assert list(history) == ["pending", "withdrawn"]
    outcomes = [r.outcome for r in AuditLog(hub.engine).records() if r.srv in ("8.4", "12.2")]
    assert outcomes.count("I0") == 3 and {"E4", "E5"} <= set(outcomes)


@pytest.mark.parametrize(
    ("srv", "body", "expected"),
    [
        ("12.2", _prenotification(CHF_ID, "CHF"), ("E11", "comms hub")),
        ("12.2", _prenotification(ESME_ID, "ESME"), ("E11", "cohort")),
        ("8.4", _update(METER, "<sr:DeleteDevice/>"), ("E5", "decommissioned (8.3)")),
        ("8.4", _update(METER, STATUS_CH), ("E11", "SMETS2 hubs")),
        ("8.4", _update(scenario.UNKNOWN_DEVICE, "<sr:DeleteDevice/>"), ("E19", "no device")),
    ],
)
def test_what_smets1_cannot_take_is_refused_and_changes_nothing(
    hub: Estate, supplier: SimulatedUser, srv: str, body: str, expected: tuple[str, str]
) -> None:
    code, why = expected
    before = _row(hub, METER)
    got, reason = _post(hub, supplier, srv, body)
    assert got == code and why in reason, reason
    assert _row(hub, METER) == before
    assert _row(hub, CHF_ID) is None and _row(hub, ESME_ID) is None


def _template_body(srv: str) -> str:
    """The RTDS template's body for ``srv`` (its device ids left as they are)."""
    for path in sorted(TEMPLATES.iterdir()):
        document = parse_xml(path.read_bytes())
        if document.findtext(f"{SR}Header/{SR}ServiceReferenceVariant") == srv:
            body = document.find(f"{SR}Body")
            assert body is not None
            return etree.tostring(body[0]).decode()
    raise AssertionError(f"no template for {srv}")


@pytest.mark.parametrize("srv", ["8.13", "8.14.1", "8.14.3", "11.4", "12.1"])
def test_what_smets1_will_never_do_is_e11_as_the_catalogue_says(
    hub: Estate, supplier: SimulatedUser, srv: str
) -> None:
    code, reason = _post(hub, supplier, srv, _template_body(srv))
    entry = non_device_entry(default_catalogue().get(srv))
    assert entry.offer is Offer.NOT_APPLICABLE
    assert code == "E11"
    # The reason header is ASCII: the en dash in 8.14.3's name is written "-", not "?".
    assert reason.startswith(f"SRV {srv} (") and "?" not in reason
    assert reason.endswith(f") is not applicable: {entry.reason}")


def test_the_audit_chain_holds(hub: Estate) -> None:
    assert AuditLog(hub.engine).verify_chain() is None
