"""Wake-ups across processes (``opendcc.processes.wake``): a ring in one process wakes a loop in
another at once; rings coalesce; a hub whose polls are ten seconds apart still carries a request
from the gateway through the worker to the deliverer in well under one, because each commit
wakes the next process; and a wake-up lost only delays (the poll finds the work)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from tests.gateway.harness import KEYS, cohort, response_code
from tests.gateway.test_durability import send

from opendcc.processes import wake
from opendcc.processes.wake import Bell, Wakes, decode, encode
from opendcc.sim import scenario
from opendcc.sim.processes import HeadEndProcess, HubProcess, free_port
from opendcc.sim.user import CallbackServer


def test_the_wake_argument_round_trips_and_refuses_what_it_does_not_know() -> None:
    assert decode(encode({"jobs": 5, "outbox": 6})) == {"jobs": 5, "outbox": 6}
    assert decode(None) == {} == decode("")
    for bad in ("jobs", "jobs=x", "mail=3", "jobs=-1"):
        with pytest.raises(ValueError, match="--wake"):
            decode(bad)


def test_a_ring_in_another_process_wakes_this_loop() -> None:
    fds = wake.create()
    try:

        async def main() -> float:
            woken = asyncio.Event()
            wakes = Wakes(fds)
            wakes.listen(wake.OUTBOX, woken)
            await asyncio.sleep(0.2)
            assert not woken.is_set()
            started = time.monotonic()
            ringer = await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                f"import os; os.eventfd_write({fds['outbox']}, 1)",
                pass_fds=(fds["outbox"],),
            )
            await asyncio.wait_for(woken.wait(), 10)
            await ringer.wait()
            wakes.close()
            return time.monotonic() - started

        assert asyncio.run(main()) < 5  # a process start; no poll is involved
        # The listener drained the counter: nothing is left to wake anyone else.
        with pytest.raises(BlockingIOError):
            os.eventfd_read(fds["outbox"])
    finally:
        for fd in fds.values():
            os.close(fd)


def test_rings_in_one_loop_iteration_are_one_write() -> None:
    fd = os.eventfd(0, os.EFD_NONBLOCK)
    try:

        async def main() -> Bell:
            bell = Bell(fd)
            for _ in range(1000):
                bell.ring()
            await asyncio.sleep(0)
            await asyncio.sleep(0)
            bell.ring()  # a later iteration: a second write
            await asyncio.sleep(0)
            return bell

        bell = asyncio.run(main())
        assert bell.rung == 2
        assert os.eventfd_read(fd) == 2
    finally:
        os.close(fd)


def test_a_kind_without_an_eventfd_neither_rings_nor_listens() -> None:
    async def main() -> None:
        wakes = Wakes({})
        wakes.ring(wake.JOBS)
        wakes.listen(wake.JOBS, asyncio.Event())
        wakes.close()

    asyncio.run(main())


def _estate_config(directory: Path, headend: str, callback: str, poll_seconds: float) -> Path:
    return scenario.write_config(
        directory / "hub.toml",
        keys=KEYS,
        cohort=cohort(),
        headend=headend,
        callback_url=callback,
        database_url=f"sqlite:///{directory / 'hub.db'}",
        extra=(
            f"\n[processes]\npoll_seconds = {poll_seconds}\nwoken_poll_seconds = {poll_seconds}\n"
        ),
    )


class _Estate:
    def __init__(self, hub: HubProcess, callback: CallbackServer) -> None:
        self.hub = hub
        self.callback = callback
        self.http = httpx.Client(timeout=30)

    def post(self, endpoint: str, body: bytes) -> httpx.Response:
        return self.http.post(
            f"{self.hub.url}/api/v1/{endpoint}",
            content=body,
            headers={"Content-Type": "application/xml"},
        )


def _e2e_seconds(tmp_path: Path, poll_seconds: float, count: int) -> list[float]:
    """Serve a hub with this poll; send ``count`` requests one after another and return how
    long each took from its send to its response at the callback."""
    headend = HeadEndProcess(cohort(), meters=scenario.headend_meters())
    try:
        with CallbackServer() as callback:
            config = _estate_config(tmp_path, headend.endpoint, callback.url, poll_seconds)
            hub = HubProcess(config, free_port(), tmp_path / "hub.log")
            estate = _Estate(hub, callback)
            try:
                send(estate, 1)  # warm: the first request of a process pays its imports
                seconds = []
                for _ in range(count):
                    started = time.monotonic()
                    [key] = send(estate, 1)
                    assert callback.wait_for({key}, timeout=60), key
                    seconds.append(time.monotonic() - started)
                    assert response_code(callback.body_of(key)) == "I0"
                return seconds
            finally:
                estate.http.close()
                hub.stop()
    finally:
        headend.stop()


def test_each_commit_wakes_the_next_process_not_its_poll(tmp_path: Path) -> None:
    # Polls ten seconds apart: a request that went gateway -> worker -> deliverer in under
    # five seconds was woken across both hops (each poll alone would take up to ten).
    seconds = _e2e_seconds(tmp_path, poll_seconds=10.0, count=3)
    assert max(seconds) < 5, seconds


def test_a_lost_wake_up_only_delays_the_work(tmp_path: Path) -> None:
    """Without wake-ups (the processes run with no eventfds: every wake-up lost) the polls
    still carry every request through, a poll later."""
    headend = HeadEndProcess(cohort(), meters=scenario.headend_meters())
    processes: list[subprocess.Popen[bytes]] = []
    try:
        with CallbackServer() as callback:
            config = _estate_config(tmp_path, headend.endpoint, callback.url, 0.5)
            port = free_port()
            subprocess.run(  # the store prepared as the supervisor would (schema, seed data)
                [sys.executable, "-c", _PREPARE, str(config)], check=True, timeout=120
            )
            for kind, extra in (
                ("worker", []),
                ("deliverer", []),
                ("gateway", ["--port", str(port)]),
            ):
                processes.append(
                    subprocess.Popen(
                        [
                            sys.executable,
                            "-m",
                            "opendcc",
                            "process",
                            kind,
                            "--config",
                            str(config),
                            *extra,
                        ],
                        stdout=subprocess.DEVNULL,
                        stderr=(tmp_path / f"{kind}.log").open("wb"),
                    )
                )
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            estate = _Estate(_Url(url), callback)  # type: ignore[arg-type]
            try:
                keys = send(estate, 3)
                assert callback.wait_for(keys, timeout=60), keys - callback.keys()
            finally:
                estate.http.close()
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
        headend.stop()


class _Url:
    def __init__(self, url: str) -> None:
        self.url = url


_PREPARE = """
import sys
from pathlib import Path
from opendcc.config import load
from opendcc.processes.supervisor import prepare
prepare(load(Path(sys.argv[1])))
"""
