"""Signing in to the SSI: credentials the hub issues, sessions, and CSRF tokens.

A DCC User signs in with its User ID (EUI-64) and a credential the hub issued for it
(``opendcc ssi credential <USER-ID>``); the DCC service desk signs in with its own name and a
credential issued with ``--desk``. Only a SHA-256 of each credential is stored: they are 32
random bytes, so a plain hash is enough (no password stretching is needed for keys nobody
chose). A session is a random token in an HttpOnly, SameSite=Strict cookie; the store keeps
its SHA-256, the principal, its role and the session's CSRF token, which every form posts back.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, delete, insert, select, update

from opendcc.core.eui import Eui64, InvalidIdentifier
from opendcc.service.incidents import Actor
from opendcc.store.tables import ssi_credentials, ssi_sessions

USER, DESK = "user", "desk"
SESSION_LIFETIME = timedelta(hours=8)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is signed in: a DCC User by its EUI-64, or the service desk."""

    name: str
    role: str

    @property
    def desk(self) -> bool:
        return self.role == DESK

    @property
    def user_id(self) -> Eui64 | None:
        return None if self.desk else Eui64.parse(self.name)

    @property
    def actor(self) -> Actor:
        uid = self.user_id
        return Actor.service_desk(self.name) if uid is None else Actor.user(uid)


@dataclass(frozen=True, slots=True)
class Session:
    principal: Principal
    csrf: str
    expires_at: datetime


class Credentials:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def issue(self, principal: str, role: str, now: datetime) -> str:
        """A new credential for ``principal`` (printed once, never stored)."""
        if role not in (USER, DESK):
            raise ValueError(f"an SSI role is {USER} or {DESK}")
        if role == USER:
            principal = str(Eui64.parse(principal))
        elif not principal.strip() or len(principal) > 64:
            raise ValueError("the service desk's name is 1 to 64 characters")
        secret = "ssi_" + secrets.token_urlsafe(32)
        with self.engine.begin() as conn:
            conn.execute(
                insert(ssi_credentials).values(
                    secret_hash=_hash(secret), principal=principal, role=role, created_at=now
                )
            )
        return secret

    def revoke(self, principal: str, now: datetime) -> int:
        with self.engine.begin() as conn:
            return conn.execute(
                update(ssi_credentials)
                .where(ssi_credentials.c.principal == principal)
                .where(ssi_credentials.c.revoked_at.is_(None))
                .values(revoked_at=now)
            ).rowcount

    def verify(self, name: str, secret: str) -> Principal | None:
        """The principal when ``secret`` is a live credential issued to ``name``."""
        name = name.strip()
        with contextlib.suppress(InvalidIdentifier):  # the desk signs in by name
            name = str(Eui64.parse(name))
        found = self.principal_of(secret)
        if found is None or not hmac.compare_digest(found.name, name):
            return None
        return found

    def principal_of(self, secret: str) -> Principal | None:
        """The principal a live credential was issued to (the JSON API's bearer key)."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(ssi_credentials)
                .where(ssi_credentials.c.secret_hash == _hash(secret.strip()))
                .where(ssi_credentials.c.revoked_at.is_(None))
            ).first()
        return None if row is None else Principal(row.principal, row.role)


class Sessions:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def open(self, principal: Principal, now: datetime) -> tuple[str, Session]:
        token = secrets.token_urlsafe(32)
        session = Session(principal, secrets.token_urlsafe(24), now + SESSION_LIFETIME)
        with self.engine.begin() as conn:
            conn.execute(delete(ssi_sessions).where(ssi_sessions.c.expires_at < now))
            conn.execute(
                insert(ssi_sessions).values(
                    token_hash=_hash(token),
                    principal=principal.name,
                    role=principal.role,
                    csrf=session.csrf,
                    created_at=now,
                    expires_at=session.expires_at,
                )
            )
        return token, session

    def get(self, token: str, now: datetime) -> Session | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(ssi_sessions).where(ssi_sessions.c.token_hash == _hash(token))
            ).first()
        if row is None or row.expires_at <= now:
            return None
        return Session(Principal(row.principal, row.role), row.csrf, row.expires_at)

    def close(self, token: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(ssi_sessions).where(ssi_sessions.c.token_hash == _hash(token)))
