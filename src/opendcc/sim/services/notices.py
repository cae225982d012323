"""Head-end simulators take the DCC's notices to an S1SP (``opendcc.s1sp.services.notices``).

99.1 Restriction notice: the DCC (Data Communications Company) tells the S1SP (SMETS1 Service
Provider) that a Supplier set or cleared MP169 restricted mode on a meter. The head-end records
it as its own view of the meter (``MeterState.note_restriction``): the meter is not settled,
nothing is logged in its event log and no alert is raised. A notice that repeats the record
succeeds and changes nothing (``changed`` 0). A malformed notice is refused (``MeterError``,
``invalid_value``), as the head-end refuses a malformed command.

99.3 Decommission notice: the DCC tells the S1SP a User decommissioned the device (DUIS 8.3);
the meter leaves service (``MeterState.decommission``) and refuses everything after. A meter
already decommissioned takes a repeated notice as done.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from opendcc.s1sp.services.base import InvalidParameters, Parameters, Result
from opendcc.s1sp.services.notices import (
    DECOMMISSION_NOTICE,
    RESTRICTION_NOTICE,
    RestrictionNotice,
)
from opendcc.sim.services.base import Execute
from opendcc.sim.state import MeterError, MeterState, Reason, Restriction
from opendcc.sim.state.device import Alerts


def restriction_notice(
    meter: MeterState, parameters: Parameters, now: datetime
) -> tuple[Result, Alerts]:
    """99.1 Restriction notice: the Result is ``restricted`` and ``changed`` (1 or 0)."""
    del now  # the notice says when; the meter's clock has no part in it
    try:
        notice = RestrictionNotice.from_parameters(parameters)
    except InvalidParameters as exc:
        raise MeterError(Reason.INVALID_VALUE, str(exc)) from None
    record = Restriction(
        restricted=notice.restricted,
        since=notice.since,
        set_by="" if notice.set_by is None else str(notice.set_by),
        reason=notice.reason,
    )
    changed = meter.note_restriction(record)
    return {"restricted": int(record.restricted), "changed": int(changed)}, ()


def decommission_notice(
    meter: MeterState, parameters: Parameters, now: datetime
) -> tuple[Result, Alerts]:
    """99.3 Decommission notice: the meter leaves service and refuses everything after. A
    notice repeated (a resend after a crash) finds it decommissioned already: still done."""
    try:
        return {"decommissioned": 1}, meter.decommission(now)
    except MeterError as exc:
        if exc.reason is not Reason.DECOMMISSIONED:
            raise
        return {"decommissioned": 1}, ()


EXECUTORS: Mapping[str, Execute] = {
    RESTRICTION_NOTICE: restriction_notice,
    DECOMMISSION_NOTICE: decommission_notice,
}
