"""A simulated head-end that speaks APDU (binary, OBIS-addressed) over TCP.

It answers, with the very codec the adapter uses, from the other side:

- ACTION method 1 on a service object (the OBIS code the cohort's profile gives an SRV): the
  core carries out the SRV with the (name, value) parameters; the result comes back the same way;
- GET of a meter's OBIS objects (``ESME_OBJECTS``/``GSME_OBJECTS``: registers, clock, supply
  state ...), and of the head-end's own clock (device ``HEAD_END``), which answers health checks;
- SET of a meter's writable objects.

Every alert the core publishes is pushed to every open connection (invoke id 0) as a confirmed
alert with a sequence number, and kept (``unacked``) until a client answers ALERT-ACK: offered
again on every new connection and every ``RESEND_S`` until then, as a real head-end keeps the
alerts its client has not taken. Sequence numbers start at the microseconds of the wall clock
when the simulator starts, so they do not repeat across its restarts. Each answer
waits the core's WAN delay first; a corrupt fault damages the frame's body so its CRC fails.
While it listens it carries out the held future-dated commands as they fall due (``Releaser``).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from opendcc.s1sp.adapter import codes_by_name
from opendcc.s1sp.contract import OutcomeStatus
from opendcc.s1sp.protocols.apdu import (
    HEAD_END,
    ActionRequest,
    ActionResponse,
    Alert,
    AlertAck,
    AttributeRef,
    Connection,
    DateTime,
    Event,
    GetRequest,
    GetResponse,
    Obis,
    ProtocolError,
    ResultCode,
    Role,
    SetRequest,
    SetResponse,
)
from opendcc.s1sp.protocols.apdu.records import from_record, to_record
from opendcc.s1sp.protocols.apdu.values import STRING_MAX, VisibleString
from opendcc.sim.headends.core import HeadEndCore, PushedAlert, Releaser
from opendcc.sim.headends.unacked import Unacknowledged
from opendcc.sim.state import ESME_OBJECTS, GSME_OBJECTS, MeterError, MeterState

CLOCK = Obis(0, 0, 1, 0, 0, 255)
RESULT_OF_STATUS: Mapping[OutcomeStatus, ResultCode] = codes_by_name(
    ResultCode, {OutcomeStatus.REJECTED: ResultCode.OTHER}
)
_Answer = GetResponse | SetResponse | ActionResponse


def _objects(meter: MeterState) -> Mapping[Obis, Any]:
    return GSME_OBJECTS if meter.gas else ESME_OBJECTS


def _hundredths(instant: datetime) -> datetime:
    return instant.replace(microsecond=instant.microsecond // 10_000 * 10_000)


class ApduHeadEnd:
    """A ``HeadEndCore`` behind an asyncio TCP listener."""

    def __init__(self, core: HeadEndCore, host: str = "127.0.0.1", port: int = 0) -> None:
        self.core = core
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None
        self._peers: dict[asyncio.StreamWriter, tuple[Connection, asyncio.Lock]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._releaser = Releaser(core)
        self.unacked: Unacknowledged[Alert] = Unacknowledged()
        self._sequence = itertools.count(time.time_ns() // 1000)
        self._resending: asyncio.Task[None] | None = None
        core.subscribe(self._push)

    @property
    def endpoint(self) -> str:
        return f"tcp://{self.host}:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        self._releaser.start()
        if self._resending is None or self._resending.done():
            self._resending = asyncio.create_task(self._resend_forever())

    async def go_down(self) -> None:
        """Stop listening and drop every connection: new connections are refused."""
        await self._releaser.stop()
        if self._resending is not None:
            self._resending.cancel()
            await asyncio.gather(self._resending, return_exceptions=True)
            self._resending = None
        if self._server is not None:
            self._server.close()
            self._server = None
        for task in list(self._tasks):
            task.cancel()
        for writer in list(self._peers):
            writer.close()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def come_up(self) -> None:
        """Listen again, on the same port."""
        if self._server is None:
            await self.start()

    async def aclose(self) -> None:
        await self.go_down()

    # ------------------------------------------------------------------ serving

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = Connection(Role.SERVER)
        self._peers[writer] = (connection, asyncio.Lock())
        self._offer(self.unacked.items(), [writer])  # what the last client did not take
        try:
            while data := await reader.read(65536):
                for event in connection.receive_data(data):
                    if isinstance(event, AlertAck):
                        self.unacked.acknowledge(str(event.sequence))
                        continue
                    self._spawn(self._reply(event, writer))
        except (ProtocolError, ConnectionError):
            pass  # a peer that breaks the protocol is dropped
        finally:
            self._peers.pop(writer, None)
            writer.close()

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _reply(self, event: Event, writer: asyncio.StreamWriter) -> None:
        if not isinstance(event, GetRequest | SetRequest | ActionRequest):
            return  # a client sends requests only
        core = self.core
        if event.device != HEAD_END:
            delay = core.delay_s(event.request_id, event.device)
            if delay:
                await asyncio.sleep(delay)
        answer = self._answer(event)
        corrupt = event.device != HEAD_END and core.faults_for(event.device).corrupt
        await self._send(writer, answer, corrupt=corrupt)

    def _answer(self, event: GetRequest | SetRequest | ActionRequest) -> _Answer:
        if isinstance(event, ActionRequest):
            return self._action(event)
        if event.device == HEAD_END:
            if isinstance(event, GetRequest) and event.attributes == (AttributeRef(CLOCK),):
                now = _hundredths(self.core.clock.now())
                return GetResponse(event.invoke_id, ResultCode.SUCCESS, (DateTime(now),))
            return _refused(event, ResultCode.OBJECT_UNDEFINED)
        return self._object_access(event)

    def _action(self, event: ActionRequest) -> ActionResponse:
        srv = self.core.profile.srv_of(str(event.method.obis))
        if srv is None or event.method.method != 1:
            return ActionResponse(event.invoke_id, ResultCode.OBJECT_UNDEFINED)
        try:
            parameters = {name: str(value) for name, value in from_record(event.parameters).items()}
        except ProtocolError:
            return ActionResponse(event.invoke_id, ResultCode.TYPE_UNMATCHED)
        reply = self.core.execute(event.request_id, event.device, srv, parameters)
        result = RESULT_OF_STATUS[reply.status]
        if result is not ResultCode.SUCCESS:
            reason = reply.detail.encode("ascii", "replace").decode("ascii")[:STRING_MAX]
            return ActionResponse(
                event.invoke_id, result, (VisibleString(reason),) if reason else ()
            )
        return ActionResponse(event.invoke_id, result, to_record(reply.result))

    def _object_access(self, event: GetRequest | SetRequest) -> _Answer:
        """GET or SET of a meter's own OBIS objects (not through a service)."""
        meter = self.core.meter(event.device)
        if meter is None:
            return _refused(event, ResultCode.UNKNOWN_DEVICE)
        objects = _objects(meter)
        now = self.core.clock.now()
        try:
            if isinstance(event, GetRequest):
                if any(r.attribute != 2 or r.obis not in objects for r in event.attributes):
                    return GetResponse(event.invoke_id, ResultCode.OBJECT_UNDEFINED)
                values = tuple(objects[r.obis].get(meter, now) for r in event.attributes)
                return GetResponse(event.invoke_id, ResultCode.SUCCESS, values)
            for write in event.writes:
                setter = objects.get(write.attribute.obis)
                if setter is None or setter.set is None or write.attribute.attribute != 2:
                    return SetResponse(event.invoke_id, ResultCode.OBJECT_UNDEFINED)
                self.core.publish(setter.set(meter, now, write.value))
        except MeterError:
            return _refused(event, ResultCode.OTHER)
        return SetResponse(event.invoke_id, ResultCode.SUCCESS)

    async def _send(self, writer: asyncio.StreamWriter, event: Event, *, corrupt: bool) -> None:
        peer = self._peers.get(writer)
        if peer is None:
            return
        connection, lock = peer
        async with lock:
            if writer.is_closing():
                return
            frame = bytearray(connection.send(event))
            if corrupt:
                frame[-5] ^= 0x5A  # the last body byte: framing survives, the CRC does not
            writer.write(bytes(frame))
            with contextlib.suppress(ConnectionError):
                await writer.drain()

    def _push(self, alert: PushedAlert) -> None:
        sequence = next(self._sequence)
        frame = Alert(
            alert.device,
            alert.code,
            _hundredths(alert.raised_at),
            to_record(alert.values),
            sequence,
        )
        self.unacked.keep(str(sequence), frame, alert)
        self._offer([(str(sequence), frame)], list(self._peers))

    def _offer(self, alerts: list[tuple[str, Alert]], writers: list[asyncio.StreamWriter]) -> None:
        if not writers or not alerts:
            return
        now = asyncio.get_running_loop().time()
        for alert_id, frame in alerts:
            self.unacked.offered(alert_id, now)
            for writer in writers:
                self._spawn(self._send(writer, frame, corrupt=False))

    async def _resend_forever(self) -> None:
        while True:
            await asyncio.sleep(self.unacked.resend_s / 2)
            self._offer(self.unacked.due(asyncio.get_running_loop().time()), list(self._peers))


def _refused(event: GetRequest | SetRequest, result: ResultCode) -> _Answer:
    if isinstance(event, GetRequest):
        return GetResponse(event.invoke_id, result)
    return SetResponse(event.invoke_id, result)
