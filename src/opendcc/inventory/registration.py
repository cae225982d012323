"""Registration data: which User holds each role for a metering point, from when.

For every MPxN (the metering point: MPAN for electricity, MPRN for gas) the registration data
says who is the import supplier (IS), export supplier (ES), gas supplier (GS), electricity
distributor (ED) and gas transporter (GT), each from an effective date. Access control reads
it to decide E4 ("not the responsible party at that time"). A change of supplier adds a
registration with the gaining supplier and its effective date: from that instant the gaining
supplier is responsible and the losing one is not; before it, nothing changes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, Select, insert, select

from opendcc.catalogue import UserRole
from opendcc.core.eui import Eui64
from opendcc.inventory.status import InventoryError
from opendcc.store.cache import TtlCache
from opendcc.store.tables import registrations

SUPPLIER_ROLES = frozenset({UserRole.IS, UserRole.ES, UserRole.GS})
_CHUNK = 500  # MPxNs per IN (...) query


@dataclass(frozen=True, slots=True)
class Registration:
    """``user_id`` holds ``role`` for metering point ``mpxn`` from ``effective_from`` on."""

    mpxn: str
    role: UserRole
    user_id: Eui64
    effective_from: datetime


class NotASupplierRole(InventoryError):
    """A change of supplier names a role that is not a supplier role."""


class RegistrationStore:
    def __init__(
        self,
        engine: Engine,
        cache_seconds: float = 0.0,
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        self.engine = engine
        self.on_change = on_change  # a change here clears caches built on registrations
        # Cached per (MPxN, role): every registration, latest first.
        self._holders: TtlCache[tuple[str, UserRole], list[tuple[datetime, Eui64]]] = TtlCache(
            cache_seconds
        )

    def register(self, items: Iterable[Registration]) -> None:
        rows = [
            {
                "mpxn": r.mpxn,
                "role": r.role.value,
                "user_id": str(r.user_id),
                "effective_from": r.effective_from,
            }
            for r in items
        ]
        if rows:
            with self.engine.begin() as conn:
                conn.execute(insert(registrations), rows)
            self._holders.clear()
            self.on_change()

    def change_supplier(
        self, mpxn: str, role: UserRole, gaining: Eui64, effective_from: datetime
    ) -> Registration:
        """Record a change of supplier: ``gaining`` holds ``role`` from ``effective_from``."""
        if role not in SUPPLIER_ROLES:
            raise NotASupplierRole(f"{role} is not a supplier role (IS, ES or GS)")
        registration = Registration(mpxn, role, gaining, effective_from)
        self.register([registration])
        return registration

    def responsible(self, mpxn: str, role: UserRole, at: datetime) -> Eui64 | None:
        """Who holds ``role`` for ``mpxn`` at ``at``: the latest registration in force."""
        history = self._holders.get((mpxn, role), lambda: self._history(mpxn, role))
        return next((user for since, user in history if since <= at), None)

    def responsible_many(
        self, mpxns: Collection[str], role: UserRole, at: datetime
    ) -> dict[str, Eui64]:
        """``responsible`` for many metering points in a few queries (migration validation)."""
        latest: dict[str, tuple[datetime, int, Eui64]] = {}
        query = (
            select(
                registrations.c.mpxn,
                registrations.c.effective_from,
                registrations.c.id,
                registrations.c.user_id,
            )
            .where(registrations.c.role == role.value)
            .where(registrations.c.effective_from <= at)
        )
        for mpxn, since, row_id, user in self._for_mpxns(query, mpxns):
            best = latest.get(mpxn)
            if best is None or (since, row_id) > best[:2]:
                latest[mpxn] = (since, row_id, Eui64.parse(user))
        return {mpxn: holder for mpxn, (_, _, holder) in latest.items()}

    def _for_mpxns(self, query: Select[Any], mpxns: Collection[str]) -> list[tuple[Any, ...]]:
        """``query``'s rows for every one of ``mpxns``, asked a chunk of them at a time."""
        unique = sorted(set(mpxns))
        rows: list[tuple[Any, ...]] = []
        with self.engine.connect() as conn:
            for start in range(0, len(unique), _CHUNK):
                chunk = unique[start : start + _CHUNK]
                found = conn.execute(query.where(registrations.c.mpxn.in_(chunk)))
                rows += [tuple(row) for row in found]
        return rows

    def holders(self, mpxn: str) -> dict[UserRole, list[Registration]]:
        """Every registration of ``mpxn`` by role, latest first."""
        query = (
            select(registrations)
            .where(registrations.c.mpxn == mpxn)
            .order_by(registrations.c.effective_from.desc(), registrations.c.id.desc())
        )
        result: dict[UserRole, list[Registration]] = defaultdict(list)
        with self.engine.connect() as conn:
            for row in conn.execute(query):
                role = UserRole(row.role)
                result[role].append(
                    Registration(row.mpxn, role, Eui64.parse(row.user_id), row.effective_from)
                )
        return dict(result)

    def prefetch(self, mpxns: Collection[str]) -> None:
        """Cache every role's registrations of ``mpxns`` in a few queries (see ``responsible``)."""
        found: dict[tuple[str, UserRole], list[tuple[datetime, Eui64]]] = {
            (mpxn, role): [] for mpxn in mpxns for role in UserRole
        }
        query = select(
            registrations.c.mpxn,
            registrations.c.role,
            registrations.c.effective_from,
            registrations.c.user_id,
        ).order_by(registrations.c.effective_from.desc(), registrations.c.id.desc())
        for mpxn, role, since, user in self._for_mpxns(query, mpxns):
            found[mpxn, UserRole(role)].append((since, Eui64.parse(user)))
        self._holders.put_many(found.items())

    def clear_cache(self) -> None:
        self._holders.clear()
        self.on_change()

    def _history(self, mpxn: str, role: UserRole) -> list[tuple[datetime, Eui64]]:
        query = (
            select(registrations.c.effective_from, registrations.c.user_id)
            .where(registrations.c.mpxn == mpxn)
            .where(registrations.c.role == role.value)
            .order_by(registrations.c.effective_from.desc(), registrations.c.id.desc())
        )
        with self.engine.connect() as conn:
            return [(since, Eui64.parse(user)) for since, user in conn.execute(query)]
