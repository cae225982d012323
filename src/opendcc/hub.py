"""The composition root: every room wired together from one configuration.

``Hub`` builds the store, the Users registry, the inventory, access control, the front door,
the DCO, the S1SP adapters, the queue (the embedded job table, or RabbitMQ in scale mode), the
worker pool and the outbox deliverer. ``start`` runs what the process's ``roles`` ask for (all
of it in a single process, which first resumes the work a previous process left) and ``stop``
winds it down. The gateway serves ``hub.front_door`` over HTTP (``opendcc.gateway.app``); the
process kinds that run a hub are in ``opendcc.processes``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from enum import Enum

from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import Engine, delete

from opendcc.alerts.codes import DccEvent
from opendcc.alerts.intake import AlertIntake, AlertRouter, Received
from opendcc.alerts.messages import AlertSigner
from opendcc.alerts.store import AlertRecord, FirmwareWatch, Subscriptions
from opendcc.alerts.throttle import Throttle
from opendcc.catalogue import default_catalogue
from opendcc.catalogue.srv import FutureDatedPattern
from opendcc.config import ConfigError, HubConfig
from opendcc.core.clock import Clock, SystemClock
from opendcc.core.errors import ResponseCode
from opendcc.core.eui import Eui64
from opendcc.dco import DcoRejected, DualControl
from opendcc.dsp.access import ENDPOINT_OF_CV, AccessControl, AccessDenied, Granted
from opendcc.dsp.anomaly import AnomalyDetector
from opendcc.dsp.commissioning import COMMISSION_DEVICE, Commissioning
from opendcc.dsp.credentials import CredentialChecks
from opendcc.dsp.frontdoor import FrontDoor
from opendcc.dsp.future import FutureDated
from opendcc.dsp.instruct import Instructions
from opendcc.dsp.inventory_read import InventoryReader
from opendcc.dsp.notices import S1spNotices
from opendcc.dsp.offering import entry as offering_entry
from opendcc.dsp.offering import not_applicable_reason
from opendcc.dsp.restricted import PolicyError, RestrictedGate, RestrictedPolicy
from opendcc.dsp.route import Dispatcher
from opendcc.dsp.smi_updates import SmiUpdates
from opendcc.dsp.stepfacts import StepFacts
from opendcc.duis.request import ServiceRequest
from opendcc.duis.schema import load_schema
from opendcc.firmware import Firmware, FirmwareLibrary
from opendcc.inventory import CplStore, Device, InventoryStore
from opendcc.inventory.restriction import Restriction, Restrictions
from opendcc.migration.lifecycle import RetryPolicy
from opendcc.migration.pipeline import Migration
from opendcc.prepayment.keys import CohortKeys
from opendcc.prepayment.service import PRIORITY, TOP_UP, TopUps
from opendcc.processes import wake
from opendcc.processes.wake import Wakes
from opendcc.queue.broker import BrokerQueue, Lane
from opendcc.queue.jobs import JobQueue
from opendcc.queue.outbox import Deliverer, Message, Outbox
from opendcc.queue.worker import WorkerPool
from opendcc.s1sp import services
from opendcc.s1sp.cohorts import register_all
from opendcc.s1sp.contract import (
    AdapterOptions,
    DeviceAlert,
    Instruction,
    Outcome,
    OutcomeStatus,
    Registry,
    S1spAdapter,
)
from opendcc.schedules import Schedules
from opendcc.service.liveness import Heartbeats
from opendcc.smki.certificates import gbcs_signing_keys
from opendcc.smki.lookup import FirstOf
from opendcc.smki.trust import TrustStore
from opendcc.store import create_engine_for, upgrade
from opendcc.store.audit import AuditLog, AuditRecord, digest
from opendcc.store.group import GroupCommit
from opendcc.store.requests import RequestStore
from opendcc.store.s1sp_log import S1spLog
from opendcc.store.tables import registrations
from opendcc.store.users import UserStore

log = logging.getLogger(__name__)

REGISTRY_CACHE_SECONDS = 1.0
FIRMWARE_FAILED, FIRMWARE_ACTIVATED = 0x8F1C, 0x8F1D
# Blocking work (SQLite commits, signatures) runs in threads; commits mostly wait on fsync.
THREADS = 32


class Role(Enum):
    """What a process of the hub does (``opendcc.processes``); a single process does all."""

    GATEWAY = "gateway"  # the HTTP front door (DUIS, UTRN service, admin API)
    WORKER = "worker"  # claims jobs and carries them through dsp.route to the head-ends
    DELIVERER = "deliverer"  # the outbox to Users' callbacks
    # Time- and alert-driven work: head-ends' alerts, S1SP notices, future-dated time-outs,
    # one-step top-ups' resumption, firmware distribution, DCC schedules' runs.
    SCHEDULER = "scheduler"


ALL_ROLES = frozenset(Role)
# The loops a heartbeat vouches for (task name -> the service status's component).
_BEATS_FOR = {"workers": "workers", "one-step top-ups": "utrn", "deliverer": "deliverer"}


class Hub:
    def __init__(  # noqa: PLR0915 (the composition root: one line a room)
        self,
        config: HubConfig,
        clock: Clock | None = None,
        *,
        alerts: bool = True,
        roles: frozenset[Role] | None = None,
    ) -> None:
        """``alerts``: False for a process that only makes DCC schedules' runs
        (``start_schedules``): its adapters leave the head-ends' alerts to the hub.
        ``roles``: what this process does beside others (None: everything, alone); only the
        scheduler takes the head-ends' alerts."""
        self.config = config
        self.roles = roles
        self.takes_alerts = alerts and (roles is None or Role.SCHEDULER in roles)
        self.clock = clock or SystemClock()
        self.engine = create_engine_for(config.database_url)
        upgrade(self.engine)
        # Registry reads are cached briefly: a change from another process (the CLI) takes
        # effect within REGISTRY_CACHE_SECONDS.
        self.users = UserStore(self.engine, REGISTRY_CACHE_SECONDS)
        self.inventory = InventoryStore(self.engine, REGISTRY_CACHE_SECONDS)
        self.cpl = CplStore(self.engine)
        self.requests = RequestStore(self.engine)
        # One writer thread groups the hot path's commits (accepts, audit records, a request's
        # instruction and outcome): one transaction and fsync for whatever is waiting.
        self.group = GroupCommit(self.engine)
        # The chain head is cached only when this is the one process writing to the database.
        shared = (
            roles is not None or self.engine.dialect.name != "sqlite" or not config.schedules.in_hub
        )
        self.audit = AuditLog(self.engine, self.group, shared=shared)
        self.group.on_rollback = self.audit.forget_head
        running = config.processes
        # Several processes: work made in one is found by polling in another.
        poll = running.poll_s if roles is not None else 0.2
        self.jobs = _job_queue(self.engine, config)
        self.outbox = Outbox(self.engine, self.requests, config.delivery)
        self.jobs.group = self.outbox.group = self.group  # claims and deliveries join batches
        repository = (
            TrustStore.from_directory(config.smki_repository)
            if config.smki_repository
            else TrustStore()
        )
        self.certificates = FirstOf(self.users, repository)
        # What a User asks a device to trust is checked against the repository first.
        self.credential_checks = CredentialChecks(self.clock, repository, self.inventory)
        self.catalogue = default_catalogue()
        # A device's registry facts in one read: cached briefly for the front door's check,
        # always fresh for the worker's re-checks (the route's and the DCO's, one read shared
        # by both in a dispatch step: opendcc.dsp.stepfacts): see docs/access-control.md.
        self.facts = self.inventory.facts
        self.access = AccessControl(self.catalogue, self.users, self.inventory, self.facts.cached)
        self.step_facts = StepFacts(self.facts.fresh, self.facts.fresh_many)
        self.recheck = self.access.with_facts(self.step_facts)
        self.registry = register_all(Registry())
        self.smi_updates = SmiUpdates(self.engine, self.inventory, self.registry.profiles())
        self._cohort_keys: dict[str, CohortKeys] = {}
        self.s1sp_log = S1spLog(self.engine)
        self.instructions = Instructions(self._gbcs_signers)
        self.dco = DualControl(
            config.dsp_credentials.info, self.certificates, self._authorise, self.instructions.read
        )
        self.restrictions = Restrictions(self.engine, self.inventory, REGISTRY_CACHE_SECONDS)
        try:
            self.restricted_policy = RestrictedPolicy.build(
                self.catalogue, config.restricted_allowed
            )
        except PolicyError as exc:
            raise ConfigError(str(exc)) from exc
        self.restricted_gate = RestrictedGate(
            self.restricted_policy, self.restrictions.is_restricted
        )
        self.signer = AlertSigner(config.dsp_credentials, config.s1sp_credentials)
        self.subscriptions = Subscriptions(self.engine, REGISTRY_CACHE_SECONDS)
        self.firmware_watch = FirmwareWatch(self.engine, config.firmware_watch_failures)
        self.alert_record = AlertRecord(self.engine)
        self.alert_router = AlertRouter(
            engine=self.engine,
            clock=self.clock,
            inventory=self.inventory,
            callback_of=self._callback_of,
            restricted_among=self.restrictions.restricted_among,
            subscriptions=self.subscriptions,
            signer=self.signer,
            watch=self.firmware_watch,
            throttle=Throttle(config.storm),
        )
        self.prepayment = TopUps(
            engine=self.engine,
            clock=self.clock,
            inventory=self.inventory,
            profiles={p.name: p for p in self.registry.profiles()},
            keys=self._utrn_keys,
            submit=self._submit,
        )
        self.adapters: dict[str, S1spAdapter] = {
            h.cohort: self.registry.adapter_for(h.cohort, h.endpoint, self._options(h.cohort))
            for h in config.headends
        }
        self._loop: asyncio.AbstractEventLoop | None = None
        self.deliverer = Deliverer(
            self.outbox,
            self.clock,
            poll=poll,
            retain=config.delivered_retention,
            # The only deliverer of its outbox (no schedules runners, not scale mode): its
            # claims need no lease (``queue.outbox``).
            sole=config.schedules.in_hub and config.broker_url is None,
        )
        self.alert_intake = AlertIntake(
            self.alert_router,
            then=self._after_alert,
            on_queued=self._outbox_made,
        )
        self.firmware_library = FirmwareLibrary(self.engine, self.cpl)
        self.firmware = Firmware(
            engine=self.engine,
            clock=self.clock,
            inventory=self.inventory,
            cpl=self.cpl,
            library=self.firmware_library,
            check_device=self._check_firmware_device,
            submit=self._submit,
            dsp=config.dsp_credentials,
            signer=self.signer,
            callback_of=self._callback_of,
            settings=config.firmware,
            profiles={p.name: p for p in self.registry.profiles()},
            on_outbox=self._outbox_made,
        )
        self.schedules = Schedules(
            engine=self.engine,
            clock=self.clock,
            catalogue=self.catalogue,
            authorise=self._authorise_for,
            submit=self._submit,
            dsp=config.dsp_credentials,
            s1sp=config.s1sp_credentials,
            signer=self.signer,
            callback_of=self._callback_of,
            settings=config.schedules,
            on_outbox=self._outbox_made,
            interactive_busy=lambda: self.workers.busy(),  # noqa: PLW0108 - built below
            prefetch=self._prefetch,
        )
        self.future = FutureDated(
            engine=self.engine,
            clock=self.clock,
            requests=self.requests,
            jobs=self.jobs,
            users=self.users,
            inventory=self.inventory,
            dsp=config.dsp_credentials,
            s1sp=config.s1sp_credentials,
            submit=self._submit,
            grace=config.future_dated_grace,
            on_outbox=self._outbox_made,
            on_jobs=self._accepted,
        )
        self.notices = S1spNotices(self.engine, self.clock, self._submit)
        self.dispatcher = Dispatcher(
            engine=self.engine,
            clock=self.clock,
            requests=self.requests,
            inventory=self.inventory,
            users=self.users,
            jobs=self.jobs,
            dsp=config.dsp_credentials,
            s1sp=config.s1sp_credentials,
            dco=self.dco,
            adapters=self.adapters,
            smets_data=lambda srv, outcome: services.response_element(srv, outcome.data),
            instructions=self.instructions,
            on_outbox=self._outbox_made,
            on_security=self._security_alert,
            settlements={
                TOP_UP: self.prepayment,
                COMMISSION_DEVICE: Commissioning(self.inventory, self.clock),
            },
            command_alert=self._command_alert,
            restricted=lambda request, flag: self.restricted_gate.refusal(
                request.request_id.target, request.srv, flag
            ),
            facts=self.step_facts,
            grace=config.future_dated_grace,
            cancel_like=self.future.cancel_like,
            group=self.group,
        )
        self.workers = WorkerPool(
            self.jobs,
            self.dispatcher.process,
            self.clock,
            concurrency=config.workers,
            reserved=config.priority_workers,
            urgent=PRIORITY[TOP_UP],
            poll=poll,
            heartbeat=running.lease.total_seconds() / 3,
            process_loaded=self.dispatcher.process,
            prepare_loaded=self.dispatcher.prepared,
        )
        self.front_door = FrontDoor(
            engine=self.engine,
            clock=self.clock,
            catalogue=self.catalogue,
            certificates=self.certificates,
            access=self.access,
            requests=self.requests,
            inventory=InventoryReader(
                self.inventory,
                self.cpl.snapshot,
                {p.name: p.s1sp or p.manufacturer for p in self.registry.profiles()},
                restricted_since=self._restricted_since,
            ),
            jobs=self.jobs,
            audit=self.audit,
            dsp=config.dsp_credentials,
            supports=self._supports,
            instructions=self.instructions,
            schema=load_schema(config.xsd) if config.xsd else None,
            anomaly=AnomalyDetector(),
            on_accepted=self._accepted,
            on_alert=self._outbox_made,
            vet=self._vet,
            priority=lambda srv: PRIORITY.get(srv, 0),
            restricted=self.restricted_gate,
            device_dates=self._device_dates,
            non_device={
                **self.firmware.handlers(),
                **self.schedules.handlers(),
                **self.smi_updates.handlers(),
            },
            group=self.group,
        )
        self._tasks: list[asyncio.Task[None]] = []
        self.heartbeats = Heartbeats(self.engine)
        # ``opendcc serve``'s wake-ups across its processes (``processes.wake``), set by the
        # process's main before ``start``; None: polls alone find other processes' work.
        self.wakes: Wakes | None = None

    # ------------------------------------------------------------------ configuration

    def seed(self, now: datetime | None = None) -> None:
        """Load the configuration's Users (those not yet registered), devices and registration
        data into the store."""
        now = now or self.clock.now()
        for user in self.config.users:
            if self.users.get(user.user_id) is None:
                self.users.put(user, now)
        self.inventory.put_devices(self.config.devices, now)
        mpxns = {r.mpxn for r in self.config.registrations}
        if mpxns:
            with self.engine.begin() as conn:
                conn.execute(delete(registrations).where(registrations.c.mpxn.in_(mpxns)))
        self.inventory.register(self.config.registrations)
        if self.config.cpl is not None:
            self.cpl.load_file(self.config.cpl)

    def migration(self) -> Migration:
        """The migration pipeline over this hub's store and S1SP adapters."""
        settings = self.config.migration
        policy = RetryPolicy(
            settings.max_attempts,
            tuple(timedelta(minutes=m) for m in settings.retry_delays_minutes),
        )
        return Migration(
            self.engine,
            self.inventory,
            self.cpl.snapshot,
            self.adapters,
            self.clock,
            seal=self.dco.seal,
            policy=policy,
            concurrency=settings.concurrency,
            chunk=settings.chunk,
        )

    # ------------------------------------------------------------------ running

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop.set_default_executor(ThreadPoolExecutor(THREADS, thread_name_prefix="hub"))
        roles = ALL_ROLES if self.roles is None else self.roles
        if self.roles is None:
            await self._resume()
        if Role.SCHEDULER in roles:
            # Alerts flow from the start, not from each head-end's first instruction.
            await asyncio.gather(
                *(a.listen() for a in self.adapters.values()), return_exceptions=True
            )
        self._tasks = []
        if self.wakes is not None:  # the poll becomes the safety net for a lost wake-up
            woken_poll = self.config.processes.woken_poll_s
            if Role.WORKER in roles and self.wakes.listen(wake.JOBS, self.workers.wake):
                self.workers.poll = woken_poll
            if Role.DELIVERER in roles and self.wakes.listen(wake.OUTBOX, self.deliverer.wake):
                self.deliverer.poll = woken_poll
        if isinstance(self.jobs, BrokerQueue) and roles & {Role.GATEWAY, Role.WORKER}:
            self._tasks.append(
                asyncio.create_task(self._broker(self.jobs, Role.WORKER in roles), name="broker")
            )
        if Role.WORKER in roles:
            self._tasks.append(asyncio.create_task(self.workers.run(), name="workers"))
        if Role.DELIVERER in roles:
            self._tasks.append(asyncio.create_task(self.deliverer.run(), name="deliverer"))
        if Role.SCHEDULER in roles:
            self._tasks += [
                asyncio.create_task(self.prepayment.run(), name="one-step top-ups"),
                asyncio.create_task(self.alert_intake.run(), name="alert intake"),
                asyncio.create_task(self.notices.run(), name="S1SP notices"),
                asyncio.create_task(self.future.run(), name="future-dated"),
                asyncio.create_task(self.firmware.run(), name="firmware distribution"),
            ]
            if self.config.schedules.in_hub:
                self._tasks.append(asyncio.create_task(self.schedules.run(), name="DCC schedules"))
            else:
                log.info("DCC schedules' runs are left to runner processes (opendcc schedules run)")
        # The first beat before anything looks (the monitor may run in this very process).
        try:
            await asyncio.to_thread(self._beat, roles)
        except Exception as exc:
            log.warning("heartbeat not written: %s", exc)
        self._tasks.append(asyncio.create_task(self._beating(roles), name="heartbeat"))

    def _beat(self, roles: frozenset[Role]) -> None:
        """This process's heartbeat: its roles and the components whose loops are alive."""
        alive = {
            _BEATS_FOR[t.get_name()]
            for t in self._tasks
            if t.get_name() in _BEATS_FOR and not t.done()
        }
        if Role.GATEWAY in roles:
            alive.add("gateway")  # this loop beats, so the process serves
        self.heartbeats.beat((r.value for r in roles), alive, self.clock.now())

    async def _beating(self, roles: frozenset[Role]) -> None:
        while True:
            await asyncio.sleep(self.heartbeats.interval)
            try:
                await asyncio.to_thread(self._beat, roles)
            except Exception as exc:  # the database away: the monitor sees it as such
                log.warning("heartbeat not written: %s", exc)

    async def _resume(self) -> None:
        """A single process is the only worker, so every lease is a dead one. Runner processes
        (``[schedules] in_hub = false``) deliver their runs' Responses themselves: the outbox's
        leases may be theirs, live, so they are left to run out (a few seconds)."""
        resumed = await asyncio.to_thread(self.release_leases)
        pending = await asyncio.to_thread(self.jobs.pending)
        undelivered = await asyncio.to_thread(self.outbox.undelivered)
        unrouted = await asyncio.to_thread(self.alert_intake.store.pending)
        log.info(
            "resuming %d jobs (%d were leased), %d messages, %d alerts taken but not routed",
            pending,
            resumed,
            undelivered,
            unrouted,
        )

    def release_leases(self) -> int:
        """Free the leases of jobs and outbox messages: only when no other process of this hub
        runs (a single process's start; ``opendcc serve`` before it starts its children)."""
        resumed = self.jobs.release_all()
        if self.config.schedules.in_hub:
            self.outbox.release_all()
        return resumed

    async def _broker(self, queue: BrokerQueue, consume: bool) -> None:
        """Scale mode: connect to the broker (consuming the lanes in a worker), then publish
        due jobs and sweep for those a dead consumer left."""
        queue.on_message = self.workers.wake.set  # called on this loop
        await queue.start(consume=consume)
        await queue.run_publisher(self.clock)

    def _accepted(self) -> None:
        """After a commit that made a job, or freed one to run (the sequencing sweep): the
        workers look now (and the publisher, in scale mode, publishes it)."""
        self._wake(self.workers.wake, wake.JOBS)
        if isinstance(self.jobs, BrokerQueue):
            self._wake(self.jobs.wake)

    async def start_schedules(self) -> None:
        """Run only the DCC schedules' runs and the delivery of their Responses: a runner
        process of its own (``opendcc schedules run``), beside a hub configured with
        ``[schedules] in_hub = false``. Any number may run: each run leases its schedule."""
        self._loop = asyncio.get_running_loop()
        self._loop.set_default_executor(ThreadPoolExecutor(THREADS, thread_name_prefix="runner"))
        self._tasks = [
            asyncio.create_task(self.deliverer.run(), name="deliverer"),
            asyncio.create_task(self.schedules.run(), name="DCC schedules"),
        ]

    async def stop(self) -> None:
        # Cancel until every loop has ended: before Python 3.12, ``asyncio.wait_for`` can swallow
        # a cancellation that arrives as the event it waits on is set.
        pending = set(self._tasks)
        while pending:
            for task in pending:
                task.cancel()
            _, pending = await asyncio.wait(pending, timeout=1.0)
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.workers.drain()
        if self.wakes is not None:
            self.wakes.close()
        if self._tasks:
            try:  # a clean stop: this process's row goes rather than going stale
                await asyncio.to_thread(self.heartbeats.leave)
            except Exception as exc:
                log.warning("heartbeat row not removed: %s", exc)
        if isinstance(self.jobs, BrokerQueue):
            await self.jobs.close()
        await asyncio.to_thread(self.group.close)  # commits what is queued first
        for adapter in self.adapters.values():
            await adapter.aclose()
        self.engine.dispose()

    def _outbox_made(self) -> None:
        """After a commit that put messages in the outbox: the deliverer looks now."""
        self._wake(self.deliverer.wake, wake.OUTBOX)

    def _wake(self, event: asyncio.Event, kind: str | None = None) -> None:
        """Set ``event`` (this process's loop) and, when ``kind`` is given, ring that kind's
        bell for the other processes (``processes.wake``); callable from any thread."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._woken, event, kind)

    def _woken(self, event: asyncio.Event, kind: str | None) -> None:
        event.set()
        if kind is not None and self.wakes is not None:
            self.wakes.ring(kind)

    # ------------------------------------------------------------------ callbacks

    def _supports(self, granted: Granted) -> str | None:
        device = granted.device
        assert device is not None
        srv = granted.srv
        if not srv.smets1_supported:
            return f"SRV {srv.srv} ({srv.name}) is not applicable: {not_applicable_reason(srv)}"
        if device.cohort is None or device.cohort not in self.adapters:
            return f"no S1SP head-end is configured for device {device.device_id}"
        entry = offering_entry(srv, self.registry.profile(device.cohort))
        if not entry.offer.offered:
            return f"the device's S1SP does not offer SRV {srv.srv}: {entry.reason}"
        return None

    def _device_dates(self, granted: Granted) -> bool:
        """Whether the device's head-end holds this future-dated request until its time (the
        SRV's pattern is Device and the cohort dates commands on the device)."""
        device = granted.device
        pattern = granted.srv.future_dated_pattern
        if device is None or device.cohort is None or device.cohort not in self.registry:
            return False
        on_device = pattern in (FutureDatedPattern.DEVICE, FutureDatedPattern.DSP_AND_DEVICE)
        return on_device and self.registry.profile(device.cohort).device_future_dating

    def _after_alert(self, item: Received) -> None:
        """After an alert's commit: keypad top-ups reconciled, future-dated outcomes taken,
        firmware activations recorded in the inventory."""
        alert = item.alert
        self.prepayment.reconcile(alert)
        self.future.executed(alert)
        if alert.code == FIRMWARE_ACTIVATED:
            version = alert.values.get("version")
            self.firmware.activated(
                alert.device_id, self.clock.now(), version=str(version) if version else None
            )
        elif alert.code == FIRMWARE_FAILED:
            detail = f"firmware verification failed: {dict(alert.values)}"[:250]
            self.firmware.failed_activation(alert.device_id, self.clock.now(), detail)

    def _vet(self, instruction: Instruction) -> None:
        self.prepayment.vet(instruction)
        self.firmware.vet(instruction)
        self.credential_checks.vet(instruction)

    def _check_firmware_device(self, user: Eui64, device_id: Eui64, now: datetime) -> Device:
        """Whether ``user`` may update the firmware of ``device_id`` now (11.1, per device)."""
        return self._authorise_for(user, "11.3", device_id, now)

    def _prefetch(self, device_ids: Sequence[Eui64]) -> None:
        """Load what ``_authorise_for`` looks up for these devices, in a few queries."""
        self.inventory.prefetch(device_ids)
        self.facts.prefetch(device_ids)  # access control's reads, the restriction flag's too

    def _authorise_for(self, user: Eui64, srv: str, device_id: Eui64, now: datetime) -> Device:
        """Whether ``user`` may have ``srv`` carried out on ``device_id`` now, as if it sent the
        request itself: access control, the S1SP offers it (E11), restricted mode (E71). For
        work the DCC does on a User's behalf: a schedule's runs, a firmware update's devices."""
        granted = self.access.check_device(user, srv, device_id, now)
        assert granted.device is not None
        if (why := self._supports(granted)) is not None:
            raise AccessDenied(ResponseCode.SRV_NOT_FOR_DEVICE_TYPE, why)
        self.restricted_gate(granted)
        return granted.device

    def _gbcs_signers(self, user_id: Eui64) -> tuple[ec.EllipticCurvePublicKey, ...]:
        """The User's GBCS signing keys: its registered SMKI Organisation certificates."""
        user = self.users.get(user_id)
        return gbcs_signing_keys(user.certificates) if user is not None else ()

    def _authorise(self, request: ServiceRequest, now: datetime) -> None:
        """The DCO's re-check: its own read of the device's facts, never a cached one."""
        self.recheck.check(request, ENDPOINT_OF_CV[request.command_variant], now)

    def _options(self, cohort: str) -> AdapterOptions:
        def late(instruction: Instruction, outcome: Outcome) -> None:
            self.s1sp_log.late_reply(cohort, outcome, self.clock.now())

        def alert(device_alert: DeviceAlert) -> asyncio.Future[None]:
            return self.alert_intake.receive(cohort, device_alert)

        return AdapterOptions(
            dco_key=self.dco.public_key,
            on_alert=alert,
            on_late=late,
            time_scale=self.config.response_time_scale,
            alerts=self.takes_alerts,
        )

    def restrict(
        self, meter_id: Eui64, *, restricted: bool, by: Eui64, reason: str
    ) -> list[Restriction]:
        """Set or clear restricted mode on a meter as supplier ``by``; the S1SP is told."""
        changed = self.restrictions.change(
            meter_id, restricted=restricted, by=by, reason=reason, now=self.clock.now()
        )
        self._wake(self.notices.wake)
        return changed

    def _restricted_since(self, device_id: Eui64) -> datetime | None:
        restriction = self.restrictions.of(device_id)
        return restriction.since if restriction is not None and restriction.restricted else None

    def _callback_of(self, user_id: Eui64) -> str | None:
        user = self.users.get(user_id)
        return user.callback_url if user is not None and user.active else None

    def _command_alert(self, request: ServiceRequest, event: DccEvent, url: str) -> Message:
        return self.signer.command_failure(event, request.request_id, url, self.clock.now())

    def _utrn_keys(self, cohort: str) -> CohortKeys:
        keys = self._cohort_keys.get(cohort)
        if keys is None:
            keys = self._cohort_keys[cohort] = CohortKeys(cohort, self.config.utrn_key_seed)
        return keys

    async def _submit(self, cohort: str, instruction: Instruction) -> Outcome:
        """The DCC's own instruction (a one-step top-up): sealed, then carried by the S1SP."""
        adapter = self.adapters.get(cohort)
        if adapter is None:
            return Outcome(
                instruction.request_id, OutcomeStatus.DEVICE_UNREACHABLE, detail="no head-end"
            )
        return await adapter.submit(self.dco.seal(instruction))

    def _security_alert(self, request: ServiceRequest, exc: DcoRejected) -> None:
        """A DCO refusal: logged and kept in the audit trail as a security alert."""
        rid = request.request_id
        log.warning("SECURITY ALERT: the DCO refused %s: %s", rid, exc)
        self.audit.record(
            AuditRecord(
                self.clock.now(),
                "dco",
                (exc.code or ResponseCode.NOT_RESPONSIBLE_PARTY).value,
                f"security alert: DCO refused the instruction ({exc.reason}): {exc}"[:500],
                digest(self.requests.document(rid)),
                str(rid),
                str(rid.originator),
                request.srv,
            )
        )


def _job_queue(engine: Engine, config: HubConfig) -> JobQueue:
    """The embedded job table, or in scale mode the same calls with RabbitMQ carrying the jobs."""
    running = config.processes
    if not config.broker_url:
        return JobQueue(engine, running.lease)
    return BrokerQueue(
        engine,
        config.broker_url,
        lease=running.lease,
        redeliver_after=running.redeliver_after,
        urgent=PRIORITY[TOP_UP],
        prefetch={
            Lane.TOP_UPS: max(config.priority_workers, 1),
            Lane.INTERACTIVE: max(config.workers, 1),
            Lane.BULK: max(config.workers // 4, 1),
        },
        prefix=config.broker_prefix,
        sweep_s=running.sweep_s,
    )
