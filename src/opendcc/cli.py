"""The ``opendcc`` command line: the tools suppliers' developers use every day."""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from lxml import etree

from opendcc.cli_admin import register_admin_commands
from opendcc.cli_common import ConfigOption, config_of, fail, read_input
from opendcc.cli_firmware import app as firmware_app
from opendcc.cli_inventory import register_inventory_commands
from opendcc.cli_prepayment import prepayment_app
from opendcc.cli_processes import app as process_app
from opendcc.cli_schedules import app as schedules_app
from opendcc.cli_sim import sim_app
from opendcc.cli_ssi import ssi_app
from opendcc.cli_utrn import utrn_app
from opendcc.config import HubConfig
from opendcc.core.errors import DuisError
from opendcc.duis.authenticate import verify_document
from opendcc.duis.request import parse_request
from opendcc.duis.schema import load_schema
from opendcc.duis.xml import parse_xml
from opendcc.duis.xmldsig import sign
from opendcc.smki import SigningCredentials, TrustStore
from opendcc.smki.credentials import CredentialError
from opendcc.store.users import UserStore

app = typer.Typer(help="opendcc: the SMETS1 Service.", no_args_is_help=True)
duis_app = typer.Typer(help="Parse, sign and verify DUIS documents.", no_args_is_help=True)
app.add_typer(duis_app, name="duis")
app.add_typer(prepayment_app, name="prepayment")
app.add_typer(utrn_app, name="utrn")
app.add_typer(sim_app, name="sim")
app.add_typer(firmware_app, name="firmware")
app.add_typer(schedules_app, name="schedules")
app.add_typer(ssi_app, name="ssi")
app.add_typer(process_app, name="process")

XsdOption = Annotated[
    Path | None,
    typer.Option(
        "--xsd",
        envvar="OPENDCC_DUIS_XSD",
        help="Validate against this copy of the DUIS XSD (its imports must sit beside it).",
        exists=True,
        dir_okay=False,
    ),
]


@duis_app.command("parse")
def parse_command(
    file: Annotated[Path, typer.Argument(help="A DUIS Service Request ('-' for stdin).")],
    xsd: XsdOption = None,
) -> None:
    """Print the request's typed summary as JSON."""
    try:
        request = parse_request(read_input(file), schema=load_schema(xsd) if xsd else None)
    except DuisError as exc:
        raise fail(f"invalid: {exc}") from None
    typer.echo(json.dumps(request.summary(), indent=2))


@duis_app.command("sign")
def sign_command(
    file: Annotated[Path, typer.Argument(help="A DUIS document ('-' for stdin).")],
    key: Annotated[Path, typer.Option(help="PKCS#8 EC P-256 private key, PEM or DER.")],
    cert: Annotated[Path, typer.Option(help="The matching XML-signing certificate.")],
    out: Annotated[Path | None, typer.Option(help="Write here instead of stdout.")] = None,
) -> None:
    """Sign a DUIS document as DCC Boxed does (any existing signature is replaced)."""
    try:
        credentials = SigningCredentials.from_files(key, cert)
        document = parse_xml(read_input(file))
    except (CredentialError, DuisError, OSError) as exc:
        raise fail(f"cannot sign: {exc}") from None
    sign(document.getroot(), credentials)
    signed = etree.tostring(document, xml_declaration=True, encoding="UTF-8")
    if out is None:
        sys.stdout.buffer.write(signed)
    else:
        out.write_bytes(signed)


@duis_app.command("verify")
def verify_command(
    file: Annotated[Path, typer.Argument(help="A signed DUIS document ('-' for stdin).")],
    trust: Annotated[Path, typer.Option(help="Directory of trusted certificates (PEM or DER).")],
    at: Annotated[
        datetime | None,
        typer.Option(help="Check certificate validity at this instant (default: now, UTC)."),
    ] = None,
    xsd: XsdOption = None,
) -> None:
    """Verify the signature: exit 0 and print the signer, or exit 1 and say why."""
    now = (at if at.tzinfo else at.replace(tzinfo=UTC)) if at else datetime.now(UTC)
    try:
        store = TrustStore.from_directory(trust)
        document = parse_xml(read_input(file))
        if xsd:
            load_schema(xsd).validate(document)
        signer = verify_document(document, store, now)
    except (DuisError, OSError) as exc:
        raise fail(f"invalid: {exc}") from None
    typer.echo(f"valid: signed by {signer.label}")


@app.command("demo")
def demo_command(
    stay: Annotated[
        bool, typer.Option(help="Keep the hub running afterwards for the SSI (until Enter).")
    ] = False,
    scale: Annotated[
        bool,
        typer.Option(
            "--scale",
            help="Scale mode: two gateways and two workers on PostgreSQL (DATABASE_URL, a fresh"
            " database is made there) and RabbitMQ (BROKER_URL).",
        ),
    ] = False,
) -> None:
    """Run the demo: the hub and every cohort's head-end simulator, used by a supplier."""
    import sys

    from opendcc.demo import Scale, run

    stay = stay and sys.stdin.isatty()
    if not scale:
        raise typer.Exit(run(typer.echo, stay=stay))
    database, broker = os.environ.get("DATABASE_URL"), os.environ.get("BROKER_URL")
    if not database or not database.startswith("postgresql") or not broker:
        raise fail("--scale needs DATABASE_URL (PostgreSQL) and BROKER_URL (RabbitMQ)")
    raise typer.Exit(run(typer.echo, scale=Scale(database, broker), stay=stay))


