"""``opendcc restricted``, ``alerts``, ``report``, ``inventory extract`` and ``users key``: the
admin API's work from the command line, for operators and suppliers' scripts.

Each command opens the hub's store named by ``--config`` directly, as the other commands do,
and goes through the same checks as the admin API (``opendcc.gateway.admin``): only the supplier
responsible for a meter now may set or clear its restricted mode (MP169). A change made here
queues its S1SP (SMETS1 Service Provider) notice in the store; a running hub's notice loop
sends it within seconds.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, TextIO

import typer
from rich.console import Console
from rich.table import Table

from opendcc.cli_common import ConfigOption, engine_of, eui_of, fail
from opendcc.cli_deadletters import deadletters_app
from opendcc.cli_inventory import inventory_app
from opendcc.core.errors import DuisError

restricted_app = typer.Typer(
    help="Restricted mode (MP169): meters whose consumer refused smart functionality.",
    no_args_is_help=True,
)
alerts_app = typer.Typer(
    help="A User's alert messages and alert subscriptions; the diagnostics log.",
    no_args_is_help=True,
)
report_app = typer.Typer(help="Reports about the service.", no_args_is_help=True)
requests_app = typer.Typer(
    help="A User's own service requests: state and steps (cancel: the admin API).",
    no_args_is_help=True,
)

AsUser = Annotated[str, typer.Option("--as", help="The DCC User acting (its User ID, EUI-64).")]


def register_admin_commands(app: typer.Typer, users_app: typer.Typer) -> None:
    app.add_typer(restricted_app, name="restricted")
    app.add_typer(alerts_app, name="alerts")
    app.add_typer(report_app, name="report")
    app.add_typer(requests_app, name="requests")
    app.add_typer(deadletters_app, name="deadletters")
    inventory_app.command("extract")(inventory_extract)
    users_app.command("key")(users_key)


def _at(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _when(value: datetime | None) -> str:
    return "-" if value is None else f"{value:%Y-%m-%dT%H:%M:%SZ}"


# --------------------------------------------------------------------------- restricted


def _change(config: Path, device: str, *, restricted: bool, user: str, reason: str) -> None:
    from opendcc.inventory import InventoryStore
    from opendcc.inventory.restriction import Restrictions

    engine = engine_of(config)
    restrictions = Restrictions(engine, InventoryStore(engine))
    try:
        changed = restrictions.change(
            eui_of(device),
            restricted=restricted,
            by=eui_of(user),
            reason=reason,
            now=datetime.now(UTC),
        )
    except DuisError as exc:
        code = f" ({exc.code})" if exc.code else ""
        raise fail(f"refused{code}: {exc}") from None
    finally:
        engine.dispose()
    for r in changed:
        state = "restricted" if r.restricted else "not restricted"
        typer.echo(f"{r.device_id}  {state} since {_when(r.since)} by {r.changed_by}")


@restricted_app.command("set")
def restricted_set(
    config: ConfigOption,
    device: Annotated[str, typer.Argument(help="The ESME or GSME (a GSME's GPF follows).")],
    user: AsUser,
    reason: Annotated[str, typer.Option(help="Why, for the history (required).")],
) -> None:
    """Restrict a meter, as the supplier responsible for it now; the S1SP is told by the
    running hub's notice loop."""
    if not reason.strip():
        raise fail("a reason is required to restrict a meter")
    _change(config, device, restricted=True, user=user, reason=reason)


@restricted_app.command("clear")
def restricted_clear(
    config: ConfigOption,
    device: Annotated[str, typer.Argument(help="The ESME or GSME.")],
    user: AsUser,
    reason: Annotated[str, typer.Option(help="Why, for the history.")] = "",
) -> None:
    """Lift a meter's restriction, as the supplier responsible for it now; the S1SP is told by
    the running hub's notice loop."""
    _change(config, device, restricted=False, user=user, reason=reason)


@restricted_app.command("show")
def restricted_show(
    config: ConfigOption, device: Annotated[str, typer.Argument(help="The Device ID.")]
) -> None:
    """A device's restriction now and every change: who, when, why."""
    from opendcc.inventory import InventoryStore
    from opendcc.inventory.restriction import Restrictions

    engine = engine_of(config)
    device_id = eui_of(device)
    restrictions = Restrictions(engine, InventoryStore(engine))
    if restrictions.inventory.device(device_id) is None:
        raise fail(f"no device {device_id} in the inventory")
    current = restrictions.of(device_id)
    if current is None:
        typer.echo(f"{device_id}  never restricted")
    else:
        state = "restricted" if current.restricted else "not restricted"
        typer.echo(
            f"{device_id}  {state} since {_when(current.since)} by {current.changed_by}"
            f" (meter {current.meter_id}): {current.reason}"
        )
    for change in restrictions.history(device_id):
        action = "set" if change.restricted else "cleared"
        typer.echo(f"  {_when(change.at)}  {action:<7} by {change.changed_by}: {change.reason}")
    engine.dispose()


