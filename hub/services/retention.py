"""Retention and erasure: the hub keeps no more data, for no longer, than it needs.

Retention: every policy document may give its resource a `retention` (ISO 8601 duration).
`run_retention` removes the rows older than that, by the age column of the table below, in
bounded set-based batches (`DELETE ... WHERE id IN (<= batch ids>)`, children first), and
writes one access-log entry per resource with the count. `hub retention run` and the daily
`RetentionTask` both call it.

| resource          | age column   | removed when older than retention                       |
|-------------------|--------------|---------------------------------------------------------|
| SexWorker         | created_at   | anonymised (see below) after the last activity, kept    |
| ShiftRegistration | ends_at      | deleted                                                 |
| RentalAgreement   | ends_at      | deleted, unless a shift that is kept still refers to it |
| Inspection        | occurred_at  | deleted                                                 |
| Measure           | updated_at   | deleted with its transitions, only once `executed`      |
| Report            | filed_at     | deleted with its shares and replies                     |
| Alert             | valid_until  | deleted                                                 |
| CareContact       | contact_date | deleted                                                 |
| Referral          | created_at   | deleted                                                 |
| Certificate       | valid_until  | deleted                                                 |
| Consent           | revoked_at   | deleted, only once revoked                              |
| Investigation     | expires_at   | deleted with the workers it names                       |
| TraffickingSuspicion | updated_at | deleted                                                 |
| HelpdeskRequest   | updated_at   | deleted                                                 |
| EmploymentRelation | ends_on     | deleted, only once ended (an open-ended one stays)      |

Organisation and Premises have no rule: they are not personal data and everything refers
to them. A policy that sets `retention:` on a resource without a rule is reported by
`unsupported_retention` and logged at every run.

A sex worker is anonymised, not deleted, because the history that refers to the worker
(reports written, shifts and rentals kept for their own retention) stays as anonymous
history. The worker is anonymised once the SexWorker retention (P2Y in the shipped
policies/sex_worker.yaml: the setting, changed like any policy) has passed since the
worker's last activity. The last activity is the latest of: registration (`created_at`),
the end of a shift or a rental of the worker, a consent given or revoked by the worker, a
report the worker filed under their own name (anonymous reports keep no link), and
`last_active_at`; and a worker with an employment not ended before the cutoff (open-ended,
or ended since) is active: employment relations stay five years after they end, so that
needs no note. Care contacts and referrals count no activity: they carry the NGO's
pseudonymous client reference, never a worker id, and the hub keeps it that way. Shifts
(P180D) and rentals (P1Y) age out before two years have passed, so each run first writes
the latest activity it finds into `sex_worker.last_active_at` (ACTIVITY, before any row is
deleted): the activity outlives the records it was read from. Anonymising destroys the
worker's data key, nulls the identity ciphertext, replaces the working name by "erased",
clears the languages and the self-declared gender and removes the worker from the targets
of measures. The worker is evaluated first in a run, before shifts and rentals are deleted.

Erasure on the data subject's request is hub/services/erasure.py.

The access log records counts, never the ids of the records removed: the log is append-only
and outlives the data, so a list of ids would be a lasting index of which records existed
and when they went, which is what retention is meant to end. The count is what
accountability needs (the job ran, under which policy version, and removed that much).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, cast

from sqlalchemy import CursorResult, Date, delete, exists, func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import SQLModel, col

from hub.audit.log import AuditLog, AuditRecord
from hub.db import Database
from hub.models import (
    AccessLogEntry,
    Alert,
    CareContact,
    Certificate,
    Consent,
    DataKey,
    EmploymentRelation,
    HelpdeskRequest,
    Inspection,
    Investigation,
    InvestigationSubject,
    Measure,
    MeasureTransition,
    OutboxEvent,
    Referral,
    RentalAgreement,
    Report,
    ReportReply,
    ReportShare,
    SexWorker,
    ShiftRegistration,
    TraffickingSuspicion,
)
from hub.models.base import utcnow
from hub.models.enums import MeasureStatus
from hub.policy.engine import PolicySet

log = logging.getLogger("hub.retention")

ERASED = "erased"  # the working name of an anonymised sex worker
BATCH_SIZE = 500  # ids per statement: well under SQLite's and PostgreSQL's parameter limits
RETENTION_ACTOR = "hub:retention"
# PostgreSQL advisory lock: one retention run at a time across all replicas.
_LOCK_KEY = 0x6875_6252_6574_6E  # "hubRetn"


# --- the per-resource table ---------------------------------------------------------------


@dataclass(frozen=True)
class RetentionRule:
    """How one resource's rows age out: by `age_column`, deleted or anonymised."""

    resource: str
    model: type[SQLModel]
    age_column: str
    mode: Literal["delete", "anonymise"] = "delete"
    # Child tables deleted with each batch: (model, its foreign-key column to this model).
    children: tuple[tuple[type[SQLModel], str], ...] = ()
    # A further condition a row must meet to go, given the cutoff moment.
    only_if: Callable[[datetime], ColumnElement[bool]] | None = None

    def column(self) -> Any:
        return getattr(self.model, self.age_column)

    def older_than(self, cutoff: datetime) -> ColumnElement[bool]:
        """Rows whose age column lies before the cutoff (dates compare by calendar day)."""
        column = self.column()
        if isinstance(column.type, Date):
            clause: ColumnElement[bool] = column < cutoff.date()
        else:
            clause = column < cutoff
        if self.only_if is not None:
            clause = clause & self.only_if(cutoff)
        return clause


