"""The prepayment service: issue UTRNs, deliver them over the air, and pay each at most once.

``TopUps`` is what the UTRN HTTP service (``opendcc.gateway.utrn``), the DUIS front door and
router (SRV 2.2 Top Up Device) and alert intake (keypad entries) ask of prepayment:

- **Who may ask**: the supplier responsible for the meter now (registration data), or a PSP
  that supplier has nominated. Nothing else is consulted, so a change of supplier moves access
  on its effective date.
- **Which meter**: a device id, or an MPxN or PAN (Payment Allocation Number) naming a metering
  point with exactly one meter.
- **Issue**: the cohort's algorithm (``CohortProfile.utrn_algorithm``) with the S1SP's keys
  (``CohortKeys``), the next counter for the meter, recorded in the ledger in one transaction.
  A requester's payment reference makes issuing idempotent.
- **Two-step**: the User sends the UTRN with DUIS SRV 2.2. The front door refuses a UTRN the
  ledger did not issue for that device, or one already applied, refused or cancelled (E11,
  ``vet``); the router claims it (issued → sent) with the instruction and settles it with the
  outcome, in the transactions that record the request's own steps.
- **One-step**: ``deliver`` claims the token (issued → sent, committed first), has the DCO seal
  the 2.2 instruction and submits it to the cohort's S1SP at once, never through the job queue,
  so no backlog of reads is ahead of it. A token left "sent" by a crash or without an answer is
  submitted again by ``resume`` with the same instruction id: the head-end answers a repeated
  id from memory and the meter refuses a counter it has used, so a payment is never credited
  twice, and a REPLAY refusal settles the entry as applied.
- **Keypad**: a meter that accepts a keyed-in UTRN raises an alert carrying its counter;
  ``reconcile`` settles the ledger from it.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError

from opendcc.catalogue import DeviceType
from opendcc.catalogue.roles import UserRole
from opendcc.core.clock import Clock
from opendcc.core.eui import Eui64, InvalidIdentifier
from opendcc.inventory import Device, InventoryStore, SmiStatus
from opendcc.prepayment.keys import CohortKeys
from opendcc.prepayment.ledger import (
    Channel,
    Entry,
    Ledger,
    NewEntry,
    Route,
    UtrnState,
)
from opendcc.prepayment.registers import Kind, Principal, Registers
from opendcc.prepayment.utrn import AmountNotRepresentable, algorithm
from opendcc.s1sp.contract import CohortProfile, DeviceAlert, Instruction, Outcome, OutcomeStatus
from opendcc.s1sp.services.base import InvalidParameters

log = logging.getLogger(__name__)

TOP_UP = "2.2"
PRIORITY = {TOP_UP: 10}  # job priority by SRV: top-ups run before anything else waiting
METERS = {DeviceType.ESME: UserRole.IS, DeviceType.GSME: UserRole.GS}
SERVED = frozenset({SmiStatus.COMMISSIONED, SmiStatus.INSTALLED_NOT_COMMISSIONED})
MAX_AMOUNT_P = 99_999_99
ISSUE_ATTEMPTS = 5
RESUME_EVERY_S = 10.0
S = UtrnState
# "meter refused: invalid_value: UTRN replay: ..." — the simulated and real head-ends' detail.
_REFUSAL = re.compile(r"UTRN (\w+):")
_OPEN = (S.ISSUED, S.SENT)
ALERT_UTRN_KEYPAD = "keypad"


class TopUpRefused(Exception):
    """A UTRN service request refused: ``status`` is its HTTP status, ``reason`` a stable code."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Target:
    device: Device
    supplier: Eui64


# Seals an instruction (DCO) and has the cohort's S1SP carry it out.
Submit = Callable[[str, Instruction], Awaitable[Outcome]]


