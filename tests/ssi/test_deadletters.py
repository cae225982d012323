"""The SSI's dead letters page: a User sees and redrives only its own, the service desk sees
(and filters) every User's, a redrive is refused without the CSRF token or for another User's
letter, and a redriven letter is back in the outbox under its key; the device page links to the
dead letters of its requests."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, insert, select

from opendcc.queue.deadletters import DeadLetters
from opendcc.store.tables import dead_letters, outbox, service_requests
from tests.gateway.test_admin import NOW
from tests.inventory.test_devices import ESME
from tests.ssi.conftest import OTHER, SUPPLIER, Ssi


def bury(ssi: Ssi, n: int, user: object, *, request_id: str | None = None) -> int:
    """A dead letter as the deliverer leaves one; its id."""
    with ssi.hub.engine.begin() as conn:
        return int(
            conn.execute(
                insert(dead_letters).values(
                    message_key=f"response:{user}:{n}",
                    user_id=str(user),
                    request_id=request_id,
                    url="http://127.0.0.1:9/callback",
                    body=b"<signed/>",
                    created_at=NOW - timedelta(minutes=5),
                    dead_at=NOW,
                    attempts=3,
                    last_error=f"HTTP 400 from the endpoint, letter {n}",
                    permanent=n % 2 == 0,
                )
            ).inserted_primary_key[0]  # type: ignore[index]
        )


def outboxed(ssi: Ssi) -> list[str]:
    with ssi.hub.engine.connect() as conn:
        return list(conn.execute(select(outbox.c.message_key).order_by(outbox.c.id)).scalars())


def dead(ssi: Ssi) -> int:
    with ssi.hub.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(dead_letters)).scalar_one())


def test_a_user_sees_only_its_own_and_the_desk_sees_all(ssi: Ssi) -> None:
    mine, theirs = bury(ssi, 1, SUPPLIER), bury(ssi, 2, OTHER)
    supplier = ssi.browser(str(SUPPLIER))
    page = supplier.get("/dead-letters").text
    assert f'id="dead-{mine}"' in page and f'id="dead-{theirs}"' not in page
    assert "letter 1" in page and "letter 2" not in page
    assert "<td>3</td>" in page  # attempts
    assert 'href="/ssi/dead-letters"' in page  # in the navigation
    # Asking for another User's is still its own.
    assert "letter 2" not in supplier.get("/dead-letters", user=str(OTHER)).text

    desk = ssi.browser("desk")
    everyone = desk.get("/dead-letters").text
    assert f'id="dead-{mine}"' in everyone and f'id="dead-{theirs}"' in everyone
    assert "refused for good" in everyone  # letter 2 is permanent
    narrowed = desk.get("/dead-letters", user=str(OTHER)).text
    assert f'id="dead-{theirs}"' in narrowed and f'id="dead-{mine}"' not in narrowed
    assert desk.get("/dead-letters", user="not-a-user").status_code == 400


def test_redrive_one_and_all_of_the_callers(ssi: Ssi) -> None:
    first, second = bury(ssi, 1, SUPPLIER), bury(ssi, 3, SUPPLIER)
    theirs = bury(ssi, 2, OTHER)
    supplier = ssi.browser(str(SUPPLIER))

    # Without the CSRF token: refused, nothing moves.
    refused = supplier.post(f"/dead-letters/{first}/redrive", {}, csrf=False)
    assert refused.status_code == 403 and dead(ssi) == 3 and outboxed(ssi) == []
    # Another User's letter: as if unknown, nothing moves.
    assert supplier.post(f"/dead-letters/{theirs}/redrive", {}).status_code == 404
    assert dead(ssi) == 3 and outboxed(ssi) == []
    assert supplier.post("/dead-letters/nonsense/redrive", {}).status_code == 404

    ssi.hub.deliverer.wake.clear()
    answer = supplier.post(f"/dead-letters/{first}/redrive", {})
    assert answer.status_code == 303, answer.text
    assert outboxed(ssi) == [f"response:{SUPPLIER}:1"]
    assert ssi.hub.deliverer.wake.is_set()  # delivered at once, not at the next poll
    assert "redriven" in supplier.client.get(answer.headers["location"]).text

    # "Redrive all" is all of the caller's, whatever the form names.
    assert supplier.post("/dead-letters/redrive", {"user": str(OTHER)}).status_code == 303
    assert outboxed(ssi) == [f"response:{SUPPLIER}:1", f"response:{SUPPLIER}:3"]
    assert [d.id for d in DeadLetters(ssi.hub.engine).list_dead()] == [theirs]
    assert second not in [d.id for d in DeadLetters(ssi.hub.engine).list_dead()]

    # The desk redrives another User's; every redrive is audited.
    desk = ssi.browser("desk")
    assert desk.post(f"/dead-letters/{theirs}/redrive", {"back": str(OTHER)}).status_code == 303
    assert dead(ssi) == 0
    reasons = [r.reason for r in ssi.hub.audit.records() if r.endpoint == "ssi"]
    assert any(f"redrove dead letter {first}" in r and str(SUPPLIER) in r for r in reasons)
    assert any("redrove all dead letters" in r for r in reasons)
    assert any(f"redrove dead letter {theirs}" in r and "desk" in r for r in reasons)
    assert any(f"/dead-letters/{first}/redrive" in r and "CSRF" in r for r in reasons)


def test_the_device_page_links_its_dead_letters(ssi: Ssi) -> None:
    request_id = f"{SUPPLIER}:{ESME}:00000000000000000007"
    with ssi.hub.engine.begin() as conn:
        conn.execute(
            insert(service_requests).values(
                request_id=request_id,
                originator=str(SUPPLIER),
                target=str(ESME),
                counter="00000000000000000007",
                srv="4.1.1",
                command_variant=1,
                state="responded",
                received_at=NOW,
                updated_at=NOW,
                document=b"x",
            )
        )
    supplier = ssi.browser(str(SUPPLIER))
    assert 'id="device-dead-letters"' not in supplier.get(f"/devices/{ESME}").text
    bury(ssi, 1, SUPPLIER, request_id=request_id)
    page = supplier.get(f"/devices/{ESME}").text
    assert 'id="device-dead-letters"' in page and "1 Response(s)" in page


def test_the_desks_redrive_all_is_of_the_user_it_filtered_by(ssi: Ssi) -> None:
    bury(ssi, 1, SUPPLIER)
    theirs = [bury(ssi, 2, OTHER), bury(ssi, 4, OTHER)]
    desk = ssi.browser("desk")
    page = desk.get("/dead-letters", user=str(OTHER)).text
    assert f"Redrive all of {OTHER}" in page
    answer = desk.post("/dead-letters/redrive", {"user": str(OTHER)})
    assert answer.status_code == 303 and f"user={OTHER}" in answer.headers["location"]
    assert outboxed(ssi) == [f"response:{OTHER}:2", f"response:{OTHER}:4"]
    assert [d.user_id for d in DeadLetters(ssi.hub.engine).list_dead()] == [str(SUPPLIER)]
    assert all(f'id="dead-{n}"' not in desk.get("/dead-letters").text for n in theirs)
    assert desk.post("/dead-letters/redrive", {"user": "nonsense"}).status_code == 400
    assert dead(ssi) == 1
