"""The packaged SRV (Service Reference Variant) table, checked against the DUIS reference data."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree
from tests.reference import TEMPLATES as TEMPLATE_DIR
from tests.reference import XSD_V54 as XSD
from tests.reference import reference_params

from opendcc.catalogue import (
    Catalogue,
    DeviceType,
    FutureDatedPattern,
    ServiceReferenceVariant,
    UnknownServiceReferenceVariant,
    UserRole,
    default_catalogue,
    parse_table,
    srv_sort_key,
)
from opendcc.core.errors import DuisError

# The GPL reference data lives beside the repository, never inside it: found where the rest
# of the suite finds it (OPENDCC_REFERENCE). Without it these tests skip, or fail under CI.
TEMPLATES = sorted(TEMPLATE_DIR.glob("*.XML"))
needs_reference = pytest.mark.usefixtures("reference")

XS = "{http://www.w3.org/2001/XMLSchema}"
SR = {"sr": "http://www.dccinterface.co.uk/ServiceUserGateway"}
PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)

CATALOGUE = default_catalogue()
ALL = frozenset(UserRole)


def roles(*codes: str) -> frozenset[UserRole]:
    return frozenset(UserRole(code) for code in codes)


def test_holds_every_srv_once() -> None:
    assert len(CATALOGUE) == 129
    assert len({s.srv for s in CATALOGUE}) == 129


def test_iterates_in_natural_numeric_order() -> None:
    srvs = [s.srv for s in CATALOGUE]
    assert srvs == sorted(srvs, key=srv_sort_key)
    assert srvs.index("4.1.4") < srvs.index("4.2") < srvs.index("4.10") < srvs.index("14.1")
    assert srvs.index("6.2.9") < srvs.index("6.2.10") < srvs.index("6.4.1")


def test_default_catalogue_is_loaded_once() -> None:
    assert default_catalogue() is default_catalogue()


@pytest.mark.parametrize(
    ("srv", "facts"),
    [
        (
            "4.1.1",
            {
                "service_reference": "4.1",
                "name": "Read Instantaneous Import Registers",
                "body_element": "ReadInstantaneousImportRegisters",
                "command_variants": (1, 2, 3),
                "critical": False,
                "future_dated_pattern": FutureDatedPattern.DSP,
                "eligible_roles": roles("IS", "GS", "ED", "GT"),
                "restricted_allowed": False,
                "smets1_supported": True,
            },
        ),
        (
            "1.1.1",
            {
                "name": "Update Import Tariff (Primary Element)",
                "command_variants": (4, 5, 6, 7),
                "critical": True,
                "future_dated_pattern": FutureDatedPattern.DEVICE,
                "eligible_roles": roles("IS", "GS"),
                "restricted_allowed": True,
            },
        ),
        (
            "8.2",
            {
                "name": "Read Inventory (Current and Future Suppliers may use this Service"
                " Request)",
                "body_element": "ReadInventory",
                "command_variants": (8,),
                "non_device": True,
                "on_demand": False,
                "future_dated_pattern": None,
                "eligible_roles": ALL,
            },
        ),
        (
            "6.15.1",
            {
                "name": "Update Security Credentials (KRP)",
                "body_element": "UpdateSecurityCredentialsKRP",
                "command_variants": (4, 5, 6, 7),
                "critical": True,
                "eligible_roles": roles("IS", "GS", "ED", "GT"),
            },
        ),
        ("8.1.1", {"body_element": "CommissionDeviceSynchroniseClock", "command_variants": (4, 5)}),
        ("8.5", {"command_variants": (1,), "non_device": False, "eligible_roles": frozenset()}),
        ("6.23", {"future_dated_pattern": FutureDatedPattern.DSP_AND_DEVICE}),
        ("4.6.1", {"dcc_scheduled": True, "restricted_allowed": False}),
        ("14.1", {"dcc_scheduled": True, "eligible_roles": roles("GT")}),
        ("4.18", {"restricted_allowed": True}),
        ("6.18.2", {"restricted_allowed": True}),  # a reset, not a retrieval
        ("6.28", {"smets1_supported": False}),
        ("8.14.1", {"smets1_supported": False, "non_device": True}),
        # Resolved disagreements between the sources (see the table's "resolutions").
        ("6.20.1", {"service_reference": "6.20"}),
        ("7.12", {"critical": True, "command_variants": (4, 5, 6, 7)}),
        ("7.14", {"critical": False, "command_variants": (1, 2, 3)}),
        ("4.2", {"dcc_scheduled": True}),
    ],
)
def test_spot_checks_against_the_sources(srv: str, facts: dict[str, object]) -> None:
    row = CATALOGUE.get(srv)
    assert {key: getattr(row, key) for key in facts} == facts


def test_command_variants_follow_the_srv_class() -> None:
    for s in CATALOGUE:
        if s.non_device:
            assert s.command_variants == (8,), s.srv
        elif s.critical:
            assert set(s.command_variants) <= {4, 5, 6, 7}, s.srv
        else:
            assert set(s.command_variants) <= {1, 2, 3}, s.srv


def test_service_reference_prefixes_the_srv() -> None:
    for s in CATALOGUE:
        assert s.srv == s.service_reference or s.srv.startswith(s.service_reference + "."), s.srv


def test_helpers() -> None:
    row = CATALOGUE.get("4.1.1")
    assert row.allows_command_variant(2)
    assert not row.allows_command_variant(4)
    assert row.is_eligible(UserRole.IS)
    assert not row.is_eligible(UserRole.ES)
    assert UserRole.RSA.description == "Registered Supplier Agent"


def test_rows_are_frozen() -> None:
    row = CATALOGUE.get("4.1.1")
    with pytest.raises(dataclasses.FrozenInstanceError):
        row.critical = True  # type: ignore[misc]


@pytest.mark.parametrize("srv", ["4.1", "4.1.1 ", "99.1", "", "4.5"])
def test_unknown_srv_is_a_transport_level_duis_error(srv: str) -> None:
    with pytest.raises(UnknownServiceReferenceVariant) as caught:
        CATALOGUE.get(srv)
    assert isinstance(caught.value, DuisError)
    assert caught.value.code is None
    assert caught.value.http_status == 400
    assert srv not in CATALOGUE


@given(st.text(max_size=12))
def test_get_raises_for_anything_not_in_the_table(srv: str) -> None:
    if srv in CATALOGUE:
        assert CATALOGUE.get(srv).srv == srv
    else:
        with pytest.raises(UnknownServiceReferenceVariant):
            CATALOGUE.get(srv)


def test_by_body_element_finds_each_srv() -> None:
    for s in CATALOGUE:
        assert s.body_element is not None
        assert CATALOGUE.by_body_element(s.body_element) is s
    with pytest.raises(UnknownServiceReferenceVariant):
        CATALOGUE.by_body_element("SignedPreCommand")


def test_by_body_element_returns_a_tuple_when_shared() -> None:
    a = dataclasses.replace(CATALOGUE.get("3.1"), srv="3.1", body_element="Shared")
    b = dataclasses.replace(CATALOGUE.get("3.2"), srv="3.2", body_element="Shared")
    catalogue = Catalogue([b, a])
    assert catalogue.by_body_element("Shared") == (a, b)


def test_duplicate_srvs_are_refused() -> None:
    row: ServiceReferenceVariant = CATALOGUE.get("3.1")
    with pytest.raises(ValueError, match="duplicate"):
        Catalogue([row, row])


@needs_reference
def test_srvs_match_the_xsd_enumeration() -> None:
    root = etree.parse(str(XSD), PARSER).getroot()
    enumeration = root.findall(
        f"{XS}simpleType[@name='ServiceReferenceVariant']/{XS}restriction/{XS}enumeration"
    )
    assert {e.get("value") for e in enumeration} == {s.srv for s in CATALOGUE}


@needs_reference
def test_every_body_element_is_a_request_body_choice_in_the_xsd() -> None:
    root = etree.parse(str(XSD), PARSER).getroot()
    choice = root.find(
        f"{XS}complexType[@name='Request']//{XS}element[@name='Body']/{XS}complexType/{XS}choice"
    )
    assert choice is not None
    names = {e.get("name") for e in choice.findall(f"{XS}element")}
    missing = {s.srv: s.body_element for s in CATALOGUE if s.body_element not in names}
    assert missing == {}


def _template_ids() -> list[str] | None:
    return [path.name for path in TEMPLATES] or None


@needs_reference
@pytest.mark.parametrize("template", reference_params(TEMPLATES), ids=_template_ids())
def test_every_template_is_in_the_catalogue_with_an_allowed_cv(template: Path) -> None:
    root = etree.parse(str(template), PARSER).getroot()
    srv = root.findtext("sr:Header/sr:ServiceReferenceVariant", namespaces=SR)
    cv = root.findtext("sr:Header/sr:CommandVariant", namespaces=SR)
    service_reference = root.findtext("sr:Header/sr:ServiceReference", namespaces=SR)
    body = root.find("sr:Body", SR)
    assert srv is not None and cv is not None and body is not None
    row = CATALOGUE.get(srv)
    assert row.allows_command_variant(int(cv))
    assert row.service_reference == service_reference
    element = etree.QName(body[0]).localname
    # A CV 5 request carries the User-signed pre-command instead of the SRV's own element.
    assert element == ("SignedPreCommand" if cv == "5" else row.body_element)


@needs_reference
def test_templates_were_found() -> None:
    assert len(TEMPLATES) == 297


def test_device_types_and_applies_to() -> None:
    electricity_read = CATALOGUE.get("4.2")  # Read Instantaneous Export Registers
    assert electricity_read.device_types == frozenset({DeviceType.ESME})
    assert electricity_read.applies_to(DeviceType.ESME)
    assert not electricity_read.applies_to(DeviceType.GSME)  # DUIS E11
    gas_read = CATALOGUE.get("6.2.8")  # Read Device Configuration (Gas)
    assert gas_read.applies_to(DeviceType.GSME)
    assert not gas_read.applies_to(DeviceType.ESME)
    import_read = CATALOGUE.get("4.1.1")  # ESME, and GSME/GPF through GBCS GCS13a
    assert import_read.applies_to(DeviceType.ESME)
    assert import_read.applies_to(DeviceType.GSME)
    assert not import_read.applies_to(DeviceType.CHF)
    assert CATALOGUE.get("8.11").device_types == frozenset({DeviceType.CHF})
    assert DeviceType.GPF.description == "Gas Proxy Function"


def test_non_device_srvs_apply_to_no_device_type() -> None:
    inventory = CATALOGUE.get("8.2")
    assert inventory.non_device
    assert inventory.device_types == frozenset()
    for s in CATALOGUE:
        if s.non_device:
            assert not any(s.applies_to(kind) for kind in DeviceType), s.srv
        else:
            assert s.device_types, s.srv  # no device SRV is excepted in DUIS v5.4


def test_device_types_column_is_parsed_and_checked() -> None:
    row = {
        "srv": "9.9",
        "service_reference": "9.9",
        "name": "Do Thing",
        "body_element": "DoThing",
        "command_variants": [1],
        "critical": False,
        "on_demand": True,
        "future_dated_pattern": None,
        "dcc_scheduled": False,
        "non_device": False,
        "eligible_roles": ["IS"],
        "smets1_supported": True,
        "restricted_allowed": True,
        "device_types": ["GSME", "GPF"],
    }
    parsed = parse_table(json.dumps({"srvs": [row]})).get("9.9")
    assert parsed.device_types == frozenset({DeviceType.GSME, DeviceType.GPF})
    with pytest.raises(ValueError):
        parse_table(json.dumps({"srvs": [row | {"device_types": ["FRIDGE"]}]}))
    with pytest.raises(ValueError, match="device_types is not list"):
        parse_table(json.dumps({"srvs": [row | {"device_types": "GSME"}]}))
