"""Dead letters: callback deliveries a User's endpoint could not be made to take
(``queue.deadletters``), listed with their attempts and last error, and redriven (one, or all
of the caller's) back into the outbox, the deliverer woken at once.

A User sees and redrives its own; the service desk every User's (``?user=`` narrows the list,
and "redrive all" to that User). A letter that is not the caller's is answered 404, as if
unknown. Each redrive is audited by the page plumbing (``ssi.web``) with what was redriven.
"""

from __future__ import annotations

import asyncio

from starlette.responses import Response
from starlette.routing import Route

from opendcc.core.eui import Eui64, InvalidIdentifier
from opendcc.queue.deadletters import DeadLetters
from opendcc.ssi.web import Ctx, PageError, Ssi, redirect

PAGE = 100


def routes(ssi: Ssi) -> list[Route]:
    hub = ssi.hub
    letters = DeadLetters(hub.engine)

    def url_of(user: str) -> str | None:
        """The User's callback URL now (it may have mended it), as the admin API redrives."""
        try:
            found = hub.users.get(Eui64.parse(user))
        except InvalidIdentifier:
            return None
        return found.callback_url if found is not None and found.active else None

    def scope(ctx: Ctx, text: str) -> str | None:
        """Whose dead letters: a User's own, whatever it asks; the desk's choice (None: all)."""
        user = ctx.principal.user_id
        if user is not None:
            return str(user)
        if not text.strip():
            return None
        try:
            return str(Eui64.parse(text.strip()))
        except InvalidIdentifier:
            raise PageError(400, f"not a User ID: {text[:40]!r}") from None

    def number(text: str, what: str) -> int:
        if not (text.isascii() and text.isdigit()) or len(text) > 18:
            raise PageError(404 if what == "id" else 400, f"not a dead letter {what}")
        return int(text)

    def wake() -> None:
        hub.deliverer.wake.set()  # a hub not started yet picks them up when it starts

    async def listing(ctx: Ctx) -> Response:
        user = scope(ctx, ctx.query("user"))
        after = number(ctx.query("after", "0") or "0", "cursor")
        found = await asyncio.to_thread(letters.list_dead, user, after=after, limit=PAGE)
        counts = await asyncio.to_thread(letters.count_by_user) if ctx.principal.desk else {}
        ctx.note = f"dead letters of {user or 'every User'}: {len(found)} shown"
        return ssi.render(
            ctx,
            "deadletters.html",
            letters=found,
            user=user or "",
            counts=counts,
            after=after,
            next=found[-1].id if len(found) == PAGE else None,
        )

    async def redrive_one(ctx: Ctx) -> Response:
        letter = number(str(ctx.request.path_params["letter"]), "id")
        user = scope(ctx, "")
        keys = await asyncio.to_thread(letters.redrive, [letter], ctx.now, user=user, url_of=url_of)
        if not keys:
            raise PageError(404, f"no dead letter {letter} of yours")
        wake()
        ctx.note = f"redrove dead letter {letter} ({keys[0]})"
        back = ctx.field("back")
        return redirect(f"/dead-letters{_back(back)}", f"Dead letter {letter} redriven")

    async def redrive_all(ctx: Ctx) -> Response:
        user = scope(ctx, ctx.field("user"))
        keys = await asyncio.to_thread(letters.redrive, None, ctx.now, user=user, url_of=url_of)
        if keys:
            wake()
        ctx.note = f"redrove all dead letters of {user or 'every User'}: {len(keys)}"
        back = f"?user={user}" if user and ctx.principal.desk else ""
        return redirect(f"/dead-letters{back}", f"{len(keys)} dead letter(s) redriven")

    return [
        Route("/dead-letters", ssi.page(listing), methods=["GET"]),
        Route("/dead-letters/redrive", ssi.page(redrive_all), methods=["POST"]),
        Route("/dead-letters/{letter}/redrive", ssi.page(redrive_one), methods=["POST"]),
    ]


def _back(user: str) -> str:
    """The desk's filter to return to, if it is a User ID (nothing else goes in the URL)."""
    try:
        return f"?user={Eui64.parse(user)}" if user else ""
    except InvalidIdentifier:
        return ""