class TopUps:
    def __init__(
        self,
        *,
        engine: Engine,
        clock: Clock,
        inventory: InventoryStore,
        profiles: Mapping[str, CohortProfile],
        keys: Callable[[str], CohortKeys],
        submit: Submit | None = None,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.inventory = inventory
        self.profiles = profiles
        self.keys = keys
        self.submit = submit
        self.ledger = Ledger(engine)
        self.registers = Registers(engine)
        self._delivering: set[int] = set()

    # ------------------------------------------------------------------ who, for which meter

    def target(
        self,
        principal: Principal,
        *,
        device: str | None = None,
        mpxn: str | None = None,
        pan: str | None = None,
    ) -> Target:
        """The meter named by exactly one of ``device``, ``mpxn`` and ``pan``, if
        ``principal`` may top it up now."""
        if sum(x is not None for x in (device, mpxn, pan)) != 1:
            raise TopUpRefused(400, "target", "name exactly one of device, mpxn and pan")
        found = self._meter(device, mpxn, pan)
        now = self.clock.now()
        if found.smi_status not in SERVED:
            why = f"device {found.device_id} is {found.smi_status.duis}"
            raise TopUpRefused(409, "device_status", why)
        if found.cohort is None or found.cohort not in self.profiles:
            raise TopUpRefused(409, "no_s1sp", f"no S1SP serves device {found.device_id}")
        supplier = self.supplier_of(found, now)
        if supplier is None:
            raise TopUpRefused(409, "no_supplier", f"no supplier is registered for {found.mpxn}")
        self._authorise(principal, supplier, now)
        return Target(found, supplier)

    def _meter(self, device: str | None, mpxn: str | None, pan: str | None) -> Device:
        if device is not None:
            try:
                found = self.inventory.device(Eui64.parse(device))
            except InvalidIdentifier as exc:
                raise TopUpRefused(400, "target", str(exc)) from None
            if found is None or found.device_type not in METERS:
                raise TopUpRefused(404, "unknown_device", f"no meter {device} is known")
            return found
        if pan is not None:
            mpxn = self.registers.mpxn_of(pan)
            if mpxn is None:
                raise TopUpRefused(404, "unknown_pan", f"no PAN {pan} is registered")
        assert mpxn is not None
        meters = [d for d in self.inventory.by_mpxn(mpxn) if d.device_type in METERS]
        if len(meters) != 1:
            why = f"MPxN {mpxn} has {len(meters)} meters; name the device"
            raise TopUpRefused(404 if not meters else 409, "target", why)
        return meters[0]

    def _authorise(self, principal: Principal, supplier: Eui64, now: datetime) -> None:
        if principal.kind is Kind.SUPPLIER:
            if principal.supplier != supplier:
                why = f"{principal.name} is not the meter's supplier now"
                raise TopUpRefused(403, "not_responsible", why)
        elif not self.registers.is_nominated(supplier, principal.name, now):
            why = f"PSP {principal.name} is not nominated by the meter's supplier {supplier}"
            raise TopUpRefused(403, "not_nominated", why)

    def may_see(self, principal: Principal, entry: Entry) -> bool:
        """A PSP sees what it asked for; a supplier, its own tokens and its meters' now."""
        if principal.kind is Kind.PSP:
            return entry.requester == principal.name
        if entry.supplier == principal.supplier:
            return True
        device = self.inventory.device(entry.device_id)
        return device is not None and self.supplier_of(device) == principal.supplier

    def supplier_of(self, meter: Device, at: datetime | None = None) -> Eui64 | None:
        """The supplier responsible for ``meter`` at ``at`` (now), from registration data."""
        role = METERS.get(meter.device_type)
        if role is None or not meter.mpxn:
            return None
        return self.inventory.responsible(meter.mpxn, role, at or self.clock.now())

    def supplies(self, mpxn: str, supplier: Eui64) -> bool:
        """Whether ``supplier`` supplies metering point ``mpxn`` now (either fuel)."""
        now = self.clock.now()
        return any(
            self.inventory.responsible(mpxn, role, now) == supplier for role in METERS.values()
        )

    # ------------------------------------------------------------------ issuing

    def issue(
        self,
        principal: Principal,
        target: Target,
        amount_p: int,
        *,
        route: Route = Route.UTRN,
        reference: str | None = None,
    ) -> Entry:
        """A new UTRN for the target meter, recorded in the ledger (or the one already issued
        for this requester's ``reference``)."""
        # Every argument is checked before anything is looked up or issued.
        if isinstance(amount_p, bool) or not isinstance(amount_p, int):
            raise TopUpRefused(400, "amount", "amount_p is a whole number of pence")
        if not 0 < amount_p <= MAX_AMOUNT_P:
            raise TopUpRefused(400, "amount", f"an amount is 1p to {MAX_AMOUNT_P}p")
        if reference is not None and not (isinstance(reference, str) and 0 < len(reference) <= 64):
            raise TopUpRefused(400, "reference", "reference is a string of 1-64 characters")
        if reference is not None and (done := self.ledger.by_reference(principal.name, reference)):
            return self._same_request(done, target, amount_p)
        device = target.device
        assert device.cohort is not None
        profile = self.profiles[device.cohort]
        method = algorithm(profile.utrn_algorithm)
        keys = self.keys(device.cohort)
        for _ in range(ISSUE_ATTEMPTS):  # two issuers may pick the same counter: one retries
            now = self.clock.now()
            try:
                with self.engine.begin() as conn:
                    last = self.ledger.last_counter_in(conn, device.device_id)
                    counter = method.next_counter(last, now)
                    token = method.issue(keys, device.device_id, counter, amount_p)
                    new = NewEntry(
                        token,
                        device.device_id,
                        device.cohort,
                        method.name,
                        counter,
                        amount_p,
                        target.supplier,
                        principal.name,
                        reference,
                        route,
                    )
                    return self.ledger.add_in(conn, new, now)
            except AmountNotRepresentable as exc:
                raise TopUpRefused(400, "amount", str(exc)) from None
            except IntegrityError:
                if reference is not None and (
                    done := self.ledger.by_reference(principal.name, reference)
                ):
                    return self._same_request(done, target, amount_p)
        raise TopUpRefused(503, "busy", "could not allocate a counter; try again")

    @staticmethod
    def _same_request(done: Entry, target: Target, amount_p: int) -> Entry:
        if done.device_id != target.device.device_id or done.amount_p != amount_p:
            raise TopUpRefused(
                409,
                "reference",
                f"payment reference {done.reference!r} was used for another top-up",
            )
        return done

    def cancel(self, principal: Principal, entry: Entry, why: str = "") -> Entry:
        if not self.may_see(principal, entry):
            raise TopUpRefused(404, "unknown_utrn", "no such UTRN")
        detail = f"cancelled by {principal.name}" + (f": {why}" if why else "")
        if not self.ledger.move(
            entry.id, ((S.ISSUED,), S.CANCELLED), self.clock.now(), detail=detail[:256]
        ):
            current = self.ledger.get(entry.id)
            state = current.state.value if current else "gone"
            raise TopUpRefused(409, "state", f"a UTRN that is {state} cannot be cancelled")
        updated = self.ledger.get(entry.id)
        assert updated is not None
        return updated

    # ------------------------------------------------------------------ two-step (DUIS 2.2)

    def vet(self, instruction: Instruction) -> None:
        """At the front door: refuse a 2.2 whose UTRN the ledger cannot pay (E11)."""
        if instruction.srv != TOP_UP:
            return
        utrn = instruction.parameters.get("UTRN", "")
        entry = self.ledger.find(utrn, instruction.device_id)
        if entry is None:
            raise InvalidParameters(
                f"UTRN {utrn} was not issued for device {instruction.device_id}"
            )
        if entry.state not in _OPEN:
            raise InvalidParameters(f"UTRN {utrn} is {entry.state.value}: {entry.detail}"[:250])

    def claim_in(self, conn: Connection, instruction: Instruction) -> str | None:
        """In the router's transaction: mark the 2.2's token sent by this instruction; the
        reason it cannot be, or None."""
        utrn = instruction.parameters.get("UTRN", "")
        entry = self.ledger.find_in(conn, utrn, instruction.device_id)
        if entry is None:
            return f"UTRN {utrn} was not issued for device {instruction.device_id}"
        detail = f"sent by {instruction.request_id}"
        moved = self.ledger.move_in(
            conn,
            entry.id,
            (_OPEN, S.SENT),
            self.clock.now(),
            request_id=instruction.request_id,
            detail=detail[:256],
        )
        return None if moved else f"UTRN {utrn} is {entry.state.value}"

    def settle_in(self, conn: Connection, instruction: Instruction, outcome: Outcome) -> None:
        """In the router's transaction: record what the meter did with a 2.2's token."""
        entry = self.ledger.find_in(
            conn, instruction.parameters.get("UTRN", ""), instruction.device_id
        )
        if entry is not None:
            self._settle_in(conn, entry, outcome)

    def _settle_in(self, conn: Connection, entry: Entry, outcome: Outcome) -> UtrnState | None:
        now = self.clock.now()
        if outcome.status is OutcomeStatus.SUCCESS:
            target, detail = S.APPLIED, f"credited {entry.amount_p}p over the air"
        elif outcome.status is OutcomeStatus.REJECTED:
            refusal = _REFUSAL.search(outcome.detail or "")
            if refusal and refusal.group(1) == "replay":
                # Authenticated first, then found used: this very token was credited before.
                target, detail = S.APPLIED, "the meter had already credited it"
            else:
                target, detail = S.REJECTED, f"the meter refused it: {outcome.detail}"
        else:
            return None  # no answer: still sent; delivering it again is safe
        moved = self.ledger.move_in(
            conn,
            entry.id,
            ((S.SENT, S.ISSUED), target),
            now,
            channel=Channel.OTA.value,
            detail=detail[:256],
        )
        return target if moved else None

    # ------------------------------------------------------------------ one-step

    async def deliver(self, entry: Entry) -> Entry:
        """Send an issued token over the air now and settle the ledger with the outcome."""
        if self.submit is None:
            raise TopUpRefused(503, "no_s1sp", "over-the-air delivery is not configured")
        instruction = _instruction(entry)
        now = self.clock.now()
        claimed = await asyncio.to_thread(
            self.ledger.move,
            entry.id,
            (_OPEN, S.SENT),
            now,
            request_id=instruction.request_id,
            detail="sent over the air (one-step)",
        )
        if not claimed:
            current = await asyncio.to_thread(self.ledger.get, entry.id)
            assert current is not None
            return current
        return await self._carry(entry, instruction)

    async def _carry(self, entry: Entry, instruction: Instruction) -> Entry:
        if entry.id in self._delivering:  # already under way in this process
            current = await asyncio.to_thread(self.ledger.get, entry.id)
            assert current is not None
            return current
        self._delivering.add(entry.id)
        try:
            assert self.submit is not None
            outcome = await self.submit(entry.cohort, instruction)

            def settle() -> Entry:
                with self.engine.begin() as conn:
                    self._settle_in(conn, entry, outcome)
                    current = self.ledger.get_in(conn, entry.id)
                assert current is not None
                return current

            return await asyncio.to_thread(settle)
        finally:
            self._delivering.discard(entry.id)

    async def resume(self) -> int:
        """Submit again every one-step token left "sent" (a crash, or no answer yet)."""
        pending = await asyncio.to_thread(self.ledger.in_state, S.SENT, Route.ONE_STEP)
        for entry in pending:
            try:
                await self._carry(entry, _instruction(entry))
            except Exception:
                log.exception("delivering UTRN entry %d again failed; will retry", entry.id)
        return len(pending)

    async def run(self) -> None:
        """Keep resuming unanswered one-step deliveries (started with the hub)."""
        while True:
            await self.resume()
            await asyncio.sleep(RESUME_EVERY_S)

    # ------------------------------------------------------------------ keypad

    def reconcile(self, alert: DeviceAlert) -> Entry | None:
        """Settle the ledger from a meter's "UTRN accepted" alert (a keyed-in token)."""
        values = alert.values
        if values.get("channel") != ALERT_UTRN_KEYPAD or "counter" not in values:
            return None
        device, counter = alert.device_id, int(values["counter"])
        now = self.clock.now()
        with self.engine.begin() as conn:
            entry = self.ledger.for_counter_in(conn, device, counter)
            if entry is None:
                log.warning("device %s credited an unknown UTRN (counter %d)", device, counter)
                return None
            if entry.state in _OPEN:
                self.ledger.move_in(
                    conn,
                    entry.id,
                    (_OPEN, S.APPLIED),
                    now,
                    channel=Channel.KEYPAD.value,
                    detail="keyed in at the meter",
                )
            elif entry.state is S.CANCELLED:
                self.ledger.move_in(
                    conn,
                    entry.id,
                    ((S.CANCELLED,), S.APPLIED),
                    now,
                    channel=Channel.KEYPAD.value,
                    detail="applied after cancellation: keyed in at the meter",
                )
            return self.ledger.get_in(conn, entry.id)


def _instruction(entry: Entry) -> Instruction:
    """The one-step 2.2 instruction of a token: the same id on every delivery, so the head-end
    answers a repeat from memory."""
    return Instruction(f"UTRN-{entry.id}", TOP_UP, entry.device_id, {"UTRN": entry.utrn})
