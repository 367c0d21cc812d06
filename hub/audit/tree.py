"""Reading the stored tree: its size and root, roots at earlier sizes, and proofs.

Each function reads the O(log n) stored hashes it needs in one statement. Stored hashes
never change once written, so a proof for any size up to the head's is stable while
appends go on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from hub.audit import merkle
from hub.models import AuditHead, AuditTreeHash

_IN_CHUNK = 5000  # bind parameters per statement, well under both databases' limits


@dataclass(frozen=True)
class TreeHead:
    size: int
    root: bytes
    edge: bytes = b""  # the frontier's hashes (merkle.Frontier.to_bytes)


async def head(session: AsyncSession) -> TreeHead:
    row = (
        await session.execute(select(AuditHead).where(col(AuditHead.id) == 1))
    ).scalar_one_or_none()
    if row is None:
        return TreeHead(0, merkle.EMPTY_ROOT)
    return TreeHead(row.seq, bytes.fromhex(row.hash), bytes(row.frontier))


async def fetch_hashes(session: AsyncSession, indexes: Sequence[int]) -> dict[int, bytes]:
    wanted = sorted(set(indexes))
    found: dict[int, bytes] = {}
    for i in range(0, len(wanted), _IN_CHUNK):
        part = wanted[i : i + _IN_CHUNK]
        rows = await session.execute(
            select(col(AuditTreeHash.index), col(AuditTreeHash.hash)).where(
                col(AuditTreeHash.index).in_(part)
            )
        )
        found.update({int(k): bytes(v) for k, v in rows.all()})
    return found


async def root_at(session: AsyncSession, size: int) -> bytes:
    stored = await fetch_hashes(session, merkle.tree_hash_indexes(size))
    return merkle.tree_hash(size, merkle.reader(stored))


async def inclusion_proof(session: AsyncSession, index: int, size: int) -> list[bytes]:
    stored = await fetch_hashes(session, merkle.inclusion_proof_indexes(index, size))
    return merkle.inclusion_proof(index, size, merkle.reader(stored))


async def inclusion_proofs(
    session: AsyncSession, indexes: Sequence[int], size: int
) -> dict[int, list[bytes]]:
    """Proofs of several leaves in the tree of `size`, from one fetch of stored hashes."""
    needed = {i: merkle.inclusion_proof_indexes(i, size) for i in indexes}
    stored = await fetch_hashes(session, [x for need in needed.values() for x in need])
    read = merkle.reader(stored)
    return {i: merkle.inclusion_proof(i, size, read) for i in needed}


async def consistency_proof(session: AsyncSession, old: int, new: int) -> list[bytes]:
    if old == new:
        return []
    stored = await fetch_hashes(session, merkle.consistency_proof_indexes(old, new))
    return merkle.consistency_proof(old, new, merkle.reader(stored))