@restricted_app.command("list")
def restricted_list(config: ConfigOption) -> None:
    """Every restricted device."""
    from opendcc.inventory import InventoryStore
    from opendcc.inventory.restriction import Restrictions

    engine = engine_of(config)
    found = Restrictions(engine, InventoryStore(engine)).all_restricted()
    engine.dispose()
    table = Table(title=f"restricted devices: {len(found)}")
    for column in ("device", "meter", "since", "set by", "reason"):
        table.add_column(column)
    for r in found:
        table.add_row(
            str(r.device_id), str(r.meter_id), _when(r.since), str(r.changed_by), r.reason
        )
    Console(width=160).print(table)


@restricted_app.command("watch")
def restricted_watch(config: ConfigOption) -> None:
    """Restricted devices whose firmware updates keep failing (MP169 R-001), as flagged."""
    from opendcc.alerts.store import FirmwareWatch

    engine = engine_of(config)
    flagged = FirmwareWatch(engine).flagged()
    engine.dispose()
    table = Table(title=f"firmware watch: {len(flagged)} flagged")
    for column in ("device", "failures", "last failure", "flagged", "detail"):
        table.add_column(column)
    for w in flagged:
        table.add_row(
            str(w.device_id),
            str(w.failures),
            _when(w.last_failure_at),
            _when(w.flagged_at),
            w.last_detail,
        )
    Console(width=160).print(table)


# --------------------------------------------------------------------------- inventory


def inventory_extract(
    config: ConfigOption,
    user: AsUser,
    output: Annotated[str, typer.Option("--format", help="csv or json.")] = "csv",
    out: Annotated[Path | None, typer.Option(help="Write here instead of stdout.")] = None,
) -> None:
    """The device extract: every device USER supplies now (IS or GS), with its restriction."""
    from opendcc.inventory import extract

    renderers = {"csv": extract.csv_text, "json": extract.json_text}
    if output not in renderers:
        raise fail("--format is csv or json")
    engine = engine_of(config)
    pieces = renderers[output](extract.extract(engine, eui_of(user), datetime.now(UTC)))
    try:
        if out is None:
            _write(pieces, sys.stdout)
        else:
            with out.open("w", encoding="utf-8", newline="") as file:
                _write(pieces, file)
    finally:
        engine.dispose()


def _write(pieces: Iterable[str], stream: TextIO) -> None:
    for piece in pieces:
        stream.write(piece)


# --------------------------------------------------------------------------- alerts


