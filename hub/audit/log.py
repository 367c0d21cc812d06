"""Appending to the hash-chained access log, with group commit.

Requests hand their entries to `AuditLog.append` and wait: a single writer task takes every
entry waiting at that moment, extends the chain in one transaction (locking the chain's
head row, so several replicas on one database still extend a single chain), commits, and
only then releases the waiting requests. An entry is therefore durable before the response
that it describes leaves; if the write fails, the requests fail with it (fail closed).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from hub.db import Database
from hub.models import AccessLogEntry, AccessLogSubject, AuditHead
from hub.retry import Backoff, retry

log = logging.getLogger("hub.audit")
GENESIS = "0" * 64
MAX_BATCH = 500
WRITE_ATTEMPTS = 5


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


def entry_hash(
    seq: int, prev_hash: str, r: AuditRecord | AccessLogEntry, subjects: list[str]
) -> str:
    """The chained hash of one entry: everything it says, in a canonical form."""
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
        prev_hash,
    ]
    data = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    return hashlib.sha256(data).hexdigest()


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
                    log.error("audit write failed: %s", type(exc).__name__)
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
        """Another process may extend the chain between our read of its head and our
        insert (SQLite takes no row lock): the positions then collide and the transaction
        is rolled back whole, so it is safe to read the new head and try again."""
        await retry(
            lambda: self._write(records),
            attempts=WRITE_ATTEMPTS,
            retry_on=(IntegrityError,),
            backoff=Backoff(min_s=0.01, max_s=0.1),
        )

    async def _write(self, records: list[AuditRecord]) -> None:
        async with self.db.sessions() as session, session.begin():
            head = (
                await session.execute(
                    select(AuditHead).where(col(AuditHead.id) == 1).with_for_update()
                )
            ).scalar_one_or_none()
            if head is None:
                head = AuditHead(id=1, seq=0, hash=GENESIS)
                session.add(head)
                await session.flush()
            seq, prev = head.seq, head.hash
            entries: list[dict[str, Any]] = []
            subjects: list[dict[str, Any]] = []
            for r in records:
                seq += 1
                subs = sorted(set(r.subjects))
                digest = entry_hash(seq, prev, r, subs)
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
                        "prev_hash": prev,
                        "hash": digest,
                    }
                )
                subjects += [{"entry_id": seq, "sex_worker_id": s} for s in subs]
                prev = digest
            await session.execute(insert(AccessLogEntry), entries)
            if subjects:
                await session.execute(insert(AccessLogSubject), subjects)
            await session.execute(
                update(AuditHead).where(col(AuditHead.id) == 1).values(seq=seq, hash=prev)
            )

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
            self._writer = None
