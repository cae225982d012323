"""``opendcc process KIND``: one of the hub's processes (``opendcc.processes``), as
``opendcc serve`` starts them, or as a scale-mode deployment runs any number of each on any
number of machines (PostgreSQL and RabbitMQ from the configuration, or ``DATABASE_URL`` and
``BROKER_URL``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from opendcc.cli_common import ConfigOption, config_of

if TYPE_CHECKING:
    from opendcc.processes.wake import Wakes

app = typer.Typer(help="Run one of the hub's processes.", no_args_is_help=True)

WakeOption = Annotated[
    str | None,
    typer.Option(
        help="Inherited eventfds for wake-ups across processes, jobs=FD,outbox=FD"
        " (from opendcc serve; opendcc.processes.wake)."
    ),
]


def _wakes(text: str | None) -> Wakes | None:
    from opendcc.processes.wake import Wakes, decode

    try:
        fds = decode(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--wake") from None
    return Wakes(fds) if fds else None


@app.command("gateway")
def gateway(
    config: ConfigOption,
    port: Annotated[int | None, typer.Option(help="Override the configured port.")] = None,
    fd: Annotated[
        int | None,
        typer.Option(help="Serve on this inherited listening socket (from opendcc serve)."),
    ] = None,
    wake: WakeOption = None,
) -> None:
    """The HTTP front door: DUIS endpoints, the UTRN service, the admin API."""
    from opendcc.processes import gateway

    gateway.main(config_of(config), port, fd, _wakes(wake))


@app.command("worker")
def worker(config: ConfigOption, wake: WakeOption = None) -> None:
    """Claims jobs and carries them through the DCO and the S1SP adapters."""
    from opendcc.processes import worker

    worker.main(config_of(config), _wakes(wake))


@app.command("deliverer")
def deliverer(config: ConfigOption, wake: WakeOption = None) -> None:
    """Delivers the outbox's responses and alerts to Users' callbacks."""
    from opendcc.processes import deliverer

    deliverer.main(config_of(config), _wakes(wake))


@app.command("scheduler")
def scheduler(config: ConfigOption, wake: WakeOption = None) -> None:
    """Alerts, S1SP notices, future-dated work, firmware distribution, DCC schedules."""
    from opendcc.processes import scheduler

    scheduler.main(config_of(config), _wakes(wake))
