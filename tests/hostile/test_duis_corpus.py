"""The hostile DUIS corpus against a running hub over real HTTP: each case gets its documented
answer (HTTP status, DUIS code), parser bombs within 2 s, and nothing changes but the one audit
record of the refusal."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from lxml import etree

from opendcc.duis.authenticate import verify_document
from opendcc.duis.xml import parse_xml
from opendcc.sim import scenario
from opendcc.sim.user import SimulatedUser
from opendcc.smki import TrustStore
from tests.gateway.harness import Estate, estate, response_code
from tests.hostile.corpus import CASES, Case
from tests.hostile.rig import changed, table_counts, user
from tests.reference import KEYS, NOW

BOMB_SECONDS = 2.0


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Estate]:
    with estate(tmp_path_factory.mktemp("hostile")) as running:
        yield running


@pytest.fixture(scope="module")
def supplier() -> SimulatedUser:
    return user(scenario.SUPPLIER_KEY)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_document(hub: Estate, supplier: SimulatedUser, case: Case) -> None:
    body = case.build(supplier)
    before = table_counts(hub.engine)
    started = time.monotonic()
    answer = hub.post(case.endpoint, body)
    took = time.monotonic() - started
    assert answer.status_code == case.status, answer.text[:500]
    if case.code is None:
        assert answer.headers["content-type"].startswith("text/plain")
        assert answer.headers["X-DUIS-Response-Code"] == "HTTP400"
    else:
        assert response_code(answer.content) == case.code
        assert answer.headers["X-DUIS-Response-Code"] == case.code
        # Signed by the DCC, as every DUIS answer.
        trust = TrustStore.from_directory(KEYS)
        assert verify_document(parse_xml(answer.content), trust, NOW).role is not None
    if case.bomb:
        assert took < BOMB_SECONDS, f"{case.name} took {took:.2f} s"
    after = table_counts(hub.engine)
    assert changed(before, after) == {}
    assert after["audit_log"] == before["audit_log"] + 1  # the refusal, and only it


def test_the_hub_still_serves_after_the_corpus(hub: Estate, supplier: SimulatedUser) -> None:
    answer = hub.post("serviceS", supplier.request("4.1.1", scenario.METERS[0].device_id))
    assert answer.status_code == 200
    assert response_code(answer.content) == "I99"
    log = Path(hub.hub.log).read_text() if hub.hub.log else ""
    assert "Traceback" not in log


def _root(body: bytes) -> etree._Element:
    return etree.fromstring(body)
