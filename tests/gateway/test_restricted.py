"""Restricted mode (MP169) through the running hub: every SRV the meter's S1SP offers, sent
to a restricted meter, is refused with E71 or let through as the allowed list says; refusals
are signed, schema-valid, audited and store nothing; 8.2 shows the restriction."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from lxml import etree

from opendcc.catalogue import UserRole, default_catalogue
from opendcc.catalogue.srv import ServiceReferenceVariant
from opendcc.core.errors import ResponseCode
from opendcc.dsp.access import ENDPOINT_OF_CV
from opendcc.dsp.inventory_read import RESTRICTED_PI
from opendcc.dsp.restricted import RestrictedPolicy
from opendcc.duis.authenticate import verify_document
from opendcc.duis.schema import DuisSchema
from opendcc.duis.xml import parse_xml
from opendcc.hub import REGISTRY_CACHE_SECONDS
from opendcc.inventory import InventoryStore
from opendcc.inventory.restriction import Restrictions
from opendcc.s1sp.cohorts import register_all
from opendcc.s1sp.contract import Registry
from opendcc.sim import scenario
from opendcc.sim.user import SimulatedUser
from opendcc.smki import TrustStore
from tests.gateway.harness import SR, Estate, cohort, estate, response_code, user
from tests.gateway.test_access_control import refused, stored
from tests.reference import KEYS, NOW, TEMPLATES

METER = scenario.METERS[1].device_id
OTHER = scenario.METERS[2].device_id
SUPPLIER = scenario.SUPPLIER_KEY
CATALOGUE = default_catalogue()
POLICY = RestrictedPolicy.build(CATALOGUE)


def _templates() -> dict[str, tuple[int, str]]:
    """SRV -> (command variant, body) of its first RTDS template."""
    found: dict[str, tuple[int, str]] = {}
    for path in sorted(TEMPLATES.iterdir()):
        document = parse_xml(path.read_bytes())
        srv = document.findtext(f"{SR}Header/{SR}ServiceReferenceVariant") or ""
        cv = document.findtext(f"{SR}Header/{SR}CommandVariant") or ""
        body = document.find(f"{SR}Body")
        if srv in found or body is None or not len(body) or not cv.isdigit():
            continue
        text = etree.tostring(body[0]).decode()
        if "{" not in text:
            found[srv] = (int(cv), text)
    return found


def _srvs() -> list[ServiceReferenceVariant]:
    """Every device SRV the scenario's cohort offers an Import Supplier for an ESME."""
    offered = register_all(Registry()).profile(cohort()).supported_srvs
    return [
        srv
        for srv in CATALOGUE
        if srv.srv in offered and "ESME" in srv.device_types and UserRole.IS in srv.eligible_roles
    ]


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Estate]:
    with estate(tmp_path_factory.mktemp("restricted")) as running:
        restrictions = Restrictions(running.engine, InventoryStore(running.engine))
        supplier = user(SUPPLIER)
        restrictions.change(
            METER, restricted=True, by=supplier.user_id, reason="consumer refused", now=NOW
        )
        time.sleep(REGISTRY_CACHE_SECONDS * 1.5)
        yield running


def test_every_offered_srv_is_refused_or_allowed_as_the_list_says(
    hub: Estate, schema: DuisSchema
) -> None:
    supplier = user(SUPPLIER)
    templates = _templates()
    srvs = [s for s in _srvs() if s.srv in templates]
    assert len(srvs) >= 30, "the cohort offers most core SRVs"
    outcomes: dict[str, str] = {}
    for srv in srvs:
        cv, body = templates[srv.srv]
        endpoint = ENDPOINT_OF_CV[cv].value
        document = supplier.request(srv.srv, METER, cv=cv, body=body)
        if POLICY.allows(srv.srv):
            answer = hub.post(endpoint, document)
            outcomes[srv.srv] = response_code(answer.content)
            assert outcomes[srv.srv] != ResponseCode.DEVICE_RESTRICTED.value, srv.srv
        else:
            reason = refused(hub, endpoint, document, 200, "E71")
            outcomes[srv.srv] = "E71"
            assert "restricted mode" in reason
    refused_srvs = sorted(s for s, code in outcomes.items() if code == "E71")
    # No consumption read gets through, and the safety/security/firmware ones do.
    assert {"4.1.1", "4.6.1", "4.8.1"} <= set(refused_srvs)
    assert not {"6.11", "7.4", "11.2"} & set(refused_srvs)


def test_the_refusal_is_signed_and_schema_valid(hub: Estate, schema: DuisSchema) -> None:
    supplier = user(SUPPLIER)
    before = stored(hub)
    answer = hub.post("serviceS", supplier.request("4.1.1", METER))
    assert answer.status_code == 200
    document = parse_xml(answer.content)
    schema.validate(document)
    assert verify_document(document, TrustStore.from_directory(KEYS), NOW).role is not None
    assert document.findtext(f"{SR}Header/{SR}ResponseCode") == "E71"
    assert stored(hub) == before


def test_an_unrestricted_meter_is_read_as_before(hub: Estate) -> None:
    answer = hub.post("serviceS", user(SUPPLIER).request("4.1.1", OTHER))
    assert response_code(answer.content) == "I99"


def test_read_inventory_shows_the_restriction(hub: Estate, schema: DuisSchema) -> None:
    supplier: SimulatedUser = user(SUPPLIER)
    for device, restricted in ((METER, True), (OTHER, False)):
        answer = hub.post("serviceD", supplier.request("8.2", device, cv=8))
        document = parse_xml(answer.content)
        schema.validate(document)
        verify_document(document, TrustStore.from_directory(KEYS), NOW)
        element = document.find(f".//{SR}DSPInventory/{SR}Device")
        assert element is not None
        marks = [
            node
            for node in element
            if isinstance(node, etree._ProcessingInstruction) and node.target == RESTRICTED_PI
        ]
        assert bool(marks) is restricted
        if restricted:
            assert "since=" in (marks[0].text or "")
