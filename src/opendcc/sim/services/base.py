"""The shape of a simulated service execution (see ``opendcc.sim.services``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TypeAlias

from opendcc.s1sp.services.base import Parameters, Result
from opendcc.sim.state import Esme, Gsme, MeterError, MeterState, Reason
from opendcc.sim.state.device import Alerts

# Carries out one SRV on a meter at an instant: the Result and the alerts the meter raised.
Execute: TypeAlias = Callable[[MeterState, Parameters, datetime], tuple[Result, Alerts]]


class RefusedAfterAlerts(MeterError):
    """The meter refused the service after raising alerts on the way (a firmware image that
    fails verification raises 0x8F1C): the head-end answers REJECTED and still pushes them."""

    def __init__(self, reason: Reason, detail: str, alerts: Alerts) -> None:
        super().__init__(reason, detail)
        self.alerts = alerts


def electricity_meter(meter: MeterState, refusal: str) -> Esme:
    """``meter`` as an ESME; a gas meter refuses the service as unsupported, with ``refusal``."""
    if not isinstance(meter, Esme):
        raise MeterError(Reason.UNSUPPORTED, refusal)
    return meter


def gas_meter(meter: MeterState, refusal: str) -> Gsme:
    """``meter`` as a GSME; an electricity meter refuses the service as unsupported, with
    ``refusal``."""
    if not isinstance(meter, Gsme):
        raise MeterError(Reason.UNSUPPORTED, refusal)
    return meter