def _executed(_cutoff: datetime) -> ColumnElement[bool]:
    return col(Measure.status) == MeasureStatus.EXECUTED.value


def _rental_unused(_cutoff: datetime) -> ColumnElement[bool]:
    # A rental stays while a shift that is kept refers to it (shift_registration FK).
    return ~exists().where(col(ShiftRegistration.rental_agreement_id) == col(RentalAgreement.id))


# Where a worker's activity shows: (table, its column of the worker's id, the moment).
ACTIVITY: tuple[tuple[type[SQLModel], str, str], ...] = (
    (ShiftRegistration, "sex_worker_id", "ends_at"),
    (RentalAgreement, "sex_worker_id", "ends_at"),
    (Consent, "sex_worker_id", "granted_at"),
    (Consent, "sex_worker_id", "revoked_at"),
    (Report, "author_id", "filed_at"),
)


def _worker_inactive(cutoff: datetime) -> ColumnElement[bool]:
    """No activity of the worker at or after the cutoff (registration: the age column)."""
    recent = [
        exists().where(
            col(getattr(model, worker)) == col(SexWorker.id), col(getattr(model, moment)) >= cutoff
        )
        for model, worker, moment in ACTIVITY
    ]
    quiet = or_(col(SexWorker.last_active_at).is_(None), col(SexWorker.last_active_at) < cutoff)
    employed = exists().where(
        col(EmploymentRelation.sex_worker_id) == col(SexWorker.id),
        or_(
            col(EmploymentRelation.ends_on).is_(None),
            col(EmploymentRelation.ends_on) >= cutoff.date(),
        ),
    )
    clause = quiet & ~employed & _not_anonymised()
    for found in recent:
        clause = clause & ~found
    return clause


async def note_activity(db: Database) -> None:
    """Write each worker's latest activity still on record into `last_active_at` (only
    ever later), so that it outlives the shifts, rentals and reports retention deletes."""
    async with db.session() as session, session.begin():
        for model, worker, moment in ACTIVITY:
            latest = (
                select(func.max(col(getattr(model, moment))))
                .where(col(getattr(model, worker)) == col(SexWorker.id))
                .scalar_subquery()
            )
            await session.execute(
                update(SexWorker)
                .where(
                    latest.is_not(None),
                    or_(
                        col(SexWorker.last_active_at).is_(None),
                        col(SexWorker.last_active_at) < latest,
                    ),
                )
                .values(last_active_at=latest)
                .execution_options(synchronize_session=False)
            )


def _not_anonymised() -> ColumnElement[bool]:
    return or_(
        col(SexWorker.working_name) != ERASED,
        col(SexWorker.identity).is_not(None),
        col(SexWorker.gender).is_not(None),
        exists().where(col(DataKey.sex_worker_id) == col(SexWorker.id)),
    )


# In the order a run applies them: sex workers are judged before their shifts and rentals
# go; shifts before the rentals they refer to.
RETENTION_RULES: tuple[RetentionRule, ...] = (
    RetentionRule("SexWorker", SexWorker, "created_at", "anonymise", only_if=_worker_inactive),
    RetentionRule("ShiftRegistration", ShiftRegistration, "ends_at"),
    RetentionRule("RentalAgreement", RentalAgreement, "ends_at", only_if=_rental_unused),
    RetentionRule("Inspection", Inspection, "occurred_at"),
    RetentionRule(
        "Measure",
        Measure,
        "updated_at",
        children=((MeasureTransition, "measure_id"),),
        only_if=_executed,
    ),
    RetentionRule(
        "Report",
        Report,
        "filed_at",
        children=((ReportShare, "report_id"), (ReportReply, "report_id")),
    ),
    RetentionRule("Alert", Alert, "valid_until"),
    RetentionRule("CareContact", CareContact, "contact_date"),
    RetentionRule("Referral", Referral, "created_at"),
    RetentionRule("Certificate", Certificate, "valid_until"),
    RetentionRule("Consent", Consent, "revoked_at"),
    RetentionRule(
        "Investigation",
        Investigation,
        "expires_at",
        children=((InvestigationSubject, "investigation_id"),),
    ),
    RetentionRule("TraffickingSuspicion", TraffickingSuspicion, "updated_at"),
    RetentionRule("HelpdeskRequest", HelpdeskRequest, "updated_at"),
    RetentionRule("EmploymentRelation", EmploymentRelation, "ends_on"),
)
RULES_BY_RESOURCE: dict[str, RetentionRule] = {r.resource: r for r in RETENTION_RULES}


