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

from opendcc.core.errors import DuisError
from opendcc.duis.authenticate import verify_document
from opendcc.duis.request import parse_request
from opendcc.duis.schema import load_schema
from opendcc.duis.xml import parse_xml
from opendcc.duis.xmldsig import sign
from opendcc.smki import SigningCredentials, TrustStore
from opendcc.smki.credentials import CredentialError

app = typer.Typer(help="opendcc: the SMETS1 Service.", no_args_is_help=True)
duis_app = typer.Typer(help="Parse, sign and verify DUIS documents.", no_args_is_help=True)
app.add_typer(duis_app, name="duis")

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


def _read(path: Path) -> bytes:
    return sys.stdin.buffer.read() if str(path) == "-" else path.read_bytes()


def _fail(message: str) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(1)


@duis_app.command("parse")
def parse_command(
    file: Annotated[Path, typer.Argument(help="A DUIS Service Request ('-' for stdin).")],
    xsd: XsdOption = None,
) -> None:
    """Print the request's typed summary as JSON."""
    try:
        request = parse_request(_read(file), schema=load_schema(xsd) if xsd else None)
    except DuisError as exc:
        raise _fail(f"invalid: {exc}") from None
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
        document = parse_xml(_read(file))
    except (CredentialError, DuisError, OSError) as exc:
        raise _fail(f"cannot sign: {exc}") from None
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
        document = parse_xml(_read(file))
        if xsd:
            load_schema(xsd).validate(document)
        signer = verify_document(document, store, now)
    except (DuisError, OSError) as exc:
        raise _fail(f"invalid: {exc}") from None
    typer.echo(f"valid: signed by {signer.label}")


@app.command("demo")
def demo_command() -> None:
    """Run the demo: one signed DUIS round trip through opendcc's core."""
    from opendcc.demo import run

    raise typer.Exit(run(typer.echo))


def main() -> None:  # pragma: no cover - console entry point
    app(prog_name=os.path.basename(sys.argv[0]) or "opendcc")
