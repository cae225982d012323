"""``opendcc migrate``, ``inventory``, ``cpl`` and ``registration``: the inventory's tools.

``opendcc migrate FILE --as USER`` validates and loads a supplier's migration file, then tests
and commissions every installation due, with live progress and a summary; ``migrate resume``
carries on with work that fell due later (retries, dormant installations); ``migrate report``
prints a batch's report. The others show and search the inventory, withdraw installations,
load the CPL and record changes of supplier.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from typer.core import TyperGroup

from opendcc.cli_common import ConfigOption, config_of, fail
from opendcc.core.errors import DuisError

if TYPE_CHECKING:
    from opendcc.hub import Hub
    from opendcc.migration.report import Report


class _DefaultRun(TyperGroup):
    """``opendcc migrate FILE`` means ``opendcc migrate run FILE``."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:  # a click Context
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


migrate_app = typer.Typer(
    cls=_DefaultRun,
    help="Migrate SMETS1 installations: opendcc migrate FILE --as USER (docs/migration.md).",
    no_args_is_help=True,
)
inventory_app = typer.Typer(help="Show and search the Smart Metering Inventory.")
cpl_app = typer.Typer(help="The CPL and the SMETS1 Eligible Product Combinations.")
registration_app = typer.Typer(help="Registration data: who holds each role for an MPxN.")


def register_inventory_commands(app: typer.Typer) -> None:
    app.add_typer(migrate_app, name="migrate")
    app.add_typer(inventory_app, name="inventory", no_args_is_help=True)
    app.add_typer(cpl_app, name="cpl", no_args_is_help=True)
    app.add_typer(registration_app, name="registration", no_args_is_help=True)


@contextmanager
def _hub(config: Path) -> Iterator[Hub]:
    from opendcc.hub import Hub

    hub = Hub(config_of(config))
    hub.seed()
    try:
        yield hub
    finally:
        hub.engine.dispose()


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description:<24}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


# --------------------------------------------------------------------------- migrate