def unsupported_retention(policies: PolicySet) -> list[str]:
    """Resources whose policy sets a retention this module has no rule for."""
    return sorted(
        name
        for name, doc in policies.documents.items()
        if doc.retention is not None and name not in RULES_BY_RESOURCE
    )


# --- running retention ---------------------------------------------------------------------


class RetentionError(RuntimeError):
    """Some resources failed; `counts` holds what the others removed."""

    def __init__(self, counts: dict[str, int], failed: dict[str, str]) -> None:
        super().__init__("retention failed for " + ", ".join(sorted(failed)))
        self.counts = counts
        self.failed = failed  # resource -> exception type name (never its message)


def _rowcount(result: Any) -> int:
    return int(cast(CursorResult[Any], result).rowcount or 0)


async def _ids(session: AsyncSession, rule: RetentionRule, cutoff: datetime, n: int) -> list[str]:
    pk = col(getattr(rule.model, "id"))  # noqa: B009
    # Locked for the batch's transaction (PostgreSQL; SQLite writes one at a time anyway);
    # rows a request holds right now are left to the next run.
    stmt = (
        select(pk)
        .where(rule.older_than(cutoff))
        .order_by(pk)
        .limit(n)
        .with_for_update(of=rule.model, skip_locked=True)
    )
    return list((await session.execute(stmt)).scalars().all())


async def _delete_batch(
    session: AsyncSession, rule: RetentionRule, cutoff: datetime, n: int
) -> tuple[int, bool]:
    """Delete up to n rows and their children; returns (deleted, more may remain)."""
    ids = await _ids(session, rule, cutoff, n)
    if not ids:
        return 0, False
    for child, fk in rule.children:
        await session.execute(delete(child).where(col(getattr(child, fk)).in_(ids)))
    pk = col(getattr(rule.model, "id"))  # noqa: B009
    # The condition again, so that a row changed since it was selected stays.
    result = await session.execute(delete(rule.model).where(pk.in_(ids), rule.older_than(cutoff)))
    return _rowcount(result), len(ids) == n


async def _anonymise_batch(
    session: AsyncSession, rule: RetentionRule, cutoff: datetime, n: int
) -> tuple[int, bool]:
    ids = await _ids(session, rule, cutoff, n)
    if not ids:
        return 0, False
    result = await session.execute(
        update(SexWorker)
        .where(col(SexWorker.id).in_(ids), rule.older_than(cutoff))
        .values(identity=None, working_name=ERASED, languages=[], gender=None)
    )
    # The worker's key goes only if the row was anonymised in this same transaction.
    anonymised = select(col(SexWorker.id)).where(
        col(SexWorker.id).in_(ids),
        col(SexWorker.identity).is_(None),
        col(SexWorker.working_name) == ERASED,
    )
    await session.execute(delete(DataKey).where(col(DataKey.sex_worker_id).in_(anonymised)))
    # Measures against the worker keep their facts, no longer the worker.
    await session.execute(
        update(Measure)
        .where(col(Measure.target_sex_worker_id).in_(anonymised))
        .values(target_sex_worker_id=None)
    )
    return _rowcount(result), len(ids) == n


async def _count(db: Database, rule: RetentionRule, cutoff: datetime) -> int:
    async with db.session() as session:
        stmt = select(func.count()).select_from(rule.model).where(rule.older_than(cutoff))
        return int((await session.execute(stmt)).scalar_one())


async def _apply(db: Database, rule: RetentionRule, cutoff: datetime, batch_size: int) -> int:
    """Apply one rule batch by batch, each batch its own transaction."""
    step = _anonymise_batch if rule.mode == "anonymise" else _delete_batch
    total, more = 0, True
    while more:
        async with db.session() as session, session.begin():
            n, more = await step(session, rule, cutoff, batch_size)
        total += n
        if n == 0:
            break
        await asyncio.sleep(0)  # let requests in between batches
    return total


