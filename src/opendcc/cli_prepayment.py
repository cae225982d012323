"""``opendcc prepayment``: the operator's side of the UTRN service.

Service keys for suppliers and PSPs, PSP nominations, PANs, and the ledger of a meter's UTRNs.
Suppliers do the same through the UTRN service itself (``docs/prepayment.md``).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

import typer

from opendcc.cli_common import ConfigOption, engine_of, eui_of, fail
from opendcc.core.eui import InvalidIdentifier
from opendcc.prepayment.ledger import Ledger
from opendcc.prepayment.registers import Kind, Registers

prepayment_app = typer.Typer(
    help="UTRN service keys, PSP nominations, PANs and the UTRN ledger.", no_args_is_help=True
)


@prepayment_app.command("key")
def key_command(
    config: ConfigOption,
    principal: Annotated[str, typer.Argument(help="A supplier's User id, or a PSP's id")],
    psp: Annotated[bool, typer.Option("--psp", help="The principal is a PSP")] = False,
) -> None:
    """Make a bearer key for the UTRN service (printed once; only its hash is kept)."""
    kind = Kind.PSP if psp else Kind.SUPPLIER
    try:
        key = Registers(engine_of(config)).make_key(principal, kind, datetime.now(UTC))
    except (ValueError, InvalidIdentifier) as exc:
        raise fail(str(exc)) from None
    typer.echo(key)


@prepayment_app.command("nominate")
def nominate_command(config: ConfigOption, supplier: str, psp: str) -> None:
    """Let PSP ``psp`` ask for UTRNs for ``supplier``'s consumers."""
    try:
        done = Registers(engine_of(config)).nominate(eui_of(supplier), psp, datetime.now(UTC))
    except ValueError as exc:
        raise fail(str(exc)) from None
    typer.echo(f"{psp} {'nominated' if done else 'was already nominated'} by {supplier}")


@prepayment_app.command("denominate")
def denominate_command(config: ConfigOption, supplier: str, psp: str) -> None:
    """Withdraw a PSP's nomination."""
    if not Registers(engine_of(config)).denominate(eui_of(supplier), psp, datetime.now(UTC)):
        raise fail(f"{psp} is not nominated by {supplier}")
    typer.echo(f"{psp} is no longer nominated by {supplier}")


@prepayment_app.command("pan")
def pan_command(config: ConfigOption, pan: str, mpxn: str, supplier: str) -> None:
    """Register PAN ``pan`` (a consumer's payment card number) for metering point ``mpxn``."""
    try:
        Registers(engine_of(config)).register_pan(pan, mpxn, eui_of(supplier), datetime.now(UTC))
    except ValueError as exc:
        raise fail(str(exc)) from None
    typer.echo(f"PAN {pan} -> {mpxn}")


@prepayment_app.command("utrns")
def utrns_command(
    config: ConfigOption,
    device: str,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line")] = False,
) -> None:
    """The latest UTRNs of a meter and where each is (issued, sent, applied ...)."""
    for entry in Ledger(engine_of(config)).of_device(eui_of(device)):
        if as_json:
            typer.echo(json.dumps(entry.as_json()))
        else:
            typer.echo(
                f"{entry.id:>8}  {entry.utrn}  {entry.amount_p:>7}p  {entry.state:<9}"
                f"  {entry.route:<8}  {entry.channel or '-':<6}  {entry.requester}"
            )
