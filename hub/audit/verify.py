"""`hub audit verify`: rebuild the tree from the entries and find the first bad position.

The entries are read in order and each leaf hash is recomputed from the entry's content
and salt. What they give is compared with

- every hash the tree stores (an entry edited without its leaf, or a leaf without its
  entry, shows here, at its exact position);
- the head row (size and root) and any stored hashes past the entries (entries removed
  at the end);
- signed checkpoints: those the hub stored, and above all those a witness holds
  (`--checkpoint`). A checkpoint is a root the database alone can no longer change: a log
  truncated with its head rewound ends before the checkpoint's size, and a log rebuilt
  whole (entries, tree and head made consistent again) no longer hashes to its root. Then
  the first bad position is known to lie between the last checkpoint that still matches
  and the first that does not.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlmodel import col

from hub.audit import leaf, merkle, tree
from hub.audit.note import Checkpoint, NoteError, Verifier, open_checkpoint
from hub.db import Database
from hub.models import AccessLogEntry, AccessLogSubject, AuditCheckpoint, AuditTreeHash

CHUNK = 5000


@dataclass(frozen=True)
class Verdict:
    ok: bool
    entries: int  # entries read before the first problem (all of them when ok)
    first_bad_seq: int | None = None  # 1-based position in the log
    problem: str | None = None
    last_bad_seq: int | None = None  # when only a range is known: first..last
    root: bytes | None = None
    checkpoints: int = 0  # checkpoints checked
    notes: tuple[str, ...] = field(default=())


@dataclass
class _Finding:
    first: int
    problem: str
    last: int | None = None


async def _stored_checkpoints(db: Database, verifier: Verifier | None) -> list[Checkpoint]:
    """The checkpoints in the database whose signature verifies; a bad one is a finding."""
    async with db.session() as session:
        rows = (await session.execute(select(AuditCheckpoint))).scalars().all()
    out = []
    for row in rows:
        if verifier is None:  # the roots still count; their signatures are not checked
            out.append(Checkpoint("", row.tree_size, bytes(row.root)))
            continue
        try:
            cp = open_checkpoint(row.note, verifier)
        except NoteError as exc:
            raise _Bad(_Finding(1, f"stored checkpoint {row.tree_size}: {exc}")) from None
        if cp.size != row.tree_size or cp.root != bytes(row.root):
            raise _Bad(_Finding(1, f"stored checkpoint {row.tree_size} disagrees with its note"))
        out.append(cp)
    return out


class _Bad(Exception):
    def __init__(self, finding: _Finding) -> None:
        self.finding = finding


async def verify_log(
    db: Database,
    checkpoints: Iterable[Checkpoint] = (),
    *,
    stored_verifier: Verifier | None = None,
    use_stored: bool = True,
) -> Verdict:
    """Check the log against itself and against `checkpoints` (already verified notes).

    The database's own checkpoints are checked too (`use_stored`), with their signatures
    when `stored_verifier` is given."""
    try:
        stored_cps = await _stored_checkpoints(db, stored_verifier) if use_stored else []
    except _Bad as bad:
        return Verdict(False, 0, bad.finding.first, bad.finding.problem)
    # (size, root, whether a match bounds where damage can start): a witness's checkpoint
    # does; the database's own only when no other is given (whoever rewrote the log may
    # hold the key and have re-signed).
    given = {(c.size, c.root) for c in checkpoints}
    every = sorted(
        [(size, root, True) for size, root in given]
        + [(c.size, c.root, not given) for c in stored_cps if (c.size, c.root) not in given]
    )
    sizes = {size for size, _, _ in every}
    roots: dict[int, bytes] = {}

    findings: list[_Finding] = []
    frontier = merkle.Frontier(0, [])
    async with db.session() as session:
        head = await tree.head(session)
        last_id = 0
        stop = False
        while not stop:
            rows = (
                (
                    await session.execute(
                        select(AccessLogEntry)
                        .where(col(AccessLogEntry.id) > last_id)
                        .order_by(col(AccessLogEntry.id))
                        .limit(CHUNK)
                    )
                )
                .scalars()
                .all()
            )
            if not rows:
                break
            subjects: dict[int, list[str]] = defaultdict(list)
            for s in (
                await session.execute(
                    select(AccessLogSubject).where(
                        col(AccessLogSubject.entry_id).in_([r.id for r in rows])
                    )
                )
            ).scalars():
                subjects[s.entry_id].append(s.sex_worker_id)
            # The stored hashes that appending these entries wrote: one contiguous range.
            lo = merkle.stored_hash_index(0, frontier.size)
            hi = merkle.stored_hash_count(frontier.size + len(rows))
            stored = dict(
                (
                    await session.execute(
                        select(col(AuditTreeHash.index), col(AuditTreeHash.hash)).where(
                            col(AuditTreeHash.index) >= lo, col(AuditTreeHash.index) < hi
                        )
                    )
                ).all()
            )
            for r in rows:
                expected = frontier.size + 1
                if r.id != expected:
                    findings.append(_Finding(expected, "entry missing (removed)"))
                    stop = True
                    break
                data = leaf.entry_leaf_data(leaf.values(r, subjects[r.id]), bytes(r.salt))
                written = frontier.append(merkle.leaf_hash(data))
                if stored.get(written[0][0]) != written[0][1]:
                    findings.append(_Finding(r.id, "entry altered"))
                    stop = True
                    break
                if any(stored.get(i) != h for i, h in written[1:]):
                    findings.append(_Finding(r.id, "the tree's stored hashes were altered"))
                    stop = True
                    break
                if frontier.size in sizes:
                    roots[frontier.size] = frontier.root()
            last_id = rows[-1].id
        n = frontier.size
        if not stop:
            beyond = (
                await session.execute(
                    select(func.count()).where(
                        col(AuditTreeHash.index) >= merkle.stored_hash_count(n)
                    )
                )
            ).scalar_one()
            if head.size > n or beyond:
                findings.append(_Finding(n + 1, "entries missing at the end (removed)"))
            elif head.size < n:
                findings.append(_Finding(head.size + 1, "entries past the tree's head"))
            elif head.root != frontier.root() or head.edge != frontier.to_bytes():
                findings.append(_Finding(n, "the tree's head does not match the entries"))

    matched = 0  # the largest trusted checkpoint size whose root the entries still give
    for size, root, bounds in every:
        if size == 0 or roots.get(size) == root:
            matched = size if bounds else matched
            continue
        if size in roots:
            findings.append(
                _Finding(
                    matched + 1,
                    f"the log was rewritten: its first {size} entries no longer give the "
                    "checkpoint's root",
                    last=size,
                )
            )
        elif not stop:  # every size up to the entries' end has its root: this one is past it
            findings.append(
                _Finding(
                    n + 1,
                    f"entries missing: a checkpoint covers {size} entries, the log holds {n}",
                )
            )
        break  # (when the reading stopped early, an earlier finding says why)

    checked = len(every)
    notes = (f"checked against {checked} checkpoint(s)",) if checked else ()
    if findings:
        first = min(findings, key=lambda f: f.first)
        return Verdict(
            False,
            first.first - 1,
            first.first,
            first.problem,
            first.last,
            checkpoints=checked,
            notes=notes,
        )
    return Verdict(True, n, root=frontier.root(), checkpoints=checked, notes=notes)


async def verify_chain(db: Database) -> Verdict:
    """The log checked against itself and the checkpoints the database holds."""
    return await verify_log(db)


def load_checkpoints(notes: Sequence[str | bytes], verifier: Verifier) -> list[Checkpoint]:
    """Open witnessed checkpoint notes; NoteError on the first that does not verify."""
    return [open_checkpoint(n, verifier) for n in notes]
