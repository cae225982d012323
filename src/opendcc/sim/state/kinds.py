"""The two kinds of simulated meter: electricity (ESME) and gas (GSME).

An ESME (electricity smart metering equipment) adds what only mains electricity has: reactive
import, export from solar panels, the RMS (root mean square) supply voltage and its thresholds.
A GSME (gas smart metering equipment) registers volume, in litres, and converts it to energy
with its conversion factor and calorific value; it runs on a battery and is reached through a
gas proxy, which the simulator does not model: a GSME simply holds its own state, and there is
no mains power to lose.
"""

from __future__ import annotations

from datetime import datetime

from opendcc.core.eui import Eui64
from opendcc.sim.state.config import GasConfig, VoltageConfig
from opendcc.sim.state.device import Alerts, MeterState
from opendcc.sim.state.errors import MeterError, Reason
from opendcc.sim.state.events import EventCode
from opendcc.sim.state.household import TICKS_PER_UNIT, Household


class Esme(MeterState):
    """A simulated SMETS1 electricity meter."""

    model = "SIM-ESME-1"
    _voltage_config = VoltageConfig()

    @classmethod
    def household_for(cls, device_id: Eui64) -> Household:
        return Household.electricity(device_id)

    def reactive_import_varh(self, now: datetime) -> int:
        """Reactive energy imported, varh: a fixed share of active import (a power factor)."""
        return self.import_registers(now).total * self.household.reactive_permille // 1000

    def export_wh(self, now: datetime) -> int:
        """Active energy exported, Wh."""
        return self._view(now).ledger.export // TICKS_PER_UNIT

    def voltage_dv(self, now: datetime) -> int:
        """4.10 Read Network Data: RMS voltage, decivolts; zero without mains power."""
        view = self._view(now)
        if not view.ledger.powered:
            return 0
        drawing = self.power_w(now)
        return self.household.voltage_dv(self.device_id, view.ledger.at, drawing_w=drawing)

    @property
    def voltage_config(self) -> VoltageConfig:
        """6.2.1 Read Device Configuration (Voltage)."""
        self._check_live()
        return self._voltage_config

    def update_voltage_configuration(self, now: datetime, config: VoltageConfig) -> Alerts:
        with self._operation(now) as op:
            self._voltage_config = config
            op.happen(EventCode.DEVICE_CONFIG_UPDATED, ("item", "voltage"))
        return op.alerts


class Gsme(MeterState):
    """A simulated SMETS1 gas meter; registers count litres (1/1000 m3)."""

    gas = True
    model = "SIM-GSME-1"
    _gas_config = GasConfig()

    @classmethod
    def household_for(cls, device_id: Eui64) -> Household:
        return Household.gas(device_id)

    def _energy_mult(self) -> int:
        return self._gas_config.energy_mult

    def volume_l(self, now: datetime) -> int:
        """The volume register, litres."""
        return self.import_registers(now).total

    @property
    def gas_config(self) -> GasConfig:
        """6.2.8 Read Device Configuration (Gas)."""
        self._check_live()
        return self._gas_config

    def update_gas_configuration(self, now: datetime, config: GasConfig) -> Alerts:
        """New conversion factor and calorific value; energy already registered is kept."""
        with self._operation(now) as op:
            self._gas_config = config
            op.happen(EventCode.DEVICE_CONFIG_UPDATED, ("item", "gas"))
        return op.alerts

    def power_outage(self, now: datetime) -> Alerts:
        raise MeterError(Reason.UNSUPPORTED, "a battery-powered gas meter has no mains to lose")

    def power_restore(self, now: datetime) -> Alerts:
        raise MeterError(Reason.UNSUPPORTED, "a battery-powered gas meter has no mains to lose")
