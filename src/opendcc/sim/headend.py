"""A simulated head-end system that serves SMETS1 meters over the APDU protocol.

A cohort's head-end sits between the S1SP (SMETS1 Service Provider) adapter and its meters'
WAN (wide area network). This one holds simulated meters keyed by EUI-64 and answers APDU
GET-REQUESTs for their OBIS (Object Identification System) objects from the meter model, using
the very codec the adapter uses, from the other side. Faults are injected globally or per
meter: an unreachable device, a slow WAN, a corrupted reply, lost requests; and the whole
head-end can go down (connections refused) and come back on the same port.

Like a real head-end it is idempotent per request id: a GET it already answered successfully
is answered again from memory, without reading the meter a second time.

Run it as a process::

    python -m opendcc.sim.headend --port 0 --meters 00-DB-12-34-56-78-90-A0 --latency-ms 5

It prints ``listening on HOST:PORT`` once ready and serves until SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import signal
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from opendcc.core.clock import Clock, SystemClock
from opendcc.core.eui import Eui64
from opendcc.s1sp.protocols.apdu import (
    HEAD_END,
    U32,
    U64,
    AttributeRef,
    Connection,
    DateTime,
    GetRequest,
    GetResponse,
    Obis,
    ProtocolError,
    ResultCode,
    Role,
    Value,
    VisibleString,
)
from opendcc.sim.meter import Meter

CLOCK = Obis(0, 0, 1, 0, 0, 255)


def _tou_register(rate: int) -> Callable[[Meter, datetime], Value]:
    return lambda meter, now: U64(meter.tou_wh(now)[rate - 1])


# What each OBIS object of an electricity meter reads from the meter model (attribute 2).
OBJECTS: Mapping[Obis, Callable[[Meter, datetime], Value]] = {
    Obis(1, 0, 1, 8, 0, 255): lambda m, now: U64(m.import_wh(now)),
    **{Obis(1, 0, 1, 8, rate, 255): _tou_register(rate) for rate in range(1, 5)},
    Obis(1, 0, 3, 8, 0, 255): lambda m, now: U64(m.reactive_import_varh(now)),
    Obis(1, 0, 1, 7, 0, 255): lambda m, now: U32(m.power_w(now)),
    CLOCK: lambda m, now: DateTime(_hundredths(m.clock(now))),
    Obis(1, 0, 0, 2, 0, 255): lambda m, now: VisibleString(m.firmware_version),
}


@dataclass(frozen=True, slots=True)
class Faults:
    """Injected faults, for the whole head-end or one meter."""

    latency_ms: int = 0  # added WAN latency before each answer
    unreachable: bool = False  # the WAN cannot reach the meter: DEVICE_UNREACHABLE
    corrupt: bool = False  # the reply is damaged in transit (its CRC no longer matches)
    failure_rate: float = 0.0  # share of request ids, chosen by hash, answered NO_RESPONSE
    keys_missing: bool = False  # the S1SP holds no security credentials for the device
    han_error: bool = False  # the comms hub cannot reach the device over the HAN

    def loses(self, request_id: str) -> bool:
        digest = hashlib.sha256(request_id.encode("ascii")).digest()
        return int.from_bytes(digest[:8], "big") < self.failure_rate * (1 << 64)


class HeadEnd:
    """The head-end's state: meters, faults, and the answers already given."""

    def __init__(
        self,
        meters: Iterable[Meter],
        clock: Clock | None = None,
        faults: Faults | None = None,
        meter_faults: Mapping[Eui64, Faults] | None = None,
    ) -> None:
        self.meters = {meter.device_id: meter for meter in meters}
        self.clock: Clock = clock or SystemClock()
        self.faults = faults or Faults()
        self.meter_faults = dict(meter_faults or {})
        self.reads: Counter[Eui64] = Counter()  # GETs that reached each meter
        self._answered: dict[tuple[str, Eui64, tuple[AttributeRef, ...]], GetResponse] = {}

    def faults_for(self, device: Eui64) -> Faults:
        return self.meter_faults.get(device, self.faults)

    def answer(self, request: GetRequest) -> GetResponse:
        """The head-end's answer to one GET, at the clock's current instant."""
        now = self.clock.now()
        if request.device == HEAD_END:
            if request.attributes != (AttributeRef(CLOCK),):
                return GetResponse(request.invoke_id, ResultCode.OBJECT_UNDEFINED)
            return GetResponse(request.invoke_id, ResultCode.SUCCESS, (DateTime(_hundredths(now)),))
        refusal = self._refusal(request)
        if refusal is not None:
            return GetResponse(request.invoke_id, refusal)
        key = (request.request_id, request.device, request.attributes)
        if (done := self._answered.get(key)) is None:
            self.reads[request.device] += 1
            meter = self.meters[request.device]
            values = tuple(OBJECTS[ref.obis](meter, now) for ref in request.attributes)
            self._answered[key] = done = GetResponse(request.invoke_id, ResultCode.SUCCESS, values)
        return GetResponse(request.invoke_id, done.result, done.values)

    def _refusal(self, request: GetRequest) -> ResultCode | None:
        if request.device not in self.meters:
            return ResultCode.UNKNOWN_DEVICE
        faults = self.faults_for(request.device)
        injected = (
            (faults.unreachable, ResultCode.DEVICE_UNREACHABLE),
            (faults.keys_missing, ResultCode.KEYS_MISSING),
            (faults.han_error, ResultCode.HAN_ERROR),
            (faults.loses(request.request_id), ResultCode.NO_RESPONSE),
        )
        for applies, code in injected:
            if applies:
                return code
        if any(ref.attribute != 2 or ref.obis not in OBJECTS for ref in request.attributes):
            return ResultCode.OBJECT_UNDEFINED
        return None


