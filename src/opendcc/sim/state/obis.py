"""OBIS-addressed views of a simulated meter, for head-ends speaking the binary APDU protocol.

DLMS/COSEM (Device Language Message Specification / Companion Specification for Energy
Metering) names each meter quantity by an OBIS (Object Identification System) code. These
tables map OBIS codes to a getter (attribute 2, the value) and, where natural, a setter or an
action (method 1) over the meter model, as data; a head-end looks the code up and calls it.

Codes follow DLMS conventions where one is well known (``1.0.1.8.0.255`` active import,
``0.0.1.0.0.255`` clock, ``0.0.96.3.10.255`` disconnect control, ``0.0.19.10.0.255`` credit,
``1.0.0.2.0.255`` active firmware identifier, ``0.0.96.1.0.255`` manufacturing number,
``0.0.96.13.0.255`` consumer message, ``7.0.52.0.0.255``/``7.0.54.0.0.255`` gas conversion
factor and calorific value); the rest are opendcc's choices in the same style: block registers
in the manufacturer-specific ``C = 128`` range, identity and MPxN under ``0.0.96.1.*``.

The supply object's value is DLMS's control state: 0 disabled, 1 enabled, 2 armed ("ready for
reconnection"); setting it runs 7.2, 7.1 or 7.3. Every setter and action returns the alerts the
meter raised. A value of the wrong type raises ``MeterError`` (``invalid_value``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from opendcc.s1sp.protocols.apdu import I64, U32, U64, DateTime, Obis, Value, VisibleString
from opendcc.sim.state.device import Alerts, MeterState
from opendcc.sim.state.errors import MeterError, Reason
from opendcc.sim.state.kinds import Esme, Gsme
from opendcc.sim.state.supply import Supply
from opendcc.sim.state.tariff import BLOCKS, TOU_RATES

M = TypeVar("M", bound=MeterState)

# DLMS disconnect-control states: disconnected, connected, ready for reconnection.
SUPPLY_CONTROL_STATE: Mapping[Supply, int] = {
    Supply.DISABLED: 0,
    Supply.ENABLED: 1,
    Supply.ARMED: 2,
}


@dataclass(frozen=True, slots=True)
class CosemObject(Generic[M]):
    """One OBIS-addressed object: what reading, writing and invoking it do."""

    name: str
    get: Callable[[M, datetime], Value]
    set: Callable[[M, datetime, Value], Alerts] | None = None
    action: Callable[[M, datetime], Alerts] | None = None


def _u32(value: Value) -> int:
    if not isinstance(value, U32):
        raise MeterError(Reason.INVALID_VALUE, f"expected a u32, got {type(value).__name__}")
    return value.value


def _text(value: Value) -> str:
    if not isinstance(value, VisibleString):
        raise MeterError(Reason.INVALID_VALUE, f"expected a string, got {type(value).__name__}")
    return value.value


def _set_supply(meter: MeterState, now: datetime, value: Value) -> Alerts:
    state = _u32(value)
    if state == 0:
        return meter.disable_supply(now)
    if state == 1:
        return meter.enable_supply(now)
    if state == 2:
        return meter.arm_supply(now)
    raise MeterError(Reason.INVALID_VALUE, f"a control state is 0, 1 or 2, not {state}")


def _common(kind: type[M]) -> dict[Obis, CosemObject[M]]:
    """The objects both kinds of meter have; ``kind`` only fixes the type."""
    del kind
    return {
        Obis(0, 0, 1, 0, 0, 255): CosemObject(
            "clock",
            lambda m, now: DateTime(m.clock(now)),
            action=lambda m, now: m.synchronise_clock(now),
        ),
        Obis(0, 0, 96, 3, 10, 255): CosemObject(
            "supply control state",
            lambda m, now: U32(SUPPLY_CONTROL_STATE[m.supply_state(now)]),
            set=_set_supply,
        ),
        Obis(0, 0, 19, 10, 0, 255): CosemObject(
            "meter balance, pence", lambda m, now: I64(m.meter_balance(now))
        ),
        Obis(0, 0, 19, 10, 1, 255): CosemObject(
            "emergency credit left, pence",
            lambda m, now: I64(m.prepay_values(now).emergency_credit_p),
            action=lambda m, now: m.activate_emergency_credit(now),
        ),
        Obis(0, 0, 19, 20, 0, 255): CosemObject(
            "total debt, pence", lambda m, now: I64(m.prepay_values(now).total_debt_p)
        ),
        Obis(1, 0, 0, 2, 0, 255): CosemObject(
            "active firmware version", lambda m, now: VisibleString(m.firmware.version)
        ),
        Obis(0, 0, 96, 1, 0, 255): CosemObject(
            "serial number", lambda m, now: VisibleString(m.identity.serial)
        ),
        Obis(0, 0, 96, 1, 1, 255): CosemObject(
            "manufacturer", lambda m, now: VisibleString(m.identity.manufacturer)
        ),
        Obis(0, 0, 96, 1, 2, 255): CosemObject(
            "model", lambda m, now: VisibleString(m.identity.model)
        ),
        Obis(0, 0, 96, 1, 10, 255): CosemObject(
            "MPxN",
            lambda m, now: VisibleString(m.mpxn),
            set=lambda m, now, value: m.set_mpxn(now, _text(value)),
        ),
        Obis(0, 0, 96, 13, 0, 255): CosemObject(
            "displayed message",
            lambda m, now: VisibleString(m.displayed_message),
            set=lambda m, now, value: m.display_message(now, _text(value)),
        ),
    }


def _registers(kind: type[M], *, a: int, tou_cd: tuple[int, int]) -> dict[Obis, CosemObject[M]]:
    """TOU registers ``A.0.C.D.rate.255`` and block registers ``A.0.128.8.block.255``."""
    del kind

    def tou(rate: int) -> CosemObject[M]:
        return CosemObject(
            f"import, TOU rate {rate}", lambda m, now: U64(m.tou_register(now, rate))
        )

    def block(index: int) -> CosemObject[M]:
        return CosemObject(
            f"import, block {index}", lambda m, now: U64(m.import_registers(now).blocks[index - 1])
        )

    c, d = tou_cd
    return {
        **{Obis(a, 0, c, d, rate, 255): tou(rate) for rate in range(1, TOU_RATES + 1)},
        **{Obis(a, 0, 128, 8, index, 255): block(index) for index in range(1, BLOCKS + 1)},
    }


ESME_OBJECTS: Mapping[Obis, CosemObject[Esme]] = {
    **_common(Esme),
    Obis(1, 0, 1, 8, 0, 255): CosemObject(
        "active import, total, Wh", lambda m, now: U64(m.import_registers(now).total)
    ),
    **_registers(Esme, a=1, tou_cd=(1, 8)),
    Obis(1, 0, 2, 8, 0, 255): CosemObject(
        "active export, total, Wh", lambda m, now: U64(m.export_wh(now))
    ),
    Obis(1, 0, 3, 8, 0, 255): CosemObject(
        "reactive import, total, varh", lambda m, now: U64(m.reactive_import_varh(now))
    ),
    Obis(1, 0, 1, 7, 0, 255): CosemObject(
        "active power import, W", lambda m, now: U32(m.power_w(now))
    ),
    Obis(1, 0, 32, 7, 0, 255): CosemObject(
        "RMS voltage, dV", lambda m, now: U32(m.voltage_dv(now))
    ),
}

GSME_OBJECTS: Mapping[Obis, CosemObject[Gsme]] = {
    **_common(Gsme),
    Obis(7, 0, 3, 0, 0, 255): CosemObject(
        "volume, total, litres", lambda m, now: U64(m.volume_l(now))
    ),
    **_registers(Gsme, a=7, tou_cd=(3, 0)),
    Obis(7, 0, 3, 8, 0, 255): CosemObject(
        "energy, total, Wh", lambda m, now: U64(m.energy_wh(now))
    ),
    Obis(7, 0, 52, 0, 0, 255): CosemObject(
        "conversion factor, 1e-5", lambda m, now: U32(m.gas_config.conversion_factor_e5)
    ),
    Obis(7, 0, 54, 0, 0, 255): CosemObject(
        "calorific value, kJ/m3", lambda m, now: U32(m.gas_config.calorific_value_kj_m3)
    ),
}
