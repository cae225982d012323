"""How cohort head-ends name the core SMETS1 services: helpers for the profiles' command tables.

A head-end API names each service its own way; a profile's ``commands`` maps every SRV it
offers to that name. Two families cover the six cohorts: OBIS codes of service objects in a
manufacturer-specific group (binary protocol), and API command names derived from the neutral
command name with the head-end's own prefix (HTTP/JSON and SOAP/XML).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from opendcc.s1sp.services import SERVICES


def obis_commands(srvs: Iterable[str], group: int) -> Mapping[str, str]:
    """Service objects ``0.<group>.<a>.<b>.<c>.255`` for SRV ``a.b[.c]`` (group 128..199)."""
    if not 128 <= group <= 199:
        raise ValueError("manufacturer-specific OBIS groups are 128..199")
    table = {}
    for srv in srvs:
        parts = [int(p) for p in srv.split(".")] + [0, 0]
        table[srv] = f"0.{group}.{parts[0]}.{parts[1]}.{parts[2]}.255"
    return table


def api_commands(srvs: Iterable[str], prefix: str = "") -> Mapping[str, str]:
    """The neutral command name of each SRV, after ``prefix`` (``"he"`` + ``readSupplyStatus``
    gives ``heReadSupplyStatus``)."""
    table = {}
    for srv in srvs:
        command = SERVICES[srv].command
        table[srv] = f"{prefix}{command[0].upper()}{command[1:]}" if prefix else command
    return table
