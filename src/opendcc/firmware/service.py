"""The firmware room at work: 11.1 Update Firmware, distribution, the 11.3 check, outcomes.

- **11.1** (non-device, answered at once): the listed devices are classified
  (``firmware.update``); the applicable ones get a ``pending`` distribution row in the front
  door's transaction and the answer is I99 with ``sr:DSPUpdateFirmwareWarning`` listing the
  others (no payload when all were applicable). When no device is applicable the request is
  refused with **E11** and nothing is stored: DUIS's generic "not applicable to the device"
  code, since the v5.4 SRV-specific codes (E1101xx) carry no documented meaning we could cite.
- **Distribution** (``run``): due pending rows are leased and each device is sent one DCC-own
  instruction (SRV 11.1, id stable per request and device, the image base64 with its version
  and hash) through the hub, which seals it with the DCO. Success leaves the row
  ``distributed`` (two-stage cohorts) or ``staged`` (one-stage: the head-end holds the image
  until 11.3), as the outcome's ``stage`` says (else the cohort's firmware mode). A failure is
  retried with backoff; after the last attempt the row is ``failed`` and the User gets DCC
  alert N14 in the same transaction.
- **11.3** (``vet``): the front door asks before accepting an Activate Firmware: the hash must
  be a library image for the device's model whose version is Active on the CPL, and the
  device must have been sent it (a ``distributed`` or ``staged`` row).
- **Outcomes**: ``activated`` (alert 0x8F1D or a successful 11.3) records the device's new
  firmware version in the inventory and the row ``activated``, in one transaction;
  ``failed_activation`` (0x8F1C) leaves the row ``failed``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from lxml import etree
from sqlalchemy import Connection, Engine

from opendcc.alerts.messages import AlertSigner
from opendcc.core.clock import Clock
from opendcc.core.errors import ResponseCode
from opendcc.core.eui import Eui64
from opendcc.core.request_id import RequestId
from opendcc.core.woken import woken
from opendcc.dsp.access import AccessDenied, Granted
from opendcc.dsp.frontdoor import NonDevice, NonDeviceAnswer
from opendcc.duis.request import ServiceRequest
from opendcc.firmware.distributions import (
    AWAITING_ACTIVATION,
    Change,
    Distribution,
    Distributions,
    DistributionState,
    NewDistribution,
)
from opendcc.firmware.library import FirmwareLibrary
from opendcc.firmware.messages import distribution_failure
from opendcc.firmware.update import (
    CheckDevice,
    Classification,
    Facts,
    applies,
    classify,
    parse_update,
)
from opendcc.inventory import CplStore, InventoryStore
from opendcc.queue.outbox import Message, Outbox
from opendcc.s1sp.contract import CohortProfile, FirmwareMode, Instruction, Outcome, OutcomeStatus
from opendcc.smki.credentials import SigningCredentials

log = logging.getLogger(__name__)

Submit = Callable[[str, Instruction], Awaitable[Outcome]]
UPDATE_FIRMWARE = "11.1"
ACTIVATE_FIRMWARE = "11.3"
BATCH = 200  # rows leased per pass

# What an outcome's ``stage`` may say, and the row state it leaves.
_STAGES = {
    "distributed": DistributionState.DISTRIBUTED,
    "staged": DistributionState.STAGED,
    FirmwareMode.TWO_STAGE.value: DistributionState.DISTRIBUTED,
    FirmwareMode.ONE_STAGE.value: DistributionState.STAGED,
}


@dataclass(frozen=True)
class FirmwareSettings:
    attempts: int = 3  # deliveries tried per device before the row fails (and N14 goes out)
    backoff: timedelta = timedelta(seconds=30)  # before the second attempt; doubles after
    lease: timedelta = timedelta(minutes=5)  # how long a pass holds a row it is sending
    concurrency: int = 16  # instructions in flight at once
    # Seconds between passes when nothing wakes the loop: what falls due by time (a retry
    # after its backoff, 30 s or more) and, in ``opendcc serve``, distributions another
    # process made. Each idle pass is a look (``store.peek``); at 0.2 s they were a third of
    # an idle scheduler's CPU.
    poll: float = 1.0

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.concurrency < 1:
            raise ValueError("firmware attempts and concurrency are at least 1")


def _ignore() -> None:
    return None


class Firmware:
    def __init__(
        self,
        *,
        engine: Engine,
        clock: Clock,
        inventory: InventoryStore,
        cpl: CplStore,
        library: FirmwareLibrary,
        check_device: CheckDevice,
        submit: Submit,
        dsp: SigningCredentials,
        signer: AlertSigner,
        callback_of: Callable[[Eui64], str | None],
        settings: FirmwareSettings,
        profiles: Mapping[str, CohortProfile],
        on_outbox: Callable[[], None] = _ignore,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.inventory = inventory
        self.cpl = cpl
        self.library = library
        self.check_device = check_device
        self.submit = submit
        self.dsp = dsp
        self.signer = signer
        self.callback_of = callback_of
        self.settings = settings
        self.profiles = profiles
        self.on_outbox = on_outbox
        self.store = Distributions(engine)
        self.wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    # ------------------------------------------------------------------ 11.1

    def handlers(self) -> Mapping[str, NonDevice]:
        return {UPDATE_FIRMWARE: self.update_firmware}

    def update_firmware(
        self, request: ServiceRequest, granted: Granted, now: datetime
    ) -> NonDeviceAnswer:
        """Answer an 11.1 Update Firmware (see the module docstring); raises ``AccessDenied``
        (E11) when no listed device can take the image."""
        update = parse_update(request.body)
        digest = update.image_hash
        user = granted.user.user_id
        image = self.library.by_hash(digest)
        facts = Facts(
            user=user,
            now=now,
            devices=self.inventory.devices(update.device_ids),
            image=image,
            cpl=self.cpl.snapshot(),
            pending=self.store.pending(update.device_ids),
        )
        found = classify(update, facts, self.check_device)
        if image is None or not found.applicable:
            raise AccessDenied(
                ResponseCode.SRV_NOT_FOR_DEVICE_TYPE,
                f"no listed device can take firmware {update.version} (sha256 {digest}): "
                + _summary(found),
            )
        rid = request.request_id

        def write(conn: Connection) -> etree._Element | None:
            busy = Distributions.pending_in(conn, [d.device_id for d in found.applicable])
            final = found.in_progress_too(busy)
            Distributions.insert_in(
                conn,
                rid,
                user,
                version=image.version,
                image_hash=digest,
                devices=[
                    NewDistribution(d.device_id, d.cohort or "", d.model) for d in final.applicable
                ],
                now=now,
            )
            return final.warning()

        reason = f"firmware {image.version} to {len(found.applicable)} device(s); " + _summary(
            found
        )
        return NonDeviceAnswer(
            write=write,
            code=ResponseCode.ACKNOWLEDGED,
            reason=reason[:250],
            then=self._poke,
        )

    # ------------------------------------------------------------------ 11.3

    def vet(self, instruction: Instruction) -> None:
        """Refuse (E11) an 11.3 Activate Firmware whose image the device may not activate."""
        if instruction.srv != ACTIVATE_FIRMWARE:
            return
        digest = instruction.parameters.get("hash", "").lower()
        device = self.inventory.device(instruction.device_id)
        image = self.library.by_hash(digest) if digest else None
        if device is None or image is None:
            raise AccessDenied(
                ResponseCode.SRV_NOT_FOR_DEVICE_TYPE,
                f"firmware hash {digest or '(none)'} is not an image in the DCC's library",
            )
        if not applies(image, None, device, self.cpl.snapshot()):
            raise AccessDenied(
                ResponseCode.SRV_NOT_FOR_DEVICE_TYPE,
                f"firmware {image.model_key} {image.version} is not Active on the CPL for"
                f" {device.manufacturer}/{device.model} (device {device.device_id})",
            )
        if self.store.latest(device.device_id, AWAITING_ACTIVATION, digest) is None:
            raise AccessDenied(
                ResponseCode.SRV_NOT_FOR_DEVICE_TYPE,
                f"device {device.device_id} has not been sent firmware {image.version}"
                " (no distributed or staged 11.1 Update Firmware): send 11.1 first",
            )

    # ------------------------------------------------------------------ outcomes

    def activated(
        self,
        device_id: Eui64,
        now: datetime,
        *,
        version: str | None = None,
        image_hash: str | None = None,
    ) -> None:
        """The device now runs new firmware: the inventory's version and its distribution."""
        with self.engine.begin() as conn:
            row = Distributions.latest_in(conn, device_id, AWAITING_ACTIVATION, image_hash)
            if row is not None and version is not None and row.version != version:
                row = None  # it activated something other than what we sent
            running = version if version is not None else (row.version if row else None)
            if running is None:
                log.info("firmware activated on %s: no version known, nothing recorded", device_id)
                return
            self.inventory.set_firmware_in(conn, {device_id: running})
            if row is not None:
                Distributions.settle_in(conn, row, DistributionState.ACTIVATED, now, "")

    def failed_activation(self, device_id: Eui64, now: datetime, detail: str) -> None:
        """The device could not activate the firmware it was sent (0x8F1C)."""
        with self.engine.begin() as conn:
            row = Distributions.latest_in(conn, device_id, AWAITING_ACTIVATION)
            if row is not None:
                Distributions.settle_in(conn, row, DistributionState.FAILED, now, detail)

    # ------------------------------------------------------------------ distribution

    async def run(self) -> None:
        """Distribute due rows forever (the hub runs it as a task)."""
        self._loop = asyncio.get_running_loop()
        while True:
            try:
                await self.distribute_due()
            except Exception:
                log.exception("distributing firmware failed; trying again shortly")
            self.wake.clear()
            await woken(self.wake, self.settings.poll)

    async def distribute_due(self) -> int:
        """One pass: send every due pending row once; returns how many the S1SPs took."""
        now = self.clock.now()
        if not await self.store.any_due(now):
            return 0  # the usual pass: a look, no claim's write transaction
        rows = await asyncio.to_thread(self.store.claim, now, self.settings.lease, BATCH)
        if not rows:
            return 0
        images = await asyncio.to_thread(self._images, {r.image_hash for r in rows})
        gate = asyncio.Semaphore(self.settings.concurrency)
        changes = await asyncio.gather(
            *(self._send(row, images.get(row.image_hash), gate) for row in rows)
        )
        await asyncio.to_thread(self._record, changes)
        return sum(c.state in AWAITING_ACTIVATION for c in changes)

    def _images(self, hashes: Iterable[str]) -> dict[str, str]:
        found = {h: self.library.content(h) for h in hashes}
        return {h: base64.b64encode(b).decode("ascii") for h, b in found.items() if b}

    async def _send(self, row: Distribution, image: str | None, gate: asyncio.Semaphore) -> Change:
        if image is None:
            return Change(row, DistributionState.FAILED, "the image is no longer in the library")
        instruction = Instruction(
            row.instruction_id,
            UPDATE_FIRMWARE,
            row.device_id,
            {"version": row.version, "image": image, "hash": row.image_hash},
        )
        async with gate:
            try:
                outcome = await self.submit(row.cohort, instruction)
            except Exception as exc:  # an adapter that raises is a head-end we could not use
                return self._retry_or_fail(row, f"{type(exc).__name__}: {exc}")
        if outcome.status is OutcomeStatus.SUCCESS:
            return Change(row, self._stage(row, outcome))
        return self._retry_or_fail(row, f"{outcome.status}: {outcome.detail}".rstrip(": "))

    def _stage(self, row: Distribution, outcome: Outcome) -> DistributionState:
        stage = _STAGES.get(str(outcome.data.get("stage", "")).lower())
        if stage is not None:
            return stage
        profile = self.profiles.get(row.cohort)
        one_stage = profile is not None and profile.firmware_mode is FirmwareMode.ONE_STAGE
        return DistributionState.STAGED if one_stage else DistributionState.DISTRIBUTED

    def _retry_or_fail(self, row: Distribution, detail: str) -> Change:
        attempts = row.attempts + 1
        if attempts >= self.settings.attempts:
            log.info("firmware to %s failed %d times: %s", row.device_id, attempts, detail)
            return Change(row, DistributionState.FAILED, detail)
        wait = self.settings.backoff * 2 ** (attempts - 1)
        return Change(row, DistributionState.PENDING, detail, self.clock.now() + wait)

    def _record(self, changes: Iterable[Change]) -> None:
        """Every row's new state and, per 11.1 request, one N14 for the devices that failed
        for good, in one transaction (signed before it)."""
        listed = list(changes)
        now = self.clock.now()
        messages = self._failure_alerts(listed, now)
        with self.engine.begin() as conn:
            Distributions.apply_in(conn, listed, now)
            for message in messages:
                Outbox.put_in(conn, message, now)
        if messages:
            self.on_outbox()

    def _failure_alerts(self, changes: Iterable[Change], now: datetime) -> list[Message]:
        failed: dict[RequestId, list[Eui64]] = {}
        for change in changes:
            if change.state is DistributionState.FAILED:
                failed.setdefault(change.row.request_id, []).append(change.row.device_id)
        messages = []
        for request_id, meters in failed.items():
            url = self.callback_of(request_id.originator)
            if url is None:
                log.warning("no callback for the N14 of %s: not sent", request_id)
                continue
            messages.append(
                distribution_failure(
                    request_id, meters, url=url, now=now, dsp=self.dsp, signer=self.signer
                )
            )
        return messages

    def _poke(self) -> None:
        """Wake the loop from the front door's thread (or from the loop itself)."""
        loop = self._loop
        if loop is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop has closed
            loop.call_soon_threadsafe(self.wake.set)


def _summary(found: Classification) -> str:
    parts = [f"{name} {len(ids)}" for name, ids in found.lists().items() if ids]
    return ", ".join(parts) or "no warnings"
