"""Appending to the access log, a Merkle tree (RFC 9162), with group commit.

Requests hand their entries to `AuditLog.append` and wait: a single writer task takes every
entry waiting at that moment and, in one transaction, locks the tree's head row (so several
replicas on one database still extend a single tree; the row also holds the hashes of the
tree's right edge, at most log2 n of them, all an append reads), inserts the entries as the
next leaves with the stored hashes they complete (about two per entry) and moves the head
to the new size, root and edge; it commits, and only then releases the waiting requests.
An entry is therefore in the tree before the response that it describes leaves; if the
write fails, the requests fail with it (fail closed). What a leaf commits to is in
hub/audit/leaf.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Table,
    bindparam,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from hub.audit import leaf
from hub.audit.merkle import EMPTY_ROOT, Frontier, leaf_hash
from hub.db import Database
from hub.models import AccessLogEntry, AccessLogSubject, AuditHead, AuditTreeHash
from hub.retry import Backoff, retry

log = logging.getLogger("hub.audit")
MAX_BATCH = 500
# Inserted through their tables, not the ORM's bulk path: a quarter less CPU per append.
_ENTRIES: Table = AccessLogEntry.__table__  # type: ignore[attr-defined]
_SUBJECTS: Table = AccessLogSubject.__table__  # type: ignore[attr-defined]
_TREE: Table = AuditTreeHash.__table__  # type: ignore[attr-defined]
WRITE_ATTEMPTS = 5


class AuditIntegrityError(RuntimeError):
    """The stored tree does not match its head: appending would hide the damage."""


@dataclass
class AuditRecord:
    at: datetime
    action: str
    resource: str = ""
    organisation_id: str | None = None
    roles: str = ""
    subject: str = ""
    purpose: str = ""
    operation: str = ""
    record_ids: list[str] = field(default_factory=list)
    fields: list[str] = field(default_factory=list)
    subjects: list[str] = field(default_factory=list)  # sex worker ids concerned
    policy_version: str = ""
    outcome: str = "allowed"
    reason: str | None = None


# Called after each batch with its records, the seconds it took and whether it committed.
BatchObserver = Callable[[list["AuditRecord"], float, bool], None]


class AuditLog:
    def __init__(self, db: Database, *, on_batch: BatchObserver | None = None) -> None:
        self.db = db
        self.on_batch = on_batch
        self._pending: list[tuple[AuditRecord, asyncio.Future[None]]] = []
        self._wakeup: asyncio.Event | None = None
        self._writer: asyncio.Task[None] | None = None

    async def append(self, records: list[AuditRecord]) -> None:
        """Add records to the log; returns once they are committed."""
        if not records:
            return
        loop = asyncio.get_running_loop()
        if self._writer is None or self._writer.done():
            self._wakeup = asyncio.Event()
            # The writer serves every request: it must not carry the context (request id,
            # trace) of the request that happened to start it.
            self._writer = loop.create_task(self._run(), context=contextvars.Context())
        futures = []
        for r in records:
            fut: asyncio.Future[None] = loop.create_future()
            self._pending.append((r, fut))
            futures.append(fut)
        assert self._wakeup is not None
        self._wakeup.set()
        await asyncio.gather(*futures)

    async def _run(self) -> None:
        assert self._wakeup is not None
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._pending:
                batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
                started = time.perf_counter()
                try:
                    await self._write_retrying([r for r, _ in batch])
                except Exception as exc:  # every waiting request fails rather than go unaudited
                    log.error("audit write failed: %s: %s", type(exc).__name__, _why(exc))
                    self._observe(batch, started, committed=False)
                    for _, fut in batch:
                        if not fut.done():
                            fut.set_exception(RuntimeError("audit log unavailable"))
                    continue
                self._observe(batch, started, committed=True)
                for _, fut in batch:
                    if not fut.done():
                        fut.set_result(None)

    def _observe(
        self, batch: list[tuple[AuditRecord, asyncio.Future[None]]], started: float, committed: bool
    ) -> None:
        if self.on_batch is None:
            return
        try:
            self.on_batch([r for r, _ in batch], time.perf_counter() - started, committed)
        except Exception as exc:  # metrics must never stop the writer
            log.warning("audit batch observer failed: %s", type(exc).__name__)

    async def _write_retrying(self, records: list[AuditRecord]) -> None:
        """Another process may extend the tree between our read of its head and our insert
        (SQLite takes no row lock): the positions then collide and the transaction is
        rolled back whole, so it is safe to read the new head and try again."""
        await retry(
            lambda: self._write(records),
            attempts=WRITE_ATTEMPTS,
            retry_on=(IntegrityError, _DroppedConnection),
            backoff=Backoff(min_s=0.01, max_s=0.1),
        )

    async def _write(self, records: list[AuditRecord]) -> None:
        async with self.db.sessions() as session, session.begin():
            try:
                head = (
                    await session.execute(
                        select(AuditHead).where(col(AuditHead.id) == 1).with_for_update()
                    )
                ).scalar_one_or_none()
            except DBAPIError as error:
                # The pool lends connections without a ping: one the database dropped (a
                # restart) fails here, before anything is written, so trying again is safe.
                if error.connection_invalidated:
                    raise _DroppedConnection from error
                raise
            if head is None:
                head = AuditHead(id=1, seq=0, hash=EMPTY_ROOT.hex(), frontier=b"")
                session.add(head)
                await session.flush()
            try:
                tree = Frontier.from_bytes(head.seq, bytes(head.frontier))
            except ValueError:
                raise AuditIntegrityError("the tree's head is damaged") from None
            if tree.root().hex() != head.hash:
                raise AuditIntegrityError("the tree's head does not match its root")
            entries: list[dict[str, Any]] = []
            # Column-wise: the rows of the two narrow tables go out as arrays (PostgreSQL).
            subject_entries: list[int] = []
            subject_ids: list[str] = []
            hash_indexes: list[int] = []
            hash_values: list[bytes] = []
            for r in records:
                seq = tree.size + 1
                subs = sorted(set(r.subjects))
                salt = leaf.new_salt()
                data = leaf.entry_leaf_data(leaf.values(r, subs), salt)
                for i, h in tree.append(leaf_hash(data)):
                    hash_indexes.append(i)
                    hash_values.append(h)
                entries.append(
                    {
                        "id": seq,
                        "at": r.at,
                        "organisation_id": r.organisation_id,
                        "roles": r.roles,
                        "subject": r.subject,
                        "purpose": r.purpose,
                        "operation": r.operation,
                        "action": r.action,
                        "resource": r.resource,
                        "record_ids": list(r.record_ids),
                        "fields": list(r.fields),
                        "policy_version": r.policy_version,
                        "outcome": r.outcome,
                        "reason": r.reason,
                        "salt": salt,
                    }
                )
                subject_entries += [seq] * len(subs)
                subject_ids += subs
            await session.execute(insert(_ENTRIES), entries)
            if subject_ids:
                await _insert_columns(session, _SUBJECTS, (subject_entries, subject_ids))
            await _insert_columns(session, _TREE, (hash_indexes, hash_values))
            await session.execute(
                update(AuditHead)
                .where(col(AuditHead.id) == 1)
                .values(seq=tree.size, hash=tree.root().hex(), frontier=tree.to_bytes())
            )

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
            self._writer = None


# PostgreSQL: the rows of a two-column table as one statement over two arrays, instead of
# one INSERT per row (a page of 50 shifts concerns 100 worker rows; one by one they cost
# PostgreSQL ~0.8 ms per request). Other databases: executemany.
@functools.cache
def _unnest_insert(table: Table) -> Any:
    """INSERT ... SELECT * FROM unnest(one array per column), typed by the table's columns."""
    names = [c.name for c in table.columns]
    arrays = func.unnest(*(bindparam(c.name, type_=ARRAY(c.type)) for c in table.columns))
    return insert(table).from_select(names, select(arrays.table_valued(*names).render_derived()))


async def _insert_columns(
    session: AsyncSession, table: Table, columns: tuple[list[Any], ...]
) -> None:
    """Insert rows given column by column, in the table's column order."""
    names = [c.name for c in table.columns]
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(_unnest_insert(table), dict(zip(names, columns, strict=True)))
    else:
        rows = [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]
        await session.execute(insert(table), rows)


class _DroppedConnection(Exception):
    """The first statement of an append found its pooled connection dropped."""


def _why(exc: Exception) -> str:
    # Only our own message: a driver's error may quote the statement's parameters.
    return str(exc) if isinstance(exc, AuditIntegrityError) else "see the database's log"
