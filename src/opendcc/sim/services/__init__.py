"""Head-end simulators carry out the core SMETS1 services on their meter model.

For each SRV (Service Reference Variant) an ``Execute`` takes a simulated meter, the
instruction's parameters (as ``opendcc.s1sp.services`` reads them from the DUIS request) and
the instant, changes the meter if the service writes, and returns the ``Result`` the S1SP
answers with and the alerts the meter raised. A meter that refuses raises ``MeterError``.
Each module holds a family of SRVs and exports ``EXECUTORS``; they are joined here. The
``notices`` family takes the DCC's notices to the S1SP, recorded by the head-end on the meter.
``firmware`` carries out 11.1 and 11.3 the two-stage way, on the meter; a one-stage head-end
overlays its own (``firmware.StagedImages``). The cancel notice 99.2 and future-dated
instructions are the head-end's business (``opendcc.sim.headends.core``), not the meter's.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from opendcc.s1sp.services.base import Parameters, Result, srv_table
from opendcc.sim.services.base import Execute
from opendcc.sim.state import MeterError, MeterState, Reason
from opendcc.sim.state.device import Alerts


def _families() -> list[Mapping[str, Execute]]:
    from opendcc.sim.services import (
        alcs,
        config,
        credentials,
        electives,
        firmware,
        notices,
        prepayment,
        reads,
        registers,
        settings,
    )

    return [
        prepayment.EXECUTORS,
        reads.EXECUTORS,
        config.EXECUTORS,
        settings.EXECUTORS,
        electives.EXECUTORS,
        credentials.EXECUTORS,
        notices.EXECUTORS,
        firmware.EXECUTORS,
        alcs.EXECUTORS,
        registers.EXECUTORS,
    ]


EXECUTORS: Mapping[str, Execute] = srv_table((family.items() for family in _families()), "executed")


def execute(
    meter: MeterState, srv: str, parameters: Parameters, now: datetime
) -> tuple[Result, Alerts]:
    """Carry out ``srv`` on ``meter`` at ``now``: its Result and the alerts raised."""
    try:
        run = EXECUTORS[srv]
    except KeyError:
        raise MeterError(Reason.UNSUPPORTED, f"the meter does not offer SRV {srv}") from None
    return run(meter, parameters, now)


__all__ = ["EXECUTORS", "Execute", "execute"]
