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

6.22 Configure Alert Behaviour switches the meter's alerts (``alerts``: those it sends its
head-end) on or off, per GBCS (Great Britain Companion Specification) code; a disabled alert is
still logged but no longer raised. The settings are for the meter of one ``fuel``: the other
fuel's meter refuses. The simulated meter has no HAN (home area network) alert or audible alarm
outputs and always logs, so ``han_alerts``, ``alarms`` and ``logging`` are checked like
``alerts`` and otherwise acknowledged without effect. Critical alerts (``0x8Fxx``) can never be
switched off, in any list: the meter refuses and nothing changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from opendcc.s1sp.services.base import InvalidParameters, Parameters, Result
from opendcc.s1sp.services.electives import (
    ALARMS,
    ALERTS,
    ELECTRICITY,
    GAS,
    HAN_ALERTS,
    LOGGING,
    alert_settings,
)
from opendcc.sim.services.base import Execute
from opendcc.sim.state import Esme, MeterError, MeterState, Reason
from opendcc.sim.state.device import Alerts
from opendcc.sim.state.events import configure_alerts


def export_registers(
    meter: MeterState, parameters: Parameters, now: datetime
) -> tuple[Result, Alerts]:
    """4.2 Read Instantaneous Export Registers."""
    if not isinstance(meter, Esme):
        raise MeterError(Reason.UNSUPPORTED, "only an electricity meter registers export")
    return {"export_register": meter.export_wh(now)}, ()


def _settings(parameters: Parameters, name: str) -> dict[int, bool]:
    try:
        return alert_settings(parameters.get(name, ""))
    except InvalidParameters as exc:
        raise MeterError(Reason.INVALID_VALUE, f"{name}: {exc}") from None


def configure_alert_behaviour(
    meter: MeterState, parameters: Parameters, now: datetime
) -> tuple[Result, Alerts]:
    """6.22 Configure Alert Behaviour."""
    fuel = parameters.get("fuel", GAS if meter.gas else ELECTRICITY)
    if fuel not in (ELECTRICITY, GAS) or (fuel == GAS) != meter.gas:
        raise MeterError(Reason.UNSUPPORTED, f"these are {fuel} settings, for another meter")
    for other in (HAN_ALERTS, ALARMS, LOGGING):
        configure_alerts(frozenset(), _settings(parameters, other))  # checked, no effect
    return {}, meter.configure_alerts(now, _settings(parameters, ALERTS))


EXECUTORS: Mapping[str, Execute] = {
    "4.2": export_registers,
    "6.22": configure_alert_behaviour,
}
