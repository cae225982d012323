"""An SSI in process (``create_app(hub)`` through Starlette's test client, the hub not started),
with a signed-in browser per principal."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import Engine
from starlette.testclient import TestClient

from opendcc.core.eui import Eui64
from opendcc.gateway.app import create_app
from opendcc.hub import Hub
from opendcc.smki import SigningCredentials
from opendcc.ssi.auth import DESK, USER, Credentials
from tests.gateway.test_admin import NOW, OTHER, SUPPLIER, make_hub

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class Browser:
    client: TestClient
    name: str

    def get(self, path: str, **params: str) -> object:
        return self.client.get(f"/ssi{path}", params=params, follow_redirects=False)

    def csrf(self) -> str:
        page = self.client.get("/ssi/").text
        found = CSRF.search(page)
        assert found, page[:500]
        return found.group(1)

    def post(self, path: str, data: dict[str, str], files: object = None, csrf: bool = True):  # type: ignore[no-untyped-def]
        body = {**data, "csrf": self.csrf()} if csrf else data
        return self.client.post(f"/ssi{path}", data=body, files=files, follow_redirects=False)


@dataclass
class Ssi:
    hub: Hub
    credentials: dict[str, str]

    def browser(self, name: str) -> Browser:
        client = TestClient(create_app(self.hub), base_url="http://hub")
        answer = client.post(
            "/ssi/login",
            data={"user_id": name, "credential": self.credentials[name]},
            follow_redirects=False,
        )
        assert answer.status_code == 303, answer.text
        return Browser(client, name)


@pytest.fixture
def ssi(
    engine: Engine, dcc_credentials: SigningCredentials, s1sp_credentials: SigningCredentials
) -> Iterator[Ssi]:
    url = engine.url.render_as_string(hide_password=False)
    hub = make_hub(url, dcc_credentials, s1sp_credentials)
    issue = Credentials(hub.engine).issue
    credentials = {
        str(SUPPLIER): issue(str(SUPPLIER), USER, NOW),
        str(OTHER): issue(str(OTHER), USER, NOW),
        "desk": issue("desk", DESK, NOW),
    }
    try:
        yield Ssi(hub, credentials)
    finally:
        hub.engine.dispose()


__all__ = ["OTHER", "SUPPLIER", "Eui64"]
