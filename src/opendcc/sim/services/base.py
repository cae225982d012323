"""The shape of a simulated service execution (see ``opendcc.sim.services``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TypeAlias

from opendcc.s1sp.services.base import Parameters, Result
from opendcc.sim.state import MeterState
from opendcc.sim.state.device import Alerts

# Carries out one SRV on a meter at an instant: the Result and the alerts the meter raised.
Execute: TypeAlias = Callable[[MeterState, Parameters, datetime], tuple[Result, Alerts]]
