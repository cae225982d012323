"""The OpenAPI description and the app's JSON routes are the same set of paths and methods."""

from __future__ import annotations

from sqlalchemy import Engine
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from opendcc.gateway.app import create_app
from opendcc.gateway.openapi import spec
from opendcc.smki import SigningCredentials
from tests.gateway.test_admin import make_hub

JSON_APIS = ("/admin/", "/utrn/", "/ssi/api/")


def _routes(routes: list, prefix: str = "") -> set[tuple[str, str]]:  # type: ignore[type-arg]
    found: set[tuple[str, str]] = set()
    for route in routes:
        if isinstance(route, Mount):
            found |= _routes(route.routes, prefix + route.path)
        elif isinstance(route, Route):
            for method in route.methods or ():
                if method != "HEAD":
                    found.add((prefix + route.path, method.lower()))
    return found


def test_spec_and_routes_agree(
    engine: Engine, dcc_credentials: SigningCredentials, s1sp_credentials: SigningCredentials
) -> None:
    hub = make_hub(
        engine.url.render_as_string(hide_password=False), dcc_credentials, s1sp_credentials
    )
    app = create_app(hub)
    served = {(p, m) for p, m in _routes(app.routes) if p.startswith(JSON_APIS)}
    described = {(p, m) for p, ops in spec()["paths"].items() for m in ops}
    assert served - described == set(), "routes missing from the OpenAPI spec"
    assert described - served == set(), "spec paths with no route"
    client = TestClient(app)
    assert client.get("/docs/openapi.json").json()["openapi"].startswith("3.")
    assert "/ssi/api/v1/incidents" in client.get("/docs").text
    hub.engine.dispose()


def test_every_operation_is_well_formed() -> None:
    document = spec()
    schemes = set(document["components"]["securitySchemes"])
    for path, ops in document["paths"].items():
        names = {p["name"] for op in ops.values() for p in op["parameters"] if p["in"] == "path"}
        assert names == {part[1:-1] for part in path.split("/") if part.startswith("{")}, path
        for op in ops.values():
            assert op["summary"] and {k for s in op["security"] for k in s} <= schemes
