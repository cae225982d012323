"""How the schedules room is tuned, and the two calls the hub lends it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from opendcc.core.eui import Eui64
from opendcc.inventory import Device
from opendcc.s1sp.contract import Instruction, Outcome


@dataclass(frozen=True)
class ScheduleSettings:
    """``spread``: runs of one nominal instant are made over this window after it;
    ``concurrency``: runs in flight at once; ``batch``: rows claimed per look; ``lease``: how
    long a claimed run is held before another runner may take it over; ``missed_window``: an
    occurrence older than this is not run late, it is recorded missed; ``poll``: real seconds
    between looks when idle (a 5.1 wakes the runner at once); ``in_hub``: the hub process makes
    the runs (True), or runner processes of their own do (``opendcc schedules run``)."""

    spread: timedelta = timedelta(minutes=30)
    concurrency: int = 16
    batch: int = 500
    lease: timedelta = timedelta(minutes=5)
    missed_window: timedelta = timedelta(days=1)
    # Runs fall due over a spread of minutes: a look a second (``store.peek``) starts each at
    # most a second late; at 0.2 s the looks were a third of an idle scheduler's CPU.
    poll: float = 1.0
    in_hub: bool = True

    def __post_init__(self) -> None:
        if self.spread < timedelta(0) or self.lease <= timedelta(0):
            raise ValueError("the spread is not negative and the lease is positive")
        if self.concurrency < 1 or self.batch < 1 or self.poll <= 0:
            raise ValueError("concurrency, batch and poll are positive")


# Whether the User may have the SRV carried out on the device now, as if it sent the request
# itself (E1 E3 E2 E19 E11 E5 E4, the S1SP offers it: E11, restricted mode: E71): the device,
# or ``AccessDenied``. Arguments: user, srv, device, now.
Authorise = Callable[[Eui64, str, Eui64, datetime], Device]
# Carry out an instruction through the cohort's adapter (the hub has the DCO seal it).
Submit = Callable[[str, Instruction], Awaitable[Outcome]]
