"""The elective SMETS1 services: those only some cohorts offer beyond the core set.

SMETS1 (Smart Metering Equipment Technical Specifications, first edition) meters of cohorts
that offer it answer DUIS (DCC User Interface Specification) SRV (Service Reference Variant)
4.2 Read Instantaneous Export Registers: an ESME's (electricity smart metering equipment)
export registers, as the MMC (Message Mapping Catalogue) ``ra:ReadInstantaneousExportRegistersRsp``.
A cohort profile lists these SRVs among its supported services to offer them.

Parameters: none. The request body (``sr:ReadDataOnDemandOrFutureDated``) carries only the
optional ``ExecutionDateTime``, which is the DSP's (data service provider's) business.

Result keys:

- 4.2: ``export_register`` (active energy exported, Wh) and, where the meter keeps one,
  ``reactive_export_varh`` (reactive energy exported, varh).
"""

from __future__ import annotations

from lxml import etree

from opendcc.duis.xml import ra
from opendcc.s1sp.services.base import Datum, Result, Service, no_parameters


def _int(value: Datum) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer, got {value!r}")
    return value


def _register(parent: etree._Element, local: str, value: int, unit: tuple[str, str]) -> None:
    register = etree.SubElement(parent, ra(local))
    etree.SubElement(register, ra("Value")).text = str(value)
    unit_tag, unit_text = unit
    etree.SubElement(register, ra(unit_tag)).text = unit_text


def export_registers(result: Result) -> etree._Element:
    """4.2: the active export register (and the reactive one, if the Result has it)."""
    element = etree.Element(ra("ReadInstantaneousExportRegistersRsp"))
    element.set("MessageSuccess", "true")
    active = _int(result["export_register"])
    _register(element, "ActiveExportRegister", active, ("ActiveEnergyUnit", "Wh"))
    if "reactive_export_varh" in result:
        reactive = _int(result["reactive_export_varh"])
        _register(element, "ReactiveExportRegister", reactive, ("ReactiveEnergyUnit", "varh"))
    return element


SERVICES: tuple[Service, ...] = (
    Service("4.2", "readInstantaneousExportRegisters", no_parameters, export_registers),
)
