"""Who may ask for UTRNs, and for which consumer: service keys, PSP nominations and PANs.

- **Service keys**: the UTRN service authenticates each caller by a bearer key. Only a SHA-256
  of a key is stored; the key itself is shown once, when it is made (``opendcc prepayment
  key``). A key belongs to a *principal*: a supplier (its DCC User id, an EUI-64) or a PSP
  (Payment Service Provider, any short id). A *user* key (``opendcc users key``) opens the
  admin API (``gateway.admin``) for any DCC User, by its EUI-64.
- **PSP nominations**: a supplier nominates the PSPs that may ask for UTRNs for its consumers,
  and may revoke them. Access is always decided against the supplier responsible for the meter
  *now* (registration data), so on a change of supplier the losing supplier's PSPs lose access
  from the effective date and the gaining supplier's gain it, with nothing to update here.
- **PANs**: a Payment Allocation Number (the number on a consumer's payment card or key) names
  a metering point (MPxN); the responsible supplier registers its consumers' PANs.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Engine, delete, insert, select, update

from opendcc.core.eui import Eui64
from opendcc.store.tables import api_keys, pans, psp_nominations

PAN = re.compile(r"[0-9]{16,19}")
PSP_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class Kind(StrEnum):
    SUPPLIER = "supplier"
    PSP = "psp"
    USER = "user"  # any DCC User, for the admin API (``gateway.admin``); not a UTRN caller
    DESK = "desk"  # the DCC service desk, for its admin API calls (dead letters); no User


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller of the UTRN service."""

    name: str  # a supplier's EUI-64 (canonical form) or a PSP's id
    kind: Kind

    @property
    def supplier(self) -> Eui64:
        return Eui64.parse(self.name)


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def canonical_principal(name: str, kind: Kind) -> str:
    if kind in (Kind.SUPPLIER, Kind.USER):
        return str(Eui64.parse(name))
    if not PSP_ID.fullmatch(name):
        raise ValueError(f"a PSP id is 1-64 letters, digits, '.', '_' or '-': {name!r}")
    return name


class Registers:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # ------------------------------------------------------------------ service keys

    def make_key(self, name: str, kind: Kind, now: datetime) -> str:
        """A new bearer key for ``name``: returned once, only its hash is kept."""
        principal = canonical_principal(name, kind)
        key = f"odcc_{secrets.token_urlsafe(32)}"
        with self.engine.begin() as conn:
            conn.execute(
                insert(api_keys).values(
                    key_hash=_hash(key), principal=principal, kind=kind.value, created_at=now
                )
            )
        return key

    def authenticate(self, key: str) -> Principal | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(api_keys.c.principal, api_keys.c.kind)
                .where(api_keys.c.key_hash == _hash(key))
                .where(api_keys.c.revoked_at.is_(None))
            ).first()
        return Principal(row.principal, Kind(row.kind)) if row else None

    def revoke_keys(self, name: str, kind: Kind, now: datetime) -> int:
        principal = canonical_principal(name, kind)
        with self.engine.begin() as conn:
            done = conn.execute(
                update(api_keys)
                .where(api_keys.c.principal == principal)
                .where(api_keys.c.revoked_at.is_(None))
                .values(revoked_at=now)
            )
        return done.rowcount

    # ------------------------------------------------------------------ PSP nominations

    def nominate(self, supplier: Eui64, psp: str, now: datetime) -> bool:
        """Nominate ``psp`` for ``supplier``; False if it already was."""
        psp = canonical_principal(psp, Kind.PSP)
        if psp in self.nominated(supplier):
            return False
        with self.engine.begin() as conn:
            conn.execute(
                insert(psp_nominations).values(supplier=str(supplier), psp=psp, nominated_at=now)
            )
        return True

    def denominate(self, supplier: Eui64, psp: str, now: datetime) -> bool:
        with self.engine.begin() as conn:
            done = conn.execute(
                update(psp_nominations)
                .where(psp_nominations.c.supplier == str(supplier))
                .where(psp_nominations.c.psp == psp)
                .where(psp_nominations.c.revoked_at.is_(None))
                .values(revoked_at=now)
            )
        return done.rowcount > 0

    def nominated(self, supplier: Eui64) -> list[str]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(psp_nominations.c.psp)
                .where(psp_nominations.c.supplier == str(supplier))
                .where(psp_nominations.c.revoked_at.is_(None))
                .order_by(psp_nominations.c.psp)
            ).all()
        return [r.psp for r in rows]

    def is_nominated(self, supplier: Eui64, psp: str, at: datetime) -> bool:
        """Whether ``supplier`` had nominated ``psp`` at ``at`` (and not revoked it by then)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(psp_nominations.c.nominated_at, psp_nominations.c.revoked_at)
                .where(psp_nominations.c.supplier == str(supplier))
                .where(psp_nominations.c.psp == psp)
            ).all()
        return any(
            r.nominated_at <= at and (r.revoked_at is None or at < r.revoked_at) for r in rows
        )

    # ------------------------------------------------------------------ PANs

    def register_pan(self, pan: str, mpxn: str, by: Eui64, now: datetime) -> None:
        if not PAN.fullmatch(pan):
            raise ValueError(f"a PAN is 16 to 19 digits: {pan!r}")
        with self.engine.begin() as conn:
            conn.execute(delete(pans).where(pans.c.pan == pan))
            conn.execute(
                insert(pans).values(pan=pan, mpxn=mpxn, registered_by=str(by), registered_at=now)
            )

    def mpxn_of(self, pan: str) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(select(pans.c.mpxn).where(pans.c.pan == pan)).scalar_one_or_none()

    def pans_of(self, mpxn: str) -> list[str]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(pans.c.pan).where(pans.c.mpxn == mpxn)).all()
        return [r.pan for r in rows]
