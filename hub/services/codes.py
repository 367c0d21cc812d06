"""One-time codes a person reads off one screen and types into another: an anonymous
report's follow-up code (hub/services/reports.py) and a worker's pairing code
(hub/services/pairing.py).

A code is 16 characters of Crockford's base32 (80 bits from `secrets`), shown in four
groups (`7KQ2-M9XD-4TBW-HR3N`) once and stored only as its SHA-256, so a database reader
cannot use it. Guessing is bounded per caller: a wrong code is kept (as a digest of the
caller, never the subject itself) for WINDOW, and after TRIES wrong codes within WINDOW
every try is refused, a right code too, until the oldest wrong try is older than WINDOW.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from hub.db import Database
from hub.models import FollowUpAttempt, Pairing
from hub.models.enums import PairingStatus
from hub.policy.principal import Principal

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
LENGTH = 16
TRIES = 5
WINDOW = timedelta(minutes=15)


def new_code() -> str:
    """A fresh code, e.g. `7KQ2-M9XD-4TBW-HR3N`."""
    raw = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
    return "-".join(raw[i : i + 4] for i in range(0, LENGTH, 4))


def code_hash(code: str) -> str | None:
    """The stored form of a code as a person may type it (any case, spaces or dashes, O for
    0, I or L for 1); None if it cannot be a code."""
    cleaned = "".join(c for c in code.upper() if c not in " -\t")
    cleaned = cleaned.translate(str.maketrans("OIL", "011"))
    if len(cleaned) != LENGTH or any(c not in ALPHABET for c in cleaned):
        return None
    return hashlib.sha256(cleaned.encode()).hexdigest()


def caller_digest(principal: Principal, scope: str = "") -> str:
    """Who guesses, as a digest: the organisation and subject (and what kind of code, so
    wrong pairing codes and wrong follow-up codes are counted apart)."""
    prefix = f"{scope}\0" if scope else ""
    return hashlib.sha256(f"{prefix}{principal.org_id}\0{principal.subject}".encode()).hexdigest()


async def guesses_exhausted(session: AsyncSession, caller: str, now: datetime) -> bool:
    """Forget wrong tries older than WINDOW; whether `caller` has TRIES within it."""
    await session.execute(delete(FollowUpAttempt).where(col(FollowUpAttempt.at) < now - WINDOW))
    tries = (
        await session.execute(
            select(func.count())
            .select_from(FollowUpAttempt)
            .where(col(FollowUpAttempt.caller_hash) == caller)
        )
    ).scalar_one()
    return int(tries) >= TRIES


def note_wrong_guess(session: AsyncSession, caller: str, now: datetime) -> None:
    """Keep a wrong try (commit it even when the request is refused)."""
    session.add(FollowUpAttempt(caller_hash=caller, at=now))


class GuessesExhausted(Exception):
    """The caller has had TRIES wrong codes within WINDOW: every try is refused for now."""


async def pending_pairing(db: Database, caller: str, code: str, now: datetime) -> str | None:
    """The id of the pending, unexpired pairing whose code `code` is, or None: a wrong,
    expired or used code, counted as a wrong guess of `caller`. The guess is counted in a
    transaction of its own, committed even when the caller's request is then refused;
    callers check the pairing again under a lock before they use it. Raises
    GuessesExhausted (before looking) when `caller` has no tries left."""
    digest = code_hash(code)
    async with db.session() as session, session.begin():
        if await guesses_exhausted(session, caller, now):
            raise GuessesExhausted
        found = None
        if digest is not None:
            found = (
                await session.execute(
                    select(col(Pairing.id)).where(
                        col(Pairing.code_hash) == digest,
                        col(Pairing.status) == PairingStatus.PENDING.value,
                        col(Pairing.expires_at) > now,
                    )
                )
            ).scalar_one_or_none()
        if found is None:
            note_wrong_guess(session, caller, now)
    return found
