"""`hub audit verify`: walk the chain and report the first entry altered, removed or moved."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import select
from sqlmodel import col

from hub.audit.log import GENESIS, entry_hash
from hub.db import Database
from hub.models import AccessLogEntry, AccessLogSubject, AuditHead

CHUNK = 5000


@dataclass(frozen=True)
class Verdict:
    ok: bool
    entries: int
    first_bad_seq: int | None = None
    problem: str | None = None


async def verify_chain(db: Database) -> Verdict:
    expected_seq, prev = 1, GENESIS
    count = 0
    async with db.session() as session:
        head = (await session.execute(select(AuditHead))).scalar_one_or_none()
        last = 0
        while True:
            rows = (
                (
                    await session.execute(
                        select(AccessLogEntry)
                        .where(col(AccessLogEntry.id) > last)
                        .order_by(col(AccessLogEntry.id))
                        .limit(CHUNK)
                    )
                )
                .scalars()
                .all()
            )
            if not rows:
                break
            seqs = [r.id for r in rows]
            subjects: dict[int, list[str]] = defaultdict(list)
            for s in (
                await session.execute(
                    select(AccessLogSubject).where(col(AccessLogSubject.entry_id).in_(seqs))
                )
            ).scalars():
                subjects[s.entry_id].append(s.sex_worker_id)
            for r in rows:
                if r.id != expected_seq:
                    return Verdict(False, count, expected_seq, "entry missing (removed)")
                if r.prev_hash != prev:
                    return Verdict(False, count, r.id, "chain broken (removed or reordered)")
                if entry_hash(r.id, r.prev_hash, r, sorted(subjects[r.id])) != r.hash:
                    return Verdict(False, count, r.id, "entry altered")
                prev, expected_seq, count = r.hash, expected_seq + 1, count + 1
            last = rows[-1].id
    if head is not None and (head.seq != count or head.hash != prev):
        return Verdict(False, count, count + 1, "entries missing at the end (removed)")
    return Verdict(True, count)
