"""What every ``opendcc`` command shares: the configuration option and how failures end."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from opendcc.config import ConfigError, HubConfig
from opendcc.config import load as load_config


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
