"""``opendcc sim``: act on the simulated meters as the world does, through a head-end simulator.

``opendcc sim keypad DEVICE UTRN --headend URL`` keys a UTRN (Unique Transaction Reference
Number) into a simulated meter as a consumer would, through the control API of the head-end
simulator serving it (``opendcc.sim.keypad``; the URL its process prints as ``control on``).
A credited UTRN prints what it credited; a refused one prints why and exits 1.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import httpx
import typer

from opendcc.cli_common import fail
from opendcc.sim.keypad import KEYPAD_PATH

sim_app = typer.Typer(help="Act on the simulated meters.", no_args_is_help=True)

HeadEndOption = Annotated[
    str,
    typer.Option(
        "--headend",
        envvar="OPENDCC_SIM_CONTROL",
        help="The head-end simulator's control URL (it prints 'control on URL').",
    ),
]


def _body(answer: httpx.Response) -> dict[str, Any]:
    try:
        body = answer.json()
    except json.JSONDecodeError:
        return {}
    return body if isinstance(body, dict) else {}


@sim_app.command("keypad")
def keypad_command(
    device: Annotated[str, typer.Argument(help="The meter's EUI-64.")],
    utrn: Annotated[str, typer.Argument(help="The 20-digit UTRN the consumer keys in.")],
    headend: HeadEndOption,
) -> None:
    """Key a UTRN into a simulated meter's keypad."""
    url = headend.rstrip("/") + KEYPAD_PATH
    try:
        answer = httpx.post(url, json={"device": device, "utrn": utrn}, timeout=30)
    except httpx.HTTPError as exc:
        raise fail(f"cannot reach the head-end simulator at {headend}: {exc}") from None
    body = _body(answer)
    if answer.status_code == 200 and body.get("accepted") is True:
        amount_p = int(body["amount_p"])
        typer.echo(
            f"accepted: {amount_p // 100}.{amount_p % 100:02d} GBP credited "
            f"({amount_p}p, counter {body['counter']})"
        )
        return
    if answer.status_code == 422:
        raise fail(f"refused: {body.get('reason')}: {body.get('detail')}")
    raise fail(f"the head-end simulator answered {answer.status_code}: {body or answer.text}")
