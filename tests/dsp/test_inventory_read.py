"""SRV 8.2 Read Inventory answers with the inventory's real fields, in DUIS order."""

from __future__ import annotations

from datetime import timedelta

from lxml import etree
from sqlalchemy import Engine
from tests.reference import NOW, SUPPLIER

from opendcc.catalogue import DeviceType
from opendcc.core.eui import Eui64
from opendcc.dsp.inventory_read import InventoryReader
from opendcc.duis.request import parse_request
from opendcc.inventory import CplEntry, CplStatus, CplStore, Device, InventoryStore, SmiStatus
from opendcc.sim.user import BODIES, REQUEST

METER = Eui64.parse("00-DB-12-34-56-78-90-A0")
DISPLAY = Eui64.parse("00-DB-12-34-56-78-90-A3")
MPAN = "1900000000166"


def search(criterion: str) -> object:
    text = REQUEST.format(
        request_id=f"{SUPPLIER}:{METER}:1",
        cv=8,
        sr="8.2",
        srv="8.2",
        body=BODIES["8.2"]
        .format(target=METER)
        .replace(f"<sr:DeviceID>{METER}</sr:DeviceID>", criterion),
    )
    return parse_request(text.encode())


def test_8_2_reports_status_model_cpl_commissioning_and_s1sp(engine: Engine) -> None:
    inventory = InventoryStore(engine)
    inventory.put_devices(
        [
            Device(METER, DeviceType.ESME, SmiStatus.PENDING, "Acme", "E1", "acme", MPAN, "2.1"),
            Device(DISPLAY, DeviceType.IHD_PPMID, SmiStatus.PENDING, "Acme", "D1", "acme", MPAN),
        ],
        NOW,
    )
    commissioned = NOW + timedelta(days=1)
    inventory.transition([METER], SmiStatus.INSTALLED_NOT_COMMISSIONED, commissioned, "tested")
    inventory.transition([METER], SmiStatus.COMMISSIONED, commissioned, "commissioned")
    cpl = CplStore(engine)
    cpl.put([CplEntry(DeviceType.ESME, "Acme", "E1", "2.1", NOW, CplStatus.ACTIVE)])
    reader = InventoryReader(inventory, cpl.snapshot, {"acme": "Acme S1SP"})

    found = reader.read(search(f"<sr:MPxN>{MPAN}</sr:MPxN>"))  # type: ignore[arg-type]
    assert found is not None
    meter, display = found
    assert [(etree.QName(e).localname, e.text) for e in meter] == [
        ("DeviceID", str(METER)),
        ("DeviceType", "ESME"),
        ("DeviceStatus", "Commissioned"),
        ("DeviceManufacturer", "Acme"),
        ("DeviceModel", "E1"),
        ("SMETSCHTSVersion", "SMETS1"),
        ("DeviceFirmwareVersion", "2.1"),
        ("DeviceFirmwareVersionStatus", "Active"),
        ("CPLStatus", "Active"),
        ("DateCommissioned", commissioned.date().isoformat()),
        ("ImportMPxN", MPAN),
        ("S1SP", "Acme S1SP"),
    ]
    # A SMETS1 IHD with PPMID functionality is a PPMID to DUIS.
    assert display.findtext("{*}DeviceType") == "PPMID"
    assert display.findtext("{*}DeviceStatus") == "Pending"
    assert reader.read(search("<sr:MPxN>1900000000999</sr:MPxN>")) is None  # type: ignore[arg-type]
