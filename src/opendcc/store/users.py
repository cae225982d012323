"""The Users registry: DCC Users, their roles, status, callback URL and signing certificates.

A DCC User is a SEC (Smart Energy Code) party acting in one or more User Roles under a User ID
(an EUI-64). It signs requests with its SMKI (Smart Metering Key Infrastructure) XML-signing
certificates, which the store keeps by issuer and serial: the pair a DUIS signature names.
``UserStore`` is also the ``CertificateLookup`` that signature verification uses, so a
certificate added or removed here takes effect on the next request.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import Engine, delete, insert, select, update

from opendcc.catalogue import UserRole
from opendcc.core.eui import Eui64
from opendcc.smki.certificates import CertificateInfo, describe
from opendcc.smki.credentials import load_certificate
from opendcc.smki.trust import issuer_key
from opendcc.store.cache import TtlCache
from opendcc.store.tables import anomaly_thresholds, user_certificates, user_roles, users


class UserStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


@dataclass(frozen=True, slots=True)
class AnomalyThreshold:
    """At most ``max_requests`` of ``srv`` per ``window_seconds``, rolling."""

    srv: str
    max_requests: int
    window_seconds: int

    def __post_init__(self) -> None:
        if self.max_requests < 1 or self.window_seconds < 1:
            raise ValueError("an anomaly threshold needs a positive count and window")


@dataclass(frozen=True, slots=True)
class User:
    user_id: Eui64
    roles: frozenset[UserRole]
    status: UserStatus
    callback_url: str
    certificates: tuple[x509.Certificate, ...] = ()
    thresholds: tuple[AnomalyThreshold, ...] = field(default=())

    @property
    def active(self) -> bool:
        return self.status is UserStatus.ACTIVE


def normal_issuer(name: str) -> str:
    """The issuer as the store keys it: RFC 4514 spelling normalised."""
    return ",".join(f"{attribute}={value}" for attribute, value in issuer_key(name))


class UserStore:
    def __init__(self, engine: Engine, cache_seconds: float = 0.0) -> None:
        self.engine = engine
        self._parsed: dict[str, CertificateInfo] = {}
        self._lock = threading.Lock()
        self._users: TtlCache[Eui64, User | None] = TtlCache(cache_seconds)
        self._certificates: TtlCache[tuple[str, int], CertificateInfo | None] = TtlCache(
            cache_seconds
        )

    def _changed(self) -> None:
        self._users.clear()
        self._certificates.clear()

    # ------------------------------------------------------------------ writes

    def put(self, user: User, now: datetime) -> None:
        """Add or replace a User with everything it holds, in one transaction."""
        self._changed()
        key = str(user.user_id)
        infos = [describe(certificate) for certificate in user.certificates]
        for info in infos:
            if info.eui != user.user_id:
                raise ValueError(f"certificate {info.label} does not belong to User {key}")
        with self.engine.begin() as conn:
            exists = conn.execute(select(users.c.user_id).where(users.c.user_id == key)).first()
            values = {"status": user.status.value, "callback_url": user.callback_url}
            if exists:
                conn.execute(update(users).where(users.c.user_id == key).values(**values))
            else:
                conn.execute(insert(users).values(user_id=key, created_at=now, **values))
            for table in (user_roles, user_certificates, anomaly_thresholds):
                conn.execute(delete(table).where(table.c.user_id == key))
            if user.roles:
                rows = [{"user_id": key, "role": role.value} for role in sorted(user.roles)]
                conn.execute(insert(user_roles), rows)
            if infos:
                conn.execute(insert(user_certificates), [_certificate_row(key, i) for i in infos])
            if user.thresholds:
                conn.execute(
                    insert(anomaly_thresholds),
                    [
                        {
                            "user_id": key,
                            "srv": t.srv,
                            "max_requests": t.max_requests,
                            "window_seconds": t.window_seconds,
                        }
                        for t in user.thresholds
                    ],
                )

    def put_all(self, users_: Iterable[User], now: datetime) -> int:
        count = 0
        for user in users_:
            self.put(user, now)
            count += 1
        return count

    def set_status(self, user_id: Eui64, status: UserStatus) -> bool:
        self._changed()
        with self.engine.begin() as conn:
            moved = conn.execute(
                update(users).where(users.c.user_id == str(user_id)).values(status=status.value)
            )
        return moved.rowcount == 1

    def remove(self, user_id: Eui64) -> bool:
        self._changed()
        with self.engine.begin() as conn:
            for table in (user_roles, user_certificates, anomaly_thresholds):
                conn.execute(delete(table).where(table.c.user_id == str(user_id)))
            gone = conn.execute(delete(users).where(users.c.user_id == str(user_id)))
        return gone.rowcount == 1

    # ------------------------------------------------------------------ reads

    def get(self, user_id: Eui64) -> User | None:
        return self._users.get(user_id, lambda: self._get(user_id))

    def _get(self, user_id: Eui64) -> User | None:
        key = str(user_id)
        with self.engine.connect() as conn:
            row = conn.execute(
                select(users.c.status, users.c.callback_url).where(users.c.user_id == key)
            ).first()
            if row is None:
                return None
            roles = conn.execute(select(user_roles.c.role).where(user_roles.c.user_id == key))
            pems = conn.execute(
                select(user_certificates.c.pem).where(user_certificates.c.user_id == key)
            )
            limits = conn.execute(
                select(
                    anomaly_thresholds.c.srv,
                    anomaly_thresholds.c.max_requests,
                    anomaly_thresholds.c.window_seconds,
                ).where(anomaly_thresholds.c.user_id == key)
            )
            return User(
                user_id=user_id,
                roles=frozenset(UserRole(role) for (role,) in roles),
                status=UserStatus(row.status),
                callback_url=row.callback_url,
                certificates=tuple(self._info(pem).certificate for (pem,) in pems),
                thresholds=tuple(AnomalyThreshold(*limit) for limit in limits),
            )

    def all(self) -> list[User]:
        with self.engine.connect() as conn:
            ids = [Eui64.parse(u) for (u,) in conn.execute(select(users.c.user_id))]
        found = (self.get(user_id) for user_id in sorted(ids, key=str))
        return [user for user in found if user is not None]

    def lookup(self, issuer: str, serial: int) -> CertificateInfo | None:
        """The registered certificate a signature names, if any (``CertificateLookup``)."""
        return self._certificates.get((issuer, serial), lambda: self._lookup(issuer, serial))

    def _lookup(self, issuer: str, serial: int) -> CertificateInfo | None:
        try:
            normal = normal_issuer(issuer)
        except ValueError:
            return None
        with self.engine.connect() as conn:
            pem = conn.execute(
                select(user_certificates.c.pem)
                .where(user_certificates.c.issuer == normal)
                .where(user_certificates.c.serial == str(serial))
            ).scalar_one_or_none()
        return None if pem is None else self._info(pem)

    def _info(self, pem: str) -> CertificateInfo:
        # Parsing a certificate costs more than the query: keep each parse.
        with self._lock:
            info = self._parsed.get(pem)
            if info is None:
                info = describe(load_certificate(pem.encode("ascii")))
                self._parsed[pem] = info
            return info


def _certificate_row(user_id: str, info: CertificateInfo) -> dict[str, object]:
    return {
        "issuer": normal_issuer(info.issuer),
        "serial": str(info.serial),
        "user_id": user_id,
        "pem": info.certificate.public_bytes(Encoding.PEM).decode("ascii"),
        "not_after": info.not_after,
    }
