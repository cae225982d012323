"""A sequenced request runs as soon as its predecessor ends, not at the worker pool's next poll.

The pool claims after a job's end only when the end released a waiting job (``queue.worker``):
the release is the one thing that makes the successor due, so nothing else would wake the pool
for it. Here the pool's poll is a minute, so only that wake-up can carry the successor on.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from tests.time.rig import Rig, at, code_of, timed_estate, wait_until

from opendcc.dsp.lifecycle import RequestState
from opendcc.store.tables import jobs

S = RequestState
COHORT = "aclara"  # its head-end does not date commands: the DSP holds them
# Far beyond the test's bounds: a successor that waited for the poll fails the test.
POLL = 60.0


def _read(execute: str | None = None) -> str:
    when = f"<sr:ExecutionDateTime>{execute}</sr:ExecutionDateTime>" if execute else ""
    return f"<sr:ReadInstantaneousImportRegisters>{when}</sr:ReadInstantaneousImportRegisters>"


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    with timed_estate(tmp_path) as running:
        yield running


def test_a_successor_is_claimed_as_soon_as_its_predecessor_ends(rig: Rig) -> None:
    hub = rig.running
    hub.workers.poll = POLL  # its current wait (a fraction of a second) ends first
    device, _ = rig.meter_of(COHORT)
    # The predecessor waits for its time (the DSP holds it), its successor for it.
    later = at(rig.clock.now() + timedelta(hours=1))
    first, answer = rig.send("4.1.1", device, _read(later), first=True)
    assert answer.code == "I99"
    second, answer = rig.send("4.1.1", device, _read(), preceding=first)
    assert answer.code == "I99"
    time.sleep(0.5)  # the pool has looked, found nothing due and waits on the long poll
    assert rig.state(second) is S.ACCEPTED

    rig.advance(timedelta(hours=1))
    loop = rig._loop
    assert loop is not None
    loop.call_soon_threadsafe(hub.workers.wake.set)  # the predecessor's time has come
    assert wait_until(lambda: rig.state(first) in (S.RESPONDED, S.DELIVERED), timeout=20)
    ended = time.monotonic()
    # Generous for a loaded box, and far below the poll.
    assert wait_until(lambda: rig.state(second) is not S.ACCEPTED, timeout=10)
    assert time.monotonic() - ended < 10
    assert code_of(rig.response_to(first)) == "I0"
    assert code_of(rig.response_to(second)) == "I0"


def test_a_job_the_sequencing_sweep_frees_is_claimed_at_once(rig: Rig) -> None:
    """A job left waiting for a request that has already ended (as the door parks a successor
    on a predecessor answered but not yet delivered) is freed by the future-dated sweep, which
    then wakes the workers: it runs long before the pool's poll."""
    hub = rig.running
    hub.workers.poll = POLL
    device, _ = rig.meter_of(COHORT)
    first, answer = rig.send("4.1.1", device, _read(), first=True)
    assert answer.code == "I99"
    assert wait_until(lambda: rig.state(first) is S.DELIVERED, timeout=20)
    later = at(rig.clock.now() + timedelta(hours=1))
    second, answer = rig.send("4.1.1", device, _read(later))
    assert answer.code == "I99"
    time.sleep(0.5)  # the pool has looked, found nothing due and waits on the long poll
    assert rig.state(second) is S.ACCEPTED
    # The orphan: due now, but waiting for the request that has already ended.
    with hub.engine.begin() as conn:
        conn.execute(
            jobs.update()
            .where(jobs.c.request_id == str(second))
            .values(waits_for=str(first), run_after=rig.clock.now())
        )
    freed = time.monotonic()
    # Generous for a loaded box (the sweep looks every half second), far below the poll.
    assert wait_until(lambda: rig.state(second) is not S.ACCEPTED, timeout=10)
    assert time.monotonic() - freed < 10
    assert wait_until(lambda: rig.response_to(second) is not None, timeout=20)
    assert code_of(rig.response_to(second)) == "I0"
