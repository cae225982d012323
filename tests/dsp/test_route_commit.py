"""The router's writes awaited from the event loop: committed once answered, never lost."""

from __future__ import annotations

import asyncio
import threading

from sqlalchemy import Connection, Engine, func, select
from tests.dsp.test_ending import RIDS, TO_S1SP, accepted
from tests.reference import NOW

from opendcc.dsp.ending import Advance
from opendcc.dsp.lifecycle import RequestState
from opendcc.store.group import GroupCommit
from opendcc.store.tables import request_transitions

S = RequestState


def transitions(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(request_transitions)).scalar_one()


def test_an_awaited_piece_is_committed_when_the_loop_has_its_answer(engine: Engine) -> None:
    requests = accepted(engine)
    group = GroupCommit(engine)
    before = transitions(engine)

    async def main() -> None:
        await asyncio.wrap_future(group.submit(Advance(RIDS[0], S.ACCEPTED, TO_S1SP, NOW)))
        # Answered only after the commit: another connection sees the rows.
        assert transitions(engine) == before + 3
        outcome = requests.outcome(RIDS[0])
        assert outcome is not None and outcome.state is S.SENT_TO_S1SP

    try:
        asyncio.run(main())
    finally:
        group.close()


def test_a_caller_cancelled_while_its_batch_runs_leaves_the_writer_working(
    engine: Engine,
) -> None:
    """The work is committed all the same, and the writer goes on to the next batch. (A future
    the caller could cancel would make the writer's ``set_result`` raise and kill it.)"""
    requests = accepted(engine)
    group = GroupCommit(engine)
    running, release = threading.Event(), threading.Event()

    def held(conn: Connection) -> None:
        running.set()
        assert release.wait(10)
        Advance(RIDS[0], S.ACCEPTED, TO_S1SP, NOW)(conn)

    async def main() -> None:
        waiting = asyncio.ensure_future(asyncio.wrap_future(group.submit(held)))
        assert await asyncio.to_thread(running.wait, 10)
        waiting.cancel()
        await asyncio.sleep(0)
        release.set()
        # The next piece still gets its answer, so the writer lived through the cancel.
        next_piece = Advance(RIDS[1], S.ACCEPTED, TO_S1SP, NOW)
        await asyncio.wait_for(asyncio.wrap_future(group.submit(next_piece)), 10)

    try:
        asyncio.run(main())
    finally:
        group.close()
    for rid in RIDS[:2]:
        outcome = requests.outcome(rid)
        assert outcome is not None and outcome.state is S.SENT_TO_S1SP
