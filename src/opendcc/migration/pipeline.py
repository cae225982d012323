"""The migration pipeline: data validation, device testing through the S1SP, commissioning.

Following the Transition and Migration Approach, a supplier's migration file goes through:

1. **Data validation and loading** (``Migration.load``): every record is parsed and validated
   (``validate``); accepted installations are stored and their devices enter the inventory as
   Pending, a chunk of records per transaction; rejected ones are stored with every reason.
2. **Device testing** (``Migration.run``): for each installation due (active ones at once,
   dormant ones at their scheduled time, failed ones at their retry time), the cohort's S1SP
   (SMETS1 Service Provider) adapter reads each meter's firmware version and clock (SRV 11.2).
   A meter running firmware that is not Active on the CPL (Central Products List) fails the
   installation; transport failures are categorised and retried (``lifecycle.RetryPolicy``).
   Success makes the devices Installed Not Commissioned.
3. **Commissioning**: tested installations' devices become Commissioned and operable.

Every step is a committed, conditional state change, so a crash anywhere resumes where it
stopped and nothing is migrated twice; device testing only reads, so repeating an interrupted
test is harmless. Time comes from the injected clock.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from opendcc.catalogue import DeviceType, UserRole
from opendcc.core.clock import Clock
from opendcc.core.eui import Eui64
from opendcc.inventory.cpl import Cpl, CplStatus
from opendcc.inventory.devices import Device, InventoryStore
from opendcc.inventory.status import SmiStatus
from opendcc.migration.lifecycle import (
    TRANSITIONS,
    FailureCategory,
    InstallationState,
    RetryPolicy,
)
from opendcc.migration.records import InstallationRecord, Mode, Parsed, parse_line
from opendcc.migration.store import (
    Batch,
    Installation,
    MigrationDevice,
    MigrationStore,
    installation_row,
)
from opendcc.migration.validate import Context, Seen, validate
from opendcc.s1sp.contract import Instruction, OutcomeStatus, S1spAdapter, Sealed

LOAD_CHUNK = 5_000  # records validated and stored per transaction
RUN_CHUNK = 1_000  # installations tested per round
FIRMWARE_SRV = "11.2"  # Read Firmware Version: reaches the meter, returns version and clock

Progress = Callable[[str, int, int], None]  # (stage, done, total)

_CATEGORY_OF_STATUS = {
    OutcomeStatus.DEVICE_UNREACHABLE: FailureCategory.NO_WAN,
    OutcomeStatus.NO_RESPONSE: FailureCategory.NO_RESPONSE,
    OutcomeStatus.KEYS_MISSING: FailureCategory.MISSING_KEYS,
    OutcomeStatus.HAN_ERROR: FailureCategory.HAN_ERROR_GAS,
    OutcomeStatus.UNKNOWN_DEVICE: FailureCategory.DEVICE_MISMATCH,
    OutcomeStatus.REJECTED: FailureCategory.DEVICE_MISMATCH,
}


@dataclass(frozen=True, slots=True)
class LoadSummary:
    batch: Batch
    records: int
    accepted: int
    rejected: int
    resumed_from: int  # records already loaded by an earlier, interrupted run


@dataclass(frozen=True, slots=True)
class TestResult:
    """One installation's device test: success with each meter's readings, or a failure."""

    installation: Installation
    category: FailureCategory | None
    detail: str
    readings: Mapping[Eui64, Mapping[str, Any]]


class Migration:
    def __init__(
        self,
        engine: Engine,
        inventory: InventoryStore,
        cpl: Callable[[], Cpl],
        adapters: Mapping[str, S1spAdapter],
        clock: Clock,
        *,
        seal: Callable[[Instruction], Sealed],
        policy: RetryPolicy | None = None,
        concurrency: int = 256,
        chunk: int = RUN_CHUNK,
    ) -> None:
        self.engine = engine
        self.inventory = inventory
        self.store = MigrationStore(engine)
        self.cpl = cpl
        self.adapters = adapters
        self.seal = seal  # the DCO countersigns the DCC's own device tests too
        self.clock = clock
        self.policy = policy or RetryPolicy()
        self.concurrency = concurrency
        self.chunk = chunk

    # ------------------------------------------------------------------ 1. validate and load

    def load(
        self, path: Path, submitter: Eui64, cohorts: Iterable[str], progress: Progress | None = None
    ) -> LoadSummary:
        digest = _digest(path)
        total = _count_lines(path)
        batch = self.store.open_batch(submitter, str(path), digest, self.clock.now())
        cpl = self.cpl()
        seen = Seen()
        accepted = rejected = 0
        resumed_from = batch.loaded_records
        with path.open("rb") as lines:
            numbered = _records(lines)
            # Records loaded before a crash: only remembered, for duplicate detection.
            for parsed in itertools.islice(numbered, resumed_from):
                _remember(parsed, seen)
            done = resumed_from
            if progress:
                progress("validate", done, total)
            for chunk in _chunks(numbered, LOAD_CHUNK):
                a, r = self._load_chunk(batch, chunk, cpl, frozenset(cohorts), seen)
                accepted, rejected, done = accepted + a, rejected + r, chunk[-1].number
                if progress:
                    progress("validate", done, total)
        self.store.finish_load(batch.batch_id)
        loaded = self.store.batch(batch.batch_id)
        assert loaded is not None
        return LoadSummary(loaded, done, accepted, rejected, resumed_from)

    def _load_chunk(
        self,
        batch: Batch,
        chunk: Sequence[Parsed],
        cpl: Cpl,
        cohorts: frozenset[str],
        seen: Seen,
    ) -> tuple[int, int]:
        now = self.clock.now()
        records = [p.record for p in chunk if p.record is not None]
        enrolled = self.inventory.statuses([d.device_id for r in records for d in r.devices])
        suppliers: dict[tuple[str, UserRole], Eui64] = {}
        for role, attribute in ((UserRole.IS, "mpan"), (UserRole.GS, "mprn")):
            mpxns = [m for r in records if (m := getattr(r, attribute))]
            found = self.inventory.registrations.responsible_many(mpxns, role, now)
            suppliers.update({(mpxn, role): user for mpxn, user in found.items()})
        context = Context(batch.submitter, cpl, cohorts, enrolled, suppliers)
        rows: list[dict[str, Any]] = []
        new_devices: list[Device] = []
        again: list[Device] = []
        for parsed in chunk:
            reasons = validate(parsed, context, seen)
            record = parsed.record
            if reasons or record is None:
                rows.append(
                    installation_row(
                        batch.batch_id,
                        parsed.number,
                        InstallationState.REJECTED,
                        now,
                        installation_id=parsed.installation_id,
                        reasons=[r.as_json() for r in reasons],
                    )
                )
                continue
            scheduled = record.mode is Mode.DORMANT
            rows.append(
                installation_row(
                    batch.batch_id,
                    parsed.number,
                    InstallationState.SCHEDULED if scheduled else InstallationState.VALIDATED,
                    now,
                    installation_id=record.installation_id,
                    mode=record.mode.value,
                    cohort=record.cohort,
                    due_at=record.scheduled_for if scheduled else now,
                    devices=[
                        MigrationDevice(d.device_id, d.device_type, d.manufacturer, d.model)
                        for d in record.devices
                    ],
                )
            )
            for device in inventory_devices(record, now):
                (again if device.device_id in enrolled else new_devices).append(device)
        accepted = sum(1 for row in rows if row["state"] != InstallationState.REJECTED)
        reason = f"migration batch {batch.batch_id}"
        with self.engine.begin() as conn:
            self.inventory.add_in(conn, new_devices, now, reason)
            self.inventory.reenrol_in(conn, again, now, reason)
            self.store.store_chunk_in(conn, batch.batch_id, rows, chunk[-1].number)
        return accepted, len(rows) - accepted

    # ------------------------------------------------------------------ 2-3. test, commission

    async def run(self, batch_id: str | None = None, progress: Progress | None = None) -> int:
        """Test and commission every installation due now; returns how many were handled."""
        handled = 0
        total = await asyncio.to_thread(self.store.due_count, self.clock.now(), batch_id)
        while True:
            now = self.clock.now()
            due = await asyncio.to_thread(self.store.due, now, self.chunk, batch_id)
            if not due:
                return handled
            to_test = [i for i in due if i.state is not InstallationState.TESTED]
            tested = [i for i in due if i.state is InstallationState.TESTED]
            results = await self._test_all(to_test, await asyncio.to_thread(self.cpl))
            passed = await asyncio.to_thread(self._record_tests, results)
            await asyncio.to_thread(self._commission, tested + passed)
            handled += len(due)
            if progress:
                progress("migrate", handled, max(total, handled))

    async def _test_all(self, installations: Sequence[Installation], cpl: Cpl) -> list[TestResult]:
        limit = asyncio.Semaphore(self.concurrency)

        async def one(installation: Installation) -> TestResult:
            async with limit:
                return await self._test(installation, cpl)

        return list(await asyncio.gather(*(one(i) for i in installations)))

    async def _test(self, installation: Installation, cpl: Cpl) -> TestResult:
        adapter = self.adapters.get(installation.cohort or "")
        if adapter is None:
            return TestResult(
                installation,
                FailureCategory.NO_RESPONSE,
                f"no S1SP head-end is configured for cohort {installation.cohort}",
                {},
            )
        attempt = installation.attempts + 1
        outcomes = await asyncio.gather(
            *(
                adapter.submit(
                    self.seal(
                        Instruction(
                            f"MIG:{installation.batch_id}:{installation.record}:{attempt}:{n}",
                            FIRMWARE_SRV,
                            meter.device_id,
                        )
                    )
                )
                for n, meter in enumerate(installation.meters)
            )
        )
        readings: dict[Eui64, Mapping[str, Any]] = {}
        for meter, outcome in zip(installation.meters, outcomes, strict=True):
            if outcome.status is not OutcomeStatus.SUCCESS:
                category = _CATEGORY_OF_STATUS.get(outcome.status, FailureCategory.NO_RESPONSE)
                if category is FailureCategory.HAN_ERROR_GAS and meter.device_type is not (
                    DeviceType.GSME
                ):
                    category = FailureCategory.NO_WAN
                detail = f"{meter.device_type} {meter.device_id}: {outcome.status}"
                return TestResult(installation, category, f"{detail} {outcome.detail}", {})
            version = str(outcome.data.get("firmware_version", ""))
            status = cpl.firmware_status(meter.manufacturer, meter.model, version)
            if status is not CplStatus.ACTIVE:
                return TestResult(
                    installation,
                    FailureCategory.FIRMWARE_NOT_ON_CPL,
                    f"{meter.device_type} {meter.device_id} runs firmware {version!r},"
                    f" {'not on the CPL' if status is None else status}",
                    {},
                )
            readings[meter.device_id] = outcome.data
        return TestResult(installation, None, "", readings)

    def _record_tests(self, results: Sequence[TestResult]) -> list[Installation]:
        """Commit a round of device tests in one transaction; returns those now tested.

        Installations move one by one (conditionally); their devices move together, one
        status change per target for the whole round."""
        now = self.clock.now()
        passed: list[Installation] = []
        tested_devices: list[Eui64] = []
        firmware: dict[Eui64, str] = {}
        withdrawn: dict[FailureCategory, list[Eui64]] = {}
        with self.engine.begin() as conn:
            for result in results:
                installation = result.installation
                attempts = installation.attempts + 1
                ids = [d.device_id for d in installation.devices]
                if result.category is None:
                    notes = [_note(device, data, now) for device, data in result.readings.items()]
                    if self.store.move_in(
                        conn,
                        installation,
                        InstallationState.TESTED,
                        now,
                        attempts=attempts,
                        due_at=now,
                        category=None,
                        reasons=notes,
                    ):
                        tested_devices += ids
                        for device_id, data in result.readings.items():
                            if version := data.get("firmware_version"):
                                firmware[device_id] = str(version)
                        passed.append(_moved(installation, InstallationState.TESTED, attempts))
                    continue
                target, category, due_at = self.policy.after_failure(result.category, attempts, now)
                detail = result.detail
                if category is FailureCategory.TOO_MANY_ATTEMPTS:
                    detail = f"{attempts} attempts; last: {result.category}: {detail}"
                moved = self.store.move_in(
                    conn,
                    installation,
                    target,
                    now,
                    attempts=attempts,
                    due_at=due_at,
                    category=category.value,
                    reasons=[{"code": category.value, "detail": detail}],
                )
                if moved and target is InstallationState.FAILED:
                    withdrawn.setdefault(category, []).extend(ids)
            self.inventory.transition_in(
                conn, tested_devices, SmiStatus.INSTALLED_NOT_COMMISSIONED, now, "device tested"
            )
            self.inventory.set_firmware_in(conn, firmware)
            for category, ids in withdrawn.items():
                self.inventory.transition_in(
                    conn, ids, SmiStatus.WITHDRAWN, now, f"migration failed: {category}"
                )
        return passed

    def _commission(self, installations: Sequence[Installation]) -> None:
        if not installations:
            return
        now = self.clock.now()
        ids: list[Eui64] = []
        with self.engine.begin() as conn:
            for installation in installations:
                if self.store.move_in(
                    conn, installation, InstallationState.COMMISSIONED, now, due_at=None
                ):
                    ids += [d.device_id for d in installation.devices]
            batches = sorted({i.batch_id for i in installations})
            self.inventory.transition_in(
                conn,
                ids,
                SmiStatus.COMMISSIONED,
                now,
                f"commissioned by migration batch {', '.join(batches)}",
            )

    # ------------------------------------------------------------------ withdrawal

    def withdraw(self, installation_id: str, reason: str) -> list[Eui64]:
        """Withdraw an installation: its devices become Withdrawn (history kept) and can no
        longer be operated. Returns the devices withdrawn."""
        now = self.clock.now()
        devices = [
            d
            for d in self.inventory.of_installation(installation_id)
            if d.smi_status is not SmiStatus.WITHDRAWN
        ]
        installations = self.store.by_installation_id(installation_id)
        with self.engine.begin() as conn:
            for installation in installations:
                if InstallationState.WITHDRAWN in TRANSITIONS[installation.state]:
                    self.store.move_in(
                        conn, installation, InstallationState.WITHDRAWN, now, due_at=None
                    )
            ids = [d.device_id for d in devices]
            if ids:
                self.inventory.transition_in(conn, ids, SmiStatus.WITHDRAWN, now, reason)
        return [d.device_id for d in devices]


def inventory_devices(record: InstallationRecord, now: datetime) -> list[Device]:
    """The devices of an accepted installation as they enter the inventory (Pending)."""
    hubs = record.of_type(DeviceType.CHF)
    proxies = record.of_type(DeviceType.GPF)
    hub = hubs[0].device_id if hubs else None
    proxy = proxies[0].device_id if proxies else None
    gas_side = (DeviceType.GSME, DeviceType.GPF)
    devices = []
    for d in record.devices:
        mpxn = record.mprn if d.device_type in gas_side else (record.mpan or record.mprn)
        devices.append(
            Device(
                d.device_id,
                d.device_type,
                SmiStatus.PENDING,
                d.manufacturer,
                d.model,
                record.cohort,
                mpxn,
                d.firmware_version,
                hardware_version=d.hardware_version,
                serial_number=d.serial_number,
                comms_hub_id=None if d.device_type is DeviceType.CHF else hub,
                gas_proxy_id=proxy if d.device_type is DeviceType.GSME else None,
                installation_id=record.installation_id,
                status_since=now,
            )
        )
    return devices


def _note(device: Eui64, data: Mapping[str, Any], now: datetime) -> dict[str, str]:
    clock = data.get("device_time")
    offset = (
        f", clock {(clock - now).total_seconds():+.1f} s" if isinstance(clock, datetime) else ""
    )
    return {
        "code": "device_tested",
        "detail": f"{device}: firmware {data.get('firmware_version')}{offset}",
    }


def _moved(installation: Installation, state: InstallationState, attempts: int) -> Installation:
    return replace(installation, state=state, attempts=attempts)


def _records(lines: Iterable[bytes]) -> Iterator[Parsed]:
    number = 0
    for line in lines:
        if not line.strip():
            continue
        number += 1
        yield parse_line(number, line)


def _remember(parsed: Parsed, seen: Seen) -> None:
    if parsed.installation_id is not None:
        seen.installations.add(parsed.installation_id)
    if parsed.record is not None:
        seen.devices.update(d.device_id.value for d in parsed.record.devices)


def _chunks(items: Iterator[Parsed], size: int) -> Iterator[list[Parsed]]:
    while chunk := list(itertools.islice(items, size)):
        yield chunk


def _digest(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            sha.update(block)
    return sha.hexdigest()


def _count_lines(path: Path) -> int:
    with path.open("rb") as f:
        return sum(1 for line in f if line.strip())
