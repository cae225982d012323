"""``opendcc ssi credential``: issue (or revoke) a sign-in credential for the Self Service
Interface. The credential is printed once; the store keeps only its SHA-256."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from opendcc.cli_common import ConfigOption, engine_of, fail

ssi_app = typer.Typer(
    help="The Self Service Interface (SSI): sign-in credentials.", no_args_is_help=True
)


@ssi_app.command("credential")
def ssi_credential(
    config: ConfigOption,
    principal: Annotated[str, typer.Argument(help="A DCC User's ID (EUI-64), or the desk's name.")],
    desk: Annotated[bool, typer.Option("--desk", help="A service desk credential.")] = False,
    revoke: Annotated[
        bool, typer.Option("--revoke", help="Revoke every live one instead.")
    ] = False,
) -> None:
    """Print a new SSI credential for a DCC User (or, with --desk, for the DCC service desk)."""
    from opendcc.ssi.auth import DESK, USER, Credentials
    from opendcc.store.users import UserStore

    engine = engine_of(config)
    try:
        credentials = Credentials(engine)
        now = datetime.now(UTC)
        if revoke:
            typer.echo(f"revoked {credentials.revoke(principal, now)} credential(s)")
            return
        if not desk:
            from opendcc.core.eui import Eui64, InvalidIdentifier

            try:
                user_id = Eui64.parse(principal)
            except InvalidIdentifier as exc:
                raise fail(str(exc)) from None
            if UserStore(engine).get(user_id) is None:
                raise fail(f"{user_id} is not a DCC User in the registry")
        try:
            secret = credentials.issue(principal, DESK if desk else USER, now)
        except ValueError as exc:
            raise fail(str(exc)) from None
        typer.echo(secret)
    finally:
        engine.dispose()


@ssi_app.command("incidents")
def ssi_incidents(
    config: ConfigOption,
    active: Annotated[bool, typer.Option("--active", help="Only those not resolved.")] = False,
) -> None:
    """The incidents, as the service desk sees them, with their SLA clocks (the SSI's service)."""
    from opendcc.service import imp
    from opendcc.service.incidents import Actor, Incidents

    engine = engine_of(config)
    try:
        incidents = Incidents(engine)
        targets, now = incidents.targets(), datetime.now(UTC)
        for i in incidents.list(Actor.service_desk(), active_only=active):
            response, resolution = i.clocks(targets[i.category], now)
            typer.echo(
                f"#{i.id}  cat {i.category}{' MAJOR' if i.major else ''}  {i.status.value:<11} "
                f"{i.assignee_kind}:{i.assignee}  response {response.state.value} "
                f"{imp.fmt(response.remaining)}  resolution {resolution.state.value} "
                f"{imp.fmt(resolution.remaining)}  {i.title}"
            )
    finally:
        engine.dispose()
