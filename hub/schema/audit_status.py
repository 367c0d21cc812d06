"""The `auditStatus` query: the state of the access log's Merkle tree for privacy officers.

The tree's size and root, the last check of the log against itself and its checkpoints
(`hub audit verify`'s check, run at most once a minute per replica and kept), and the latest
signed checkpoint with the names of whoever signed it (the hub, and witnesses that
cosigned). No entry and no personal data: counts, hashes and times. Read under the
AccessLog policy's `read` grant, and written to the access log like any read.
"""

from __future__ import annotations

import base64
import time
import weakref
from dataclasses import dataclass
from datetime import datetime

import strawberry
from strawberry.types import Info

from hub.audit import tree
from hub.audit.checkpoints import latest_checkpoint
from hub.audit.note import NoteError, split_note
from hub.audit.verify import Verdict, verify_chain
from hub.db import Database
from hub.models.base import utcnow
from hub.schema.context import Context

VERIFY_EVERY_S = 60.0


@dataclass
class _Kept:
    verdict: Verdict
    at: datetime
    monotonic: float


# Per database (the HubState's Database, held weakly). Two requests at once may both
# check: harmless, and no lock is bound to one event loop.
_kept: weakref.WeakKeyDictionary[Database, _Kept] = weakref.WeakKeyDictionary()


@strawberry.type(description="The last check of the access log against itself and its checkpoints.")
class AuditVerification:
    ok: bool = strawberry.field(description="Whether every entry, hash and checkpoint agreed.")
    at: datetime = strawberry.field(description="When the check ran.")
    entries: int = strawberry.field(
        description="Entries checked before the first problem (all of them when ok)."
    )
    checkpoints: int = strawberry.field(description="Signed checkpoints compared.")
    first_bad_position: int | None = strawberry.field(
        description="The first position (from 1) found wrong, when not ok."
    )
    problem: str | None = strawberry.field(description="What was found wrong, when not ok.")


@strawberry.type(description="A signed checkpoint of the access log's tree (C2SP signed note).")
class AuditCheckpointStatus:
    tree_size: int = strawberry.field(description="The size of the tree it signs.")
    root_hash: str = strawberry.field(description="The tree's root hash (base64).")
    signed_at: datetime = strawberry.field(description="When the hub signed it.")
    published_at: datetime | None = strawberry.field(
        description="When it was sent to the checkpoints topic, if Kafka is configured."
    )
    signers: list[str] = strawberry.field(
        description="The names of the keys that signed the note: the hub's own first."
    )
    witness_cosignatures: list[str] = strawberry.field(
        description="The names of witnesses that cosigned it (empty until any does)."
    )
    note: str = strawberry.field(description="The signed note itself.")


@strawberry.type(description="The state of the access log's tamper-evident tree.")
class AuditStatus:
    tree_size: int = strawberry.field(description="Entries in the log.")
    root_hash: str = strawberry.field(description="The tree's current root hash (base64).")
    verification: AuditVerification = strawberry.field(
        description="The last check of the log (at most a minute old)."
    )
    latest_checkpoint: AuditCheckpointStatus | None = strawberry.field(
        description="The latest signed checkpoint; null before the first."
    )


async def _verification(ctx: Context) -> _Kept:
    db = ctx.hub.db
    kept = _kept.get(db)
    if kept is None or time.monotonic() - kept.monotonic > VERIFY_EVERY_S:
        verdict = await verify_chain(db)
        kept = _kept[db] = _Kept(verdict, utcnow(), time.monotonic())
    return kept


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


@strawberry.type
class AuditStatusQuery:
    @strawberry.field(
        description="For privacy officers: the access log's tree, its last check and its "
        "latest signed checkpoint with any witness cosignatures."
    )
    async def audit_status(self, info: Info) -> AuditStatus:
        ctx: Context = info.context
        ctx.actor.require_grant("AccessLog", "read")
        async with ctx.hub.db.sessions() as session:
            head = await tree.head(session)
        kept = await _verification(ctx)
        row = await latest_checkpoint(ctx.hub.db)
        checkpoint = None
        if row is not None:
            try:
                text, signatures = split_note(row.note)
                origin = text.split("\n", 1)[0]
                signers = [name for name, _, _ in signatures]
            except NoteError:
                origin, signers = "", []
            checkpoint = AuditCheckpointStatus(
                tree_size=row.tree_size,
                root_hash=_b64(row.root),
                signed_at=row.signed_at,
                published_at=row.published_at,
                signers=signers,
                witness_cosignatures=[s for s in signers if s != origin],
                note=row.note,
            )
        v = kept.verdict
        ctx.actor.record("read", "AuditStatus", fields=["treeSize", "verification"])
        return AuditStatus(
            tree_size=head.size,
            root_hash=_b64(head.root),
            verification=AuditVerification(
                ok=v.ok,
                at=kept.at,
                entries=v.entries,
                checkpoints=v.checkpoints,
                first_bad_position=v.first_bad_seq,
                problem=v.problem,
            ),
            latest_checkpoint=checkpoint,
        )
