"""SRV 8.2 Read Inventory: the DSP answers from the Smart Metering Inventory, no device involved.

A User searches by DeviceID or MPxN (UPRN and property filters are not held yet); the answer is
an ``sr:DSPInventory`` of at most 17 devices, in DUIS element order, with what the inventory
holds: status, model, SMETS generation, firmware version and its CPL (Central Products List)
status, the date commissioned, the MPxN and, for SMETS1 devices, the S1SP (SMETS1 Service
Provider) that serves them.

Restricted mode (MP169) is shown on each restricted device. DUIS v5.4's ``sr:Device`` has no
element for it (MP169 asks for one in a later schema), so opendcc marks the device with a
processing instruction, ``<?opendcc-restricted since="..."?>``, as its first child: schema
validators ignore processing instructions, and the DCC's signature covers it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

from lxml import etree

from opendcc.core.eui import Eui64
from opendcc.duis.request import ServiceRequest
from opendcc.duis.response import text_child
from opendcc.duis.xml import sr
from opendcc.inventory import Cpl, Device, InventoryStore
from opendcc.inventory.cpl import FIRMWARE_VERSION_MAX
from opendcc.store.cache import TtlCache

RESTRICTED_PI = "opendcc-restricted"
MAX_DEVICES = 17  # sr:DSPInventory/sr:Device maxOccurs
CPL_CACHE_SECONDS = 5.0


class InventoryReader:
    """Answers 8.2 searches; the CPL snapshot is re-read at most every few seconds."""

    def __init__(
        self,
        inventory: InventoryStore,
        cpl: Callable[[], Cpl],
        s1sp_names: Mapping[str, str],
        cpl_cache_seconds: float = CPL_CACHE_SECONDS,
        restricted_since: Callable[[Eui64], datetime | None] = lambda device_id: None,
    ) -> None:
        self.inventory = inventory
        self._cpl = cpl
        self._snapshot: TtlCache[str, Cpl] = TtlCache(cpl_cache_seconds)
        self.s1sp_names = s1sp_names
        self.restricted_since = restricted_since

    def read(self, request: ServiceRequest) -> etree._Element | None:
        """The DSPInventory answering ``request``, or None when no device matches."""
        criteria = {etree.QName(c).localname: (c.text or "").strip() for c in request.body}
        if "DeviceID" in criteria:
            device = self.inventory.device(Eui64.parse(criteria["DeviceID"]))
            found = [device] if device is not None else []
        elif "MPxN" in criteria:
            found = self.inventory.by_mpxn(criteria["MPxN"])
        else:
            return None  # UPRN and PropertyFilter searches: no such data held yet
        if not found:
            return None
        cpl = self._snapshot.get("cpl", self._cpl)
        result = etree.Element(sr("DSPInventory"))
        for device in found[:MAX_DEVICES]:
            result.append(self._device(device, cpl))
        return result

    def _device(self, device: Device, cpl: Cpl) -> etree._Element:
        element = etree.Element(sr("Device"))
        since = self.restricted_since(device.device_id)
        if since is not None:
            element.append(
                etree.ProcessingInstruction(RESTRICTED_PI, f'since="{since.isoformat()}"')
            )
        text_child(element, sr("DeviceID"), device.device_id)
        text_child(element, sr("DeviceType"), device.device_type.duis)
        text_child(element, sr("DeviceStatus"), device.smi_status.duis)
        text_child(element, sr("DeviceManufacturer"), device.manufacturer[:30])
        text_child(element, sr("DeviceModel"), device.model[:30])
        text_child(element, sr("SMETSCHTSVersion"), device.smets_generation)
        version = device.firmware_version
        if version and len(version) <= FIRMWARE_VERSION_MAX:
            text_child(element, sr("DeviceFirmwareVersion"), version)
            entry = cpl.firmware(device.manufacturer, device.model, version)
            if entry is not None:
                text_child(element, sr("DeviceFirmwareVersionStatus"), entry.status.value)
                text_child(element, sr("CPLStatus"), entry.status.value)
        if device.commissioned_at is not None:
            text_child(element, sr("DateCommissioned"), device.commissioned_at.date().isoformat())
        if device.mpxn:
            text_child(element, sr("ImportMPxN"), device.mpxn)
        if device.cohort and device.cohort in self.s1sp_names:
            text_child(element, sr("S1SP"), self.s1sp_names[device.cohort])
        return element
