"""The runner: makes each active schedule's runs when they fall due (see the package docstring).

One run of occurrence ``N`` of schedule ``S``: claim the row (lease), ask ``Authorise`` whether
the User may still have the SRV carried out on the device, build the SRV's request parameters
for ``N``, submit ``Instruction(SCHED-S-N)`` to the device's cohort, then in one transaction
write the signed Response to the outbox and move the row to its next occurrence.

Runs finish in groups (``_Finisher``): the runs answered while one group is being written are
written next, together, in one transaction and one hop to a worker thread. A run whose group
was not written (the process stopped, the database failed) keeps its lease until it ends and is
then made again with the same instruction id, which the head-end carries out once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
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


@dataclass(frozen=True, slots=True)
class _Answered:
    row: ScheduleRow
    nominal: datetime
    answer: Answer


# The most runs one group commit writes.
GROUP = 200


class _Finisher:
    """Group commit for answered runs (see the module docstring)."""

    def __init__(self, write: Callable[[Sequence[_Answered]], list[bool]]) -> None:
        self._write = write
        self._pending: list[tuple[_Answered, asyncio.Future[bool]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def finish(self, answered: _Answered) -> bool:
        """Whether the run's Response and next occurrence were written."""
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._pending.append((answered, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_pending())
        return await done

    async def _write_pending(self) -> None:
        while self._pending:
            group, self._pending = self._pending[:GROUP], self._pending[GROUP:]
            try:
                written = await asyncio.to_thread(self._write, [item for item, _ in group])
            except Exception:
                log.exception("writing %d schedule runs failed; their leases will end", len(group))
                written = [False] * len(group)
            for (_, done), ok in zip(group, written, strict=True):
                if not done.done():
                    done.set_result(ok)


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
        prefetch: Callable[[Sequence[Eui64]], object] = lambda _devices: None,
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
        self.prefetch = prefetch

    async def run_due(self) -> list[Made]:
        """Claim what is due now, batch after batch, and make each; what became of each row."""
        made: list[Made] = []
        slots = asyncio.Semaphore(self.settings.concurrency)
        finisher = _Finisher(self._finish_all)
        while True:
            await self._quiet()
            now = self.clock.now()
            if not await self.store.any_due(now):
                return made  # the usual pass: a look, no claim's write transaction
            batch, lease = self.settings.batch, self.settings.lease
            rows = await asyncio.to_thread(self.store.claim, now, batch, lease)
            made += await self._make_all(rows, slots, finisher)
            if len(rows) < batch:
                return made

    async def _make_all(
        self, rows: Sequence[ScheduleRow], slots: asyncio.Semaphore, finisher: _Finisher
    ) -> list[Made]:
        """Make ``rows``, ``concurrency`` at a time. Their lookups are prefetched a slot's worth
        at a time, just before those runs start: the lookup caches keep an entry for about a
        second, far less than a batch takes."""
        window = self.settings.concurrency
        runs: list[asyncio.Task[Made]] = []
        for start in range(0, len(rows), window):
            ahead = rows[start : start + window]
            await asyncio.to_thread(self._prefetch, ahead)  # a few queries, not a few per run
            for row in ahead:
                await slots.acquire()  # started only when a slot is free
                runs.append(asyncio.create_task(self._slot(slots, finisher, row)))
        return list(await asyncio.gather(*runs))

    async def _quiet(self) -> None:
        """Interactive requests and top-ups go first: start nothing while they are busy."""
        while self.interactive_busy():
            await asyncio.sleep(self.settings.poll)

    def _prefetch(self, rows: Sequence[ScheduleRow]) -> None:
        try:
            self.prefetch([row.device_id for row in rows])
        except Exception:  # only a speed-up: each run looks its device up anyway
            log.exception("prefetching %d schedules' devices failed", len(rows))

    async def _slot(self, slots: asyncio.Semaphore, finisher: _Finisher, row: ScheduleRow) -> Made:
        """One run in a slot already taken; the slot is held while the meter is asked, not
        while writing."""
        try:
            await self._quiet()
            made = await self._make(row)
        except Exception:
            log.exception("schedule %s: run interrupted", row.schedule_id)
            return Made.INTERRUPTED
        finally:
            slots.release()
        if not isinstance(made, _Answered):
            return made
        return Made.RUN if await finisher.finish(made) else Made.INTERRUPTED

    async def _make(self, row: ScheduleRow) -> Made | _Answered:
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
        return _Answered(row, nominal, answer)

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

    def _finish_all(self, group: Sequence[_Answered]) -> list[bool]:
        """Each run's Response to the outbox and its row to its next occurrence, all in one
        commit; for each run, whether it was written (False: another runner took it over)."""
        now = self.clock.now()
        messages = [self._response(item, now) for item in group]
        with self.engine.begin() as conn:
            written = []
            for item, message in zip(group, messages, strict=True):
                code = item.answer.code.value
                advanced = self.store.advance_in(
                    conn, item.row, item.nominal, outcome=code, now=now
                )
                if advanced and message is not None:
                    Outbox.put_in(conn, message, now)
                written.append(advanced)
        if any(written):
            self.on_outbox()
        return written

    def _response(self, item: _Answered, now: datetime) -> Message | None:
        """The run's signed Response, or None when the User has no callback to take it."""
        row, answer = item.row, item.answer
        url = self.callback_of(row.user_id)
        if url is None:
            return None
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
        key = run_key(row.schedule_id, item.nominal)
        return Message(key, str(row.user_id), url, body, bulk=True)

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
