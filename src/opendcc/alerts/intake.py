"""Alert intake and routing: from every cohort's head-end to each responsible User's callback.

Adapters hand each alert to ``AlertIntake.receive`` on the event loop, which queues it and
answers a future. ``run`` commits the queue in batches to the durable intake
(``intake_store``: one commit per batch, however many alerts arrived meanwhile, in a worker
thread) and only then resolves each alert's future: the adapter acknowledges the alert to its
head-end (or polls past it) after that, so an alert a head-end saw acknowledged survives a
kill -9. A redelivered alert (same head-end id) is recognised there and not routed again.
The committed alerts are then routed in batches, in a worker thread; a restart first routes
what the intake holds unrouted. ``AlertRouter.route`` decides for each alert, in this order:

1. **Restricted mode** (MP169): from a restricted device only critical, security and safety
   alerts and firmware outcomes go on. Any other is written to the diagnostics log only: not
   to the alert record, not to the audit trail, not to any User.
2. **Firmware watch**: a restricted device's firmware failures are counted; at the threshold
   the supplier gets a DCC alert (once, until an update succeeds).
3. **Recipients by role**: the alert code's recipients (supplier, network operator, other
   Users) resolved through registration data for the device's metering point now; each User's
   subscriptions and suppressions apply to non-mandatory alerts.
4. **Storm protection** (``throttle``): a flooding device or cohort has its non-critical alerts
   held (recorded as ``throttled``); critical alerts always go; each closed window with held
   alerts becomes one DCC alert to the device's Users.

Everything a batch decides is written in one transaction, with the batch's intake rows marked
routed: the alert record, one outbox row per recipient (ordered per User and device, so a
device's alerts reach a User in the order they came), the diagnostics log and the watch. The
outbox then delivers at least once, each message with its fixed AlertID.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Protocol

from sqlalchemy import Connection, Engine, insert

from opendcc.alerts.codes import (
    DCC_ALERTS,
    ROLE_OF,
    AlertSpec,
    DccEvent,
    Recipient,
    device_alert_spec,
)
from opendcc.alerts.intake_store import IntakeStore
from opendcc.alerts.messages import AlertSigner
from opendcc.alerts.store import FirmwareWatch, Subscriptions, values_json
from opendcc.alerts.throttle import HeldWindow, Throttle
from opendcc.catalogue import UserRole
from opendcc.core.clock import Clock
from opendcc.core.eui import Eui64
from opendcc.core.woken import woken
from opendcc.duis.alerts import Throttled
from opendcc.inventory import Device
from opendcc.queue.outbox import Message, Outbox
from opendcc.s1sp.contract import DeviceAlert
from opendcc.store.tables import alert_diagnostics, alerts

log = logging.getLogger(__name__)

FIRMWARE_FAILED = 0x8F1C
FIRMWARE_ACTIVATED = 0x8F1D
BATCH = 500
PRUNE_EVERY_S = 600.0  # routed intake rows past their de-duplication window are dropped


class Registrations(Protocol):
    def responsible_many(
        self, mpxns: Collection[str], role: UserRole, at: datetime
    ) -> dict[str, Eui64]: ...


class Inventory(Protocol):
    @property
    def registrations(self) -> Registrations: ...

    def devices(self, device_ids: Collection[Eui64]) -> dict[Eui64, Device]: ...


@dataclass
class _Directory:
    """A batch's devices and who holds each role for their metering points, read at once."""

    now: datetime
    devices: dict[Eui64, Device]
    holders: dict[tuple[str, UserRole], Eui64]

    @classmethod
    def read(cls, inventory: Inventory, device_ids: set[Eui64], now: datetime) -> _Directory:
        found = inventory.devices(device_ids) if device_ids else {}
        mpxns = {d.mpxn for d in found.values() if d.mpxn}
        roles = {role for table in ROLE_OF.values() for role in table.values()}
        holders: dict[tuple[str, UserRole], Eui64] = {}
        for role in sorted(roles) if mpxns else ():
            for mpxn, user in inventory.registrations.responsible_many(mpxns, role, now).items():
                holders[(mpxn, role)] = user
        return cls(now, found, holders)

    def responsible(self, mpxn: str, role: UserRole) -> Eui64 | None:
        return self.holders.get((mpxn, role))


class CallbackOf(Protocol):
    def __call__(self, user_id: Eui64) -> str | None:
        """The User's callback URL, or None for a User who may not receive alerts now."""
        ...


