"""access log as a Merkle tree with signed checkpoints

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 07:00:00

The hash chain (prev_hash, hash) gives way to a Merkle tree: a salt per entry, the tree's
stored hashes, and the signed checkpoints. Existing entries become the first leaves, in
their order, after their chain is checked: a log whose chain is already broken is not
turned into a tree that would vouch for it (the upgrade stops and names the entry).
The head row keeps the tree's size and root, and now its right edge.
"""

import hashlib
import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

import hub.models.base
from hub.audit import leaf
from hub.audit.merkle import Frontier, leaf_hash

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHUNK = 2000
GENESIS = "0" * 64

_entries = sa.table(
    "access_log",
    sa.column("id", sa.BigInteger),
    sa.column("at", hub.models.base.UTCDateTime),
    sa.column("organisation_id", sa.String),
    sa.column("roles", sa.String),
    sa.column("subject", sa.String),
    sa.column("purpose", sa.String),
    sa.column("operation", sa.String),
    sa.column("action", sa.String),
    sa.column("resource", sa.String),
    sa.column("record_ids", sa.JSON),
    sa.column("fields", sa.JSON),
    sa.column("policy_version", sa.String),
    sa.column("outcome", sa.String),
    sa.column("reason", sa.String),
)
_subjects = sa.table(
    "access_log_subject", sa.column("entry_id", sa.BigInteger), sa.column("sex_worker_id")
)
_head = sa.table(
    "audit_head",
    sa.column("id", sa.Integer),
    sa.column("seq", sa.BigInteger),
    sa.column("hash"),
    sa.column("frontier", sa.LargeBinary),
)
_tree = sa.table(
    "audit_tree_hash", sa.column("index", sa.BigInteger), sa.column("hash", sa.LargeBinary)
)


def _chain_hash(seq: int, prev: str, r: Any, subjects: list[str]) -> str:
    """The hash chain of revisions 0002-0004 (hub/audit/log.py's former entry_hash)."""
    body = [
        seq,
        r.at.isoformat(),
        r.organisation_id,
        r.roles,
        r.subject,
        r.purpose,
        r.operation,
        r.action,
        r.resource,
        list(r.record_ids),
        list(r.fields),
        sorted(subjects),
        r.policy_version,
        r.outcome,
        r.reason,
        prev,
    ]
    data = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    return hashlib.sha256(data).hexdigest()


def _chunks(bind: Any, *extra: Any) -> Any:
    """Entries in order, CHUNK at a time, each with its sorted subjects."""
    last = 0
    while True:
        rows = bind.execute(
            sa.select(_entries, *extra)
            .where(_entries.c.id > last)
            .order_by(_entries.c.id)
            .limit(CHUNK)
        ).all()
        if not rows:
            return
        ids = [r.id for r in rows]
        subjects: dict[int, list[str]] = {}
        for entry_id, worker in bind.execute(
            sa.select(_subjects.c.entry_id, _subjects.c.sex_worker_id).where(
                _subjects.c.entry_id.in_(ids)
            )
        ):
            subjects.setdefault(entry_id, []).append(worker)
        yield [(r, sorted(subjects.get(r.id, []))) for r in rows]
        last = ids[-1]


def upgrade() -> None:
    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    op.create_table(
        "audit_tree_hash",
        sa.Column("index", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("index"),
    )
    op.create_table(
        "audit_checkpoint",
        sa.Column("tree_size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("root", sa.LargeBinary(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("signed_at", hub.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("published_at", hub.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("tree_size"),
    )
    op.create_index(
        "ix_audit_checkpoint_published_at", "audit_checkpoint", ["published_at"], unique=False
    )
    # SQLite adds a NOT NULL column only with a default, and recreating access_log (which
    # access_log_subject refers to) is not possible with foreign keys enforced.
    for table, name in (("access_log", "salt"), ("audit_head", "frontier")):
        if sqlite:
            op.add_column(
                table,
                sa.Column(name, sa.LargeBinary(), nullable=False, server_default=sa.text("X''")),
            )
        else:
            op.add_column(table, sa.Column(name, sa.LargeBinary(), nullable=True))

    old = sa.table("access_log", sa.column("id"), sa.column("salt"))
    head = bind.execute(sa.select(_head.c.seq, _head.c.hash).where(_head.c.id == 1)).first()
    frontier = Frontier(0, [])
    prev = GENESIS
    # Unbound columns: they render unqualified, on the one access_log of the FROM.
    chained = (sa.column("prev_hash").label("old_prev"), sa.column("hash").label("old_hash"))
    for chunk in _chunks(bind, *chained):
        salts, hashes = [], []
        for r, subjects in chunk:
            if r.id != frontier.size + 1:
                raise RuntimeError(f"access log entry {frontier.size + 1} is missing")
            if r.old_prev != prev or _chain_hash(r.id, prev, r, subjects) != r.old_hash:
                raise RuntimeError(f"access log entry {r.id} does not match its hash chain")
            prev = r.old_hash
            salt = leaf.new_salt()
            salts.append({"entry_id": r.id, "new_salt": salt})
            data = leaf.entry_leaf_data(leaf.values(r, subjects), salt)
            hashes += [{"index": i, "hash": h} for i, h in frontier.append(leaf_hash(data))]
        bind.execute(
            old.update().where(old.c.id == sa.bindparam("entry_id")),
            [{"entry_id": s["entry_id"], "salt": s["new_salt"]} for s in salts],
        )
        bind.execute(_tree.insert(), hashes)
    if head is not None and (head.seq != frontier.size or head.hash != prev):
        raise RuntimeError(f"access log entries after {frontier.size} were removed")
    if head is not None:
        bind.execute(
            _head.update()
            .where(_head.c.id == 1)
            .values(hash=frontier.root().hex(), frontier=frontier.to_bytes())
        )

    if not sqlite:
        op.alter_column("access_log", "salt", nullable=False)
        op.alter_column("audit_head", "frontier", nullable=False)
    op.drop_column("access_log", "prev_hash")
    op.drop_column("access_log", "hash")


def downgrade() -> None:
    """Back to the hash chain, computed afresh over the entries as they are."""
    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    for name in ("prev_hash", "hash"):
        if sqlite:
            op.add_column(
                "access_log",
                sa.Column(name, sa.String(length=64), nullable=False, server_default=""),
            )
        else:
            op.add_column("access_log", sa.Column(name, sa.String(length=64), nullable=True))
    chain = sa.table("access_log", sa.column("id"), sa.column("prev_hash"), sa.column("hash"))
    prev, seq = GENESIS, 0
    for chunk in _chunks(bind):
        rows = []
        for r, subjects in chunk:
            digest = _chain_hash(r.id, prev, r, subjects)
            rows.append({"entry_id": r.id, "prev_hash": prev, "hash": digest})
            prev, seq = digest, r.id
        bind.execute(chain.update().where(chain.c.id == sa.bindparam("entry_id")), rows)
    bind.execute(_head.update().where(_head.c.id == 1).values(seq=seq, hash=prev))
    if not sqlite:
        op.alter_column("access_log", "prev_hash", nullable=False)
        op.alter_column("access_log", "hash", nullable=False)
    op.drop_column("access_log", "salt")
    op.drop_column("audit_head", "frontier")
    op.drop_index("ix_audit_checkpoint_published_at", table_name="audit_checkpoint")
    op.drop_table("audit_checkpoint")
    op.drop_table("audit_tree_hash")