@app.command("serve")
def serve_command(
    config: ConfigOption,
    port: Annotated[int | None, typer.Option(help="Override the configured port.")] = None,
    single_process: Annotated[
        bool, typer.Option("--single-process", help="Everything in this one process.")
    ] = False,
    gateways: Annotated[int | None, typer.Option(min=1, help="Gateway processes.")] = None,
    workers: Annotated[int | None, typer.Option(min=1, help="Worker processes.")] = None,
) -> None:
    """Run the hub: gateway(s), worker(s), a deliverer and a scheduler as processes, until
    stopped (SIGTERM or Ctrl-C); or all in one process."""
    import dataclasses

    settings = config_of(config)
    if single_process:
        _serve_single(settings, port)
        return
    from opendcc.processes import supervisor

    running = settings.processes
    running = dataclasses.replace(
        running,
        gateways=gateways if gateways is not None else running.gateways,
        workers=workers if workers is not None else running.workers,
    )
    settings = dataclasses.replace(settings, processes=running)
    raise typer.Exit(supervisor.main(settings, port))


def _serve_single(settings: HubConfig, port: int | None) -> None:
    import uvicorn

    from opendcc.gateway.app import create_app
    from opendcc.hub import Hub
    from opendcc.processes.run import setup_logging

    setup_logging()
    hub = Hub(settings)
    hub.seed()
    app = create_app(hub)
    uvicorn.run(
        app,
        host=settings.host,
        port=port if port is not None else settings.port,
        http=app.state.direct.protocol(),  # DUIS POSTs answered directly (httpserver)
        log_level="warning",
        access_log=False,
    )


users_app = typer.Typer(help="Manage the DCC Users registry.", no_args_is_help=True)
app.add_typer(users_app, name="users")


def _user_store(config: Path) -> UserStore:
    from opendcc.store import create_engine_for, upgrade

    engine = create_engine_for(config_of(config).database_url)
    upgrade(engine)
    return UserStore(engine)


@users_app.command("list")
def users_list(config: ConfigOption) -> None:
    """List every registered User with roles, status, callback URL and certificates."""
    for user in _user_store(config).all():
        roles = ",".join(sorted(user.roles))
        typer.echo(
            f"{user.user_id}  {user.status:<9}  {roles:<12}  {user.callback_url}"
            f"  certificates={len(user.certificates)}"
        )


@users_app.command("load")
def users_load(config: ConfigOption) -> None:
    """Load (add or replace) every User in the configuration file into the registry."""
    settings = config_of(config)
    count = _user_store(config).put_all(settings.users, datetime.now(UTC))
    typer.echo(f"loaded {count} users")


@users_app.command("add")
def users_add(  # noqa: PLR0917 (typer reads the options from the signature)
    config: ConfigOption,
    user_id: Annotated[str, typer.Argument(help="The User ID, an EUI-64.")],
    role: Annotated[list[str], typer.Option("--role", help="IS ES GS ED GT OU RSA; repeat.")],
    callback_url: Annotated[str, typer.Option("--callback-url")],
    certificate: Annotated[
        list[Path] | None, typer.Option("--certificate", exists=True, dir_okay=False)
    ] = None,
    status: Annotated[str, typer.Option(help="active or suspended")] = "active",
) -> None:
    """Add or replace one User."""
    from opendcc.catalogue import UserRole
    from opendcc.core.eui import Eui64
    from opendcc.smki.credentials import load_certificate
    from opendcc.store.users import User, UserStatus

    try:
        user = User(
            user_id=Eui64.parse(user_id),
            roles=frozenset(UserRole(r) for r in role),
            status=UserStatus(status),
            callback_url=callback_url,
            certificates=tuple(load_certificate(read_input(c)) for c in certificate or ()),
        )
        _user_store(config).put(user, datetime.now(UTC))
    except (DuisError, ValueError, CredentialError) as exc:
        raise fail(str(exc)) from None
    typer.echo(f"added {user.user_id}")


def _set_status(config: Path, user_id: str, status: str) -> None:
    from opendcc.core.eui import Eui64
    from opendcc.store.users import UserStatus

    try:
        found = _user_store(config).set_status(Eui64.parse(user_id), UserStatus(status))
    except (DuisError, ValueError) as exc:
        raise fail(str(exc)) from None
    if not found:
        raise fail(f"no User {user_id}")
    typer.echo(f"{user_id} is {status}")


@users_app.command("suspend")
def users_suspend(config: ConfigOption, user_id: str) -> None:
    """Suspend a User: its requests are refused with E3 until it is activated."""
    _set_status(config, user_id, "suspended")


@users_app.command("activate")
def users_activate(config: ConfigOption, user_id: str) -> None:
    """Make a User active again."""
    _set_status(config, user_id, "active")


@users_app.command("remove")
def users_remove(config: ConfigOption, user_id: str) -> None:
    """Remove a User and its certificates: its requests are refused with E1."""
    from opendcc.core.eui import Eui64

    if not _user_store(config).remove(Eui64.parse(user_id)):
        raise fail(f"no User {user_id}")
    typer.echo(f"removed {user_id}")


register_inventory_commands(app)
register_admin_commands(app, users_app)


def main() -> None:  # pragma: no cover - console entry point
    app(prog_name=os.path.basename(sys.argv[0]) or "opendcc")
