"""What every workflow shares: commands (pydantic), the unit of work, authorisation of a
write through the policy, and the outbox.

A workflow is a plain function `(*, session, actor, command)` that runs inside a
`unit_of_work`. It is allowed only where a rule for its action reaches the row: an existing
row must match the rule's filter (`authorize_existing`); a new row is inserted, checked
against the filter in the same transaction and rolled back if no rule reaches it
(`authorize_new`). The same compiled SQL filters as for reads. Its event goes into the
outbox in the same transaction (`emit`).
"""

from __future__ import annotations

import unicodedata
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import partial
from types import SimpleNamespace
from typing import Annotated, Any, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    StringConstraints,
    ValidationError,
    ValidationInfo,
)
from pydantic.alias_generators import to_camel
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticUndefined, core_schema
from sqlalchemy import insert, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.ext.asyncio import AsyncSession

from hub.db import Database
from hub.errors import Code, HubError
from hub.events.envelope import EVENT_TYPES, NEVER_IN_EVENTS, make_event, snapshot
from hub.models import OutboxEvent
from hub.policy.resources import RESOURCES
from hub.services.actor import Actor
from hub.text import hidden

# --- commands ------------------------------------------------------------------------------


def clean_text(value: str, *, max_len: int, min_len: int = 1, multiline: bool = False) -> str:
    """NFC-normalised and trimmed; refused if it holds control or bidi-override characters
    or falls outside the length bounds."""
    value = unicodedata.normalize("NFC", value).strip()
    allowed = "\n\t" if multiline else ""
    for ch in value:
        if hidden(ch, allowed):
            raise ValueError("contains a control or text-direction character")
    if not min_len <= len(value) <= max_len:
        raise ValueError(f"must be {min_len} to {max_len} characters long")
    return value


@dataclass(frozen=True)
class text_rule:  # noqa: N801 (used like a type in annotations)
    """A free-text field: `Annotated[str, text_rule(80)]`, cleaned by `clean_text`; its
    bounds are in the JSON schema too (asyncapi.yaml documents them)."""

    max_len: int
    min_len: int = 1
    multiline: bool = False

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        clean = partial(
            clean_text, max_len=self.max_len, min_len=self.min_len, multiline=self.multiline
        )
        return core_schema.no_info_after_validator_function(clean, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        out = handler(schema)
        out.update(minLength=self.min_len, maxLength=self.max_len)
        return out


def _moment(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("needs a UTC offset, e.g. 2026-01-01T20:00Z")
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("lies outside the years 1 to 9999 in UTC") from None


# A moment in time: aware, and representable in UTC.
Moment = Annotated[datetime, AfterValidator(_moment)]


def _unsealed(value: str, info: ValidationInfo) -> str:
    # Ids from outside come sealed for the caller (hub/ids.py); the entry point that
    # validates a command passes the caller's `unseal`. Internal callers (the command
    # line, the demo) pass none and use record ids as they are.
    unseal = (info.context or {}).get("unseal")
    return unseal(value) if unseal is not None else value


# A record id as it comes from outside: bounded, then unsealed for the caller.
Id = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=36),
    AfterValidator(_unsealed),
]


class Command(BaseModel):
    """A workflow's input: validated whole before anything runs. Field names are the
    GraphQL ones in camelCase (and snake_case in Python)."""

    model_config = ConfigDict(
        extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True
    )


C = TypeVar("C", bound=Command)


def _loc(loc: tuple[Any, ...]) -> str:
    return ".".join(to_camel(p) if isinstance(p, str) else str(p) for p in loc)


def validation_message(exc: ValidationError, *, limit: int = 5) -> str:
    """The errors of a command, by field, without echoing the values."""
    parts = []
    for e in exc.errors(include_input=False, include_url=False)[:limit]:
        msg = str(e["msg"]).removeprefix("Value error, ")
        parts.append(f"{_loc(e['loc'])}: {msg}" if e["loc"] else msg)
    return "; ".join(parts)


def command(
    model: type[C],
    data: Mapping[str, Any] | Any,
    *,
    unseal: Callable[[str], str] | None = None,
    **context: Any,
) -> C:
    """Build a command from a mapping or a dataclass-like input (a GraphQL input object),
    or refuse with BAD_USER_INPUT naming each wrong field. With `unseal`, every `Id` field
    is unsealed for the caller; an id that is not the caller's is NOT_FOUND. `context`
    goes to the validators too (e.g. the caller's `client_ref_pattern`)."""
    raw = data if isinstance(data, Mapping) else vars(data)
    try:
        return model.model_validate(dict(raw), context={**context, "unseal": unseal})
    except ValidationError as exc:
        raise HubError(Code.BAD_USER_INPUT, validation_message(exc)) from None