@dataclass(frozen=True, slots=True)
class Received:
    cohort: str
    alert: DeviceAlert
    intake_id: int | None = None  # its row in the durable intake, once committed there


@dataclass
class _Plan:
    """What one batch writes."""

    alerts: list[tuple[dict[str, object], list[Message]]] = field(default_factory=list)
    diagnostics: list[dict[str, object]] = field(default_factory=list)
    # A restricted device's firmware failures, with its supplier(s) should the watch flag it.
    failed_firmware: list[tuple[Received, list[tuple[Eui64, str]]]] = field(default_factory=list)
    activated: list[Eui64] = field(default_factory=list)


class AlertRouter:
    def __init__(
        self,
        *,
        engine: Engine,
        clock: Clock,
        inventory: Inventory,
        callback_of: CallbackOf,
        restricted_among: Callable[[set[Eui64]], set[Eui64]],
        subscriptions: Subscriptions,
        signer: AlertSigner,
        watch: FirmwareWatch,
        throttle: Throttle | None = None,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.inventory = inventory
        self.callback_of = callback_of
        self.restricted_among = restricted_among
        self.subscriptions = subscriptions
        self.signer = signer
        self.watch = watch
        self.throttle = throttle or Throttle()

    def route(self, batch: Sequence[Received]) -> int:
        """Decide and write a batch; returns how many messages were queued."""
        now = self.clock.now()
        ids = {r.alert.device_id for r in batch}
        closed = self.throttle.closed(now)
        if not batch and not closed:
            return 0  # nothing arrived and no storm window closed: no transaction for nothing
        restricted = self.restricted_among(ids) if batch else set()
        directory = _Directory.read(self.inventory, ids | {w.device_id for w in closed}, now)
        plan = _Plan()
        for item in batch:
            self._plan(item, item.alert.device_id in restricted, directory, plan)
        for window in closed:
            self._plan_throttled(window, directory, now, plan)
        taken = [r.intake_id for r in batch if r.intake_id is not None]
        with self.engine.begin() as conn:
            if taken:
                IntakeStore.routed_in(conn, taken, now)
            queued = self._write_in(conn, plan, now)
        return queued

    # ------------------------------------------------------------------ deciding

    def _plan(self, item: Received, restricted: bool, directory: _Directory, plan: _Plan) -> None:
        now = directory.now
        alert = item.alert
        spec = device_alert_spec(alert.code)
        row = {
            "kind": "device",
            "code": spec.hex,
            "device_id": str(alert.device_id),
            "cohort": item.cohort,
            "raised_at": alert.raised_at,
            "received_at": now,
            "alert_values": values_json(alert.values),
        }
        if restricted and not spec.delivered_when_restricted:
            plan.diagnostics.append({**row, "reason": "restricted"})
            return
        if restricted and alert.code == FIRMWARE_FAILED:
            plan.failed_firmware.append((item, self._suppliers(alert.device_id, directory)))
        elif alert.code == FIRMWARE_ACTIVATED:
            plan.activated.append(alert.device_id)
        device = directory.devices.get(alert.device_id)
        if not self.throttle.admit(alert.device_id, item.cohort, spec.critical, now):
            plan.alerts.append(({**row, "disposition": "throttled"}, []))
            return
        messages = [
            self.signer.device_alert(
                device_id=alert.device_id,
                spec=spec,
                raised_at=alert.raised_at,
                values=alert.values,
                user=user,
                url=url,
                now=now,
            )
            for user, url in self._recipients(device, spec, directory)
        ]
        disposition = "delivered" if messages else "no-recipient"
        plan.alerts.append(({**row, "disposition": disposition}, messages))

    def _recipients(
        self, device: Device | None, spec: AlertSpec, directory: _Directory
    ) -> list[tuple[Eui64, str]]:
        if device is None or not device.mpxn:
            return []
        found: dict[Eui64, str] = {}
        for recipient in Recipient:  # the supplier first
            if recipient not in spec.recipients:
                continue
            role = ROLE_OF[recipient].get(device.device_type)
            user = directory.responsible(device.mpxn, role) if role else None
            if user is None or user in found or not self.subscriptions.wants(user, spec.code):
                continue
            if (url := self.callback_of(user)) is not None:
                found[user] = url
        return list(found.items())

    def _suppliers(self, device_id: Eui64, directory: _Directory) -> list[tuple[Eui64, str]]:
        """The supplier of a device with its callback (for DCC alerts about the device)."""
        device = directory.devices.get(device_id)
        return self._recipients(device, device_alert_spec(FIRMWARE_FAILED), directory)

    def _plan_throttled(
        self, window: HeldWindow, directory: _Directory, now: datetime, plan: _Plan
    ) -> None:
        # The supplier responsible for the device is told (held alerts are non-critical).
        info = (
            f"{window.count} non-critical alerts from {window.device_id} held back between"
            f" {window.start.isoformat()} and {window.end.isoformat()} (storm protection)"
        )
        messages = [
            self.signer.s1sp_notice(
                event=DccEvent.ALERTS_THROTTLED,
                device_id=window.device_id,
                information=info,
                user=user,
                url=url,
                now=now,
                throttled=Throttled(window.sequence, window.count),
            )
            for user, url in self._suppliers(window.device_id, directory)
        ]
        row = _dcc_row(DccEvent.ALERTS_THROTTLED, window.device_id, window.cohort, now)
        row["alert_values"] = values_json({"held": window.count, "sequence": window.sequence})
        plan.alerts.append((row, messages))

    # ------------------------------------------------------------------ writing

    def _write_in(self, conn: Connection, plan: _Plan, now: datetime) -> int:
        queued = 0
        for row, messages in plan.alerts:
            self._record_in(conn, row, messages, now)
            queued += len(messages)
        if plan.diagnostics:
            conn.execute(insert(alert_diagnostics), plan.diagnostics)
        for device_id in plan.activated:
            self.watch.succeeded_in(conn, device_id)
        for item, suppliers in plan.failed_firmware:
            detail = f"firmware failed: {dict(item.alert.values)}"
            if self.watch.failed_in(conn, item.alert.device_id, detail, now):
                queued += self._flag_in(conn, item, suppliers, now)
        return queued

    @staticmethod
    def _record_in(
        conn: Connection, row: dict[str, object], messages: list[Message], now: datetime
    ) -> None:
        """The alert's record, and its messages in the outbox ordered per User and device."""
        key = conn.execute(insert(alerts).values(**row, recipients=len(messages)))
        assert key.inserted_primary_key is not None
        alert_id = int(key.inserted_primary_key[0])
        device = row.get("device_id")
        ordered = [
            (replace(m, ordering_key=f"{m.user_id}|{device}" if device else None), alert_id)
            for m in messages
        ]
        Outbox.put_many_in(conn, ordered, now)

    def _flag_in(
        self,
        conn: Connection,
        item: Received,
        suppliers: list[tuple[Eui64, str]],
        now: datetime,
    ) -> int:
        device_id = item.alert.device_id
        info = (
            f"restricted device {device_id}: {self.watch.threshold} firmware updates in a row"
            " failed; the consumer may be blocking the meter's communications (MP169 R-001)"
        )
        messages = [
            self.signer.s1sp_notice(
                event=DccEvent.FIRMWARE_WATCH,
                device_id=device_id,
                information=info,
                user=user,
                url=url,
                now=now,
            )
            for user, url in suppliers
        ]
        row = _dcc_row(DccEvent.FIRMWARE_WATCH, device_id, item.cohort, now)
        self._record_in(conn, row, messages, now)
        return len(messages)


def _dcc_row(event: DccEvent, device_id: Eui64, cohort: str, now: datetime) -> dict[str, object]:
    return {
        "kind": "dcc",
        "code": DCC_ALERTS[event].code,
        "device_id": str(device_id),
        "cohort": cohort,
        "raised_at": now,
        "received_at": now,
        "alert_values": "{}",
        "disposition": "delivered",
    }


class AlertIntake:
    """Takes alerts on the event loop without blocking it: commits them durably in batches
    (each alert's future done once committed), then routes them in batches."""

    def __init__(
        self,
        router: AlertRouter,
        *,
        then: Callable[[Received], object] = lambda item: None,
        on_queued: Callable[[], None] = lambda: None,
        flush_s: float = 1.0,
        store: IntakeStore | None = None,
    ) -> None:
        self.router = router
        self.store = store or IntakeStore(router.engine)
        self.then = then  # after the batch is committed (e.g. prepayment reconciliation)
        self.on_queued = on_queued
        self.flush_s = flush_s
        self._arriving: deque[tuple[Received, asyncio.Future[None] | None]] = deque()
        self._pending: deque[Received] = deque()  # committed, to route
        self._wake = asyncio.Event()
        self._committed = asyncio.Event()
        self.routed = 0
        self.duplicates = 0  # redelivered alerts recognised and not routed again

    def receive(self, cohort: str, alert: DeviceAlert) -> asyncio.Future[None]:
        """Queue ``alert``; the answer is done once it is committed (the hub holds it), or
        failed if committing it failed (the head-end should offer it again)."""
        taken: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._arriving.append((Received(cohort, alert), taken))
        self._wake.set()
        return taken

    @property
    def backlog(self) -> int:
        return len(self._arriving) + len(self._pending)

    async def run(self) -> None:
        # What a killed hub committed but never routed goes first (older than anything new).
        boundary = await asyncio.to_thread(self.store.last_id)
        committing = asyncio.create_task(self._commit_forever(), name="alert intake commits")
        try:
            await self._recover(boundary)
            # Not at once: head-ends offer again what a killed hub took but never
            # acknowledged as it comes back, and those must still be recognised.
            prune_at = asyncio.get_running_loop().time() + PRUNE_EVERY_S
            while True:
                if (at := asyncio.get_running_loop().time()) >= prune_at:
                    prune_at = at + PRUNE_EVERY_S
                    await self._prune()
                if not self._pending:
                    self._committed.clear()
                    # Looks on a timer only while a storm window holds alerts (its close
                    # becomes a DCC alert); otherwise only for what arrives, or to prune.
                    holding = self.router.throttle.holding
                    wait = self.flush_s if holding else max(prune_at - at, 0.0)
                    if not await woken(self._committed, wait) and not holding:
                        continue
                await self.drain_once()
        finally:
            committing.cancel()
            await asyncio.gather(committing, return_exceptions=True)

    async def _prune(self) -> None:
        try:
            await asyncio.to_thread(self.store.prune, self.router.clock.now())
        except Exception:
            log.exception("pruning the alert intake failed")

    async def _recover(self, boundary: int) -> None:
        after = 0
        while rows := await asyncio.to_thread(self.store.unrouted, after, boundary, BATCH):
            if after == 0:
                log.info("routing alerts taken before a restart but not routed")
            self._pending.extendleft(
                reversed([Received(cohort, alert, row_id) for row_id, cohort, alert in rows])
            )
            after = rows[-1][0]
            while (
                self._pending
                and self._pending[0].intake_id is not None
                and (self._pending[0].intake_id <= after)
            ):
                await self.drain_once()

    async def _commit_forever(self) -> None:
        while True:
            if not self._arriving:
                self._wake.clear()
                await self._wake.wait()  # set by ``receive``: no timer to look for nothing
            try:
                await self.commit_once()
            except Exception:  # a bug must not end the intake: the head-ends offer again
                log.exception("the alert intake's commit failed")
                await asyncio.sleep(self.flush_s)

    async def commit_once(self) -> None:
        """Commit what has arrived (up to a batch) to the durable intake; resolve each future."""
        batch = [self._arriving.popleft() for _ in range(min(BATCH, len(self._arriving)))]
        if not batch:
            return
        now = self.router.clock.now()
        try:
            ids = await asyncio.to_thread(
                self.store.take, [(r.cohort, r.alert) for r, _ in batch], now
            )
            taken_ids = list(zip(batch, ids, strict=True))
        except Exception as exc:
            # Not taken: each head-end is not acknowledged and offers its alert again.
            log.exception(
                "committing %d alerts failed; their head-ends will offer them again", len(batch)
            )
            for _, taken in batch:
                if taken is not None and not taken.done():
                    taken.set_exception(exc)
            await asyncio.sleep(self.flush_s)
            return
        for (item, taken), row_id in taken_ids:
            if row_id is None:
                self.duplicates += 1
            else:
                self._pending.append(replace(item, intake_id=row_id))
            if taken is not None and not taken.done():
                taken.set_result(None)
        self._committed.set()

    async def drain_once(self) -> None:
        """Route what is committed (up to a batch); with none, storm windows that closed
        still become their DCC alerts."""
        batch = [self._pending.popleft() for _ in range(min(BATCH, len(self._pending)))]
        try:
            queued = await asyncio.to_thread(self.router.route, batch)
        except Exception:
            log.exception("routing %d alerts failed; trying them again", len(batch))
            self._pending.extendleft(reversed(batch))
            await asyncio.sleep(self.flush_s)
            return
        self.routed += len(batch)
        if queued:
            self.on_queued()
        for item in batch:
            try:
                await asyncio.to_thread(self.then, item)
            except Exception:
                log.exception("after-routing step failed for an alert from %s", item.cohort)
