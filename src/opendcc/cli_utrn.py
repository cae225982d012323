"""``opendcc utrn``: make GBCS UTRNs (Unique Transaction Reference Numbers) by hand.

A supplier's developer checking a prepayment integration wants the 20 digits a given top-up
should produce — from its own prepayment key-agreement key and the meter's certificate, as GBCS
(Great Britain Companion Specification) section 14 makes them — and to check a keyed-in token's
check digit. The algorithms live in ``opendcc.prepayment.utrn``; this is only the edge.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from opendcc.core.eui import Eui64, InvalidIdentifier
from opendcc.prepayment.utrn import gbcs
from opendcc.prepayment.utrn.verhoeff import is_valid

utrn_app = typer.Typer(
    help="Make and check UTRNs (prepayment top-up tokens).", no_args_is_help=True
)


class ClassName(StrEnum):
    PENNIES = "pennies"
    POUNDS = "pounds"


_CLASSES = {ClassName.PENNIES: gbcs.ValueClass.PENNIES, ClassName.POUNDS: gbcs.ValueClass.POUNDS}


def _eui(text: str) -> Eui64:
    try:
        return Eui64.parse(text)
    except InvalidIdentifier as exc:
        raise typer.BadParameter(str(exc)) from None


def _read(path: Path, option: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise typer.BadParameter(f"cannot read {path}: {exc}", param_hint=option) from None


def load_supplier_key(path: Path) -> ec.EllipticCurvePrivateKey:
    """The supplier's prepayment key-agreement private key (PEM PKCS#8, unencrypted)."""
    try:
        key = serialization.load_pem_private_key(_read(path, "--supplier-key"), None)
    except (ValueError, TypeError) as exc:
        raise typer.BadParameter(f"{path}: {exc}", param_hint="--supplier-key") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise typer.BadParameter(f"{path}: not a P-256 private key", param_hint="--supplier-key")
    return key


def load_device_key(path: Path) -> ec.EllipticCurvePublicKey:
    """The device's key-agreement public key, from its certificate or a bare PEM public key."""
    pem = _read(path, "--device-cert")
    try:
        key: object = x509.load_pem_x509_certificate(pem).public_key()
    except ValueError:
        try:
            key = serialization.load_pem_public_key(pem)
        except (ValueError, TypeError) as exc:
            raise typer.BadParameter(f"{path}: {exc}", param_hint="--device-cert") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise typer.BadParameter(f"{path}: not a P-256 public key", param_hint="--device-cert")
    return key


@utrn_app.command("gbcs")
def gbcs_command(
    *,
    originator: Annotated[
        Eui64, typer.Option(parser=_eui, help="The originator's EUI-64 (e.g. the supplier).")
    ],
    target: Annotated[Eui64, typer.Option(parser=_eui, help="The meter's EUI-64.")],
    counter: Annotated[
        int,
        typer.Option(
            min=0, max=gbcs.MAX_COUNTER, help="The UTRN counter (above every earlier one)."
        ),
    ],
    value: Annotated[int, typer.Option(min=0, max=gbcs.MAX_VALUE, help="0..8191.")],
    value_class: Annotated[ClassName, typer.Option("--class", help="The value's unit.")],
    supplier_key: Annotated[
        Path, typer.Option(help="The supplier's prepayment key-agreement key (PEM PKCS#8).")
    ],
    device_cert: Annotated[
        Path,
        typer.Option(help="The device's key-agreement certificate (PEM), or its public key."),
    ],
) -> None:
    """Print the GBCS UTRN for a top-up of VALUE pennies or pounds."""
    token = gbcs.utrn(
        private=load_supplier_key(supplier_key),
        public=load_device_key(device_cert),
        originator=originator,
        target=target,
        counter=counter,
        value=value,
        value_class=_CLASSES[value_class],
    )
    typer.echo(token)


@utrn_app.command("check")
def check_command(utrn: Annotated[str, typer.Argument(help="A 20-digit UTRN.")]) -> None:
    """Check a UTRN's length and check digit (not its authenticity: that needs the meter's key)."""
    if len(utrn) != 20 or not is_valid(utrn):
        typer.echo(f"invalid: {utrn} is not 20 digits with a good check digit", err=True)
        raise typer.Exit(1)
    typer.echo(f"valid: {utrn} has a good check digit")
