"""Access control: whether an authenticated Service Request may go ahead, in one documented order.

The DSP (Data Service Provider) checks every Service Request here after its signature has been
verified and before anything is stored. Checks run in this order and the first failure answers,
with its DUIS response code (SEC Appendix AD):

 1. E1  the originator in the RequestID is not a registered DCC User
 2. E3  the User is not active (suspended)
 3. E2  none of the User's roles may send this SRV (Service Reference Variant)
 4. E12 the Command Variant is not one DUIS allows for this SRV
 5. E13 the request was sent to the wrong endpoint for its Command Variant
 6. E19 device requests: the target device is not in the Smart Metering Inventory
 7. E11 the SRV does not apply to the target device's type
 8. E5  the device's SMI status does not allow this SRV
 9. E4  the User is not, at this moment, the responsible party for the device in any role
        eligible for the SRV (registration data)

Malformed, schema-invalid and badly signed requests are refused before this module (see
``opendcc.dsp.frontdoor``); replay (originator counter not above the last accepted) is decided
when the request is stored, in the same transaction that raises the counter. Pure: lookups are
injected, ``now`` is passed in, nothing is written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from opendcc.catalogue import Catalogue, UserRole
from opendcc.catalogue.srv import ServiceReferenceVariant
from opendcc.core.errors import DuisError, ResponseCode
from opendcc.core.eui import Eui64
from opendcc.duis.request import CommandVariant, ServiceRequest
from opendcc.inventory import Device, SmiStatus
from opendcc.inventory.facts import DeviceFacts
from opendcc.store.users import User


class Endpoint(StrEnum):
    """The DUIS endpoints, as DCC Boxed lays them out under /api/v1/."""

    SEND = "serviceS"  # CV 1, 2, 3, 5, 6, 7
    TRANSFORM = "serviceT"  # CV 4: critical requests to be transformed into pre-commands
    NON_DEVICE = "serviceD"  # CV 8


ENDPOINT_OF_CV = {
    **{cv: Endpoint.SEND for cv in CommandVariant},
    CommandVariant.TRANSFORM: Endpoint.TRANSFORM,
    CommandVariant.NON_DEVICE: Endpoint.NON_DEVICE,
}

# Roles whose right to a device comes from registration data for its metering point. Other
# Users (OU) and Registered Supplier Agents (RSA) act under their own agreements, not recorded
# in registration data, so role eligibility is their whole check here.
REGISTERED_ROLES = frozenset({UserRole.IS, UserRole.ES, UserRole.GS, UserRole.ED, UserRole.GT})

# SMI statuses in which a device takes device requests. Installed-not-commissioned devices take
# only what commissioning needs (joining, inventory and time sync), listed per SRV family.
OPERABLE = frozenset({SmiStatus.COMMISSIONED})
COMMISSIONING_SERVICE_REFERENCES = frozenset({"6.15", "6.21", "8.1", "8.7", "8.11", "8.14"})


class AccessDenied(DuisError):
    """Access control refused the request; ``code`` says why."""

    http_status = 200  # a coded DUIS Response, not a transport failure

    def __init__(self, code: ResponseCode, message: str) -> None:
        super().__init__(message, code=code)


class Users(Protocol):
    def get(self, user_id: Eui64) -> User | None: ...


class Inventory(Protocol):
    def device(self, device_id: Eui64) -> Device | None: ...

    def responsible(self, mpxn: str, role: UserRole, at: datetime) -> Eui64 | None: ...


# A device's registry facts in one read (``opendcc.inventory.facts``), or None if unknown.
Facts = Callable[[Eui64], DeviceFacts | None]


class _Lookups:
    """A device's facts asked of ``Inventory`` one lookup at a time (when no one-read ``Facts``
    is given): the registrations only for the roles that need them."""

    __slots__ = ("device", "inventory", "restricted")

    def __init__(self, inventory: Inventory, device: Device) -> None:
        self.inventory = inventory
        self.device = device
        self.restricted: bool | None = None  # not read here: the restricted gate asks

    def responsible(self, role: UserRole, at: datetime) -> Eui64 | None:
        mpxn = self.device.mpxn
        return self.inventory.responsible(mpxn, role, at) if mpxn else None


@dataclass(frozen=True, slots=True)
class Granted:
    """What passed: the User, the SRV row, the roles it acts in and, for device requests, the
    target device and, when read with it, whether it is in restricted mode."""

    user: User
    srv: ServiceReferenceVariant
    roles: frozenset[UserRole]
    device: Device | None
    restricted: bool | None = None  # None: not read with the device


class AccessControl:
    def __init__(
        self, catalogue: Catalogue, users: Users, inventory: Inventory, facts: Facts | None = None
    ) -> None:
        """``facts``: the device's registry facts in one read; without it, ``inventory``'s
        lookups one at a time."""
        self.catalogue = catalogue
        self.users = users
        self.inventory = inventory
        self.facts = facts

    def with_facts(self, facts: Facts) -> AccessControl:
        """The same rules reading each device's facts with ``facts`` (the worker's fresh,
        uncached read for its re-check)."""
        return AccessControl(self.catalogue, self.users, self.inventory, facts)

    def _facts(self, device_id: Eui64) -> DeviceFacts | _Lookups | None:
        if self.facts is not None:
            return self.facts(device_id)
        device = self.inventory.device(device_id)
        return None if device is None else _Lookups(self.inventory, device)

    def check(self, request: ServiceRequest, endpoint: Endpoint, now: datetime) -> Granted:
        originator = request.request_id.originator
        user = self.users.get(originator)
        if user is None:
            raise AccessDenied(ResponseCode.INVALID_USER_ROLE, f"{originator} is not a DCC User")
        if not user.active:
            raise AccessDenied(
                ResponseCode.USER_STATUS_INVALID, f"User {originator} is {user.status}"
            )
        srv = self.catalogue.get(request.srv)
        roles = frozenset(role for role in user.roles if srv.is_eligible(role))
        if not roles:
            held = ", ".join(sorted(user.roles)) or "no roles"
            why = f"SRV {srv.srv} is not open to {held}"
            if not srv.eligible_roles:  # DUIS's matrix lists none (7.16, 8.5, 8.6)
                why += ": DUIS opens it to no User Role"
            else:
                why += f", only to {', '.join(sorted(srv.eligible_roles))}"
            raise AccessDenied(ResponseCode.ROLE_NOT_ELIGIBLE, why)
        cv = request.command_variant
        if not srv.allows_command_variant(cv):
            raise AccessDenied(
                ResponseCode.COMMAND_VARIANT_NOT_ALLOWED,
                f"SRV {srv.srv} takes command variants {list(srv.command_variants)}, not {cv}",
            )
        if ENDPOINT_OF_CV[cv] is not endpoint:
            raise AccessDenied(
                ResponseCode.WRONG_URL,
                f"command variant {int(cv)} goes to {ENDPOINT_OF_CV[cv]}, not {endpoint}",
            )
        if srv.non_device:
            return Granted(user, srv, roles, None)
        facts = self._device(request, srv, now)
        responsible = self._responsible_roles(user.user_id, roles, facts, now)
        return Granted(user, srv, responsible, facts.device, facts.restricted)

    def _device(
        self, request: ServiceRequest, srv: ServiceReferenceVariant, now: datetime
    ) -> DeviceFacts | _Lookups:
        target = request.request_id.target
        facts = self._facts(target)
        if facts is None:
            raise AccessDenied(ResponseCode.UNKNOWN_DEVICE, f"no device {target} in the inventory")
        device = facts.device
        if not srv.applies_to(device.device_type):
            raise AccessDenied(
                ResponseCode.SRV_NOT_FOR_DEVICE_TYPE,
                f"SRV {srv.srv} does not apply to a {device.device_type}",
            )
        commissioning = srv.service_reference in COMMISSIONING_SERVICE_REFERENCES
        allowed = device.smi_status in OPERABLE or (
            commissioning and device.smi_status is SmiStatus.INSTALLED_NOT_COMMISSIONED
        )
        if not allowed:
            raise AccessDenied(
                ResponseCode.DEVICE_STATUS_INCOMPATIBLE,
                f"device {target} is {device.smi_status}",
            )
        return facts

    def check_device(
        self, user_id: Eui64, srv_name: str, device_id: Eui64, now: datetime
    ) -> Granted:
        """Whether ``user_id`` may have SRV ``srv_name`` carried out on ``device_id`` now, as if
        it sent that request itself (E1 E3 E2 E19 E11 E5 E4): for work the DCC does on a User's
        behalf (a DCC schedule's runs, a firmware update's devices)."""
        user = self.users.get(user_id)
        if user is None:
            raise AccessDenied(ResponseCode.INVALID_USER_ROLE, f"{user_id} is not a DCC User")
        if not user.active:
            raise AccessDenied(ResponseCode.USER_STATUS_INVALID, f"User {user_id} is {user.status}")
        srv = self.catalogue.get(srv_name)
        roles = frozenset(role for role in user.roles if srv.is_eligible(role))
        if not roles:
            raise AccessDenied(ResponseCode.ROLE_NOT_ELIGIBLE, f"SRV {srv.srv} is not open to you")
        facts = self._facts(device_id)
        if facts is None:
            raise AccessDenied(
                ResponseCode.UNKNOWN_DEVICE, f"no device {device_id} in the inventory"
            )
        device = facts.device
        if not srv.non_device and not srv.applies_to(device.device_type):
            raise AccessDenied(
                ResponseCode.SRV_NOT_FOR_DEVICE_TYPE,
                f"SRV {srv.srv} does not apply to a {device.device_type}",
            )
        if device.smi_status not in OPERABLE:
            status = device.smi_status
            raise AccessDenied(
                ResponseCode.DEVICE_STATUS_INCOMPATIBLE, f"device {device_id} is {status}"
            )
        responsible = self._responsible_roles(user_id, roles, facts, now)
        return Granted(user, srv, responsible, device, facts.restricted)

    def responsible_for(self, granted: Granted, device: Device, now: datetime) -> None:
        """Raise E4 unless the User holds a role for ``device`` now (a non-device request that
        names a device in its body, such as 8.3 Decommission Device)."""
        self._responsible_roles(
            granted.user.user_id, granted.roles, _Lookups(self.inventory, device), now
        )

    def _responsible_roles(
        self,
        user_id: Eui64,
        roles: Iterable[UserRole],
        facts: DeviceFacts | _Lookups,
        now: datetime,
    ) -> frozenset[UserRole]:
        device = facts.device
        granted = set()
        for role in roles:
            if role not in REGISTERED_ROLES or (
                device.mpxn and facts.responsible(role, now) == user_id
            ):
                granted.add(role)
        if not granted:
            raise AccessDenied(
                ResponseCode.NOT_RESPONSIBLE_PARTY,
                f"User {user_id} is not responsible for device {device.device_id}"
                f" at {now:%Y-%m-%dT%H:%M:%SZ}",
            )
        return frozenset(granted)
