"""A worker's own gender: declared by the worker alone, optional, and read by nobody else.

`set_my_gender` sets it (or clears it: None is "not stated") on the worker's own record,
through the policy's `set_gender` action (policies/sex_worker.yaml: the worker's own
record, self_service). The write enters the access log like every write (`write:set_gender`
on the worker's record, the worker as its subject), never with the value. No event is
emitted: partners hold no copy of the worker's record to update. No other event carries it
either: `gender` is in NEVER_IN_EVENTS (hub/events/envelope.py), so even the internal
snapshot in `be.hub.sex_worker.registered.v1` leaves it out when the police register a
worker who declared one (tests/test_registration.py). Others meet the gender only as the
suppressed `gender` indicator (hub/services/statistics.py); guardrail
`gender-only-to-the-worker` keeps every other rule from showing it.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from hub.errors import Code
from hub.models import SexWorker
from hub.models.enums import Gender
from hub.services.actor import Actor
from hub.services.base import Command, authorize_existing


class SetGender(Command):
    gender: Gender | None = None


async def set_my_gender(*, session: AsyncSession, actor: Actor, command: SetGender) -> SexWorker:
    """The worker's own record with the gender as declared now (None: not stated)."""
    actor.require_grant("SexWorker", "set_gender")
    worker = actor.principal.sex_worker_id
    if worker is None:
        raise actor.deny(
            "set_gender", "SexWorker", Code.FORBIDDEN, "only a worker declares their own gender"
        )
    row: SexWorker = await authorize_existing(session, actor, "SexWorker", "set_gender", worker)
    row.gender = command.gender.value if command.gender is not None else None
    return row
