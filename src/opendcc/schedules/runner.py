"""The runner: makes each active schedule's runs when they fall due (see the package docstring).

One run of occurrence ``N`` of schedule ``S``: claim the row (lease), ask ``Authorise`` whether
the User may still have the SRV carried out on the device, build the SRV's request parameters
for ``N``, submit ``Instruction(SCHED-S-N)`` to the device's cohort, then in one transaction
write the signed Response to the outbox and move the row to its next occurrence.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from sqlalchemy import Engine

from opendcc.catalogue import Catalogue
from opendcc.core.clock import Clock
from opendcc.core.errors import ResponseCode
from opendcc.core.eui import Eui64
from opendcc.dsp.access import AccessDenied
from opendcc.dsp.route import OUTCOME_CODES
from opendcc.duis.response import Smets1Payload, Smets1Status
from opendcc.duis.xml import parse_xml
from opendcc.inventory import Device
from opendcc.queue.outbox import Message, Outbox
from opendcc.s1sp import services
from opendcc.s1sp.contract import Instruction
from opendcc.s1sp.services import InvalidParameters
from opendcc.schedules.definition import parse_definition
from opendcc.schedules.messages import ScheduleMessages, instruction_id, run_key
from opendcc.schedules.settings import Authorise, ScheduleSettings, Submit
from opendcc.schedules.store import ScheduleRow, ScheduleStore

log = logging.getLogger(__name__)

# Refusals that mean the schedule can never run again for its User: the DCC stops it (N16).
STOPPING = frozenset(
    {
        ResponseCode.NOT_RESPONSIBLE_PARTY,  # E4: change of supplier
        ResponseCode.UNKNOWN_DEVICE,  # E19: the device left the inventory
        ResponseCode.DEVICE_STATUS_INCOMPATIBLE,  # E5: decommissioned, withdrawn, ...
    }
)


class Made(Enum):
    """What became of one claimed row."""

    RUN = "run"  # answered (I0, E20, E21, or a refusal such as E71); the row moved on
    MISSED = "missed"  # stale occurrences skipped; the row moved to its catch-up or next one
    STOPPED = "stopped"  # the User may no longer have it; N16 sent
    INTERRUPTED = "interrupted"  # not finished; the lease's end makes it claimable again


@dataclass(frozen=True, slots=True)
class Answer:
    code: ResponseCode
    payload: Smets1Payload


def _failure(code: ResponseCode, why: str) -> Answer:
    return Answer(code, Smets1Payload(statuses=(Smets1Status(int(code.value[1:]), why[:250]),)))


class Runner:
    def __init__(
        self,
        *,
        engine: Engine,
        clock: Clock,
        catalogue: Catalogue,
        store: ScheduleStore,
        authorise: Authorise,
        submit: Submit,
        messages: ScheduleMessages,
        callback_of: Callable[[Eui64], str | None],
        settings: ScheduleSettings,
        on_outbox: Callable[[], None],
        interactive_busy: Callable[[], bool],
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.catalogue = catalogue
        self.store = store
        self.authorise = authorise
        self.submit = submit
        self.messages = messages
        self.callback_of = callback_of
        self.settings = settings
        self.on_outbox = on_outbox
        self.interactive_busy = interactive_busy

    async def run_due(self) -> list[Made]:
        """Claim what is due now, batch after batch, and make each; what became of each row."""
        made: list[Made] = []
        slots = asyncio.Semaphore(self.settings.concurrency)
        while True:
            await self._quiet()
            now = self.clock.now()
            batch, lease = self.settings.batch, self.settings.lease
            rows = await asyncio.to_thread(self.store.claim, now, batch, lease)
            made += await asyncio.gather(*(self._slot(slots, row) for row in rows))
            if len(rows) < batch:
                return made

    async def _quiet(self) -> None:
        """Interactive requests and top-ups go first: start nothing while they are busy."""
        while self.interactive_busy():
            await asyncio.sleep(self.settings.poll)

    async def _slot(self, slots: asyncio.Semaphore, row: ScheduleRow) -> Made:
        async with slots:
            await self._quiet()
            try:
                return await self._make(row)
            except Exception:
                log.exception("schedule %s: run interrupted", row.schedule_id)
                return Made.INTERRUPTED

    async def _make(self, row: ScheduleRow) -> Made:
        nominal = row.next_run_at
        if nominal is None:  # only an active row with a next run is ever claimed
            return Made.INTERRUPTED
        now = self.clock.now()
        if now - nominal > self.settings.missed_window:
            await asyncio.to_thread(self._skip, row, nominal, now)
            return Made.MISSED
        try:
            device = await asyncio.to_thread(
                self.authorise, row.user_id, row.srv, row.device_id, now
            )
        except AccessDenied as exc:
            code = exc.code or ResponseCode.INVALID_USER_ROLE
            if code in STOPPING:
                await asyncio.to_thread(self._stop, row, nominal, code, str(exc))
                return Made.STOPPED
            answer = _failure(code, str(exc))
        else:
            carried = await self._carry_out(row, nominal, device)
            if carried is None:
                return Made.INTERRUPTED
            answer = carried
        await asyncio.to_thread(self._finish, row, nominal, answer)
        return Made.RUN

    async def _carry_out(
        self, row: ScheduleRow, nominal: datetime, device: Device
    ) -> Answer | None:
        if device.cohort is None:
            return _failure(ResponseCode.DEVICE_UNREACHABLE, "no S1SP serves this device")
        definition = parse_definition(parse_xml(row.body.encode("utf-8")).getroot())
        try:
            parameters = definition.parameters(nominal)
        except InvalidParameters as exc:
            return _failure(ResponseCode.SRV_NOT_FOR_DEVICE_TYPE, str(exc))
        instruction = Instruction(
            request_id=instruction_id(row.schedule_id, nominal),
            srv=row.srv,
            device_id=row.device_id,
            parameters=parameters,
        )
        try:
            outcome = await self.submit(device.cohort, instruction)
        except Exception:
            log.exception("schedule %s: %s not submitted", row.schedule_id, instruction.request_id)
            return None
        code = OUTCOME_CODES[outcome.status]
        if code is not ResponseCode.SUCCESS:
            return _failure(code, outcome.detail or outcome.status.value)
        element = services.response_element(row.srv, outcome.data)
        return Answer(code, Smets1Payload(smets_data=element))

    # ------------------------------------------------------------------ store steps

    def _finish(self, row: ScheduleRow, nominal: datetime, answer: Answer) -> None:
        """The Response to the outbox and the row to its next occurrence, in one commit."""
        now = self.clock.now()
        url = self.callback_of(row.user_id)
        body = self.messages.run_response(
            schedule_id=row.schedule_id,
            device_id=row.device_id,
            user_id=row.user_id,
            service_reference=self.catalogue.get(row.srv).service_reference,
            srv=row.srv,
            code=answer.code,
            payload=answer.payload,
            now=now,
        )
        with self.engine.begin() as conn:
            advanced = self.store.advance_in(conn, row, nominal, outcome=answer.code.value, now=now)
            if advanced and url is not None:
                key = run_key(row.schedule_id, nominal)
                Outbox.put_in(conn, Message(key, str(row.user_id), url, body, bulk=True), now)
        if advanced:
            self.on_outbox()

    def _skip(self, row: ScheduleRow, nominal: datetime, now: datetime) -> None:
        """Missed-run rule: run the latest occurrence still within the window (once), else
        wait for the next one; the occurrences in between are recorded missed."""
        recurrence = row.recurrence
        latest = recurrence.latest_at_or_before(now)
        if latest is not None and latest > nominal and now - latest <= self.settings.missed_window:
            following: datetime | None = latest
        else:
            following = recurrence.next_after(now)
        log.warning(
            "schedule %s: runs from %s missed; next %s", row.schedule_id, nominal, following
        )
        with self.engine.begin() as conn:
            self.store.skip_in(conn, row, nominal, following)

    def _stop(self, row: ScheduleRow, nominal: datetime, code: ResponseCode, why: str) -> None:
        now = self.clock.now()
        url = self.callback_of(row.user_id)
        alert = None
        if url is not None:
            alert = self.messages.removal(
                schedule_id=row.schedule_id,
                device_id=row.device_id,
                user_id=row.user_id,
                url=url,
                now=now,
            )
        with self.engine.begin() as conn:
            stopped = self.store.stop_in(conn, row, nominal, code=code.value, reason=why)
            if stopped and alert is not None:
                Outbox.put_in(conn, alert, now)
        if stopped:
            self.on_outbox()
