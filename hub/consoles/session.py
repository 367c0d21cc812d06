"""The consoles' sessions: a random id in the browser, the rest in the database.

The browser holds only `hub_session`, 32 random bytes in a Secure (on HTTPS), HttpOnly,
SameSite=Strict cookie. The table holds the id's SHA-256 (a database reader cannot take
over a session), the person's access token sealed with AES-GCM under `session.key` of the
secret dir, the CSRF token of the session's forms and when the password was last typed.
Every replica reads the same rows, so a session works behind any of them; logging out
deletes the row, and a session never outlives its token.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import delete, func, select
from sqlmodel import col

from hub.crypto import load_or_create_key
from hub.db import Database
from hub.models.base import utcnow
from hub.models.people import ConsoleLogin, ConsoleSession

COOKIE = "hub_session"
LANGUAGE_COOKIE = "hub_lang"
LOGIN_TTL = timedelta(minutes=10)
_AAD = b"hub console session token"


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@dataclass(frozen=True)
class Session:
    id_hash: str
    access_token: str
    csrf_token: str
    authenticated_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class PendingLogin:
    code_verifier: str
    nonce: str
    return_to: str
    locale: str | None


class Sessions:
    def __init__(self, db: Database, secret_dir: Path) -> None:
        self.db = db
        self._aead = AESGCM(load_or_create_key(secret_dir / "session.key"))

    # -- logins in flight ------------------------------------------------------------------

    async def begin_login(self, return_to: str, locale: str | None) -> tuple[str, PendingLogin]:
        """A new login: its `state` (for the issuer) and what the callback will need."""
        state = secrets.token_urlsafe(32)
        pending = PendingLogin(
            code_verifier=secrets.token_urlsafe(48),  # 64 characters (RFC 7636: 43 to 128)
            nonce=secrets.token_urlsafe(24),
            return_to=return_to,
            locale=locale,
        )
        now = utcnow()
        async with self.db.session() as s:
            # Logins never finished are dropped as new ones start.
            await s.execute(delete(ConsoleLogin).where(col(ConsoleLogin.expires_at) < now))
            s.add(
                ConsoleLogin(
                    state_hash=digest(state),
                    code_verifier=pending.code_verifier,
                    nonce=pending.nonce,
                    return_to=return_to,
                    locale=locale,
                    created_at=now,
                    expires_at=now + LOGIN_TTL,
                )
            )
            await s.commit()
        return state, pending

    async def pending_logins(self) -> int:
        """Logins started and not yet expired, over every replica."""
        async with self.db.session() as s:
            count = await s.execute(
                select(func.count()).where(col(ConsoleLogin.expires_at) >= utcnow())
            )
            return int(count.scalar_one())

    async def finish_login(self, state: str) -> PendingLogin | None:
        """The login this `state` started, once: it is deleted as it is read."""
        async with self.db.session() as s:
            row = await s.get(ConsoleLogin, digest(state))
            if row is None:
                return None
            await s.delete(row)
            await s.commit()
        if row.expires_at < utcnow():
            return None
        return PendingLogin(row.code_verifier, row.nonce, row.return_to, row.locale)

    # -- sessions --------------------------------------------------------------------------

    async def create(
        self, access_token: str, *, subject: str, authenticated_at: datetime, expires_at: datetime
    ) -> tuple[str, Session]:
        """A new session for this token: the cookie value and the session."""
        cookie = secrets.token_urlsafe(32)
        session = Session(
            id_hash=digest(cookie),
            access_token=access_token,
            csrf_token=secrets.token_urlsafe(32),
            authenticated_at=authenticated_at,
            expires_at=expires_at,
        )
        now = utcnow()
        async with self.db.session() as s:
            await s.execute(delete(ConsoleSession).where(col(ConsoleSession.expires_at) < now))
            s.add(
                ConsoleSession(
                    id_hash=session.id_hash,
                    access_token=self._seal(access_token, session.id_hash),
                    csrf_token=session.csrf_token,
                    subject=subject[:200],
                    authenticated_at=authenticated_at,
                    created_at=now,
                    expires_at=expires_at,
                )
            )
            await s.commit()
        return cookie, session

    async def get(self, cookie: str | None) -> Session | None:
        if not cookie or len(cookie) > 100:
            return None
        id_hash = digest(cookie)
        async with self.db.session() as s:
            row = await s.get(ConsoleSession, id_hash)
        if row is None or row.expires_at <= utcnow():
            return None
        token = self._open(row.access_token, id_hash)
        if token is None:  # another session key: the session cannot be used
            return None
        return Session(id_hash, token, row.csrf_token, row.authenticated_at, row.expires_at)

    async def active(self, id_hash: str) -> bool:
        """Whether the session is still there (not logged out, not expired)."""
        async with self.db.session() as s:
            row = await s.get(ConsoleSession, id_hash)
        return row is not None and row.expires_at > utcnow()

    async def end(self, cookie: str | None) -> None:
        if not cookie or len(cookie) > 100:
            return
        async with self.db.session() as s:
            await s.execute(
                delete(ConsoleSession).where(col(ConsoleSession.id_hash) == digest(cookie))
            )
            await s.commit()

    def _seal(self, token: str, id_hash: str) -> str:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, token.encode(), _AAD + id_hash.encode())
        return base64.urlsafe_b64encode(nonce + sealed).decode()

    def _open(self, sealed: str, id_hash: str) -> str | None:
        try:
            raw = base64.urlsafe_b64decode(sealed.encode())
            return self._aead.decrypt(raw[:12], raw[12:], _AAD + id_hash.encode()).decode()
        except (InvalidTag, ValueError):
            return None
