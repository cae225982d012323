"""SRV 8.2 Read Inventory: the DSP answers from the Smart Metering Inventory, no device involved.

A User searches by DeviceID or MPxN (UPRN and property filters are not held yet); the answer is
an ``sr:DSPInventory`` of at most 17 devices, in DUIS element order.
"""

from __future__ import annotations

from lxml import etree

from opendcc.core.eui import Eui64
from opendcc.duis.request import ServiceRequest
from opendcc.duis.response import text_child
from opendcc.duis.xml import sr
from opendcc.inventory.devices import Device, InventoryStore, SmiStatus

MAX_DEVICES = 17  # sr:DSPInventory/sr:Device maxOccurs

DEVICE_STATUS = {
    SmiStatus.PENDING: "Pending",
    SmiStatus.WHITELISTED: "Whitelisted",
    SmiStatus.INSTALLED_NOT_COMMISSIONED: "InstalledNotCommissioned",
    SmiStatus.COMMISSIONED: "Commissioned",
    SmiStatus.DECOMMISSIONED: "Decommissioned",
    SmiStatus.WITHDRAWN: "Withdrawn",
    SmiStatus.SUSPENDED: "Suspended",
    SmiStatus.RECOVERY: "Recovery",
    SmiStatus.RECOVERED: "Recovered",
}


def read_inventory(request: ServiceRequest, inventory: InventoryStore) -> etree._Element | None:
    """The DSPInventory answering ``request``, or None when no device matches."""
    criteria = {etree.QName(c).localname: (c.text or "").strip() for c in request.body}
    if "DeviceID" in criteria:
        device = inventory.device(Eui64.parse(criteria["DeviceID"]))
        found = [device] if device is not None else []
    elif "MPxN" in criteria:
        found = inventory.by_mpxn(criteria["MPxN"])
    else:
        return None  # UPRN and PropertyFilter searches: no such data held yet
    if not found:
        return None
    result = etree.Element(sr("DSPInventory"))
    for device in found[:MAX_DEVICES]:
        result.append(_device(device))
    return result


def _device(device: Device) -> etree._Element:
    element = etree.Element(sr("Device"))
    text_child(element, sr("DeviceID"), device.device_id)
    text_child(element, sr("DeviceType"), device.device_type.value)
    text_child(element, sr("DeviceStatus"), DEVICE_STATUS[device.smi_status])
    text_child(element, sr("DeviceManufacturer"), device.manufacturer)
    text_child(element, sr("DeviceModel"), device.model)
    text_child(element, sr("SMETSCHTSVersion"), "SMETS1")
    if device.firmware_version:
        text_child(element, sr("DeviceFirmwareVersion"), device.firmware_version)
    if device.mpxn:
        text_child(element, sr("ImportMPxN"), device.mpxn)
    return element
