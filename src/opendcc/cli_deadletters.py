"""``opendcc deadletters``: the service desk's view of messages Users' endpoints would not take.

Each command opens the hub's store named by ``--config`` directly (``queue.deadletters``). The
desk sees every User's dead letters (``--user`` narrows to one) and redrives them: back into
the outbox, to the User's callback URL now, delivered within a second by a running hub. A User
does the same for its own through the admin API (``/admin/v1/dead-letters``); ``desk-key``
makes the key the desk uses there.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Annotated

import typer

from opendcc.cli_common import ConfigOption, engine_of, eui_of, fail

deadletters_app = typer.Typer(
    help="Dead letters: messages a User's endpoint refused or never took (list, redrive).",
    no_args_is_help=True,
)

UserOption = Annotated[
    str | None, typer.Option("--user", help="Only this User's (its User ID, EUI-64).")
]


@deadletters_app.command("list")
def deadletters_list(
    config: ConfigOption,
    user: UserOption = None,
    after: Annotated[int, typer.Option(min=0, help="After this dead letter id.")] = 0,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="JSON Lines.")] = False,
) -> None:
    """Dead letters oldest first: id, key, User, when, attempts, last error."""
    from opendcc.queue.deadletters import DeadLetters

    engine = engine_of(config)
    try:
        found = DeadLetters(engine).list_dead(
            str(eui_of(user)) if user else None, after=after, limit=limit
        )
    finally:
        engine.dispose()
    for letter in found:
        if as_json:
            typer.echo(json.dumps(letter.to_json()))
            continue
        why = "permanent" if letter.permanent else "gave up"
        dead = letter.dead_at.strftime("%Y-%m-%d %H:%M:%S")
        typer.echo(
            f"{letter.id}  {letter.message_key}  {letter.user_id}  dead {dead}"
            f"  attempts={letter.attempts} ({why}: {letter.last_error})"
        )


@deadletters_app.command("show")
def deadletters_show(
    config: ConfigOption,
    letter_id: Annotated[int, typer.Argument(help="The dead letter's id.")],
) -> None:
    """One dead letter's signed document, exactly as it would be delivered."""
    from opendcc.queue.deadletters import DeadLetters

    engine = engine_of(config)
    try:
        found = DeadLetters(engine).get(letter_id)
    finally:
        engine.dispose()
    if found is None:
        raise fail(f"no dead letter {letter_id}")
    sys.stdout.buffer.write(found[1])
    sys.stdout.flush()


@deadletters_app.command("redrive")
def deadletters_redrive(
    config: ConfigOption,
    ids: Annotated[list[int] | None, typer.Argument(help="Dead letter ids.")] = None,
    every: Annotated[bool, typer.Option("--all", help="Every one (of --user, if given).")] = False,
    user: UserOption = None,
) -> None:
    """Put dead letters back in the outbox, to the User's callback URL now."""
    from opendcc.queue.deadletters import DeadLetters
    from opendcc.store.users import UserStore

    if bool(ids) == every:
        raise fail("name dead letter ids, or --all")
    engine = engine_of(config)
    users = UserStore(engine)

    def url_of(user_id: str) -> str | None:
        found = users.get(eui_of(user_id))
        return found.callback_url if found is not None and found.active else None

    try:
        keys = DeadLetters(engine).redrive(
            None if every else ids,
            datetime.now(UTC),
            user=str(eui_of(user)) if user else None,
            url_of=url_of,
        )
    finally:
        engine.dispose()
    if ids and len(keys) < len(set(ids)):
        typer.echo(f"{len(set(ids)) - len(keys)} of those ids are not dead letters", err=True)
    for key in keys:
        typer.echo(f"redriven {key}")


@deadletters_app.command("desk-key")
def deadletters_desk_key(
    config: ConfigOption,
    name: Annotated[str, typer.Argument(help="Who at the service desk (letters, digits, .-_).")],
) -> None:
    """Make a service desk key for the admin API's dead letters (printed once)."""
    from opendcc.prepayment.registers import Kind, Registers

    engine = engine_of(config)
    try:
        key = Registers(engine).make_key(name, Kind.DESK, datetime.now(UTC))
    except ValueError as exc:
        raise fail(str(exc)) from None
    finally:
        engine.dispose()
    typer.echo(key)
