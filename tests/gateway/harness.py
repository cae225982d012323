"""A running estate for end-to-end tests: head-end simulator and hub as real processes, the
Users' callback server in this process, and requests signed with the ZAZ1 test keys."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from lxml import etree
from sqlalchemy import Engine

from opendcc.s1sp.cohorts import register_all
from opendcc.s1sp.contract import Registry
from opendcc.sim import scenario
from opendcc.sim.processes import HeadEndProcess, HubProcess, free_port
from opendcc.sim.user import CallbackServer, SimulatedUser
from opendcc.smki import SigningCredentials
from opendcc.store import create_engine_for
from tests.reference import KEYS, XSD_V54

SR = "{http://www.dccinterface.co.uk/ServiceUserGateway}"


def cohort() -> str:
    """The cohort the scenario's meters belong to (tests do not name cohorts)."""
    return register_all(Registry()).profiles()[0].name


def user(key: str) -> SimulatedUser:
    return SimulatedUser(SigningCredentials.from_files(KEYS / f"{key}.key", KEYS / f"{key}.pem"))


@dataclass
class Estate:
    hub: HubProcess
    headend: HeadEndProcess
    callback: CallbackServer
    config: Path
    engine: Engine
    http: httpx.Client

    def post(self, endpoint: str, body: bytes) -> httpx.Response:
        return self.http.post(
            f"{self.hub.url}/api/v1/{endpoint}",
            content=body,
            headers={"Content-Type": "application/xml"},
        )

    def restart_hub(self) -> None:
        port = int(self.hub.url.rsplit(":", 1)[1])
        self.hub = HubProcess(self.config, port, self.hub.log)


@contextmanager
def estate(
    directory: Path,
    *,
    latency_ms: int = 0,
    xsd: bool = True,
    gbcs_certificate: Path | None = None,
) -> Iterator[Estate]:
    directory.mkdir(parents=True, exist_ok=True)
    database = directory / "hub.db"
    headend = HeadEndProcess(cohort(), meters=scenario.headend_meters(), latency_ms=latency_ms)
    try:
        with CallbackServer() as callback:
            config = scenario.write_config(
                directory / "hub.toml",
                keys=KEYS,
                cohort=cohort(),
                headend=headend.endpoint,
                callback_url=callback.url,
                database_url=f"sqlite:///{database}",
                xsd=XSD_V54 if xsd else None,
                gbcs_certificate=gbcs_certificate,
            )
            hub = HubProcess(config, free_port(), directory / "hub.log")
            engine = create_engine_for(f"sqlite:///{database}")
            running: Estate | None = None
            try:
                with httpx.Client(timeout=30) as http:
                    running = Estate(hub, headend, callback, config, engine, http)
                    yield running
            finally:
                hub.stop()
                if running is not None:
                    running.hub.stop()  # a restarted hub is another process
                engine.dispose()
    finally:
        headend.stop()


def response_code(body: bytes) -> str:
    return etree.fromstring(body).findtext(f"{SR}Header/{SR}ResponseCode") or ""
