"""A rich, deterministic state model of simulated SMETS1 meters (pure code, no I/O).

SMETS1 (Smart Metering Equipment Technical Specifications, first edition) meters are what the
head-end simulators serve. Each simulated device is one mutable ``Esme`` (electricity smart
metering equipment) or ``Gsme`` (gas smart metering equipment) whose every method takes an
explicit, timezone-aware ``now`` and is deterministic: consumption follows a household seeded
by the device's EUI-64, and everything else follows the operations applied to it. The model
holds what DUIS (DCC User Interface Specification) service requests read and write: registers
per TOU (time-of-use) rate and block, tariff and prices, prepayment credit, emergency credit
and debt, payment mode, supply state, billing calendar and billing data logs, daily reads and
half-hourly profile, a drifting clock, event and security logs, firmware, the HAN (home area
network) device log, MPxN, supplier name, display message and the change-of-tenancy instant.

Operations return the alerts they raised; ``advance(now)`` returns those time passing
raised. Illegal input or state raises ``MeterError`` with a machine-readable ``reason``.
``ESME_OBJECTS`` and ``GSME_OBJECTS`` address the model by OBIS code for the binary protocol.

Modules, from the bottom up: ``errors``, ``events`` (codes, alerts, logs), ``tariff``,
``supply`` (the supply state table), ``household`` (the seeded load), ``config`` (identity,
firmware, HAN), ``ledger`` (what time changes), ``walk`` (time passing), ``history`` (bounded
logs), ``tokens`` (how the meter reads UTRNs, Unique Transaction Reference Numbers),
``restriction`` (the head-end's record of MP169 restricted mode),
``core``/``reads``/``device`` (the meter), ``kinds`` (ESME, GSME), ``obis`` and
``projections`` (the projections a head-end keeps for the meters it reads most).
"""

from opendcc.sim.state.config import (
    DeviceType,
    FirmwareImage,
    GasConfig,
    HanDevice,
    Identity,
    VoltageConfig,
    hash_image,
)
from opendcc.sim.state.device import MeterState
from opendcc.sim.state.errors import MeterError, Reason
from opendcc.sim.state.events import EVENTS, Alert, EventCode, LogEntry, LogKind
from opendcc.sim.state.history import DailyConsumption, ProfileEntry
from opendcc.sim.state.kinds import Esme, Gsme
from opendcc.sim.state.ledger import (
    BillingRecord,
    BillingTrigger,
    DailyRecord,
    PrepayValues,
    Registers,
)
from opendcc.sim.state.obis import ESME_OBJECTS, GSME_OBJECTS, CosemObject
from opendcc.sim.state.restriction import Restriction
from opendcc.sim.state.supply import Supply, SupplyEvent
from opendcc.sim.state.tariff import (
    BLOCKS,
    TOU_RATES,
    BillingCalendar,
    BillingPeriod,
    DebtRegister,
    PaymentMode,
    PrepayConfig,
    Tariff,
)
from opendcc.sim.state.tokens import TokenReader, UtrnRefused

__all__ = [
    "BLOCKS",
    "ESME_OBJECTS",
    "EVENTS",
    "GSME_OBJECTS",
    "TOU_RATES",
    "Alert",
    "BillingCalendar",
    "BillingPeriod",
    "BillingRecord",
    "BillingTrigger",
    "CosemObject",
    "DailyConsumption",
    "DailyRecord",
    "DebtRegister",
    "DeviceType",
    "Esme",
    "EventCode",
    "FirmwareImage",
    "GasConfig",
    "Gsme",
    "HanDevice",
    "Identity",
    "LogEntry",
    "LogKind",
    "MeterError",
    "MeterState",
    "PaymentMode",
    "PrepayConfig",
    "PrepayValues",
    "ProfileEntry",
    "Reason",
    "Registers",
    "Restriction",
    "Supply",
    "SupplyEvent",
    "Tariff",
    "TokenReader",
    "UtrnRefused",
    "VoltageConfig",
    "hash_image",
]
