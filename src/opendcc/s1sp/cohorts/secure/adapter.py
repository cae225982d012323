"""The Secure cohort's S1SP adapter: instructions over one multiplexed APDU connection.

The adapter keeps one persistent TCP connection to the head-end, opened on first use and
reopened after it is lost. Concurrent instructions share it, told apart by invoke id. Failures
of the transport become outcomes here, at the S1SP (SMETS1 Service Provider) boundary: a
head-end that refuses connections is DEVICE_UNREACHABLE; a timeout, a dropped connection or a
corrupt reply is NO_RESPONSE (the instruction may have reached the meter).

Idempotency per RequestID: concurrent duplicates share one execution, and final outcomes
(SUCCESS, REJECTED) are remembered. Transport failures are not, so a redelivered instruction
is tried again; the head-end itself answers a repeated request id without re-reading the meter.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from opendcc.s1sp.cohorts.secure.profile import CLOCK, PROFILE, READS
from opendcc.s1sp.contract import (
    CohortProfile,
    ConflictingInstruction,
    Endpoint,
    Instruction,
    Outcome,
    OutcomeStatus,
    UnsupportedService,
)
from opendcc.s1sp.protocols.apdu import (
    HEAD_END,
    U64,
    AttributeRef,
    Connection,
    DateTime,
    GetRequest,
    GetResponse,
    ProtocolError,
    ResultCode,
    Role,
    Value,
    VisibleString,
)

_U32 = 1 << 32
_FINAL = frozenset({OutcomeStatus.SUCCESS, OutcomeStatus.REJECTED, OutcomeStatus.UNKNOWN_DEVICE})
_STATUS_OF_RESULT = {
    ResultCode.SUCCESS: OutcomeStatus.SUCCESS,
    ResultCode.DEVICE_UNREACHABLE: OutcomeStatus.DEVICE_UNREACHABLE,
    ResultCode.NO_RESPONSE: OutcomeStatus.NO_RESPONSE,
    ResultCode.KEYS_MISSING: OutcomeStatus.KEYS_MISSING,
    ResultCode.HAN_ERROR: OutcomeStatus.HAN_ERROR,
    ResultCode.UNKNOWN_DEVICE: OutcomeStatus.UNKNOWN_DEVICE,
}


class _Unreachable(Exception):
    """The head-end could not be connected to."""


class _Lost(Exception):
    """The connection died, or spoke garbage, while a GET was outstanding."""


class _UnexpectedReply(Exception):
    """The head-end's values do not fit what was asked."""


def _instantaneous_import(values: Sequence[Value]) -> dict[str, Any]:
    match tuple(values):
        case (U64(total), U64(t1), U64(t2), U64(t3), U64(t4), U64(reactive), DateTime(clock)):
            return {
                "total_import_kwh_wh": total,
                "tou_wh": [t1, t2, t3, t4],
                "reactive_import_varh": reactive,
                "device_time": clock,
            }
    raise _UnexpectedReply(f"4.1.1 reply does not match the registers read: {values!r}")


def _firmware_version(values: Sequence[Value]) -> dict[str, Any]:
    match tuple(values):
        case (VisibleString(version), DateTime(clock)):
            return {"firmware_version": version, "device_time": clock}
    raise _UnexpectedReply(f"11.2 reply does not match the attributes read: {values!r}")


_INTERPRET: Mapping[str, Callable[[Sequence[Value]], dict[str, Any]]] = {
    "4.1.1": _instantaneous_import,
    "11.2": _firmware_version,
}


class _ApduLink:
    """One persistent APDU connection, multiplexed by invoke id, reopened on demand."""

    def __init__(self, endpoint: Endpoint, connect_timeout_s: float) -> None:
        self._endpoint = endpoint
        self._connect_timeout_s = connect_timeout_s
        self._lock = asyncio.Lock()
        self._writer: asyncio.StreamWriter | None = None
        self._connection = Connection(Role.CLIENT)
        self._pending: dict[int, asyncio.Future[GetResponse]] = {}
        self._reader_task: asyncio.Task[None] | None = None
        self._last_invoke = 0

    async def get(self, build: Callable[[int], GetRequest], timeout_s: float) -> GetResponse:
        """Send the GET built for a fresh invoke id and wait for its answer.

        A connection found dead only once reused (the head-end restarted while it sat idle) is
        replaced and the GET sent once more: the head-end answers a repeated request id from
        memory, so the retry is harmless.
        """
        async with asyncio.timeout(timeout_s):
            while True:
                writer, fresh = await self._connect()
                try:
                    return await self._exchange(writer, build)
                except _Lost:
                    if fresh:
                        raise

    async def _exchange(
        self, writer: asyncio.StreamWriter, build: Callable[[int], GetRequest]
    ) -> GetResponse:
        pending, invoke_id = self._pending, self._fresh_invoke_id()
        future: asyncio.Future[GetResponse] = asyncio.get_running_loop().create_future()
        pending[invoke_id] = future
        try:
            writer.write(self._connection.send(build(invoke_id)))
            await writer.drain()
            return await future
        except ConnectionError as exc:
            raise _Lost(f"connection lost: {exc}") from exc
        finally:
            pending.pop(invoke_id, None)

    async def aclose(self) -> None:
        if self._writer is not None:
            self._writer.close()
        if self._reader_task is not None:
            await asyncio.gather(self._reader_task, return_exceptions=True)

    def _fresh_invoke_id(self) -> int:
        while True:
            self._last_invoke = (self._last_invoke + 1) % _U32
            # Invoke id 0 is the head-end's for pushed alerts.
            if self._last_invoke and self._last_invoke not in self._pending:
                return self._last_invoke

    async def _connect(self) -> tuple[asyncio.StreamWriter, bool]:
        """The open connection, or a new one; and whether it is new."""
        async with self._lock:
            if self._writer is not None and not self._writer.is_closing():
                return self._writer, False
            try:
                async with asyncio.timeout(self._connect_timeout_s):
                    reader, writer = await asyncio.open_connection(
                        self._endpoint.host, self._endpoint.port
                    )
            except (OSError, TimeoutError) as exc:
                raise _Unreachable(f"head-end {self._endpoint} unreachable: {exc}") from exc
            self._writer, self._connection, self._pending = writer, Connection(Role.CLIENT), {}
            self._reader_task = asyncio.create_task(
                self._read(reader, writer, self._connection, self._pending)
            )
            return writer, True

    async def _read(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        connection: Connection,
        pending: dict[int, asyncio.Future[GetResponse]],
    ) -> None:
        reason = "the head-end closed the connection"
        try:
            while data := await reader.read(65536):
                for event in connection.receive_data(data):
                    future = pending.pop(event.invoke_id, None)
                    # A reply to an instruction that already timed out is dropped.
                    if future is not None and not future.done() and isinstance(event, GetResponse):
                        future.set_result(event)
        except ProtocolError as exc:
            reason = f"corrupt reply: {exc}"
        except OSError as exc:
            reason = f"connection lost: {exc}"
        finally:
            writer.close()
            if self._writer is writer:
                self._writer = None
            for future in pending.values():
                if not future.done():
                    future.set_exception(_Lost(reason))
            pending.clear()


