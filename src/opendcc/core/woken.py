"""Waiting for a wake-up or a poll's interval, whichever comes first, losing no cancel.

Every background loop of the hub (workers, deliverer, publisher, schedules, firmware, alerts,
notices, future-dated sweeps) sleeps this way between looks. Under ``asyncio.timeout``, not
``asyncio.wait_for``: Python 3.11's ``wait_for`` drops a cancellation that arrives in the turn
the event is set, and a loop that waits that way may then never stop (seen: the deliverer, one
test run in six).
"""

from __future__ import annotations

import asyncio
import contextlib


async def woken(event: asyncio.Event, timeout: float) -> bool:
    """Wait for ``event`` for at most ``timeout`` seconds; whether it was set."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout):
            await event.wait()
            return True
    return False