@alerts_app.command("list")
def alerts_list(
    config: ConfigOption,
    user: AsUser,
    since: Annotated[datetime | None, typer.Option(help="Only from this instant (UTC).")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 100,
) -> None:
    """A User's latest alert messages, oldest first: AlertID, when, delivered, attempts."""
    from opendcc.alerts.store import AlertRecord

    engine = engine_of(config)
    found = AlertRecord(engine).for_user(eui_of(user), since=_at(since), limit=limit)
    engine.dispose()
    for a in found:
        delivered = f"delivered {_when(a.delivered_at)}" if a.delivered_at else "undelivered"
        error = f"  ({a.last_error})" if a.last_error else ""
        typer.echo(
            f"{a.alert_id}  {_when(a.created_at)}  {delivered}  attempts={a.attempts}{error}"
        )


@alerts_app.command("show")
def alerts_show(
    config: ConfigOption,
    alert_id: Annotated[str, typer.Argument(help="The AlertID.")],
    user: AsUser,
) -> None:
    """One alert message: the signed document exactly as stored."""
    from opendcc.alerts.store import AlertRecord

    engine = engine_of(config)
    found = AlertRecord(engine).fetch(eui_of(user), alert_id)
    engine.dispose()
    if found is None:
        raise fail(f"no alert {alert_id} for {user}")
    sys.stdout.buffer.write(found.body)
    sys.stdout.flush()


@requests_app.command("show")
def requests_show(
    config: ConfigOption,
    request_id: Annotated[str, typer.Argument(help="The RequestID: originator:target:counter.")],
    user: AsUser,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """One of the User's requests: its state, execution time, predecessor, code and steps."""
    from opendcc.core.request_id import RequestId
    from opendcc.gateway.admin_requests import describe
    from opendcc.store.requests import RequestStore

    try:
        rid = RequestId.parse(request_id)
    except (DuisError, ValueError):
        raise fail(f"not a RequestID: {request_id!r}") from None
    engine = engine_of(config)
    described = describe(RequestStore(engine), rid) if rid.originator == eui_of(user) else None
    engine.dispose()
    if described is None:
        raise fail(f"no request {request_id} of {user}")
    if as_json:
        typer.echo(json.dumps(described, indent=2))
        return
    code = described["response_code"] or "-"
    typer.echo(f"{described['request_id']}  {described['state']}  {code}")
    for name in ("execute_at", "preceding_request_id"):
        if described[name]:
            typer.echo(f"  {name.replace('_', ' ')}: {described[name]}")
    for step in described["steps"]:
        typer.echo(f"  {step['at']}  {step['state']}")


def _choose(config: Path, code: str, user: str, choice: str | None) -> None:
    from opendcc.alerts.codes import DEVICE_ALERTS
    from opendcc.alerts.store import Choice, Subscriptions

    try:
        number = int(code.removeprefix("0x"), 16)
    except ValueError:
        raise fail(f"not an alert code: {code!r}") from None
    if number not in DEVICE_ALERTS:
        raise fail(f"alert code {code} is not one opendcc delivers")
    engine = engine_of(config)
    subscriptions = Subscriptions(engine, cache_seconds=0)
    who = eui_of(user)
    try:
        if choice is None:
            subscriptions.reset(who, number)
        else:
            subscriptions.choose(who, number, Choice(choice), datetime.now(UTC))
    except DuisError as exc:
        raise fail(f"refused: {exc}") from None
    finally:
        engine.dispose()
    spec = DEVICE_ALERTS[number]
    receives = subscriptions.wants(who, number)
    typer.echo(f"{spec.hex} {spec.description}: {'on' if receives else 'off'} for {who}")


@alerts_app.command("subscribe")
def alerts_subscribe(
    config: ConfigOption, code: Annotated[str, typer.Argument(help="e.g. 8101")], user: AsUser
) -> None:
    """Turn a non-mandatory device alert on for the User."""
    _choose(config, code, user, "on")


@alerts_app.command("suppress")
def alerts_suppress(
    config: ConfigOption, code: Annotated[str, typer.Argument(help="e.g. 8101")], user: AsUser
) -> None:
    """Turn a non-mandatory device alert off for the User (mandatory ones cannot be)."""
    _choose(config, code, user, "off")


@alerts_app.command("reset")
def alerts_reset(
    config: ConfigOption, code: Annotated[str, typer.Argument(help="e.g. 8101")], user: AsUser
) -> None:
    """Back to the alert's default for the User."""
    _choose(config, code, user, None)


@alerts_app.command("diagnostics")
def alerts_diagnostics(
    config: ConfigOption,
    device: Annotated[str | None, typer.Option(help="Only this device.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 1000,
) -> None:
    """Alerts from restricted devices that were not delivered (operators only): JSON lines."""
    from opendcc.alerts.store import AlertRecord

    engine = engine_of(config)
    found = AlertRecord(engine).diagnostics(eui_of(device) if device else None, limit)
    engine.dispose()
    for d in found:
        line = {
            "device_id": str(d.device_id),
            "cohort": d.cohort,
            "code": d.code,
            "raised_at": d.raised_at.isoformat(),
            "received_at": d.received_at.isoformat(),
            "values": d.values,
            "reason": d.reason,
        }
        typer.echo(json.dumps(line))


# --------------------------------------------------------------------------- users, reports


def users_key(
    config: ConfigOption, user_id: Annotated[str, typer.Argument(help="The User ID, an EUI-64.")]
) -> None:
    """Make an admin API key for a DCC User (printed once; only its hash is kept)."""
    from opendcc.prepayment.registers import Kind, Registers
    from opendcc.store.users import UserStore

    engine = engine_of(config)
    user = eui_of(user_id)
    try:
        if UserStore(engine).get(user) is None:
            raise fail(f"{user} is not a DCC User")
        key = Registers(engine).make_key(str(user), Kind.USER, datetime.now(UTC))
    finally:
        engine.dispose()
    typer.echo(key)


@report_app.command("performance")
def report_performance(
    config: ConfigOption,
    start: Annotated[
        datetime | None, typer.Option("--from", help="Start (UTC; default: a day before --to).")
    ] = None,
    end: Annotated[datetime | None, typer.Option("--to", help="End (UTC; default: now).")] = None,
    output: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
) -> None:
    """The performance report per SRV; consumption reads refused to restricted meters (E71)
    are excluded from every measure (MP169)."""
    from opendcc.catalogue import default_catalogue
    from opendcc.service.performance import build

    if output not in ("table", "json"):
        raise fail("--format is table or json")
    to = _at(end) or datetime.now(UTC)
    since = _at(start) or to - timedelta(days=1)
    engine = engine_of(config)
    try:
        report = build(engine, default_catalogue(), since, to)
    except ValueError as exc:
        raise fail(str(exc)) from None
    finally:
        engine.dispose()
    if output == "json":
        typer.echo(json.dumps(report.as_json(), indent=2))
        return
    table = Table(title=f"performance {_when(report.start)} - {_when(report.end)}")
    columns = ("SRV", "received", "excluded", "counted", "refused", "quarantined")
    for column in (*columns, "answered", "failed", "in flight", "success"):
        table.add_column(column, justify="left" if column in ("SRV", "refused") else "right")
    for line in (*report.lines, report.total):
        data = line.as_json()
        rate = line.success_rate
        refused = " ".join(f"{code}:{n}" for code, n in line.refused.items()) or "-"
        table.add_row(
            line.srv,
            *(str(data[k]) for k in ("received", "excluded_restricted", "counted")),
            refused,
            *(str(data[k]) for k in ("quarantined", "answered", "failed", "in_flight")),
            "-" if rate is None else f"{rate:.1%}",
        )
    Console(width=160).print(table)
