"""The local dead letters: inbound messages the dead-letter topic did not take.

An inbound consumer that cannot park a message on `hub.deadletter` (the broker refused it
or did not answer in time) keeps it in the `dead_letter` table instead and commits its
offset, so no message can hold its partition up. `hub deadletter list` shows them (never
their payloads) and `hub deadletter replay` sends them back to the inbox they came from,
once the cause is fixed; the inbox applies each event id once, so a replay of an event
that meanwhile arrived again changes nothing.
"""

from __future__ import annotations

import base64
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from hub.config import Settings
from hub.connectors import kafka
from hub.db import Database
from hub.models import DeadLetter
from hub.models.base import utcnow

Headers = Sequence[tuple[str, bytes | None]]


def encode_headers(headers: Headers | None) -> list[list[str]]:
    return [[k, base64.b64encode(v or b"").decode()] for k, v in headers or ()]


def decode_headers(stored: list[list[str]] | None) -> list[tuple[str, bytes]]:
    return [(k, base64.b64decode(v)) for k, v in stored or ()]


@dataclass(frozen=True)
class Letter:
    """Where a message came from and why it was set aside; its bytes only if kept."""

    partner: str
    topic: str
    partition: int
    offset: int
    reason: str
    detail: str
    size: int
    sha256: str
    key: bytes | None
    headers: Headers | None
    payload: bytes | None


async def store(db: Database, letter: Letter) -> bool:
    """Keep it; False if it was kept already (the same topic, partition and offset: read
    again after a crash)."""
    try:
        async with db.session() as session, session.begin():
            session.add(
                DeadLetter(
                    partner=letter.partner,
                    topic=letter.topic,
                    partition=letter.partition,
                    offset=letter.offset,
                    reason=letter.reason,
                    detail=letter.detail,
                    size=letter.size,
                    sha256=letter.sha256,
                    key=letter.key,
                    headers=None if letter.payload is None else encode_headers(letter.headers),
                    payload=letter.payload,
                )
            )
    except IntegrityError:
        return False
    return True


async def listing(db: Database, *, replayed: bool = False) -> list[DeadLetter]:
    """Oldest first; without the replayed ones unless `replayed`."""
    stmt = select(DeadLetter).order_by(col(DeadLetter.id))
    if not replayed:
        stmt = stmt.where(col(DeadLetter.replayed_at).is_(None))
    async with db.session() as session:
        return list((await session.execute(stmt)).scalars().all())


@dataclass
class Replayed:
    sent: list[int]
    skipped: dict[int, str]  # id -> why not


async def replay(
    db: Database, settings: Settings, ids: Sequence[int] | None, *, now: datetime | None = None
) -> Replayed:
    """Send the given dead letters (None: every one not replayed yet) back to their inbox
    topic, with their key and headers, and mark them replayed once the broker took them."""
    letters = await listing(db, replayed=ids is not None)
    if ids is not None:
        wanted = set(ids)
        letters = [d for d in letters if d.id in wanted]
    result = Replayed(sent=[], skipped={})
    if ids is not None:
        for missing in sorted(set(ids) - {d.id for d in letters if d.id is not None}):
            result.skipped[missing] = "no such dead letter"
    sendable = []
    for d in letters:
        assert d.id is not None
        if d.payload is None:
            result.skipped[d.id] = f"its payload was not kept ({d.reason})"
        elif d.replayed_at is not None:
            result.skipped[d.id] = "replayed already"
        else:
            sendable.append(d)
    if not sendable:
        return result
    producer = kafka.producer(settings)
    await producer.start()
    try:
        for d in sendable:
            assert d.id is not None
            try:
                await producer.send_and_wait(
                    d.topic, d.payload, key=d.key, headers=decode_headers(d.headers)
                )
            except Exception as exc:  # the broker refuses it still: kept, for later
                result.skipped[d.id] = f"not sent ({type(exc).__name__})"
                continue
            async with db.session() as session, session.begin():
                await session.execute(
                    update(DeadLetter)
                    .where(col(DeadLetter.id) == d.id)
                    .values(replayed_at=now or utcnow())
                )
            result.sent.append(d.id)
    finally:
        with contextlib.suppress(Exception):
            await producer.stop()
    return result
