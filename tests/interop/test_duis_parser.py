"""A DUIS client that is not ours: Smart DCC's `@smartdcc/duis-parser` reads every kind of
answer the running hub sends (via tools/interop/dcc-tools.js).

Each kind is collected from the hub over HTTP (the synchronous answers) or at the User's
callback (Responses and DCC alerts), then handed to the parser's ``parseDuis('simplified')``.
What it reads and what it does not model is written down in docs/duis.md; this test holds the
hub to it.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from lxml import etree

from opendcc.duis.xml import parse_xml
from opendcc.sim import scenario
from tests.gateway.harness import SR, estate, response_code, user
from tests.interop.dcc_tools import SCRIPT, require_tools

pytestmark = pytest.mark.interop

METER = scenario.METERS[0].device_id


def _parse(files: list[Path]) -> dict[str, dict[str, object]]:
    done = subprocess.run(
        ["node", str(SCRIPT), "parse", *map(str, files)],
        capture_output=True,
        check=True,
        timeout=120,
    )
    lines = [json.loads(line) for line in done.stdout.decode().splitlines()]
    return {Path(str(line["file"])).stem: line for line in lines}


def _collect(directory: Path) -> dict[str, bytes]:
    """One answer of every kind the hub sends, by kind."""
    supplier = user(scenario.SUPPLIER_KEY)
    operator = user(scenario.NETWORK_OPERATOR_KEY)
    found: dict[str, bytes] = {}
    with estate(directory) as hub:
        read = supplier.request("4.1.1", METER)
        found["acknowledgement"] = hub.post("serviceS", read).content
        found["replay"] = hub.post("serviceS", read).content
        found["refusal"] = hub.post(
            "serviceS", supplier.request("4.1.1", scenario.COMMS_HUB.device_id)
        ).content
        found["non-device"] = hub.post("serviceD", supplier.request("8.2", METER, cv=8)).content
        transform = supplier.request("7.2", METER, cv=4, body="<sr:DisableSupply/>")
        found["pre-command"] = hub.post("serviceT", transform).content
        quarantined = []
        for _ in range(4):  # the scenario lets the distributor read 3 an hour
            request = operator.request("4.1.1", METER)
            hub.post("serviceS", request)
            quarantined.append(parse_xml(request).findtext(f"{SR}Header/{SR}RequestID"))
        rid = parse_xml(read).findtext(f"{SR}Header/{SR}RequestID") or ""
        originator, target, counter = rid.split(":")
        response_key = f"R:{target}:{originator}:{counter}"
        alert_key = f"AD1:{quarantined[-1]}"
        assert hub.callback.wait_for({response_key, alert_key}, timeout=60)
        found["SMETS1 response"] = hub.callback.body_of(response_key)
        found["DCC alert"] = hub.callback.body_of(alert_key)
    return found


def test_duis_parser_reads_the_hubs_answers(tmp_path: Path) -> None:
    require_tools()
    found = _collect(tmp_path / "hub")
    assert [response_code(found[k]) for k in ("acknowledgement", "replay", "refusal")] == [
        "I99",
        "E1",
        "E11",
    ]
    files = []
    for kind, body in found.items():
        path = tmp_path / f"{kind.replace(' ', '-')}.xml"
        path.write_bytes(body)
        files.append(path)
    parsed = _parse(files)
    summary = {k: (v["ok"], v.get("modelled"), v.get("error")) for k, v in parsed.items()}
    print(json.dumps(summary, indent=1))
    # The simplified header of every answer is read: the code and the ids a User keys on.
    for name in ("acknowledgement", "replay", "refusal", "non-device", "pre-command"):
        line = parsed[name]
        assert line["ok"] and line["modelled"], (name, line)
        header = line["parsed"]["header"]  # type: ignore[index]
        code = etree.fromstring(found[name])
        assert header["type"] == "response"
        assert header["responseCode"] == code.findtext(f"{SR}Header/{SR}ResponseCode")
    inventory = parsed["non-device"]["parsed"]["body"]["ResponseMessage"]  # type: ignore[index]
    assert "DSPInventory" in inventory
    precommand = parsed["pre-command"]["parsed"]["body"]["ResponseMessage"]  # type: ignore[index]
    assert "PreCommand" in precommand
    alert = parsed["DCC-alert"]
    assert alert["ok"] and alert["modelled"], alert
    assert alert["parsed"]["body"]["DCCAlertMessage"]["DCCAlertCode"] == "AD1"  # type: ignore[index]
    # DUIS 5.4's SMETS1ResponseMessage (a SMETS1 device's Response) is not in its model.
    smets1 = parsed["SMETS1-response"]
    # Read, header and all, but as an untyped tree: its types have no SMETS1ResponseMessage.
    assert smets1["ok"] and not smets1["modelled"], smets1
    header = smets1["parsed"]["header"]  # type: ignore[index]
    assert header["responseCode"] == "I0"
    assert "SMETS1ResponseMessage" in smets1["parsed"]["body"]  # type: ignore[index]
