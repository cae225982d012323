"""The SSI's JSON API: bearer SSI credentials, the caller's own incidents and devices only."""

from __future__ import annotations

from starlette.testclient import TestClient

from opendcc.gateway.app import create_app
from tests.gateway.test_admin import OTHERS_ESME
from tests.inventory.test_devices import ESME
from tests.ssi.conftest import OTHER, SUPPLIER, Ssi


def test_json_api_with_bearer_credentials(ssi: Ssi) -> None:
    client = TestClient(create_app(ssi.hub))

    def call(method: str, path: str, who: str, **kw: object):  # type: ignore[no-untyped-def]
        headers = {"Authorization": f"Bearer {ssi.credentials[who]}"}
        return client.request(method, f"/ssi/api/v1{path}", headers=headers, **kw)  # type: ignore[arg-type]

    assert client.get("/ssi/api/v1/incidents").status_code == 401
    raised = call(
        "POST",
        "/incidents",
        str(SUPPLIER),
        json={"title": "API", "category": 2, "device": str(ESME)},
    )
    assert raised.status_code == 201, raised.text
    number = raised.json()["id"]
    assert raised.json()["response"]["state"] == "running"
    assert call("GET", f"/incidents/{number}", str(OTHER)).status_code == 404
    assert [i["id"] for i in call("GET", "/incidents", str(SUPPLIER)).json()["incidents"]] == [
        number
    ]
    assert call("GET", "/incidents", str(OTHER)).json()["incidents"] == []
    assert call("GET", f"/devices/{ESME}", str(OTHER)).status_code == 404
    assert call("GET", f"/devices/{OTHERS_ESME}", str(OTHER)).json()["mpxn"]
    bad = call("POST", "/incidents", str(SUPPLIER), json={"title": "x", "category": 9})
    assert bad.status_code == 400
    assert call("POST", "/incidents", str(SUPPLIER), content=b"[").status_code == 400
    assert {c["component"] for c in call("GET", "/status", "desk").json()["components"]} >= {
        "gateway",
        "database",
    }
