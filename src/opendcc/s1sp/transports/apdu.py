"""The APDU adapter: SMETS1 instructions as ACTIONs on OBIS-addressed service objects, over TCP.

The profile names, for each SRV, the OBIS code of the head-end's service object
(``profile.command(srv)``); the adapter invokes its method 1 with the instruction's parameters
as (name, value) pairs (``records``) and reads the result from the return values the same way.

One persistent TCP connection to the head-end, opened on first use and reopened after it is
lost, is shared by concurrent instructions, told apart by invoke id; frames with invoke id 0
are alerts the head-end pushes, handed to ``on_alert``. A confirmed alert (with a sequence
number) is acknowledged (ALERT-ACK) only once the hub holds it committed; until then the
head-end offers it again, and its sequence number is its id for the hub's de-duplication.
Transport failures become outcomes: a
head-end that refuses connections is DEVICE_UNREACHABLE; a timeout, a dropped connection or a
corrupt reply is NO_RESPONSE (the instruction may have reached the meter).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import select
from collections.abc import Callable, Mapping

from opendcc.s1sp.adapter import CohortAdapter, statuses_by_name
from opendcc.s1sp.contract import (
    AdapterOptions,
    CohortProfile,
    DeviceAlert,
    Endpoint,
    Instruction,
    Outcome,
    OutcomeStatus,
)
from opendcc.s1sp.protocols.apdu import (
    HEAD_END,
    ActionRequest,
    Alert,
    AlertAck,
    AttributeRef,
    Connection,
    GetRequest,
    MethodRef,
    Obis,
    ProtocolError,
    Request,
    Response,
    ResultCode,
    Role,
)
from opendcc.s1sp.protocols.apdu.records import from_record, to_record

_U32 = 1 << 32
_CATCH_UP_TURNS = 16  # event-loop turns a reused connection may wait for the read task
CLOCK = Obis(0, 0, 1, 0, 0, 255)
# The other result codes (OBJECT_UNDEFINED, READ_DENIED ... OTHER) are refusals.
STATUS_OF_RESULT: Mapping[ResultCode, OutcomeStatus] = statuses_by_name(ResultCode)


class _Unreachable(Exception):
    """The head-end could not be connected to."""


class _Lost(Exception):
    """The connection died, or spoke garbage, while a request was outstanding."""


class ApduLink:
    """One persistent APDU connection, multiplexed by invoke id, reopened on demand."""

    def __init__(
        self,
        endpoint: Endpoint,
        connect_timeout_s: float,
        on_alert: Callable[[Alert], asyncio.Future[object] | None] = lambda alert: None,
    ) -> None:
        self._endpoint = endpoint
        self._connect_timeout_s = connect_timeout_s
        self._on_alert = on_alert
        self._lock = asyncio.Lock()
        self._writer: asyncio.StreamWriter | None = None
        self._reader: asyncio.StreamReader | None = None
        self._connection = Connection(Role.CLIENT)
        self._pending: dict[int, asyncio.Future[Response]] = {}
        self._reader_task: asyncio.Task[None] | None = None
        self._last_invoke = 0

    async def ask(self, build: Callable[[int], Request], timeout_s: float) -> Response:
        """Send the request built for a fresh invoke id and wait for its answer.

        A connection found dead only once reused (the head-end restarted while it sat idle) is
        replaced and the request sent once more: the head-end answers a repeated request id
        from memory, so the retry is harmless. The first try may have reached the head-end
        before the connection dropped, so a refusal then is ``_Lost``, not ``_Unreachable``.
        """
        dropped: _Lost | None = None
        async with asyncio.timeout(timeout_s):
            while True:
                try:
                    writer, fresh = await self._connect()
                except _Unreachable as exc:
                    if dropped is None:
                        raise
                    raise _Lost(f"dropped ({dropped}), then refused: {exc}") from exc
                try:
                    return await self._exchange(writer, build)
                except _Lost as exc:
                    if fresh:
                        raise
                    dropped = exc

    async def connect(self) -> None:
        """Open the connection now (so pushed alerts arrive before the first request)."""
        await self._connect()

    async def _exchange(
        self, writer: asyncio.StreamWriter, build: Callable[[int], Request]
    ) -> Response:
        pending, invoke_id = self._pending, self._fresh_invoke_id()
        future: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
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
            # Invoke id 0 is the head-end's, for pushed alerts.
            if self._last_invoke and self._last_invoke not in self._pending:
                return self._last_invoke

    async def _connect(self) -> tuple[asyncio.StreamWriter, bool]:
        """The open connection, or a new one; and whether it is new."""
        async with self._lock:
            open_writer = self._writer
            if open_writer is not None and not open_writer.is_closing():
                await self._catch_up(open_writer)
                if self._writer is open_writer and not open_writer.is_closing():
                    return open_writer, False
            try:
                async with asyncio.timeout(self._connect_timeout_s):
                    reader, writer = await asyncio.open_connection(
                        self._endpoint.host, self._endpoint.port
                    )
            except (OSError, TimeoutError) as exc:
                raise _Unreachable(f"head-end {self._endpoint} unreachable: {exc}") from exc
            self._writer, self._reader = writer, reader
            self._connection, self._pending = Connection(Role.CLIENT), {}
            self._reader_task = asyncio.create_task(
                self._read(reader, writer, self._connection, self._pending)
            )
            return writer, True

    async def _catch_up(self, writer: asyncio.StreamWriter) -> None:
        """Let the read task take what has already arrived before the connection is reused.

        A head-end that closed the connection while it sat idle (it went down) has already
        said so; until the read task has seen that the connection looks open, and a request
        sent on it would be lost as if dropped mid-call (NO_RESPONSE), though it never reached
        the head-end. Bounded: a stream of pushed alerts does not hold a request up.
        """
        reader, sock = self._reader, writer.get_extra_info("socket")
        for _ in range(_CATCH_UP_TURNS):
            if self._writer is not writer or writer.is_closing() or reader is None or sock is None:
                return
            if not _readable(sock.fileno()) and not reader.at_eof():
                return
            await asyncio.sleep(0)

    async def _read(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        connection: Connection,
        pending: dict[int, asyncio.Future[Response]],
    ) -> None:
        reason = "the head-end closed the connection"
        try:
            while data := await reader.read(65536):
                for event in connection.receive_data(data):
                    if isinstance(event, Alert):
                        taken = self._on_alert(event)
                        if taken is not None and event.sequence is not None:
                            acknowledge = functools.partial(
                                _acknowledge, writer, connection, event.sequence
                            )
                            taken.add_done_callback(acknowledge)
                        continue
                    future = pending.pop(event.invoke_id, None)
                    # A reply to a request that already gave up is dropped.
                    if (
                        future is not None
                        and not future.done()
                        and not isinstance(event, Request | AlertAck)
                    ):
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


def _acknowledge(
    writer: asyncio.StreamWriter,
    connection: Connection,
    sequence: int,
    taken: asyncio.Future[object],
) -> None:
    """ALERT-ACK once the hub holds the alert; nothing if it could not take it (the head-end
    offers it again) or the connection it came on has gone (the head-end offers it again on
    the next; the hub takes it once by its sequence)."""
    if taken.cancelled() or taken.exception() is not None or writer.is_closing():
        return
    writer.write(connection.send(AlertAck(sequence)))


def _readable(fd: int) -> bool:
    """Whether the socket has bytes (or the end of the stream) waiting, without reading them."""
    if hasattr(select, "poll"):  # select.select cannot take descriptors past FD_SETSIZE
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        return bool(poller.poll(0))
    return bool(select.select([fd], [], [], 0)[0])


class ApduAdapter(CohortAdapter):
    """The ``S1spAdapter`` of a cohort whose head-end speaks APDU."""

    def __init__(
        self, profile: CohortProfile, endpoint: Endpoint, options: AdapterOptions | None = None
    ) -> None:
        super().__init__(profile, endpoint, options)
        self._link = ApduLink(endpoint, self.options.connect_timeout_s, self._pushed)

    async def health(self) -> bool:
        def clock_read(invoke_id: int) -> GetRequest:
            return GetRequest(invoke_id, HEAD_END, "health", (AttributeRef(CLOCK),))

        try:
            response = await self._link.ask(clock_read, 5.0)
        except (_Unreachable, _Lost, TimeoutError):
            return False
        return response.result is ResultCode.SUCCESS

    async def listen(self) -> None:
        """Connect now, so alerts the head-end pushes arrive without waiting for a request."""
        with contextlib.suppress(_Unreachable):
            await self._link.connect()

    async def _close(self) -> None:
        await self._link.aclose()

    async def _carry(self, instruction: Instruction, deadline_s: float) -> Outcome:
        rid = instruction.request_id
        method = MethodRef(Obis.parse(self.profile.command(instruction.srv)))

        def request(invoke_id: int) -> ActionRequest:
            parameters = to_record(instruction.parameters)
            return ActionRequest(invoke_id, instruction.device_id, rid, method, parameters)

        try:
            response = await self._link.ask(request, deadline_s)
        except _Unreachable as exc:
            return Outcome(rid, OutcomeStatus.DEVICE_UNREACHABLE, detail=str(exc))
        except _Lost as exc:
            return Outcome(rid, OutcomeStatus.NO_RESPONSE, detail=str(exc))
        except TimeoutError:
            return Outcome(rid, OutcomeStatus.NO_RESPONSE, detail=f"no answer in {deadline_s:g} s")
        status = STATUS_OF_RESULT.get(response.result, OutcomeStatus.REJECTED)
        if status is not OutcomeStatus.SUCCESS:
            why = getattr(response, "reason", "")
            detail = f"head-end result {response.result.name}" + (f": {why}" if why else "")
            return Outcome(rid, status, detail=detail)
        values = getattr(response, "values", ())
        try:
            return Outcome(rid, status, from_record(values))
        except ProtocolError as exc:
            # An answer that cannot be read is no usable answer (E21), not a refusal.
            return Outcome(rid, OutcomeStatus.NO_RESPONSE, detail=f"unexpected reply: {exc}")

    def _pushed(self, alert: Alert) -> asyncio.Future[object] | None:
        if not self.options.alerts:
            return None  # another process takes this head-end's alerts (and acknowledges)
        try:
            values = from_record(alert.values)
        except ProtocolError:
            values = {}  # the alert itself still counts; its values were unreadable
        alert_id = None if alert.sequence is None else str(alert.sequence)
        code = self._alert_received(alert.code)
        return self._hand_over(DeviceAlert(alert.device, code, alert.raised_at, values, alert_id))