@migrate_app.command("run")
def migrate_run(
    file: Annotated[Path, typer.Argument(help="The migration file (JSON Lines).", exists=True)],
    config: ConfigOption,
    submitter: Annotated[str, typer.Option("--as", help="The submitting supplier's User ID.")],
    load_only: Annotated[bool, typer.Option(help="Validate and load; test nothing yet.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Validate and load FILE, then test and commission every installation due now."""
    from opendcc.core.eui import Eui64

    console = Console(stderr=as_json)
    try:
        user = Eui64.parse(submitter)
    except ValueError as exc:
        raise fail(str(exc)) from None
    with _hub(config) as hub:
        if hub.users.get(user) is None:
            raise fail(f"{user} is not a DCC User")
        migration = hub.migration()
        with _progress(console) as progress:
            task = progress.add_task("validating and loading", total=None)

            def loaded(stage: str, done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            cohorts = [p.name for p in hub.registry.profiles()]
            summary = migration.load(file, user, cohorts, loaded)
        console.print(
            f"batch [bold]{summary.batch.batch_id}[/]: {summary.records} records,"
            f" {summary.accepted} accepted, {summary.rejected} rejected"
            + (f" (resumed after record {summary.resumed_from})" if summary.resumed_from else "")
        )
        if not load_only:
            _process(hub, console, summary.batch.batch_id)
        _show_report(hub, summary.batch.batch_id, console, as_json=as_json, detail=False)


@migrate_app.command("resume")
def migrate_resume(
    config: ConfigOption,
    batch: Annotated[str | None, typer.Argument(help="Only this batch.")] = None,
) -> None:
    """Test and commission whatever has fallen due (retries, dormant installations)."""
    console = Console()
    with _hub(config) as hub:
        _process(hub, console, batch)
        for found in [batch] if batch else [b.batch_id for b in hub.migration().store.batches()]:
            _show_report(hub, found, console, as_json=False, detail=False)


@migrate_app.command("report")
def migrate_report(
    config: ConfigOption,
    batch: Annotated[str, typer.Argument(help="The batch ID (MB-...).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """A batch's migration report: counts per outcome and each installation's reasons."""
    with _hub(config) as hub:
        _show_report(hub, batch, Console(), as_json=as_json, detail=True)


@migrate_app.command("list")
def migrate_list(config: ConfigOption) -> None:
    """Every migration batch."""
    with _hub(config) as hub:
        for b in hub.migration().store.batches():
            typer.echo(
                f"{b.batch_id}  {b.submitter}  {b.submitted_at:%Y-%m-%dT%H:%M:%SZ}"
                f"  records={b.loaded_records}  {'loaded' if b.loaded else 'loading'}"
                f"  {b.file_name}"
            )


def _process(hub: Hub, console: Console, batch: str | None) -> None:
    migration = hub.migration()
    with _progress(console) as progress:
        task = progress.add_task("testing and commissioning", total=None)

        def step(stage: str, done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        async def run() -> None:
            try:
                await migration.run(batch, step)
            finally:  # adapters belong to this event loop
                for adapter in hub.adapters.values():
                    await adapter.aclose()

        asyncio.run(run())


def _show_report(hub: Hub, batch: str, console: Console, *, as_json: bool, detail: bool) -> None:
    from opendcc.migration.report import UnknownBatch, build

    try:
        report = build(hub.migration().store, batch)
    except UnknownBatch as exc:
        raise fail(str(exc)) from None
    if as_json:
        typer.echo(json.dumps(report.as_json(), indent=2))
        return
    console.print(_summary_table(report))
    if detail:
        for installation in report.as_json()["installations"]:
            reasons = "; ".join(f"{r['code']}: {r['detail']}" for r in installation["reasons"])
            console.print(
                f"{installation['record']:>6}  {installation['installation'] or '-':<20}"
                f"  {installation['outcome']:<28}  {reasons}",
                markup=False,
            )
    if not report.finished:
        next_due = hub.migration().store.next_due_at(batch)
        when = f" (next due {next_due:%Y-%m-%dT%H:%M:%SZ})" if next_due else ""
        console.print(f"work remains{when}: run `opendcc migrate resume {batch}` then")


def _summary_table(report: Report) -> Table:
    table = Table(title=f"migration {report.batch.batch_id}")
    table.add_column("outcome")
    table.add_column("installations", justify="right")
    for outcome, count in report.counts.items():
        table.add_row(outcome, str(count))
    table.add_row("[bold]total[/]", f"[bold]{report.total}[/]")
    return table


@migrate_app.command("withdraw")
def migrate_withdraw(
    config: ConfigOption,
    installation: Annotated[str, typer.Argument(help="The installation ID.")],
    reason: Annotated[str, typer.Option(help="Why, for the history.")] = "withdrawn",
) -> None:
    """Withdraw an installation: its devices become Withdrawn, their history kept."""
    with _hub(config) as hub:
        withdrawn = hub.migration().withdraw(installation, reason)
    if not withdrawn:
        raise fail(f"no devices of installation {installation} to withdraw")
    typer.echo(f"withdrew {len(withdrawn)} devices of {installation}")


# --------------------------------------------------------------------------- inventory


@inventory_app.command("show")
def inventory_show(
    config: ConfigOption, device: Annotated[str, typer.Argument(help="The Device ID.")]
) -> None:
    """A device: model, status and its history, HAN, metering point and who is responsible."""
    from opendcc.core.eui import Eui64

    with _hub(config) as hub:
        found = hub.inventory.device(Eui64.parse(device))
        if found is None:
            raise fail(f"no device {device} in the inventory")
        for name in found.__slots__:
            value = getattr(found, name)
            if value is not None:
                typer.echo(f"{name:<18} {value}")
        if found.mpxn:
            for role, holders in sorted(hub.inventory.registrations.holders(found.mpxn).items()):
                current = holders[0]
                typer.echo(f"{role:<18} {current.user_id} since {current.effective_from:%Y-%m-%d}")
        typer.echo("history:")
        for change in hub.inventory.history(found.device_id):
            typer.echo(
                f"  {change.at:%Y-%m-%dT%H:%M:%SZ}  {change.source or '-'} -> {change.target}"
                f"  ({change.reason})"
            )


@inventory_app.command("search")
def inventory_search(
    config: ConfigOption,
    mpxn: Annotated[str | None, typer.Option(help="An MPAN or MPRN.")] = None,
    serial: Annotated[str | None, typer.Option(help="A meter serial number.")] = None,
    device: Annotated[str | None, typer.Option(help="A Device ID.")] = None,
) -> None:
    """Whether devices are enrolled: by MPxN, serial number or Device ID (JSON lines)."""
    from opendcc.core.eui import Eui64

    with _hub(config) as hub:
        if device:
            one = hub.inventory.device(Eui64.parse(device))
            found = [one] if one else []
        elif mpxn:
            found = hub.inventory.by_mpxn(mpxn)
        elif serial:
            found = hub.inventory.by_serial(serial)
        else:
            raise fail("give --mpxn, --serial or --device")
    if not found:
        raise fail("not enrolled: no such device in the inventory")
    for d in found:
        typer.echo(
            json.dumps(
                {
                    "device_id": str(d.device_id),
                    "type": d.device_type.value,
                    "status": d.smi_status.duis,
                    "cohort": d.cohort,
                    "mpxn": d.mpxn,
                    "serial_number": d.serial_number,
                    "installation": d.installation_id,
                }
            )
        )


# --------------------------------------------------------------------------- cpl


@cpl_app.command("load")
def cpl_load(
    config: ConfigOption,
    file: Annotated[Path, typer.Argument(help="A CPL TOML file.", exists=True)],
) -> None:
    """Add or replace CPL entries and eligible combinations from FILE."""
    with _hub(config) as hub:
        try:
            entries, combinations = hub.cpl.load_file(file)
        except DuisError as exc:
            raise fail(str(exc)) from None
    typer.echo(f"loaded {entries} CPL entries and {combinations} eligible combinations")


@cpl_app.command("list")
def cpl_list(config: ConfigOption) -> None:
    """The CPL and the eligible combinations."""
    with _hub(config) as hub:
        snapshot = hub.cpl.snapshot()
    for e in snapshot.entries:
        typer.echo(
            f"{e.device_type:<8} {e.manufacturer}/{e.model}  firmware {e.firmware_version}"
            f"  {e.status}  added {e.added_on:%Y-%m-%d}"
        )
    for c in snapshot.combinations:
        parts = " + ".join(p for p in (c.chf_model, c.esme_model, c.gsme_model, c.gpf_model) if p)
        typer.echo(f"combination  {c.cohort}: {parts}  added {c.added_on:%Y-%m-%d}")


# --------------------------------------------------------------------------- registration


@registration_app.command("change-supplier")
def registration_change_supplier(
    config: ConfigOption,
    mpxn: Annotated[str, typer.Argument(help="The MPAN or MPRN.")],
    role: Annotated[str, typer.Option(help="IS, ES or GS.")],
    to: Annotated[str, typer.Option("--to", help="The gaining supplier's User ID.")],
    effective: Annotated[
        datetime, typer.Option("--from", help="When the gaining supplier takes over (UTC).")
    ],
) -> None:
    """Record a change of supplier: the gaining supplier is responsible from --from on."""
    from opendcc.catalogue import UserRole
    from opendcc.core.eui import Eui64

    at = effective if effective.tzinfo else effective.replace(tzinfo=UTC)
    with _hub(config) as hub:
        try:
            hub.inventory.registrations.change_supplier(mpxn, UserRole(role), Eui64.parse(to), at)
        except (DuisError, ValueError) as exc:
            raise fail(str(exc)) from None
    typer.echo(f"{to} is {role} for {mpxn} from {at:%Y-%m-%dT%H:%M:%SZ}")


@registration_app.command("show")
def registration_show(
    config: ConfigOption, mpxn: Annotated[str, typer.Argument(help="The MPAN or MPRN.")]
) -> None:
    """Every registration of MPXN, latest first per role."""
    with _hub(config) as hub:
        holders = hub.inventory.registrations.holders(mpxn)
    if not holders:
        raise fail(f"no registration data for {mpxn}")
    for role, registrations in sorted(holders.items()):
        for r in registrations:
            typer.echo(f"{role:<4} {r.user_id}  from {r.effective_from:%Y-%m-%dT%H:%M:%SZ}")
