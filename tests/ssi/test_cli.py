"""``opendcc ssi credential`` issues a credential that signs in (only its hash is kept);
``opendcc ssi incidents`` lists the incidents with their clocks."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select
from typer.testing import CliRunner

from opendcc.cli import app
from opendcc.service.incidents import Actor, Incidents
from opendcc.sim import scenario
from opendcc.ssi.auth import Credentials
from opendcc.store import create_engine_for, upgrade
from opendcc.store.tables import ssi_credentials, users
from tests.gateway.harness import cohort
from tests.reference import KEYS

USER = "90-B3-D5-1F-30-01-00-00"


def test_credential_and_incidents(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    config = scenario.write_config(
        tmp_path / "hub.toml",
        keys=KEYS,
        cohort=cohort(),
        headend="tcp://127.0.0.1:9",
        callback_url="http://127.0.0.1:9/",
        database_url=url,
    )
    engine = create_engine_for(url)
    upgrade(engine)
    with engine.begin() as conn:
        conn.execute(
            users.insert().values(
                user_id=USER, status="active", callback_url="http://x", created_at=datetime.now(UTC)
            )
        )
    runner = CliRunner()
    unknown = runner.invoke(
        app, ["ssi", "credential", "-c", str(config), "90-B3-D5-1F-30-09-00-00"]
    )
    assert unknown.exit_code == 1 and "not a DCC User" in unknown.output
    issued = runner.invoke(app, ["ssi", "credential", "-c", str(config), USER])
    assert issued.exit_code == 0, issued.output
    secret = issued.output.strip()
    assert Credentials(engine).verify(USER, secret) is not None
    with engine.connect() as conn:
        stored = conn.execute(select(ssi_credentials.c.secret_hash)).scalars().all()
    assert secret not in stored and len(stored) == 1
    revoked = runner.invoke(app, ["ssi", "credential", "-c", str(config), USER, "--revoke"])
    assert "revoked 1" in revoked.output
    assert Credentials(engine).verify(USER, secret) is None
    Incidents(engine).raise_incident(
        Actor.service_desk(), datetime.now(UTC), title="Gateway slow", description="", category=1
    )
    listed = runner.invoke(app, ["ssi", "incidents", "-c", str(config), "--active"])
    assert listed.exit_code == 0 and "Gateway slow" in listed.output and "running" in listed.output
    engine.dispose()
