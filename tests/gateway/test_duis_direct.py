"""The DUIS POSTs' direct path (``gateway.app.DuisDirect``): the answer Starlette's route gave,
headers included, and everything else still routed."""

from __future__ import annotations

from pathlib import Path

from opendcc.duis.xml import parse_xml
from opendcc.duis.xmldsig import DCC_SIGNED, SignerPolicy, verify
from tests.hostile.rig import METER, make_rig


def test_an_accept_and_a_refusal_come_back_with_their_headers(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, xsd=False)
    body = rig.supplier.request("4.1.1", METER, counter=rig.supplier.next_counter())
    accepted = rig.duis(body)
    assert accepted.status_code == 200
    assert accepted.headers["content-type"] == "application/xml"
    assert accepted.headers["x-duis-response-code"] == "I99"
    assert int(accepted.headers["content-length"]) == len(accepted.content)
    root = parse_xml(accepted.content).getroot()
    verify(root, rig.hub.certificates, SignerPolicy(DCC_SIGNED), rig.hub.clock.now())

    replay = rig.duis(body)  # the same counter again: a signed E1, HTTP 200, with its reason
    assert replay.status_code == 200
    assert replay.headers["x-duis-response-code"] == "E1"
    assert replay.headers["x-opendcc-reason"].startswith("replay")

    plain = rig.duis(b"not xml")  # not DUIS: plain text, HTTP 400
    assert plain.status_code == 400
    assert plain.headers["content-type"] == "text/plain; charset=utf-8"
    assert plain.headers["x-duis-response-code"] == "HTTP400"


def test_other_methods_and_paths_are_still_routed(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, xsd=False)
    assert rig.call("GET", "/api/v1/serviceS").status_code == 405
    assert rig.call("POST", "/api/v1/serviceX", content=b"<x/>").status_code == 404
    assert rig.call("GET", "/health").status_code == 200
