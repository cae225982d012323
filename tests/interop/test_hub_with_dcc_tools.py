"""The running hub and DCC Boxed's signing tool: requests signed by `@smartdcc/duis-sign-wrap`
are accepted and processed; the hub's acknowledgements and responses verify with it."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from lxml import etree

from opendcc.duis.xml import parse_xml
from opendcc.sim import scenario
from tests.gateway.harness import SR, estate, response_code
from tests.interop.dcc_tools import require_tools, run_batch

pytestmark = pytest.mark.interop

UNSIGNED = """<?xml version="1.0" encoding="UTF-8"?>
<sr:Request xmlns:sr="http://www.dccinterface.co.uk/ServiceUserGateway" schemaVersion="5.4">
<sr:Header><sr:RequestID>{originator}:{target}:{counter}</sr:RequestID>
<sr:CommandVariant>{cv}</sr:CommandVariant><sr:ServiceReference>{sr}</sr:ServiceReference>
<sr:ServiceReferenceVariant>{srv}</sr:ServiceReferenceVariant></sr:Header>
<sr:Body>{body}</sr:Body></sr:Request>"""


def test_requests_signed_by_duis_sign_wrap_are_processed_and_answers_verify_there(
    tmp_path: Path,
) -> None:
    require_tools()
    meters = [m.device_id for m in scenario.METERS[:3]]
    unsigned = tmp_path / "unsigned"
    unsigned.mkdir()
    files = []
    base = time.time_ns() // 1_000_000  # counters only grow, as DCC Boxed stamps them
    for n, meter in enumerate(meters):
        path = unsigned / f"read-{n}.xml"
        path.write_text(
            UNSIGNED.format(
                originator=scenario.SUPPLIER,
                target=meter,
                counter=base + n,
                cv=1,
                sr="4.1",
                srv="4.1.1",
                body="<sr:ReadInstantaneousImportRegisters/>",
            )
        )
        files.append(path)
    inventory = unsigned / "inventory.xml"
    inventory.write_text(
        UNSIGNED.format(
            originator=scenario.SUPPLIER,
            target="90-B3-D5-1F-30-00-00-02",
            counter=base + len(files),
            cv=8,
            sr="8.2",
            srv="8.2",
            body=f"<sr:ReadInventory><sr:DeviceID>{meters[0]}</sr:DeviceID></sr:ReadInventory>",
        )
    )
    signed = run_batch("sign", [*files, inventory], tmp_path / "signed")
    assert all(o.ok for o in signed.values()), {k: o.error for k, o in signed.items()}

    answers = tmp_path / "answers"
    answers.mkdir()
    with estate(tmp_path / "hub", xsd=True) as hub:
        keys = []
        for path in files:
            body = signed[path.name].output
            answer = hub.post("serviceS", body)
            assert answer.status_code == 200, answer.text
            assert response_code(answer.content) == "I99"
            (answers / f"ack-{path.name}").write_bytes(answer.content)
            request_id = parse_xml(body).findtext(f"{SR}Header/{SR}RequestID")
            assert request_id is not None
            originator, target, counter = request_id.split(":")
            keys.append(f"R:{target}:{originator}:{counter}")
        answer = hub.post("serviceD", signed[inventory.name].output)
        assert response_code(answer.content) == "I0", answer.text
        (answers / "inventory-response.xml").write_bytes(answer.content)
        assert hub.callback.wait_for(set(keys), timeout=30)
        for n, key in enumerate(keys):
            body = hub.callback.body_of(key)
            assert response_code(body) == "I0"
            (answers / f"response-{n}.xml").write_bytes(body)

    validated = run_batch("validate", sorted(answers.iterdir()), tmp_path / "validated")
    assert len(validated) == len(keys) * 2 + 1
    failures = {name: o.error for name, o in validated.items() if not o.ok}
    assert not failures, failures
    # What the tool hands back is the document without its signature: still the hub's answer.
    for outcome in validated.values():
        root = etree.fromstring(outcome.output)
        assert root.findtext(f"{SR}Header/{SR}ResponseCode") in {"I99", "I0"}