class HeadEndServer:
    """A ``HeadEnd`` behind an asyncio TCP listener."""

    def __init__(self, headend: HeadEnd, host: str = "127.0.0.1", port: int = 0) -> None:
        self.headend = headend
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def endpoint(self) -> str:
        return f"tcp://{self.host}:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def go_down(self) -> None:
        """Stop listening and drop every connection: new connections are refused."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for task in list(self._tasks):
            task.cancel()
        for writer in list(self._writers):
            writer.close()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def come_up(self) -> None:
        """Listen again, on the same port."""
        if self._server is None:
            await self.start()

    async def aclose(self) -> None:
        await self.go_down()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = Connection(Role.SERVER)
        lock = asyncio.Lock()
        self._writers.add(writer)
        try:
            while data := await reader.read(65536):
                for event in connection.receive_data(data):
                    if not isinstance(event, GetRequest):
                        continue  # SET and ACTION come with the cohorts that need them
                    task = asyncio.create_task(self._reply(event, connection, writer, lock))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
        except (ProtocolError, ConnectionError):
            pass  # a peer that breaks the protocol is dropped
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _reply(
        self,
        request: GetRequest,
        connection: Connection,
        writer: asyncio.StreamWriter,
        lock: asyncio.Lock,
    ) -> None:
        faults = self.headend.faults_for(request.device)
        if faults.latency_ms:
            await asyncio.sleep(faults.latency_ms / 1000)
        frame = bytearray(connection.send(self.headend.answer(request)))
        if faults.corrupt:
            frame[-5] ^= 0x5A  # the last body byte: framing survives, the CRC does not
        async with lock:
            if writer.is_closing():
                return
            writer.write(bytes(frame))
            with contextlib.suppress(ConnectionError):
                await writer.drain()


async def start_headend(
    meters: Iterable[Meter | Eui64],
    host: str = "127.0.0.1",
    port: int = 0,
    faults: Faults | None = None,
    *,
    meter_faults: Mapping[Eui64, Faults] | None = None,
    clock: Clock | None = None,
) -> HeadEndServer:
    """Start a head-end serving ``meters`` (bare EUI-64s get seeded meters) and return it."""
    models = [m if isinstance(m, Meter) else Meter.for_device(m) for m in meters]
    server = HeadEndServer(HeadEnd(models, clock, faults, meter_faults), host, port)
    await server.start()
    return server


def _hundredths(instant: datetime) -> datetime:
    return instant.replace(microsecond=instant.microsecond // 10_000 * 10_000)


def _euis(text: str) -> list[Eui64]:
    return [Eui64.parse(part) for part in text.split(",") if part.strip()]


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m opendcc.sim.headend", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9001, help="0 picks a free port")
    parser.add_argument("--meters", type=_euis, default=[], help="EUI-64s, comma-separated")
    parser.add_argument("--latency-ms", type=int, default=0, help="added WAN latency")
    parser.add_argument("--unreachable", type=_euis, default=[], help="EUI-64s off the WAN")
    parser.add_argument("--failure-rate", type=float, default=0.0)
    parser.add_argument(
        "--fleet",
        type=Path,
        help="JSON Lines of meters: device_id, firmware_version and the faults"
        " unreachable, keys_missing, han_error (booleans)",
    )
    return parser.parse_args(argv)


FLEET_FAULTS = ("unreachable", "keys_missing", "han_error")


def load_fleet(path: Path, faults: Faults) -> tuple[list[Meter], dict[Eui64, Faults]]:
    """Meters and per-meter faults from a fleet file (one JSON object per line)."""
    meters: list[Meter] = []
    meter_faults: dict[Eui64, Faults] = {}
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if not line.strip():
                continue
            raw = json.loads(line)
            device = Eui64.parse(raw["device_id"])
            meters.append(
                Meter.for_device(device, firmware_version=raw.get("firmware_version", "1.0"))
            )
            chosen = {name: True for name in FLEET_FAULTS if raw.get(name)}
            if chosen:
                meter_faults[device] = replace(faults, **chosen)
    return meters, meter_faults


async def _run(args: argparse.Namespace) -> None:
    faults = Faults(latency_ms=args.latency_ms, failure_rate=args.failure_rate)
    off_wan = Faults(latency_ms=args.latency_ms, unreachable=True)
    meters: list[Meter | Eui64] = list(args.meters)
    meter_faults: dict[Eui64, Faults] = dict.fromkeys(args.unreachable, off_wan)
    if args.fleet is not None:
        fleet, fleet_faults = load_fleet(args.fleet, faults)
        meters += fleet
        meter_faults.update(fleet_faults)
    server = await start_headend(meters, args.host, args.port, faults, meter_faults=meter_faults)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    print(f"listening on {server.host}:{server.port}", flush=True)
    await stop.wait()
    await server.aclose()


def main(argv: list[str] | None = None) -> None:
    asyncio.run(_run(_arguments(argv)))


if __name__ == "__main__":
    main()
