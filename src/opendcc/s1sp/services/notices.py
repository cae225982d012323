"""Management notices the DCC sends an S1SP: instructions no User can ever request.

The DCC (Data Communications Company) tells an S1SP (SMETS1 Service Provider, the head-end of
one cohort of first-generation smart meters) some things about its devices that no DUIS (DCC
User Interface Specification) request causes. They travel as ordinary instructions: the hub
builds one, the DCO (Dual Control Organisation) seals it and the cohort's adapter carries it
over the head-end's own wire protocol, so every protocol and every seal check applies to them
unchanged. Their SRVs (Service Reference Variants) are numbered outside the DUIS range, so the
catalogue has none of them and no User request can ever name one; cohort profiles offer them
beside the core services (``S1SP_NOTICES``), never as electives.

99.1 Restriction notice (MP169 restricted mode): a Supplier set or cleared "Restricted" on a
meter; the head-end records it as its own view of the meter. Parameters, all text:

- ``restricted``: ``true`` (set) or ``false`` (cleared);
- ``since``: when that state took effect, an ISO 8601 date-time with a time zone, written in UTC
  to the millisecond as DCC writes date-times;
- ``set_by``: the Supplier's EUI-64 (canonical, hyphenated); required to set, may be empty on a
  clear;
- ``reason``: free text, may be empty.

``RestrictionNotice`` builds these parameters (``parameters()``) and reads them back
(``from_parameters``), so the hub that sends a notice and the head-end that takes it agree.

99.2 Cancel notice: the DCC cancels an instruction the head-end holds for later (a future-dated
instruction, see ``opendcc.s1sp.services.future``). Its one parameter, ``request_id``, is the
held instruction's RequestID text (``CancelNotice``). A head-end that still holds it for that
device drops it (nothing happens to the meter, no alert) and answers the Result ``cancelled``
1; one that does not (already carried out, cancelled before, or never held) answers REJECTED
with the detail ``not held``.

99.3 Decommission notice: a User decommissioned the device (DUIS 8.3, a non-device request the
DSP answers); the S1SP takes it out of service, and from then on the meter refuses every
instruction. Parameters: ``since``, the instant of the SMI (Smart Metering Inventory) change,
written as 99.1 writes it. Result: ``decommissioned`` 1.

No DUIS request body carries a notice, so ``Service.parameters`` refuses any body, and no DUIS
Response ever answers one, so ``Service.response`` (which ``Service`` requires) builds a bare,
empty ``RestrictionNoticeAck`` element in no namespace: harmless, and not an MMC (Message
Mapping Catalogue) element, so a DUIS Response refuses to carry it by mistake. The head-end's
``Result`` is ``restricted`` (1 or 0, what it now records) and ``changed`` (0 when the notice
repeated what it already recorded).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from lxml import etree

from opendcc.core.eui import Eui64, InvalidIdentifier
from opendcc.duis.response import format_datetime
from opendcc.s1sp.services.base import InvalidParameters, Parameters, Result, Service

RESTRICTION_NOTICE = "99.1"
CANCEL_NOTICE = "99.2"
DECOMMISSION_NOTICE = "99.3"
NOT_HELD = "not held"  # the REJECTED detail of a cancel notice for nothing held
_FLAGS: Mapping[str, bool] = {"true": True, "false": False}


@dataclass(frozen=True, slots=True)
class RestrictionNotice:
    """What 99.1 says: a meter's restricted mode was set or cleared, when, by whom, why."""

    restricted: bool
    since: datetime
    set_by: Eui64 | None = None  # the Supplier that set it (may be unknown on a clear)
    reason: str = ""

    def __post_init__(self) -> None:
        if self.since.utcoffset() is None:
            raise InvalidParameters("a restriction notice's since has a time zone")
        if self.restricted and self.set_by is None:
            raise InvalidParameters("a notice that sets restricted mode names its Supplier")

    def parameters(self) -> dict[str, str]:
        """The instruction parameters of this notice."""
        return {
            "restricted": "true" if self.restricted else "false",
            "since": format_datetime(self.since),
            "set_by": "" if self.set_by is None else str(self.set_by),
            "reason": self.reason,
        }

    @classmethod
    def from_parameters(cls, parameters: Parameters) -> RestrictionNotice:
        """The notice an instruction's parameters carry; ``InvalidParameters`` if malformed."""
        try:
            flag, since, set_by = (parameters[k] for k in ("restricted", "since", "set_by"))
        except KeyError as exc:
            raise InvalidParameters(f"a restriction notice has no {exc.args[0]}") from None
        if flag not in _FLAGS:
            raise InvalidParameters(f"restricted is true or false, not {flag!r}")
        try:
            instant = datetime.fromisoformat(since)
            supplier = Eui64.parse(set_by) if set_by else None
        except (ValueError, InvalidIdentifier) as exc:
            raise InvalidParameters(f"a malformed restriction notice: {exc}") from None
        return cls(_FLAGS[flag], instant, supplier, parameters.get("reason", ""))


@dataclass(frozen=True, slots=True)
class CancelNotice:
    """What 99.2 says: drop the instruction with this RequestID that the head-end holds."""

    request_id: str

    def __post_init__(self) -> None:
        if not self.request_id:
            raise InvalidParameters("a cancel notice names the held instruction's request_id")

    def parameters(self) -> dict[str, str]:
        """The instruction parameters of this notice."""
        return {"request_id": self.request_id}

    @classmethod
    def from_parameters(cls, parameters: Parameters) -> CancelNotice:
        """The notice an instruction's parameters carry; ``InvalidParameters`` if malformed."""
        return cls(parameters.get("request_id", ""))


def no_request_body(body: etree._Element) -> dict[str, str]:
    """No DUIS request carries a notice: the DCC builds it (``RestrictionNotice``, ...)."""
    raise InvalidParameters(
        f"a DCC notice to an S1SP is the DCC's own, not {etree.QName(body).localname}"
    )


def acknowledgement(result: Result) -> etree._Element:
    """A bare ``RestrictionNoticeAck``, never part of a DUIS Response (see the module)."""
    del result
    return etree.Element("RestrictionNoticeAck")


def cancel_acknowledgement(result: Result) -> etree._Element:
    """A bare ``CancelNoticeAck``, never part of a DUIS Response (see the module)."""
    del result
    return etree.Element("CancelNoticeAck")


def decommission_acknowledgement(result: Result) -> etree._Element:
    """A bare ``DecommissionNoticeAck``, never part of a DUIS Response (see the module)."""
    del result
    return etree.Element("DecommissionNoticeAck")


SERVICES: tuple[Service, ...] = (
    Service(RESTRICTION_NOTICE, "notifyRestriction", no_request_body, acknowledgement, writes=True),
    Service(
        DECOMMISSION_NOTICE,
        "notifyDecommission",
        no_request_body,
        decommission_acknowledgement,
        writes=True,
    ),
    Service(CANCEL_NOTICE, "cancelHeldInstruction", no_request_body, cancel_acknowledgement),
)