# --- the unit of work ----------------------------------------------------------------------

_WRITES = "hub.writes"  # session.info: (action, resource, record ids, subjects) of writes
_EMITTED = "hub.emitted"  # session.info: events written to the outbox


@asynccontextmanager
async def unit_of_work(
    db: Database, actor: Actor, *, on_commit: Callable[[], None] | None = None
) -> AsyncIterator[AsyncSession]:
    """One workflow's transaction. Its writes enter the actor's access-log entries once
    committed, or as refused (with the error code) if it is rolled back by a refusal."""
    async with db.sessions() as session:
        session.info[_WRITES] = []
        session.info[_EMITTED] = 0
        try:
            async with session.begin():
                yield session
        except HubError as error:
            for action, resource, ids, subjects in session.info[_WRITES]:
                actor.record(
                    action,
                    resource,
                    record_ids=ids,
                    subjects=subjects,
                    outcome="refused",
                    reason=error.code.value,
                )
            raise
        writes, emitted = session.info[_WRITES], session.info[_EMITTED]
    for action, resource, ids, subjects in writes:
        actor.record(action, resource, record_ids=ids, subjects=subjects)
    if emitted and on_commit is not None:
        on_commit()


def recorded_writes(session: AsyncSession) -> list[tuple[str, str, list[str], list[str]]]:
    """The writes the workflows made in this session so far: (action, resource, record ids,
    subjects), for a caller that runs several workflows in one transaction (a batch of
    inbound events) and records each one's writes for its own actor."""
    writes: list[tuple[str, str, list[str], list[str]]] = session.info.setdefault(_WRITES, [])
    return writes


def emitted_events(session: AsyncSession) -> int:
    """How many events the workflows of this session wrote to the outbox."""
    return int(session.info.get(_EMITTED, 0))


def _record_write(session: AsyncSession, resource: str, action: str, row: Any) -> None:
    subject_column = RESOURCES[resource].subject_column
    subject = getattr(row, subject_column) if subject_column else None
    session.info.setdefault(_WRITES, []).append(
        (f"write:{action}", resource, [str(row.id)], [subject] if subject else [])
    )


async def authorize_existing(
    session: AsyncSession, actor: Actor, resource: str, action: str, row_id: str
) -> Any:
    """Load `row_id` for `action`, locked for update, or refuse.

    A row the caller can neither act on nor read is NOT_FOUND, so that refusals do not
    reveal which records exist.
    """
    grant = actor.require_grant(resource, action)
    model = RESOURCES[resource].model
    stmt = select(model).where(model.id == row_id, grant.row_filter(actor.vars)).with_for_update()
    row = (await session.execute(stmt)).scalar_one_or_none()
    if row is not None:
        if action != "read":  # loading a row to look at it (a preview) changes nothing
            _record_write(session, resource, action, row)
        return row
    read = actor.grant(resource, "read")
    if read is not None:
        visible = select(model.id).where(model.id == row_id, read.row_filter(actor.vars))
        if (await session.execute(visible)).first() is not None:
            raise actor.deny(
                action,
                resource,
                Code.FORBIDDEN,
                f"your organisation may not {action} this {resource}",
            )
    raise actor.deny(action, resource, Code.NOT_FOUND, f"no such {resource}")


async def authorize_new(
    session: AsyncSession, actor: Actor, resource: str, action: str, row: Any, why: str
) -> None:
    """Insert `row` and check that a rule for `action` reaches it; refuse with `why`."""
    grant = actor.require_grant(resource, action)
    session.add(row)
    await session.flush()
    model = RESOURCES[resource].model
    stmt = select(model.id).where(model.id == row.id, grant.row_filter(actor.vars))
    if (await session.execute(stmt)).first() is None:
        raise actor.deny(action, resource, Code.FORBIDDEN, why)
    _record_write(session, resource, action, row)


async def emit(session: AsyncSession, actor: Actor, type_: str, row: Any) -> None:
    """Write the change's event into the outbox, in the change's own transaction."""
    await session.flush()
    await emit_data(session, actor, type_, subject=str(row.id), data=snapshot(row))


async def emit_data(
    session: AsyncSession, actor: Actor, type_: str, *, subject: str, data: dict[str, Any]
) -> None:
    event = make_event(
        type_,
        subject=subject,
        data=data,
        time=actor.now,
        purpose=actor.purpose,
        policy_version=actor.policies.resource_version(EVENT_TYPES[type_]),
    )
    session.add(
        OutboxEvent(
            event_id=event["id"],
            type=type_,
            resource=EVENT_TYPES[type_],
            record_id=subject,
            envelope=event,
            created_at=actor.now,
        )
    )
    session.info[_EMITTED] = session.info.get(_EMITTED, 0) + 1


