"""``woken``: a wake-up, a timeout, and a cancel arriving as the event is set is never lost."""

from __future__ import annotations

import asyncio

import pytest

from opendcc.core.woken import woken


def test_woken_says_whether_the_event_came() -> None:
    async def main() -> tuple[bool, bool]:
        event = asyncio.Event()
        asyncio.get_running_loop().call_later(0.01, event.set)
        return await woken(event, 5), await woken(asyncio.Event(), 0.01)

    assert asyncio.run(main()) == (True, False)


@pytest.mark.parametrize("attempt", range(10))
def test_a_cancel_in_the_turn_of_the_wake_up_stops_the_waiter(attempt: int) -> None:
    """``asyncio.wait_for`` (3.11) lets this waiter run on; its loop would never stop."""

    async def main() -> bool:
        event = asyncio.Event()
        stopped = False

        async def loop() -> None:
            nonlocal stopped
            try:
                while True:
                    await woken(event, 5)
                    event.clear()
            except asyncio.CancelledError:
                stopped = True
                raise

        task = asyncio.create_task(loop())
        await asyncio.sleep(0)  # the loop waits
        event.set()
        task.cancel()  # in the same turn as the wake-up
        await asyncio.wait([task], timeout=2)
        return stopped and task.cancelled()

    assert asyncio.run(main())
