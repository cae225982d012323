"""8.4 Update Inventory and 12.2 Device Pre-Notification for the SMETS1 SMI.

Standardised commissioning (issue Q17): a User adds a device to a migrated SMETS1 installation
(a new IHD or PPMID, a replacement meter of one of the cohorts) the SMETS2 way: it pre-notifies
the device (12.2), which enters the SMI (Smart Metering Inventory) as Pending, then installs,
joins (8.7.x) and commissions it (8.1.1); 8.4 corrects what the SMI holds. Both are non-device
requests the DSP answers from the SMI at once, with a DUIS Response (I0, no payload) in the same
transaction as the request's audit record.

12.2 Device Pre-Notification, where it applies to SMETS1:

- ESME and GSME: a meter model one of the cohorts' S1SPs carries (its profile's models, by
  manufacturer); the device takes that cohort. Another model: E11 (no S1SP could operate it).
- IHD and PPMID: any; its cohort is its meter's once joined.
- CHF and GPF: E11, a SMETS1 comms hub (and gas proxy) comes with its installation through
  migration; HCALCS: E11, SMETS1 meters have no auxiliary load control.
- A device the SMI already holds: E5, unless Withdrawn (a withdrawn device is pre-notified
  again: back to Pending, its history kept).

8.4 Update Inventory, on a device the SMI holds (E19 otherwise), by its responsible User (E4
otherwise): the supplier registered for its metering point now or, for a device with none yet,
the User who pre-notified it.

- UpdateDeviceStatusExceptCH (Pending, InstalledNotCommissioned): the SMI status table's
  transitions (E5 when illegal); not a CHF (E11).
- UpdateDeviceStatusCH: E11, a SMETS1 comms hub's status follows its installation (migration,
  8.3 Decommission); the CH statuses are for DCC-supplied SMETS2 hubs.
- UpdateDeviceDetails: a Pending device's manufacturer, model, firmware version (E5 once
  installed: an installed SMETS1 device's details come from its head-end and the CPL).
- DeleteDevice: a Pending device leaves the SMI (Withdrawn, its history kept); E5 for any other
  status (a device that was installed is decommissioned with 8.3).
- UpdateMPxN ImportMPxN of an ESME or GSME, by the supplier registered for the new metering
  point (E4 otherwise); SecondaryImportMPAN and ExportMPAN: E11 (the migrated meters are
  single-element and hold one MPAN).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from datetime import datetime

from lxml import etree
from sqlalchemy import Connection, Engine, delete, insert, select

from opendcc.catalogue import UserRole
from opendcc.catalogue.devices import DeviceType
from opendcc.core.errors import ResponseCode
from opendcc.core.eui import Eui64, InvalidIdentifier
from opendcc.dsp.access import AccessDenied, Granted
from opendcc.dsp.frontdoor import NonDevice, NonDeviceAnswer
from opendcc.duis.request import ServiceRequest
from opendcc.duis.xml import sr
from opendcc.inventory import Device, InventoryStore, SmiStatus
from opendcc.inventory.status import TRANSITIONS
from opendcc.s1sp.contract import CohortProfile
from opendcc.store.tables import prenotifications

UPDATE_INVENTORY, PRENOTIFICATION = "8.4", "12.2"
E4 = ResponseCode.NOT_RESPONSIBLE_PARTY
E5 = ResponseCode.DEVICE_STATUS_INCOMPATIBLE
E11 = ResponseCode.SRV_NOT_FOR_DEVICE_TYPE
E19 = ResponseCode.UNKNOWN_DEVICE
_GAS = frozenset({DeviceType.GSME, DeviceType.GPF})
_METERS = frozenset({DeviceType.ESME, DeviceType.GSME})
_NOT_PRENOTIFIED: Mapping[DeviceType, str] = {
    DeviceType.CHF: "a SMETS1 comms hub comes with its installation through migration",
    DeviceType.GPF: "a SMETS1 gas proxy comes with its installation through migration",
    DeviceType.HCALCS: "SMETS1 meters have no auxiliary load control switches",
}
_STATUSES = {status.duis: status for status in SmiStatus}


def write_none(write: Callable[[Connection], None]) -> Callable[[Connection], None]:
    """A write that answers no payload (the Response of 8.4 and 12.2 carries none)."""

    def written(conn: Connection) -> None:
        write(conn)

    return written


def _text(body: etree._Element, local: str) -> str | None:
    element = body.find(sr(local))
    return None if element is None else (element.text or "").strip()


def _device_id(body: etree._Element) -> Eui64:
    try:
        return Eui64.parse(_text(body, "DeviceID") or "")
    except InvalidIdentifier:
        raise AccessDenied(E19, "DeviceID is not an EUI-64") from None


class SmiUpdates:
    def __init__(
        self, engine: Engine, inventory: InventoryStore, profiles: Iterable[CohortProfile]
    ) -> None:
        self.engine = engine
        self.inventory = inventory
        self.profiles = tuple(profiles)

    def handlers(self) -> Mapping[str, NonDevice]:
        return {UPDATE_INVENTORY: self.update_inventory, PRENOTIFICATION: self.prenotify}

    # ------------------------------------------------------------------ 12.2

    def _cohort(self, kind: DeviceType, manufacturer: str, model: str) -> str | None:
        for profile in self.profiles:
            models = profile.gas_models if kind is DeviceType.GSME else profile.device_models
            if model in models and manufacturer in (profile.manufacturer, profile.s1sp):
                return profile.name
        return None

    def prenotify(
        self, request: ServiceRequest, granted: Granted, now: datetime
    ) -> NonDeviceAnswer:
        body = request.body
        device_id = _device_id(body)
        try:
            kind = DeviceType(_text(body, "DeviceType") or "")
        except ValueError:
            raise AccessDenied(E11, "DeviceType is not a device type") from None
        if kind in _NOT_PRENOTIFIED:
            raise AccessDenied(E11, f"{kind} is not pre-notified: {_NOT_PRENOTIFIED[kind]}")
        manufacturer = _text(body, "DeviceManufacturer") or ""
        model = _text(body, "DeviceModel") or ""
        cohort = self._cohort(kind, manufacturer, model)
        if kind in _METERS and cohort is None:
            raise AccessDenied(
                E11,
                f"no SMETS1 cohort's S1SP carries {kind} {manufacturer} {model}: a meter"
                " added to a migrated installation is a model of one of the cohorts",
            )
        existing = self.inventory.device(device_id)
        if existing is not None and existing.smi_status is not SmiStatus.WITHDRAWN:
            raise AccessDenied(
                E5, f"device {device_id} is already in the SMI ({existing.smi_status.duis})"
            )
        device = Device(
            device_id,
            kind,
            SmiStatus.PENDING,
            manufacturer,
            model,
            cohort,
            firmware_version=_text(body, "FirmwareVersion"),
            smets_generation="SMETS1",
        )
        user = granted.user.user_id
        reason = f"pre-notified by {user} (12.2)"

        def write(conn: Connection) -> None:
            if existing is None:
                self.inventory.add_in(conn, [device], now, reason)
            else:
                self.inventory.reenrol_in(conn, [device], now, reason)
            conn.execute(
                delete(prenotifications).where(prenotifications.c.device_id == str(device_id))
            )
            conn.execute(
                insert(prenotifications).values(
                    device_id=str(device_id), user_id=str(user), notified_at=now
                )
            )

        return NonDeviceAnswer(
            write=write_none(write), reason=reason, then=self.inventory.clear_cache
        )

    # ------------------------------------------------------------------ 8.4

    def _prenotifier(self, device_id: Eui64) -> Eui64 | None:
        with self.engine.connect() as conn:
            found = conn.execute(
                select(prenotifications.c.user_id).where(
                    prenotifications.c.device_id == str(device_id)
                )
            ).scalar_one_or_none()
        return None if found is None else Eui64.parse(found)

    def _supplier(self, device: Device, mpxn: str, at: datetime) -> Eui64 | None:
        role = UserRole.GS if device.device_type in _GAS else UserRole.IS
        return self.inventory.responsible(mpxn, role, at)

    def _responsible(self, device: Device, user: Eui64, now: datetime) -> None:
        if device.mpxn:
            supplier = self._supplier(device, device.mpxn, now)
            if supplier != user:
                raise AccessDenied(
                    E4,
                    f"{user} is not the registered supplier of {device.mpxn} (device"
                    f" {device.device_id}'s metering point)",
                )
        elif self._prenotifier(device.device_id) != user:
            raise AccessDenied(
                E4,
                f"device {device.device_id} has no metering point and {user} did not pre-notify it",
            )

    def update_inventory(
        self, request: ServiceRequest, granted: Granted, now: datetime
    ) -> NonDeviceAnswer:
        body = request.body
        device_id = _device_id(body)
        device = self.inventory.device(device_id)
        if device is None:
            raise AccessDenied(E19, f"no device {device_id} in the SMI")
        user = granted.user.user_id
        self._responsible(device, user, now)
        elements = list(body.iterchildren(etree.Element))
        change = elements[1] if len(elements) > 1 else None
        if change is None:
            raise AccessDenied(E11, "UpdateInventory names no update")
        local = etree.QName(change).localname
        if local == "UpdateDeviceStatusCH":
            raise AccessDenied(
                E11,
                "a SMETS1 comms hub's status follows its installation (migration, 8.3): the"
                " CH status updates are for DCC-supplied SMETS2 hubs",
            )
        if local == "UpdateDeviceStatusExceptCH":
            return self._status(device, (change.text or "").strip(), user, now)
        if local == "DeleteDevice":
            return self._delete(device, user, now)
        if local == "UpdateDeviceDetails":
            return self._details(device, change, user)
        if local == "UpdateMPxN":
            return self._mpxn(device, change, user, now)
        raise AccessDenied(E11, f"UpdateInventory has no update {local}")

    def _transition(self, device: Device, target: SmiStatus, why: str) -> None:
        if target not in TRANSITIONS[device.smi_status]:
            raise AccessDenied(E5, f"device {device.device_id} is {device.smi_status.duis}: {why}")

    def _status(self, device: Device, text: str, user: Eui64, now: datetime) -> NonDeviceAnswer:
        if device.device_type is DeviceType.CHF:
            raise AccessDenied(E11, "UpdateDeviceStatusExceptCH is for devices other than a CHF")
        target = _STATUSES.get(text)
        if target not in (SmiStatus.PENDING, SmiStatus.INSTALLED_NOT_COMMISSIONED):
            raise AccessDenied(E11, f"no device status {text!r} to set")
        assert target is not None
        self._transition(device, target, f"the SMI takes it to {target.duis} from no such status")
        reason = f"set to {target.duis} by {user} (8.4)"

        def write(conn: Connection) -> None:
            self.inventory.transition_in(conn, [device.device_id], target, now, reason)

        return NonDeviceAnswer(
            write=write_none(write), reason=reason, then=self.inventory.clear_cache
        )

    def _delete(self, device: Device, user: Eui64, now: datetime) -> NonDeviceAnswer:
        if device.smi_status is not SmiStatus.PENDING:
            raise AccessDenied(
                E5,
                f"device {device.device_id} is {device.smi_status.duis}: DeleteDevice removes a"
                " Pending device, never installed; an installed one is decommissioned (8.3)",
            )
        reason = f"deleted by {user} (8.4)"

        def write(conn: Connection) -> None:
            self.inventory.transition_in(conn, [device.device_id], SmiStatus.WITHDRAWN, now, reason)

        return NonDeviceAnswer(
            write=write_none(write), reason=reason, then=self.inventory.clear_cache
        )

    def _details(self, device: Device, change: etree._Element, user: Eui64) -> NonDeviceAnswer:
        if device.smi_status is not SmiStatus.PENDING:
            raise AccessDenied(
                E5,
                f"device {device.device_id} is {device.smi_status.duis}: an installed SMETS1"
                " device's details come from its head-end and the CPL",
            )
        manufacturer = _text(change, "DeviceManufacturer") or device.manufacturer
        model = _text(change, "DeviceModel") or device.model
        cohort = device.cohort
        if device.device_type in _METERS:
            cohort = self._cohort(device.device_type, manufacturer, model)
            if cohort is None:
                raise AccessDenied(E11, f"no SMETS1 cohort's S1SP carries {manufacturer} {model}")
        updated = replace(
            device,
            manufacturer=manufacturer,
            model=model,
            cohort=cohort,
            firmware_version=_text(change, "FirmwareVersion") or device.firmware_version,
        )
        reason = f"details updated by {user} (8.4)"
        return NonDeviceAnswer(
            write=write_none(lambda conn: self.inventory.update_in(conn, updated)),
            reason=reason,
            then=self.inventory.clear_cache,
        )

    def _mpxn(
        self, device: Device, change: etree._Element, user: Eui64, now: datetime
    ) -> NonDeviceAnswer:
        mpxn = _text(change, "ImportMPxN")
        if mpxn is None:
            raise AccessDenied(
                E11,
                "the migrated SMETS1 meters are single-element and hold one MPAN: only an"
                " ImportMPxN is updated",
            )
        if device.device_type not in _METERS:
            raise AccessDenied(E11, f"a {device.device_type} has no metering point of its own")
        if device.smi_status in (SmiStatus.DECOMMISSIONED, SmiStatus.WITHDRAWN):
            raise AccessDenied(E5, f"device {device.device_id} is {device.smi_status.duis}")
        if self._supplier(device, mpxn, now) != user:
            raise AccessDenied(E4, f"{user} is not the registered supplier of {mpxn}")
        updated = replace(device, mpxn=mpxn)
        reason = f"ImportMPxN set to {mpxn} by {user} (8.4)"
        return NonDeviceAnswer(
            write=write_none(lambda conn: self.inventory.update_in(conn, updated)),
            reason=reason,
            then=self.inventory.clear_cache,
        )
