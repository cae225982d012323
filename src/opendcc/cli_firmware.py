"""``opendcc firmware``: the firmware library and campaigns, for the DCC's operators.

``add`` puts a manufacturer's image in the library (only for a version Active on the CPL),
``list`` shows what the library holds, and ``campaign`` reports how far a model's move to a
version has got: its devices, how many run the version, and the 11.1 distributions by outcome
(``--watch`` repeats the report until nothing is in flight). Each command opens the store named
by ``--config`` directly, as the other commands do.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console, Group, RenderableType
from rich.progress_bar import ProgressBar
from rich.table import Table

from opendcc.cli_common import ConfigOption, engine_of, fail
from opendcc.core.errors import DuisError

if TYPE_CHECKING:
    from opendcc.firmware import CampaignReport

app = typer.Typer(
    help="The firmware library (images per model, on the CPL) and firmware campaigns.",
    no_args_is_help=True,
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


@app.command("add")
def firmware_add(
    config: ConfigOption,
    file: Annotated[Path, typer.Argument(help="The firmware image.", exists=True, dir_okay=False)],
    manufacturer: Annotated[str, typer.Option(help="As the CPL names it.")],
    model: Annotated[str, typer.Option(help="The device model, as the CPL names it.")],
    version: Annotated[str, typer.Option(help="The firmware version (Active on the CPL).")],
) -> None:
    """Add FILE to the library as MANUFACTURER MODEL VERSION (refused unless that is Active
    on the CPL, or when the version already has another image)."""
    from opendcc.firmware import FirmwareLibrary
    from opendcc.inventory import CplStore

    engine = engine_of(config)
    try:
        library = FirmwareLibrary(engine, CplStore(engine))
        entry = library.add(
            manufacturer=manufacturer,
            model=model,
            version=version,
            image=file.read_bytes(),
            now=datetime.now(UTC),
        )
    except DuisError as exc:
        raise fail(f"refused: {exc}") from None
    finally:
        engine.dispose()
    typer.echo(
        f"{entry.manufacturer}/{entry.model} {entry.version}: {entry.size} bytes,"
        f" sha256 {entry.image_hash}"
    )


@app.command("list")
def firmware_list(
    config: ConfigOption,
    model: Annotated[str | None, typer.Option(help="Only this device model.")] = None,
    as_json: JsonOption = False,
) -> None:
    """The images in the library."""
    from opendcc.firmware import FirmwareLibrary
    from opendcc.inventory import CplStore

    engine = engine_of(config)
    try:
        images = FirmwareLibrary(engine, CplStore(engine)).images(model)
    finally:
        engine.dispose()
    if as_json:
        typer.echo(
            json.dumps(
                [
                    {
                        "manufacturer": i.manufacturer,
                        "model": i.model,
                        "version": i.version,
                        "size": i.size,
                        "sha256": i.image_hash,
                        "added_at": i.added_at.isoformat(),
                    }
                    for i in images
                ],
                indent=2,
            )
        )
        return
    table = Table("manufacturer", "model", "version", "bytes", "sha256", "added")
    for i in images:
        added = f"{i.added_at:%Y-%m-%d %H:%M}"
        table.add_row(i.manufacturer, i.model, i.version, str(i.size), i.image_hash, added)
    Console().print(table)


@app.command("campaign")
def firmware_campaign(
    config: ConfigOption,
    model: Annotated[str, typer.Argument(help="The device model.")],
    version: Annotated[str, typer.Argument(help="The firmware version.")],
    watch: Annotated[
        float | None,
        typer.Option(help="Report again every SECONDS until nothing is in flight."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """How far MODEL's move to firmware VERSION has got: activated of sent, and each outcome."""
    from opendcc.firmware import campaign

    engine = engine_of(config)
    console = Console()
    try:
        while True:
            report = campaign(engine, model, version)
            if as_json:
                typer.echo(json.dumps(report.to_json(), indent=2))
            else:
                console.print(_rendered(report))
            if watch is None or report.in_flight == 0:
                return
            time.sleep(watch)
    finally:
        engine.dispose()


def _rendered(report: CampaignReport) -> Group:
    sent = report.sent
    headline = (
        f"[bold]{report.model} → {report.version}[/]: {report.devices} device(s) in service,"
        f" {report.on_version} on {report.version}; activated {report.activated} of {sent} sent"
    )
    bar = Table.grid(padding=(0, 1))
    share = report.activated / sent if sent else 0.0
    bar.add_row(ProgressBar(total=1.0, completed=share, width=40), f"{share:.0%} activated")
    outcomes = Table("outcome", "devices")
    for state, count in report.states.items():
        outcomes.add_row(state.value, str(count))
    parts: list[RenderableType] = [headline, bar, outcomes]
    if report.failures:
        failures = Table("failure", "devices")
        for detail, count in report.failures.items():
            failures.add_row(detail, str(count))
        parts.append(failures)
    return Group(*parts)