# --- several new rows at once (a batch of inbound events) -----------------------------------

_COLUMN_KEYS: dict[type, tuple[str, ...]] = {}


def _column_keys(model: type) -> tuple[str, ...]:
    keys = _COLUMN_KEYS.get(model)
    if keys is None:
        columns: Any = sa_inspect(model).columns
        keys = _COLUMN_KEYS[model] = tuple(str(c.key) for c in columns)
    return keys


_DEFAULTS: dict[type, dict[str, tuple[Any, Callable[[], Any] | None]]] = {}


def new_rows(model: type, values: Sequence[Mapping[str, Any]]) -> list[SimpleNamespace]:
    """New rows of `model` for `authorize_new_many`: each column's value from `values`, or
    the model's own default (its default factory called per row), as the model's
    constructor would set them, at a fraction of its cost (no ORM state: the rows are
    inserted with one statement, never through the session). A column with neither is a
    ValueError."""
    defaults = _DEFAULTS.get(model)
    if defaults is None:
        fields = model.model_fields  # type: ignore[attr-defined]
        defaults = _DEFAULTS[model] = {
            k: (fields[k].default, fields[k].default_factory)  # type: ignore[misc]
            for k in _column_keys(model)
            if k in fields
        }
    rows = []
    for given in values:
        row: dict[str, Any] = {}
        for k in _column_keys(model):
            if k in given:
                row[k] = given[k]
                continue
            default, factory = defaults.get(k, (PydanticUndefined, None))
            if factory is not None:
                row[k] = factory()
            elif default is PydanticUndefined:
                raise ValueError(f"{model.__name__}.{k} has no value")
            else:
                row[k] = default
        rows.append(SimpleNamespace(**row))
    return rows


async def authorize_new_many(
    session: AsyncSession, actor: Actor, resource: str, action: str, rows: Sequence[Any], why: str
) -> None:
    """`authorize_new` for several new rows of one resource, all or none: one INSERT for
    the rows and one SELECT to check that a rule for `action` reaches every one of them;
    refuses with `why` (and the caller rolls all of them back) if it misses any. The writes
    enter the access log as one entry naming every row."""
    if not rows:
        return
    grant = actor.require_grant(resource, action)
    model = RESOURCES[resource].model
    keys = _column_keys(model)
    # The table's INSERT, not the ORM's bulk insert (which costs more than the row itself).
    table = model.__table__  # type: ignore[attr-defined]
    await session.execute(insert(table), [{k: getattr(r, k) for k in keys} for r in rows])
    ids = [str(r.id) for r in rows]
    stmt = select(model.id).where(model.id.in_(ids), grant.row_filter(actor.vars))
    reached = {str(i) for i in (await session.execute(stmt)).scalars()}
    if len(reached) != len(set(ids)):
        raise actor.deny(action, resource, Code.FORBIDDEN, why)
    subject_column = RESOURCES[resource].subject_column
    subjects = sorted(
        {getattr(r, subject_column) for r in rows if getattr(r, subject_column)}
        if subject_column
        else set()
    )
    session.info.setdefault(_WRITES, []).append((f"write:{action}", resource, ids, subjects))


def snapshot_values(row: SimpleNamespace) -> dict[str, Any]:
    """`snapshot` of a row made by `new_rows` (its attributes are the model's columns)."""
    return {
        k: v.isoformat() if isinstance(v, datetime | date) else v
        for k, v in vars(row).items()
        if k not in NEVER_IN_EVENTS
    }


async def emit_many(
    session: AsyncSession, actor: Actor, type_: str, rows: Sequence[SimpleNamespace]
) -> None:
    """`emit` for several rows made by `new_rows`: their events into the outbox with one
    INSERT, in the change's own transaction, in the rows' order."""
    if not rows:
        return
    purpose = actor.purpose
    version = actor.policies.resource_version(EVENT_TYPES[type_])
    resource = EVENT_TYPES[type_]
    values = []
    for row in rows:
        subject = str(row.id)
        event = make_event(
            type_,
            subject=subject,
            data=snapshot_values(row),
            time=actor.now,
            purpose=purpose,
            policy_version=version,
        )
        values.append(
            {
                "event_id": event["id"],
                "type": type_,
                "resource": resource,
                "record_id": subject,
                "envelope": event,
                "created_at": actor.now,
                "published_at": None,
            }
        )
    await session.execute(insert(OutboxEvent.__table__), values)  # type: ignore[attr-defined]
    session.info[_EMITTED] = session.info.get(_EMITTED, 0) + len(values)
