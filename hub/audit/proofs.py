"""Inclusion proofs for access-log entries as a reader sees them, and their offline check.

An entry in `myAccessLog` carries its leaf index and a proof against the latest signed
checkpoint: the audit path, the checkpoint itself, and the leaf opened on the fields the
reader sees (value and salt) with digests for the rest (hub/audit/leaf.py). An entry newer
than the latest checkpoint has no proof until the next one is signed.

`check_entry` is what `hub audit prove` runs: it rebuilds the leaf from the entry as shown,
checks that every field shown is one the leaf commits to with that value, checks the
checkpoint's signature and the audit path to its root.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlmodel import col

from hub.audit import leaf, merkle, tree
from hub.audit.note import Checkpoint, NoteError, Verifier, open_checkpoint
from hub.db import Database
from hub.models import AccessLogSubject, AuditCheckpoint

# GraphQL field of AccessLogEntry -> leaf field; `organisation` is shown as an object.
SHOWN_AS = {
    "at": "at",
    "roles": "roles",
    "subject": "subject",
    "purpose": "purpose",
    "operation": "operation",
    "action": "action",
    "resource": "resource",
    "recordIds": "record_ids",
    "fields": "fields",
    "policyVersion": "policy_version",
    "outcome": "outcome",
    "reason": "reason",
}


@dataclass(frozen=True)
class Covered:
    """An entry covered by the latest checkpoint: what its proof needs from storage."""

    tree_size: int
    root: bytes
    note: str
    hashes: list[bytes]
    subjects: list[str]


async def load_entry_proofs(db: Database, entry_ids: Sequence[int]) -> list[Covered | None]:
    """Per entry id (position from 1): its proof material, or None if no checkpoint covers
    it yet. Three statements whatever the number of entries."""
    async with db.session() as session:
        cp = (
            await session.execute(
                select(AuditCheckpoint).order_by(col(AuditCheckpoint.tree_size).desc()).limit(1)
            )
        ).scalar_one_or_none()
        if cp is None:
            return [None] * len(entry_ids)
        covered = sorted({i for i in entry_ids if 1 <= i <= cp.tree_size})
        if not covered:
            return [None] * len(entry_ids)
        subjects: dict[int, list[str]] = {i: [] for i in covered}
        rows = await session.execute(
            select(col(AccessLogSubject.entry_id), col(AccessLogSubject.sex_worker_id)).where(
                col(AccessLogSubject.entry_id).in_(covered)
            )
        )
        for entry_id, worker in rows.all():
            subjects[entry_id].append(worker)
        proofs = await tree.inclusion_proofs(session, [i - 1 for i in covered], cp.tree_size)
    root = bytes(cp.root)
    return [
        Covered(cp.tree_size, root, cp.note, proofs[i - 1], subjects[i]) if i in subjects else None
        for i in entry_ids
    ]


class ProveError(ValueError):
    """An entry and its proof that do not check out."""


@dataclass(frozen=True)
class Proven:
    leaf_index: int
    checkpoint: Checkpoint
    shown: dict[str, Any]


def _b64(value: Any, what: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (TypeError, ValueError, binascii.Error):
        raise ProveError(f"malformed {what}") from None


def check_entry(entry: Mapping[str, Any], verifier: Verifier) -> Proven:
    """Check one entry as returned by myAccessLog (with `leafIndex` and `proof`)."""
    proof = entry.get("proof")
    index = entry.get("leafIndex")
    if not isinstance(proof, Mapping) or not isinstance(index, int):
        raise ProveError("the entry has no proof (newer than the latest checkpoint?)")
    try:
        checkpoint = open_checkpoint(str(proof.get("checkpoint", "")), verifier)
    except NoteError as exc:
        raise ProveError(f"the proof's checkpoint: {exc}") from None
    if proof.get("treeSize") != checkpoint.size or _b64(proof.get("rootHash"), "root hash") != (
        checkpoint.root
    ):
        raise ProveError("the proof's tree size or root is not its checkpoint's")
    try:
        data, shown = leaf.leaf_from_disclosures(proof.get("leaf") or [])
    except (ValueError, binascii.Error) as exc:
        raise ProveError(f"the proof's leaf: {exc}") from None
    for name, field in SHOWN_AS.items():
        _compare(name, entry.get(name), field, shown)
    organisation = entry.get("organisation")
    if isinstance(organisation, Mapping) and organisation.get("id") is not None:
        _compare("organisation", organisation["id"], "organisation", shown)
    hashes = [_b64(h, "proof hash") for h in proof.get("hashes") or []]
    try:
        merkle.verify_inclusion(
            index, checkpoint.size, merkle.leaf_hash(data), hashes, checkpoint.root
        )
    except merkle.ProofError as exc:
        raise ProveError(f"the entry is not in the signed tree: {exc}") from None
    return Proven(index, checkpoint, shown)


def _compare(graphql_name: str, value: Any, field: str, shown: Mapping[str, Any]) -> None:
    if value is None:
        return
    if field not in shown:
        raise ProveError(f"{graphql_name} is shown, but the proof does not open it")
    if shown[field] != value:
        raise ProveError(f"{graphql_name} differs from what the log holds")
