"""Signing checkpoints of the access-log tree: at an interval, and on demand.

Before it signs, the hub checks that the tree it is about to sign extends the last
checkpoint it signed (a consistency proof from the stored hashes, verified like a witness
would) and that the head's root is what the stored hashes give. A log must never sign two
inconsistent checkpoints (c2sp.org/tlog-checkpoint): if the database was rewound or
rewritten, it refuses and says so, and the witnesses' copies stay the evidence.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from hub.audit import merkle, tree
from hub.audit.note import Checkpoint, Signer
from hub.db import Database
from hub.models import AuditCheckpoint
from hub.models.base import utcnow

log = logging.getLogger("hub.audit")


class CheckpointError(RuntimeError):
    """The tree cannot be signed: it does not extend the last checkpoint."""


async def latest_checkpoint(db: Database) -> AuditCheckpoint | None:
    async with db.session() as session:
        return (
            await session.execute(
                select(AuditCheckpoint).order_by(col(AuditCheckpoint.tree_size).desc()).limit(1)
            )
        ).scalar_one_or_none()


async def sign_checkpoint(
    db: Database, signer: Signer, *, clock: Callable[[], datetime] = utcnow
) -> tuple[AuditCheckpoint | None, bool]:
    """Sign the tree as it is now: (the latest checkpoint, whether it is new). None while
    the log is empty; the last one when the tree has not grown since."""
    async with db.session() as session:
        now = await tree.head(session)
        last = (
            await session.execute(
                select(AuditCheckpoint).order_by(col(AuditCheckpoint.tree_size).desc()).limit(1)
            )
        ).scalar_one_or_none()
        if last is not None and last.tree_size == now.size:
            if last.root != now.root:
                raise CheckpointError(f"the tree at size {now.size} differs from its checkpoint")
            return last, False
        if last is not None and last.tree_size > now.size:
            raise CheckpointError(
                f"the tree has {now.size} entries, its last checkpoint {last.tree_size}"
            )
        if now.size == 0:
            return None, False
        try:
            if await tree.root_at(session, now.size) != now.root:
                raise CheckpointError("the tree's head does not match its stored hashes")
            if last is not None:
                proof = await tree.consistency_proof(session, last.tree_size, now.size)
                merkle.verify_consistency(
                    last.tree_size, now.size, proof, bytes(last.root), now.root
                )
        except merkle.ProofError as exc:
            raise CheckpointError(f"the tree does not extend its last checkpoint: {exc}") from exc
        note = signer.sign(Checkpoint(signer.name, now.size, now.root).text())
        row = AuditCheckpoint(tree_size=now.size, root=now.root, note=note, signed_at=clock())
        session.add(row)
        try:
            await session.commit()
        except IntegrityError:  # another replica signed this size first: the same note
            await session.rollback()
            return await latest_checkpoint(db), False
    log.info("audit checkpoint signed: tree size %d", row.tree_size)
    return row, True


class Publisher(Protocol):
    async def publish(self, db: Database) -> int: ...

    async def close(self) -> None: ...


@dataclass
class CheckpointTask:
    """Signs a checkpoint every `interval_s` when the tree grew, then publishes what is
    unpublished. Started from the app's lifespan, like the retention task."""

    db: Database
    signer: Signer
    interval_s: float = 60.0
    publisher: Publisher | None = None
    signed: int = field(default=0, init=False)
    failures: int = field(default=0, init=False)
    _task: asyncio.Task[None] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.interval_s <= 0:
            raise ValueError("the checkpoint interval must be positive")

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(
                self._loop(), name="hub-audit-checkpoints"
            )

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.publisher is not None:
            await self.publisher.close()

    async def run_once(self) -> AuditCheckpoint | None:
        checkpoint, new = await sign_checkpoint(self.db, self.signer)
        if new:
            self.signed += 1
        if self.publisher is not None:
            await self.publisher.publish(self.db)
        return checkpoint

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except CheckpointError as exc:
                self.failures += 1
                log.error("audit checkpoint refused: %s", exc)
            except Exception as exc:  # the next interval tries again
                self.failures += 1
                log.error("audit checkpoint failed: %s", type(exc).__name__)
