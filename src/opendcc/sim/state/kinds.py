"""The two kinds of simulated meter: electricity (ESME) and gas (GSME).

An ESME (electricity smart metering equipment) adds what only mains electricity has: reactive
import, export from solar panels, the RMS (root mean square) supply voltage and its thresholds.
A GSME (gas smart metering equipment) registers volume, in litres, and converts it to energy
with its conversion factor and calorific value; it runs on a battery and is reached through a
gas proxy, which the simulator does not model: a GSME simply holds its own state, and there is
no mains power to lose.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from opendcc.core.eui import Eui64
from opendcc.sim.state.alcs import SWITCHES, Alcs, DatePattern, Schedule
from opendcc.sim.state.config import GasConfig, VoltageConfig
from opendcc.sim.state.device import Alerts, MeterState
from opendcc.sim.state.errors import MeterError, Reason
from opendcc.sim.state.events import EventCode
from opendcc.sim.state.household import TICKS_PER_UNIT, Household


class Esme(MeterState):
    """A simulated SMETS1 electricity meter."""

    model = "SIM-ESME-1"
    _voltage_config = VoltageConfig()
    _alcs = Alcs()

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

    # ------------------------------------------------------------ auxiliary load control

    def alcs_switches(self, now: datetime) -> tuple[tuple[int, str, str, bool], ...]:
        """7.7: each switch's index, description, type and state at ``now``."""
        self._check_live()
        alcs = self._alcs
        return tuple(
            (n, alcs.descriptions.get(n, ""), alcs.switch_type(n), alcs.state(n, now))
            for n in range(1, SWITCHES + 1)
        )

    def alcs_log(self, now: datetime) -> tuple[tuple[datetime, int, str], ...]:
        """6.13 ALCSEvent: the ALCS event log, newest first."""
        self._check_live()
        return tuple(entry for entry in self._alcs.log if entry[0] <= now)

    def boost_log(self, now: datetime) -> tuple[tuple[datetime, datetime], ...]:
        """7.11: the boosts begun by ``now`` (start, end), newest first."""
        self._check_live()
        return tuple(b for b in self._alcs.boosts if b[0] <= now)

    @property
    def boosted_switches(self) -> frozenset[int]:
        self._check_live()
        return self._alcs.boosted

    def switch_alcs(self, now: datetime, switch: int, *, on: bool, minutes: int) -> Alerts:
        """7.5 Activate / 7.6 Deactivate Auxiliary Load for ``minutes`` (0: until reset)."""
        with self._operation(now) as op:
            self._alcs = self._alcs.command(op.at, switch, on=on, minutes=minutes)
            op.happen(EventCode.DEVICE_CONFIG_UPDATED, ("item", f"ALCS {switch}"))
        return op.alerts

    def reset_alcs(self, now: datetime, switch: int) -> Alerts:
        """7.8 Reset Auxiliary Load: the switch follows its calendar again."""
        with self._operation(now) as op:
            self._alcs = self._alcs.reset(op.at, switch)
            op.happen(EventCode.DEVICE_CONFIG_UPDATED, ("item", f"ALCS {switch}"))
        return op.alerts

    def describe_alcs(self, now: datetime, descriptions: Mapping[int, str]) -> Alerts:
        """6.14.1 Update Device Configuration (ALC Descriptions)."""
        alcs = self._alcs.describe(descriptions)
        with self._operation(now) as op:
            self._alcs = alcs
            op.happen(EventCode.DEVICE_CONFIG_UPDATED, ("item", "ALCS descriptions"))
        return op.alerts

    def schedule_alcs(
        self,
        now: datetime,
        schedules: tuple[Schedule, ...],
        special_days: Mapping[int, DatePattern],
        types: Mapping[int, str],
    ) -> Alerts:
        """6.14.2 Update Device Configuration (ALC Scheduler): a new ALCS calendar."""
        alcs = self._alcs.schedule(schedules, special_days, types)
        with self._operation(now) as op:
            self._alcs = alcs
            op.happen(EventCode.DEVICE_CONFIG_UPDATED, ("item", "ALCS calendar"))
        return op.alerts

    def boost_alcs(self, now: datetime, switches: frozenset[int], *, add: bool) -> Alerts:
        """7.9 Add / 7.10 Remove Auxiliary Load To/From Boost Button."""
        with self._operation(now) as op:
            self._alcs = self._alcs.boost_switches(switches, add=add)
            op.happen(EventCode.DEVICE_CONFIG_UPDATED, ("item", "boost button"))
        return op.alerts

    def press_boost(self, now: datetime, *, minutes: int = 60) -> Alerts:
        """The consumer presses the boost button (an event of the world, like ``tamper``)."""
        with self._operation(now) as op:
            self._alcs = self._alcs.boost(op.at, minutes)
            op.happen(EventCode.DEVICE_CONFIG_UPDATED, ("item", "boost"))
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