class SecureAdapter:
    """The ``S1spAdapter`` for the Secure cohort's APDU head-end."""

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        profile: CohortProfile = PROFILE,
        timeout_s: float | None = None,
        connect_timeout_s: float = 5.0,
        remembered: int = 10_000,
    ) -> None:
        self.profile = profile
        self._timeout_s = timeout_s if timeout_s is not None else profile.instruction_timeout_s
        self._link = _ApduLink(endpoint, connect_timeout_s)
        self._remembered = remembered
        self._outcomes: OrderedDict[str, tuple[Instruction, Outcome]] = OrderedDict()
        self._inflight: dict[str, tuple[Instruction, asyncio.Task[Outcome]]] = {}

    async def submit(self, instruction: Instruction) -> Outcome:
        if instruction.srv not in self.profile.supported_srvs:
            raise UnsupportedService(f"{self.profile.name} does not offer SRV {instruction.srv}")
        rid = instruction.request_id
        known = self._outcomes.get(rid) or self._inflight.get(rid)
        if known is not None and known[0] != instruction:
            raise ConflictingInstruction(f"RequestID {rid} was used for another instruction")
        if rid in self._outcomes:
            return self._outcomes[rid][1]
        if rid not in self._inflight:
            task = asyncio.create_task(self._execute(instruction))
            self._inflight[rid] = (instruction, task)
            task.add_done_callback(lambda done: self._settle(instruction, done))
        # Shielded: a caller that gives up does not cancel the work other callers share.
        return await asyncio.shield(self._inflight[rid][1])

    async def health(self) -> bool:
        def clock_read(invoke_id: int) -> GetRequest:
            return GetRequest(invoke_id, HEAD_END, "health", (AttributeRef(CLOCK),))

        try:
            response = await self._link.get(clock_read, min(self._timeout_s, 5.0))
        except (_Unreachable, _Lost, TimeoutError):
            return False
        return response.result is ResultCode.SUCCESS

    async def aclose(self) -> None:
        for _, task in list(self._inflight.values()):
            task.cancel()
        await self._link.aclose()

    def _settle(self, instruction: Instruction, task: asyncio.Task[Outcome]) -> None:
        self._inflight.pop(instruction.request_id, None)
        if task.cancelled() or task.exception() is not None:
            return
        outcome = task.result()
        if outcome.status in _FINAL:
            self._outcomes[instruction.request_id] = (instruction, outcome)
            while len(self._outcomes) > self._remembered:
                self._outcomes.popitem(last=False)

    async def _execute(self, instruction: Instruction) -> Outcome:
        rid, srv = instruction.request_id, instruction.srv

        def request(invoke_id: int) -> GetRequest:
            return GetRequest(invoke_id, instruction.device_id, rid, READS[srv])

        try:
            response = await self._link.get(request, self._timeout_s)
        except _Unreachable as exc:
            return Outcome(rid, OutcomeStatus.DEVICE_UNREACHABLE, detail=str(exc))
        except _Lost as exc:
            return Outcome(rid, OutcomeStatus.NO_RESPONSE, detail=str(exc))
        except TimeoutError:
            detail = f"no answer within {self._timeout_s:g} s"
            return Outcome(rid, OutcomeStatus.NO_RESPONSE, detail=detail)
        status = _STATUS_OF_RESULT.get(response.result, OutcomeStatus.REJECTED)
        if status is not OutcomeStatus.SUCCESS:
            return Outcome(rid, status, detail=f"head-end result {response.result.name}")
        try:
            return Outcome(rid, status, _INTERPRET[srv](response.values))
        except _UnexpectedReply as exc:
            return Outcome(rid, OutcomeStatus.REJECTED, detail=str(exc))


def create_adapter(endpoint: Endpoint) -> SecureAdapter:
    """The adapter factory the registry calls."""
    return SecureAdapter(endpoint)
