"""What every ``opendcc`` command shares: the configuration option and how failures end."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import Engine

from opendcc.config import ConfigError, HubConfig
from opendcc.config import load as load_config
from opendcc.core.eui import Eui64, InvalidIdentifier


def read_input(path: Path) -> bytes:
    return sys.stdin.buffer.read() if str(path) == "-" else path.read_bytes()


def fail(message: str) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(1)


ConfigOption = Annotated[
    Path,
    typer.Option(
        "--config",
        "-c",
        envvar="OPENDCC_CONFIG",
        help="The hub's configuration file (TOML; see docs/configuration.md).",
        exists=True,
        dir_okay=False,
    ),
]


def config_of(path: Path) -> HubConfig:
    try:
        return load_config(path)
    except ConfigError as exc:
        raise fail(str(exc)) from None


def engine_of(config: Path) -> Engine:
    """The store named by the configuration, migrated to the latest schema."""
    from opendcc.store import create_engine_for, upgrade

    engine = create_engine_for(config_of(config).database_url)
    upgrade(engine)
    return engine


def eui_of(text: str) -> Eui64:
    """An EUI-64 argument, or exit with why it is not one."""
    try:
        return Eui64.parse(text)
    except InvalidIdentifier as exc:
        raise fail(str(exc)) from None
