"""``Schedules``: the room as the hub wires it (handlers for 5.1-5.3, and the runner task)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence

from sqlalchemy import Engine

from opendcc.alerts.messages import AlertSigner
from opendcc.catalogue import Catalogue
from opendcc.core.clock import Clock
from opendcc.core.eui import Eui64
from opendcc.core.woken import woken
from opendcc.dsp.frontdoor import NonDevice
from opendcc.schedules.handlers import ScheduleRequests
from opendcc.schedules.messages import ScheduleMessages
from opendcc.schedules.runner import Made, Runner
from opendcc.schedules.settings import Authorise, ScheduleSettings, Submit
from opendcc.schedules.store import ScheduleStore
from opendcc.smki.credentials import SigningCredentials

log = logging.getLogger(__name__)


class Schedules:
    def __init__(
        self,
        *,
        engine: Engine,
        clock: Clock,
        catalogue: Catalogue,
        authorise: Authorise,
        submit: Submit,
        dsp: SigningCredentials,
        s1sp: SigningCredentials,
        signer: AlertSigner,
        callback_of: Callable[[Eui64], str | None],
        settings: ScheduleSettings,
        on_outbox: Callable[[], None] = lambda: None,
        interactive_busy: Callable[[], bool] = lambda: False,
        prefetch: Callable[[Sequence[Eui64]], object] = lambda _devices: None,
    ) -> None:
        self.settings = settings
        self.store = ScheduleStore(engine, settings.spread)
        self.wake = asyncio.Event()  # set after a 5.1 commit: the runner looks at once
        self._loop: asyncio.AbstractEventLoop | None = None
        self.requests = ScheduleRequests(
            store=self.store, catalogue=catalogue, authorise=authorise, wake=self._wake
        )
        self.runner = Runner(
            engine=engine,
            clock=clock,
            catalogue=catalogue,
            store=self.store,
            authorise=authorise,
            submit=submit,
            messages=ScheduleMessages(dsp=dsp, s1sp=s1sp, signer=signer),
            callback_of=callback_of,
            settings=settings,
            on_outbox=on_outbox,
            interactive_busy=interactive_busy,
            prefetch=prefetch,
        )

    def handlers(self) -> Mapping[str, NonDevice]:
        """The front door's non-device handlers: 5.1 Create, 5.2 Read, 5.3 Delete Schedule."""
        return self.requests.handlers()

    async def run(self) -> None:
        """Forever: make the runs that are due, then wait for a 5.1 or the next poll."""
        self._loop = asyncio.get_running_loop()
        while True:
            try:
                made = await self.runner.run_due()
            except Exception:  # the database away for a moment: look again after a poll
                log.exception("DCC schedules: a look at the due runs failed")
                made = []
            if any(m is not Made.INTERRUPTED for m in made):
                continue  # moved rows (a missed run's catch-up) may be due already
            await woken(self.wake, self.settings.poll)
            self.wake.clear()

    async def run_due(self) -> int:
        """One pass: make every run due now; how many runs were answered. A schedule found
        with a stale occurrence is moved on instead (recorded missed); its catch-up run, if
        it has one, is made by the next pass."""
        made = await self.runner.run_due()
        return sum(1 for m in made if m is Made.RUN)

    def _wake(self) -> None:
        """Set ``wake`` from the front door's thread or from the event loop's own."""
        loop = self._loop
        if loop is None or loop.is_closed():
            self.wake.set()
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self.wake.set()
        else:
            loop.call_soon_threadsafe(self.wake.set)