@contextlib.asynccontextmanager
async def _single_run(db: Database) -> AsyncIterator[bool]:
    """On PostgreSQL, an advisory lock so that replicas never run retention at once."""
    if db.engine.dialect.name != "postgresql":
        yield True
        return
    async with db.engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        got = bool(
            (await conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": _LOCK_KEY})).scalar()
        )
        try:
            yield got
        finally:
            if got:
                try:
                    await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _LOCK_KEY})
                except BaseException:
                    # A pooled connection must never keep the lock: drop the connection.
                    await conn.invalidate()
                    raise


def _days(d: timedelta) -> str:
    return f"P{d.days}D" if d.seconds == 0 and d.microseconds == 0 else str(d)


async def run_retention(
    db: Database,
    policies: PolicySet,
    audit: AuditLog,
    *,
    now: datetime,
    batch_size: int = BATCH_SIZE,
    dry_run: bool = False,
    operation: str = "retention",
) -> dict[str, int]:
    """Delete or anonymise what each resource's retention no longer allows.

    Returns {resource: rows deleted or anonymised} for every resource whose policy has a
    retention (0 included). Writes one access-log entry per resource (counts, no ids).
    `dry_run` only counts what would go, and writes no log entry. Returns {} without doing
    anything when another replica is running retention at that moment (PostgreSQL).
    Raises `RetentionError` (after the other resources ran) if some resource failed.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (UTC)")
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    for name in unsupported_retention(policies):
        log.warning("retention set for %s, which has no retention rule: not enforced", name)
    counts: dict[str, int] = {}
    failed: dict[str, str] = {}
    async with _single_run(db) as mine:
        if not mine:
            log.info("retention: another run holds the lock; skipped")
            return {}
        worker_doc = policies.documents.get("SexWorker")
        if not dry_run and worker_doc is not None and worker_doc.retention is not None:
            try:
                await note_activity(db)
            except Exception as exc:  # then no worker is judged in this run (fail safe)
                failed["SexWorker"] = type(exc).__name__
                log.error("noting the workers' activity failed: %s", type(exc).__name__)
        for rule in RETENTION_RULES:
            doc = policies.documents.get(rule.resource)
            if doc is None or doc.retention is None:
                continue
            cutoff = now - doc.retention
            if dry_run:
                counts[rule.resource] = await _count(db, rule, cutoff)
                continue
            done = 0
            try:
                if rule.resource not in failed:  # a failed noting of activity judges no one
                    done = await _apply(db, rule, cutoff, batch_size)
            except Exception as exc:
                failed[rule.resource] = type(exc).__name__
                log.error("retention of %s failed: %s", rule.resource, type(exc).__name__)
            counts[rule.resource] = done
            verb = "anonymised" if rule.mode == "anonymise" else "deleted"
            reason = (
                f"{verb} {done}: {rule.age_column} before {cutoff.isoformat()} "
                f"(retention {_days(doc.retention)})"
            )
            if rule.resource in failed:
                reason += f"; failed: {failed[rule.resource]}"
            await audit.append(
                [
                    AuditRecord(
                        at=now,
                        action="retention",
                        resource=rule.resource,
                        subject=RETENTION_ACTOR,
                        operation=operation,
                        fields=[rule.age_column],
                        policy_version=policies.version,
                        outcome="error" if rule.resource in failed else "allowed",
                        reason=reason[:300],
                    )
                ]
            )
    log.info("retention %s: %s", "would remove" if dry_run else "removed", counts)
    if failed:
        raise RetentionError(counts, failed)
    return counts


# --- the outbox ----------------------------------------------------------------------------

# An outbox row carries the record's snapshot (report text, client references...), so it
# must not outlive its use: a week after it was sent, or a month after it was written if no
# relay ever sent it (embedded mode has none: live subscribers got it within moments).
OUTBOX_KEEP_SENT = timedelta(days=7)
OUTBOX_KEEP_UNSENT = timedelta(days=30)


async def prune_outbox(db: Database, audit: AuditLog, *, now: datetime) -> int:
    """Delete outbox rows past their use (one set-based DELETE); the count is logged."""
    async with db.session() as session, session.begin():
        result = await session.execute(
            delete(OutboxEvent).where(
                or_(
                    col(OutboxEvent.published_at) < now - OUTBOX_KEEP_SENT,
                    col(OutboxEvent.created_at) < now - OUTBOX_KEEP_UNSENT,
                )
            )
        )
        done = _rowcount(result)
    await audit.append(
        [
            AuditRecord(
                at=now,
                action="retention",
                resource="Outbox",
                subject=RETENTION_ACTOR,
                operation="retention",
                fields=["published_at", "created_at"],
                reason=f"deleted {done}: sent before {(now - OUTBOX_KEEP_SENT).isoformat()} "
                f"or written before {(now - OUTBOX_KEEP_UNSENT).isoformat()}",
            )
        ]
    )
    return done


# --- erasure -------------------------------------------------------------------------------


# --- the daily task ------------------------------------------------------------------------


@dataclass
class RetentionTask:
    """Runs `run_retention` every `interval` in the background, first after `first_delay`.

    `policies` is a PolicySet or a callable returning the active one (read at every run, so
    an activated policy version applies from the next run). Each run is bounded by
    `timeout`; a failed run is logged (exception type only) and the next one still comes.
    A run is skipped when the access log shows one within `min_gap` (default: half the
    interval), so that several replicas, or a restart, do not run it twice a day.
    Logs counts only.
    """

    db: Database
    policies: PolicySet | Callable[[], PolicySet]
    audit: AuditLog
    interval: timedelta = timedelta(days=1)
    first_delay: timedelta = timedelta(minutes=10)
    timeout: timedelta = timedelta(hours=1)
    min_gap: timedelta | None = None
    clock: Callable[[], datetime] = utcnow
    batch_size: int = BATCH_SIZE
    runs: int = field(default=0, init=False)  # completed runs
    skipped: int = field(default=0, init=False)
    failures: int = field(default=0, init=False)
    last_counts: dict[str, int] | None = field(default=None, init=False)
    _task: asyncio.Task[None] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.interval <= timedelta(0):
            raise ValueError("interval must be positive")
        if self.first_delay < timedelta(0) or self.timeout <= timedelta(0):
            raise ValueError("first_delay must not be negative, timeout must be positive")

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start on the running event loop (from the app's lifespan). Idempotent."""
        if self.running:
            return
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="hub-retention")

    async def stop(self) -> None:
        """Cancel the task, also in the middle of a run (each batch is its own transaction)."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    def _policies(self) -> PolicySet:
        return self.policies if isinstance(self.policies, PolicySet) else self.policies()

    async def _ran_recently(self, now: datetime) -> bool:
        gap = self.min_gap if self.min_gap is not None else self.interval / 2
        if gap <= timedelta(0):
            return False
        async with self.db.session() as session:
            last = (
                await session.execute(
                    select(func.max(col(AccessLogEntry.at))).where(
                        col(AccessLogEntry.action) == "retention",
                        col(AccessLogEntry.at) <= now,
                    )
                )
            ).scalar_one_or_none()
        if last is None:
            return False
        if isinstance(last, str):  # SQLite, through an aggregate: no column type applied
            last = datetime.fromisoformat(last)
        if last.tzinfo is None:
            last = last.replace(tzinfo=now.tzinfo)
        return bool(now - last < gap)

    async def run_once(self) -> dict[str, int] | None:
        """One run now, unless one ran within min_gap (then None)."""
        now = self.clock()
        if await self._ran_recently(now):
            self.skipped += 1
            log.info(
                "retention: ran within the last %s; skipped", self.min_gap or self.interval / 2
            )
            return None
        async with asyncio.timeout(self.timeout.total_seconds()):
            counts = await run_retention(
                self.db, self._policies(), self.audit, now=now, batch_size=self.batch_size
            )
            await prune_outbox(self.db, self.audit, now=now)
        self.runs += 1
        self.last_counts = counts
        return counts

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        next_at = loop.time() + self.first_delay.total_seconds()
        while True:
            await asyncio.sleep(max(0.0, next_at - loop.time()))
            next_at += self.interval.total_seconds()
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the next day's run still comes
                self.failures += 1
                log.error("retention run failed: %s", type(exc).__name__)
            # A run longer than the interval does not make runs pile up.
            next_at = max(next_at, loop.time())


def retention_summary(policies: PolicySet) -> Sequence[tuple[str, str, str, str]]:
    """(resource, retention, age column, mode) per enforced resource, for the CLI."""
    out: list[tuple[str, str, str, str]] = []
    for rule in RETENTION_RULES:
        doc = policies.documents.get(rule.resource)
        if doc is not None and doc.retention is not None:
            out.append((rule.resource, _days(doc.retention), rule.age_column, rule.mode))
    return out


__all__ = [
    "ERASED",
    "RETENTION_RULES",
    "RetentionError",
    "RetentionRule",
    "RetentionTask",
    "retention_summary",
    "run_retention",
    "unsupported_retention",
]
