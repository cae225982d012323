"""11.1 Update Firmware: which of the listed devices may take the image, and the DCC's warning.

A User (Import or Gas Supplier) sends the image (base64), its version and a comma-separated
list of Device IDs. The DCC hashes the image and sorts every device into one of DUIS's lists
(``sr:DSPUpdateFirmwareWarning``), in this order, the first that fits:

- ``InvalidDeviceIDList``: not in the inventory, or the User may not have 11.1/11.3 carried out
  on it now (not responsible for it, role not eligible);
- ``NotCommissionedDeviceIDList``: its SMI status is not Commissioned;
- ``NotApplicableFirmwareDeviceIDList``: the library holds no image with this hash for the
  device's manufacturer and model, the image's version is not the FirmwareVersion sent, that
  version is not Active on the CPL for the device's model, or no S1SP serves the device;
- ``OtherRequestInProgressList``: an earlier firmware update for it is still pending.

The rest are applicable. Pure: lookups are passed in, nothing is written here.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime

from lxml import etree

from opendcc.core.errors import ResponseCode
from opendcc.core.eui import Eui64, InvalidIdentifier
from opendcc.dsp.access import AccessDenied
from opendcc.duis.response import text_child
from opendcc.duis.xml import sr
from opendcc.firmware.library import FirmwareImage, image_hash
from opendcc.inventory import Cpl, CplStatus, Device, SmiStatus
from opendcc.s1sp.services import InvalidParameters

# Whether a User may have 11.1/11.3 carried out on a device now: (user, device, now) -> the
# device, or raises ``AccessDenied``.
CheckDevice = Callable[[Eui64, Eui64, datetime], Device]

# The DSPUpdateFirmwareWarning lists, in the XSD's order.
WARNING_LISTS = (
    "InvalidDeviceIDList",
    "NotCommissionedDeviceIDList",
    "NotApplicableFirmwareDeviceIDList",
    "OtherRequestInProgressList",
)


@dataclass(frozen=True, slots=True)
class UpdateFirmware:
    """The body of an 11.1 request."""

    image: bytes
    version: str
    device_ids: tuple[Eui64, ...]

    @property
    def image_hash(self) -> str:
        return image_hash(self.image)


def parse_update(body: etree._Element) -> UpdateFirmware:
    """``sr:UpdateFirmware``; raises ``InvalidParameters`` for what cannot be read."""
    text = "".join((body.findtext(sr("FirmwareImage")) or "").split())
    try:
        image = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidParameters(f"FirmwareImage is not base64: {exc}") from None
    version = (body.findtext(sr("FirmwareVersion")) or "").strip()
    if not image or not version:
        raise InvalidParameters("11.1 needs a FirmwareImage and a FirmwareVersion")
    listed = (body.findtext(sr("DeviceIDList")) or "").split(",")
    try:
        ids = tuple(dict.fromkeys(Eui64.parse(item) for item in listed))  # once each, in order
    except InvalidIdentifier as exc:
        raise InvalidParameters(f"DeviceIDList: {exc}") from None
    return UpdateFirmware(image, version, ids)


@dataclass(frozen=True, slots=True)
class Classification:
    """Where each listed device landed; ``applicable`` are the ones to distribute to."""

    applicable: tuple[Device, ...] = ()
    invalid: tuple[Eui64, ...] = ()
    not_commissioned: tuple[Eui64, ...] = ()
    not_applicable: tuple[Eui64, ...] = ()
    in_progress: tuple[Eui64, ...] = ()

    def lists(self) -> dict[str, tuple[Eui64, ...]]:
        """The warning lists by element name (empty ones included), in the XSD's order."""
        values = (self.invalid, self.not_commissioned, self.not_applicable, self.in_progress)
        return dict(zip(WARNING_LISTS, values, strict=True))

    def warning(self) -> etree._Element | None:
        """``sr:DSPUpdateFirmwareWarning`` with the non-empty lists, or None when there are
        none (every device was applicable)."""
        lists = {name: ids for name, ids in self.lists().items() if ids}
        if not lists:
            return None
        element = etree.Element(sr("DSPUpdateFirmwareWarning"))
        for name, ids in lists.items():
            text_child(element, sr(name), ",".join(str(d) for d in ids))
        return element

    def in_progress_too(self, busy: Collection[Eui64]) -> Classification:
        """Move applicable devices that turned out to be busy to the in-progress list."""
        moved = tuple(d.device_id for d in self.applicable if d.device_id in busy)
        if not moved:
            return self
        return Classification(
            tuple(d for d in self.applicable if d.device_id not in busy),
            self.invalid,
            self.not_commissioned,
            self.not_applicable,
            self.in_progress + moved,
        )


@dataclass(frozen=True, slots=True)
class Facts:
    """What classification reads, looked up before it runs."""

    user: Eui64
    now: datetime
    devices: Mapping[Eui64, Device]
    image: FirmwareImage | None
    cpl: Cpl
    pending: Collection[Eui64]


def classify(update: UpdateFirmware, facts: Facts, check_device: CheckDevice) -> Classification:
    lists: dict[str, list[Eui64]] = {name: [] for name in WARNING_LISTS}
    applicable: list[Device] = []
    for device_id in update.device_ids:
        device = facts.devices.get(device_id)
        verdict = _verdict(update, facts, device_id, device, check_device)
        if verdict is None and device is not None:
            applicable.append(device)
        elif verdict is not None:
            lists[verdict].append(device_id)
    return Classification(tuple(applicable), *(tuple(lists[name]) for name in WARNING_LISTS))


def _verdict(
    update: UpdateFirmware,
    facts: Facts,
    device_id: Eui64,
    device: Device | None,
    check_device: CheckDevice,
) -> str | None:
    """The warning list the device belongs on, or None when it is applicable."""
    if device is None:
        return "InvalidDeviceIDList"
    try:
        check_device(facts.user, device_id, facts.now)
    except AccessDenied as denied:
        # The hub's check refuses a device that is not operable with E5: that is the
        # not-commissioned list's business, not an invalid Device ID.
        if denied.code is not ResponseCode.DEVICE_STATUS_INCOMPATIBLE:
            return "InvalidDeviceIDList"
    if device.smi_status is not SmiStatus.COMMISSIONED:
        return "NotCommissionedDeviceIDList"
    if not applies(facts.image, update.version, device, facts.cpl):
        return "NotApplicableFirmwareDeviceIDList"
    if device_id in facts.pending:
        return "OtherRequestInProgressList"
    return None


def applies(image: FirmwareImage | None, version: str | None, device: Device, cpl: Cpl) -> bool:
    """Whether the library image may go to ``device``: the device's model, the version asked
    for (when given), Active on the CPL for that model, and an S1SP to carry it."""
    return (
        image is not None
        and device.cohort is not None
        and (image.manufacturer, image.model) == (device.manufacturer, device.model)
        and (version is None or image.version == version)
        and cpl.firmware_status(device.manufacturer, device.model, image.version)
        is CplStatus.ACTIVE
    )
