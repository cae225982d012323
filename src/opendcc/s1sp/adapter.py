"""What every cohort's adapter does the same way, whatever its wire protocol.

``CohortAdapter.submit`` takes a sealed instruction and, in order:

1. refuses it (``NotCountersigned``) unless the DCO's seal verifies with the DCO's key;
2. refuses an SRV the cohort does not offer (``UnsupportedService``);
3. answers a RequestID it has finished from memory, and joins one still under way (a RequestID
   reused for another instruction is a ``ConflictingInstruction``);
4. has the protocol carry it (``_carry``), no longer than the SRV's target response time. No
   outcome by then is answered NO_RESPONSE (DUIS E21); the carrying goes on for a grace period,
   and a reply that arrives late is handed to ``on_late`` (recorded, never delivered again).

Final outcomes (SUCCESS, REJECTED, UNKNOWN_DEVICE) are remembered; transport failures are not,
so a redelivered instruction is tried again, and the head-end answers a repeated RequestID from
its own memory without acting twice. Subclasses implement ``_carry``, ``health`` and ``_close``
and turn their transport's failures into outcomes; only the caller's mistakes raise.

Every wire protocol names its outcome codes as ``OutcomeStatus`` does: ``statuses_by_name``
reads a protocol's codes as outcomes, and ``codes_by_name`` (for the simulated head-ends)
writes outcomes as a protocol's codes.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from enum import Enum
from typing import TypeVar

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from opendcc.s1sp.contract import (
    AdapterOptions,
    CohortProfile,
    ConflictingInstruction,
    DeviceAlert,
    Endpoint,
    Instruction,
    NotCountersigned,
    Outcome,
    OutcomeStatus,
    Sealed,
    UnsupportedService,
)
from opendcc.s1sp.services import DEFAULT_RESPONSE_TIME_S, SERVICES

log = logging.getLogger(__name__)

FINAL = frozenset({OutcomeStatus.SUCCESS, OutcomeStatus.REJECTED, OutcomeStatus.UNKNOWN_DEVICE})
LATE_GRACE = 4.0  # a late reply is still awaited for this many times the target
_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())  # made once: every seal checked takes it

Code = TypeVar("Code", bound=Enum)


def statuses_by_name(codes: Iterable[Code]) -> dict[Code, OutcomeStatus]:
    """Each of a protocol's outcome ``codes`` as the ``OutcomeStatus`` of the same name; a code
    with no namesake is left out."""
    statuses = OutcomeStatus.__members__
    return {code: statuses[code.name] for code in codes if code.name in statuses}


def codes_by_name(
    codes: type[Code], unlike: Mapping[OutcomeStatus, Code] | None = None
) -> dict[OutcomeStatus, Code]:
    """Each ``OutcomeStatus`` as the protocol's code of the same name, or as ``unlike`` says; a
    status with neither is left out."""
    named = {
        status: codes[status.name] for status in OutcomeStatus if status.name in codes.__members__
    }
    return {**named, **(unlike or {})}


def response_time_s(srv: str, options: AdapterOptions) -> float:
    """The target response time of ``srv``, scaled by the options."""
    service = SERVICES.get(srv)
    target = service.response_time_s if service is not None else DEFAULT_RESPONSE_TIME_S
    return target * options.time_scale


class CohortAdapter:
    """The protocol-independent half of an ``S1spAdapter``."""

    def __init__(
        self,
        profile: CohortProfile,
        endpoint: Endpoint,
        options: AdapterOptions | None = None,
        *,
        remembered: int = 10_000,
    ) -> None:
        self.profile = profile
        self.endpoint = endpoint
        self.options = options or AdapterOptions()
        self._remembered = remembered
        self._outcomes: OrderedDict[str, tuple[Instruction, Outcome]] = OrderedDict()
        self._inflight: dict[str, tuple[Instruction, asyncio.Task[Outcome]]] = {}
        self._carrying: set[asyncio.Task[Outcome]] = set()

    async def submit(self, sealed: Sealed) -> Outcome:
        instruction = sealed.instruction
        self._check_seal(sealed)
        if instruction.srv not in self.profile.supported_srvs:
            raise UnsupportedService(f"{self.profile.name} does not offer SRV {instruction.srv}")
        rid = instruction.request_id
        known = self._outcomes.get(rid) or self._inflight.get(rid)
        if known is not None and known[0] != instruction:
            raise ConflictingInstruction(f"RequestID {rid} was used for another instruction")
        if rid in self._outcomes:
            return self._outcomes[rid][1]
        if rid not in self._inflight:
            task = asyncio.create_task(self._within_target(instruction))
            self._inflight[rid] = (instruction, task)
            task.add_done_callback(lambda done: self._settle(instruction, done))
        # Shielded: a caller that gives up does not cancel the work other callers share.
        return await asyncio.shield(self._inflight[rid][1])

    async def health(self) -> bool:
        raise NotImplementedError

    async def listen(self) -> object:
        """Start taking alerts now (the protocols that need to do something override it)."""
        return None

    async def aclose(self) -> None:
        for _, task in list(self._inflight.values()):
            task.cancel()
        for task in list(self._carrying):
            task.cancel()
        await asyncio.gather(*self._carrying, return_exceptions=True)
        await self._close()

    # ------------------------------------------------------------------ for subclasses

    async def _carry(self, instruction: Instruction, deadline_s: float) -> Outcome:
        """Carry ``instruction`` over the wire; give up after ``deadline_s`` (NO_RESPONSE)."""
        raise NotImplementedError

    async def _close(self) -> None:
        return None

    def _alert_received(self, device_alert_code: int) -> int:
        """The GBCS-style code of a code the head-end pushed."""
        return self.profile.gbcs_alert(device_alert_code)

    def _hand_over(self, alert: DeviceAlert) -> asyncio.Future[object]:
        """Give ``alert`` to the hub: a future done once the hub holds it (committed), which
        is when the adapter may acknowledge it; failed if the hub could not take it."""
        try:
            taken = self.options.on_alert(alert)
        except Exception as exc:
            log.exception("handing on an alert from %s failed", self.profile.name)
            failed: asyncio.Future[object] = asyncio.get_running_loop().create_future()
            failed.set_exception(exc)
            return failed
        if taken is None:  # a taker that holds it at once (tests, in-memory)
            done: asyncio.Future[object] = asyncio.get_running_loop().create_future()
            done.set_result(None)
            return done
        return asyncio.ensure_future(taken)

    # ------------------------------------------------------------------ the common part

    def _check_seal(self, sealed: Sealed) -> None:
        key = self.options.dco_key
        if key is None:
            raise NotCountersigned("this adapter has no DCO key: it carries out nothing")
        try:
            key.verify(sealed.seal, sealed.instruction.canonical(), _ECDSA_SHA256)
        except InvalidSignature:
            raise NotCountersigned(
                f"instruction {sealed.instruction.request_id} is not countersigned by the DCO"
            ) from None

    async def _within_target(self, instruction: Instruction) -> Outcome:
        target = response_time_s(instruction.srv, self.options)
        carrying = asyncio.create_task(self._carry(instruction, target * LATE_GRACE))
        self._carrying.add(carrying)
        carrying.add_done_callback(self._carrying.discard)
        # ``asyncio.wait(..., timeout=target)`` without its sets and checks (a request's path
        # waits here once): woken by the answer or by the target, whichever comes first.
        waiter = asyncio.get_running_loop().create_future()

        def wake(_: object = None) -> None:
            if not waiter.done():
                waiter.set_result(None)

        timer = asyncio.get_running_loop().call_later(target, wake)
        carrying.add_done_callback(wake)
        try:
            await waiter
        finally:
            timer.cancel()
            carrying.remove_done_callback(wake)
        if carrying.done():
            return carrying.result()
        carrying.add_done_callback(lambda late: self._late(instruction, late))
        detail = f"no answer within the target response time of {target:g} s"
        return Outcome(instruction.request_id, OutcomeStatus.NO_RESPONSE, detail=detail)

    def _late(self, instruction: Instruction, task: asyncio.Task[Outcome]) -> None:
        if task.cancelled() or task.exception() is not None:
            return
        outcome = task.result()
        if outcome.status is OutcomeStatus.NO_RESPONSE:
            return  # nothing came after all
        log.info("late reply for %s: %s", instruction.request_id, outcome.status)
        try:
            self.options.on_late(instruction, outcome)
        except Exception:
            log.exception("recording the late reply for %s failed", instruction.request_id)

    def _settle(self, instruction: Instruction, task: asyncio.Task[Outcome]) -> None:
        self._inflight.pop(instruction.request_id, None)
        if task.cancelled() or task.exception() is not None:
            return
        outcome = task.result()
        if outcome.status in FINAL:
            self._outcomes[instruction.request_id] = (instruction, outcome)
            while len(self._outcomes) > self._remembered:
                self._outcomes.popitem(last=False)
