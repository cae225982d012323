"""``opendcc process KIND``: one of the hub's processes (``opendcc.processes``), as
``opendcc serve`` starts them, or as a scale-mode deployment runs any number of each on any
number of machines (PostgreSQL and RabbitMQ from the configuration, or ``DATABASE_URL`` and
``BROKER_URL``)."""

from __future__ import annotations

from typing import Annotated

import typer

from opendcc.cli_common import ConfigOption, config_of

app = typer.Typer(help="Run one of the hub's processes.", no_args_is_help=True)


@app.command("gateway")
def gateway(
    config: ConfigOption,
    port: Annotated[int | None, typer.Option(help="Override the configured port.")] = None,
    fd: Annotated[
        int | None,
        typer.Option(help="Serve on this inherited listening socket (from opendcc serve)."),
    ] = None,
) -> None:
    """The HTTP front door: DUIS endpoints, the UTRN service, the admin API."""
    from opendcc.processes import gateway

    gateway.main(config_of(config), port, fd)


@app.command("worker")
def worker(config: ConfigOption) -> None:
    """Claims jobs and carries them through the DCO and the S1SP adapters."""
    from opendcc.processes import worker

    worker.main(config_of(config))


@app.command("deliverer")
def deliverer(config: ConfigOption) -> None:
    """Delivers the outbox's responses and alerts to Users' callbacks."""
    from opendcc.processes import deliverer

    deliverer.main(config_of(config))


@app.command("scheduler")
def scheduler(config: ConfigOption) -> None:
    """Alerts, S1SP notices, future-dated work, firmware distribution, DCC schedules."""
    from opendcc.processes import scheduler

    scheduler.main(config_of(config))
