"""Head-end simulators carry out the elective SMETS1 services on a meter model.

SMETS1: Smart Metering Equipment Technical Specifications, first edition. Elective services are
those only some cohorts offer beyond the core set; each executor reads the simulated meter at
``now`` through the ``opendcc.sim.state`` API and answers the ``Result`` that
``opendcc.s1sp.services.electives`` documents.

4.2 Read Instantaneous Export Registers reads an ESME's (electricity smart metering equipment)
active export register (solar export, Wh); a GSME (gas) has nothing to export and refuses. The
model keeps no reactive export register and nothing to derive one from (its power factor is the
household load's, not the solar inverter's), so the Result leaves ``reactive_export_varh`` out,
as the MMC (Message Mapping Catalogue) response allows. A read raises no alerts.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from opendcc.s1sp.services.base import Parameters, Result
from opendcc.sim.services.base import Execute
from opendcc.sim.state import Esme, MeterError, MeterState, Reason
from opendcc.sim.state.device import Alerts


def export_registers(
    meter: MeterState, parameters: Parameters, now: datetime
) -> tuple[Result, Alerts]:
    """4.2 Read Instantaneous Export Registers."""
    if not isinstance(meter, Esme):
        raise MeterError(Reason.UNSUPPORTED, "only an electricity meter registers export")
    return {"export_register": meter.export_wh(now)}, ()


EXECUTORS: Mapping[str, Execute] = {"4.2": export_registers}
