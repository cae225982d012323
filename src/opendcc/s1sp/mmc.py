"""MMC response elements built from S1SP outcomes.

The MMC (Message Mapping Catalogue) is how an S1SP (SMETS1 Service Provider) states a SMETS1
device's answer in DUIS: one ``ra:<Name>Rsp`` element per SRV (Service Reference Variant),
embedded in ``ra:SMETSData`` of the S1SP's signed response. Builders here are pure (an
``Outcome`` in, an lxml element out) and follow the content model of ``MMC Schema V5.4.xsd``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from lxml import etree

from opendcc.duis.xml import ra
from opendcc.s1sp.contract import Outcome, OutcomeStatus, UnsupportedService


def _register(parent: etree._Element, local: str, value: object, unit_tag: str, unit: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{local} needs an integer reading, got {value!r}")
    register = etree.SubElement(parent, ra(local))
    etree.SubElement(register, ra("Value")).text = str(value)
    etree.SubElement(register, ra(unit_tag)).text = unit


def read_instantaneous_import_registers(outcome: Outcome) -> etree._Element:
    """SRV 4.1.1 Read Instantaneous Import Registers, for an electricity meter.

    ``ra:Electricity`` holds, in this order and each optional: ActiveImportRegister (Wh),
    ReactiveImportRegister (varh), SecondaryActiveImportRegister (Wh, twin-element meters).
    A failed outcome gives ``MessageSuccess="false"`` and an empty ``ra:Electricity``.
    """
    success = outcome.status is OutcomeStatus.SUCCESS
    element = etree.Element(ra("ReadInstantaneousImportRegistersRsp"))
    element.set("MessageSuccess", "true" if success else "false")
    electricity = etree.SubElement(element, ra("Electricity"))
    if not success:
        return element
    data = outcome.data
    registers = (
        ("total_import_kwh_wh", "ActiveImportRegister", "ActiveEnergyUnit", "Wh"),
        ("reactive_import_varh", "ReactiveImportRegister", "ReactiveEnergyUnit", "varh"),
        ("secondary_import_wh", "SecondaryActiveImportRegister", "ActiveEnergyUnit", "Wh"),
    )
    for key, local, unit_tag, unit in registers:
        if key in data:
            _register(electricity, local, data[key], unit_tag, unit)
    return element


def read_firmware_version(outcome: Outcome) -> etree._Element:
    """SRV 11.2 Read Firmware Version: ``ra:FirmwareVersion`` when the device answered."""
    success = outcome.status is OutcomeStatus.SUCCESS
    element = etree.Element(ra("ReadFirmwareVersionRsp"))
    element.set("MessageSuccess", "true" if success else "false")
    if success:
        etree.SubElement(element, ra("FirmwareVersion")).text = str(
            outcome.data["firmware_version"]
        )
    return element


BUILDERS: Mapping[str, Callable[[Outcome], etree._Element]] = {
    "4.1.1": read_instantaneous_import_registers,
    "11.2": read_firmware_version,
}


def response_element(srv: str, outcome: Outcome) -> etree._Element:
    """The MMC response element for ``srv``, or ``UnsupportedService``."""
    try:
        builder = BUILDERS[srv]
    except KeyError:
        raise UnsupportedService(f"no MMC response element for SRV {srv}") from None
    return builder(outcome)
