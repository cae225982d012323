"""Which SRVs may still reach a meter in restricted mode (MP169), and the gate that enforces it.

MP169: a restricted meter exchanges only what safety and security need. The allowed list is
configuration (``[restricted] allowed_srvs``), written as SRVs (``6.11``), families (``11.*``
matches 11.1, 11.2 ...) or ``non-device``. The default allows firmware, clock, supply-safety
and security SRVs, the inventory's and every non-device request; no consumption read. A
consumption read (the catalogue's ``restricted_allowed`` false: 4.1.x registers, profile data,
billing data, daily read log ...) can never be allowed: such a list is a configuration error.

Any other SRV to a restricted device is refused at the front door with
``ResponseCode.DEVICE_RESTRICTED`` (E71), signed and audited like every refusal.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from opendcc.catalogue.srv import Catalogue
from opendcc.catalogue.srv import ServiceReferenceVariant as Srv
from opendcc.core.errors import ResponseCode
from opendcc.core.eui import Eui64
from opendcc.dsp.access import AccessDenied, Granted

NON_DEVICE = "non-device"

DEFAULT_ALLOWED: tuple[str, ...] = (
    "11.*",  # firmware
    "6.11",  # clock: synchronise
    "7.1",  # supply safety: disable, enable, arm, read supply status
    "7.2",
    "7.3",
    "7.4",
    "6.13",  # security: the event and security logs
    "6.15.*",  # security credentials
    "6.21",
    "6.23",
    "6.24.*",
    "8.*",  # the inventory: commission, read, decommission, join, unjoin, device logs
    NON_DEVICE,
)


class PolicyError(ValueError):
    """An allowed list that names no SRV, or names a consumption read."""


@dataclass(frozen=True)
class RestrictedPolicy:
    allowed: frozenset[str]  # every SRV allowed to a restricted device
    patterns: tuple[str, ...]

    @classmethod
    def build(
        cls, catalogue: Catalogue, patterns: Iterable[str] = DEFAULT_ALLOWED
    ) -> RestrictedPolicy:
        listed = tuple(patterns)
        allowed: set[str] = set()
        for pattern in listed:
            matched = [srv for srv in catalogue if _matches(pattern, srv)]
            if not matched:
                raise PolicyError(f"[restricted] allowed_srvs: {pattern!r} names no SRV")
            reads = sorted(srv.srv for srv in matched if not srv.restricted_allowed)
            if reads:
                raise PolicyError(
                    f"[restricted] allowed_srvs: {pattern!r} would let consumption reads"
                    f" {', '.join(reads)} reach restricted meters (MP169 forbids it)"
                )
            allowed.update(srv.srv for srv in matched)
        return cls(frozenset(allowed), listed)

    def allows(self, srv: str) -> bool:
        return srv in self.allowed


def _matches(pattern: str, srv: Srv) -> bool:
    if pattern == NON_DEVICE:
        return srv.non_device
    if pattern.endswith(".*"):
        return srv.srv.startswith(pattern[:-1])
    return srv.srv == pattern


class RestrictedGate:
    """The front door's check: raises E71 for a disallowed SRV to a restricted device."""

    def __init__(self, policy: RestrictedPolicy, is_restricted: Callable[[Eui64], bool]) -> None:
        self.policy = policy
        self.is_restricted = is_restricted

    def __call__(self, granted: Granted) -> None:
        device = granted.device
        if device is not None and (
            why := self.refusal(device.device_id, granted.srv.srv, granted.restricted)
        ):
            raise AccessDenied(ResponseCode.DEVICE_RESTRICTED, why)

    def refusal(self, device_id: Eui64, srv: str, restricted: bool | None = None) -> str | None:
        """Why ``srv`` may not go to ``device_id`` now, or None (also checked at dispatch: a
        device restricted after a request was accepted does not get it). ``restricted``: the
        flag when it was read with the device (one read, ``opendcc.inventory.facts``); None
        asks ``is_restricted``."""
        if self.policy.allows(srv):
            return None
        if not (self.is_restricted(device_id) if restricted is None else restricted):
            return None
        return (
            f"device {device_id} is in restricted mode (the consumer refused smart"
            f" functionality): SRV {srv} is not allowed"
        )
