"""Erasure of a sex worker's identity on request (GDPR art. 17): the data key is destroyed
and the identity ciphertext nulled, so the identity is unreadable everywhere, also in
backups that lack the key row; the self-declared gender is cleared; measures against the
worker lose their reference to the worker (they keep their facts); the working name and
history stay as they are.

An erasure names its data subject in the access log (`subjects`), because it is the
worker's request and the worker's view of the log should show that it was carried out.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlmodel import col

from hub.audit.log import AuditLog, AuditRecord
from hub.db import Database
from hub.errors import Code, HubError
from hub.events.envelope import make_event
from hub.models import DataKey, Measure, OutboxEvent, SexWorker
from hub.policy.principal import Principal
from hub.services.actor import Actor
from hub.services.base import authorize_existing, unit_of_work

log = logging.getLogger("hub.erasure")


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


class UnknownSexWorker(LookupError):
    """No sex worker with that id."""


@dataclass(frozen=True)
class Requester:
    """Who asks for an erasure, as the access log records it."""

    subject: str  # token `sub`, or e.g. "cli:<operator>" for the command line
    organisation_id: str | None = None
    roles: str = ""  # comma-separated, sorted
    purpose: str = ""
    operation: str = "erasure"
    reason: str | None = None  # e.g. "GDPR art. 17 request"

    @classmethod
    def from_principal(
        cls, principal: Principal, *, purpose: str, operation: str, reason: str | None = None
    ) -> Requester:
        return cls(
            subject=principal.subject,
            organisation_id=principal.org_id,
            roles=",".join(sorted(principal.roles)),
            purpose=purpose,
            operation=operation,
            reason=reason,
        )


async def erase_identity(
    db: Database,
    audit: AuditLog,
    *,
    sex_worker_id: str,
    requested_by: Requester,
    now: datetime,
    policy_version: str = "",
) -> bool:
    """Destroy the worker's data key and identity ciphertext; keep the working name and history.

    Returns True if something was erased, False if it already was (idempotent). Every
    request is audited (action "erasure", subjects=[the worker's id]), the repeated one too.
    Raises `UnknownSexWorker` for an unknown id (not audited: nothing was asked of a
    record that exists).
    """
    async with db.session() as session, session.begin():
        found = (
            await session.execute(
                select(col(SexWorker.id)).where(col(SexWorker.id) == sex_worker_id)
            )
        ).scalar_one_or_none()
        if found is None:
            raise UnknownSexWorker(sex_worker_id)
        keys = await session.execute(
            delete(DataKey).where(col(DataKey.sex_worker_id) == sex_worker_id)
        )
        ciphertexts = await session.execute(
            update(SexWorker)
            .where(col(SexWorker.id) == sex_worker_id, col(SexWorker.identity).is_not(None))
            .values(identity=None)
        )
        # The self-declared gender goes with the identity (the worker's own, never kept
        # against the worker's wish).
        genders = await session.execute(
            update(SexWorker)
            .where(col(SexWorker.id) == sex_worker_id, col(SexWorker.gender).is_not(None))
            .values(gender=None)
        )
        # Measures against the worker keep their facts but no longer name the worker.
        targets = await session.execute(
            update(Measure)
            .where(col(Measure.target_sex_worker_id) == sex_worker_id)
            .values(target_sex_worker_id=None)
        )
        erased = (
            _rowcount(keys) + _rowcount(ciphertexts) + _rowcount(genders) + _rowcount(targets) > 0
        )
        if erased:
            # Partners that hold the identity learn it is gone (no data beyond the worker's id).
            event = make_event(
                "be.hub.sex_worker.identity_erased.v1",
                subject=sex_worker_id,
                data={"id": sex_worker_id},
                time=now,
                purpose=requested_by.purpose,
                policy_version=policy_version,
            )
            session.add(
                OutboxEvent(
                    event_id=event["id"],
                    type=event["type"],
                    resource="SexWorker",
                    record_id=sex_worker_id,
                    envelope=event,
                    created_at=now,
                )
            )
    outcome = "data key destroyed, identity erased" if erased else "already erased"
    reason = f"{requested_by.reason}: {outcome}" if requested_by.reason else outcome
    await audit.append(
        [
            AuditRecord(
                at=now,
                action="erasure",
                resource="SexWorker",
                organisation_id=requested_by.organisation_id,
                roles=requested_by.roles,
                subject=requested_by.subject,
                purpose=requested_by.purpose,
                operation=requested_by.operation,
                record_ids=[sex_worker_id],
                fields=["identity", "gender"],
                subjects=[sex_worker_id],
                policy_version=policy_version,
                outcome="allowed",
                reason=reason[:300],
            )
        ]
    )
    log.info("erasure request: %s", "erased" if erased else "already erased")
    return erased


async def request_erasure(
    *, db: Database, audit: AuditLog, actor: Actor, sex_worker_id: str
) -> bool:
    """The worker, or a privacy officer on the worker's request, through the policy's
    `erase` action. True if erased now, False if it already was."""
    async with unit_of_work(db, actor) as session:
        await authorize_existing(session, actor, "SexWorker", "erase", sex_worker_id)
    try:
        return await erase_identity(
            db,
            audit,
            sex_worker_id=sex_worker_id,
            requested_by=Requester.from_principal(
                actor.principal,
                purpose=actor.purpose,
                operation="eraseIdentity",
                reason="GDPR art. 17 request",
            ),
            now=actor.now,
            policy_version=actor.policies.resource_version("SexWorker"),
        )
    except UnknownSexWorker:
        raise HubError(Code.NOT_FOUND, "no such sex worker") from None
