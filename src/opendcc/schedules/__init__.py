"""DCC schedules (DUIS SRVs 5.1 Create, 5.2 Read, 5.3 Delete Schedule): reads the DSP makes on a
User's behalf, on a recurring timetable, answered to the User like its own requests.

A User creates a schedule with a ``DSPSchedule``: how often (Daily ... Yearly), from and until
when, at what UTC time, which schedulable SRV (4.6.1, 4.8.1, 4.10, 4.14, 4.17 on SMETS1) for
which device, and the SRV's parameters as offsets from each run's date. The front door answers
5.1-5.3 synchronously through ``Schedules.handlers()`` (``handlers``); the hub runs
``Schedules.run()`` as a task (``runner``), which makes each run when due and writes its signed
Response, carrying ``DSPScheduleID`` and no RequestID, to the User's outbox (``messages``).

**Spread and priority.** A run is made at its nominal instant plus an offset in
``[0, settings.spread)`` fixed per schedule by a hash of its id, so a million schedules set for
01:00 are spread over the window. The runner claims due rows in batches (``settings.batch``),
carries out at most ``settings.concurrency`` at once, and starts nothing while
``interactive_busy()`` says interactive requests or top-ups are waiting.

**Each run is checked again.** Before each run the User's right is re-checked as for a request
of its own. E4 (change of supplier), E19 or E5 (the device left service) stop the schedule for
good (state ``stopped``, ``stopped_reason``) and send the User DCC alert N16
(``DSPScheduleRemoval``). Any other refusal (E71 restricted mode, E11 ...) answers that run
with its code, and the schedule carries on.

**Restarts.** The schedule is in the database: its next nominal run (``next_run_at``), when that
run is made (``due_at``) and any lease on it. A run claims its row for ``settings.lease``; the
Response and the row's move to the next occurrence are committed together. A process killed
mid-run leaves the lease, whose end makes the run claimable again with the same instruction id
``SCHED-<id>-<nominal>``, which the head-end treats as an idempotency key: the meter is read
once and the User gets one Response (outbox key ``S:<id>:<nominal>``; every finishing step is
conditional on the row still being at that occurrence).

**Missed runs.** When the runner finds an occurrence older than ``settings.missed_window``
(downtime, a long outage of the runner), it does not make the old runs: it records
``last_outcome = "missed"`` and moves the schedule to the most recent occurrence that is still
within the window, which then runs once (a catch-up), or else to the next future occurrence.
After any downtime each schedule therefore runs at most once to catch up.
"""

from __future__ import annotations

from opendcc.schedules.recurrence import Frequency, Recurrence, spread_offset
from opendcc.schedules.service import Schedules
from opendcc.schedules.settings import Authorise, ScheduleSettings, Submit

__all__ = [
    "Authorise",
    "Frequency",
    "Recurrence",
    "ScheduleSettings",
    "Schedules",
    "Submit",
    "spread_offset",
]
