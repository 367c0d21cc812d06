"""People who log in to the consoles at the embedded issuer: registration, passwords, status.

A person is to the authorization code grant what an API client is to client credentials
(hub/auth/clients.py): an organisation, roles allowed at its kind (a privacy officer only at
a data controller named in policy), purposes, and for a sex worker the worker's own record.
Passwords are salted scrypt hashes (hash_secret), never stored or logged in clear.

Password rules follow NIST SP 800-63B: a minimum length and no composition rules; a
password may hold any printable character (spaces included) but no control or invisible
format character (hub/text.py), which a person could not see they typed.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from hub.auth.clients import binding_errors, hash_secret
from hub.auth.controllers import DataControllers
from hub.errors import Code, HubError
from hub.models.base import utcnow
from hub.models.organisation import Organisation
from hub.models.people import Person
from hub.models.sex_worker import SexWorker
from hub.policy.vocabulary import PURPOSES, ROLES
from hub.text import hidden

MIN_PASSWORD = 12
# scrypt reads all of it; NIST asks that at least 64 characters be accepted.
MAX_PASSWORD = 256
# Usernames are matched case-insensitively: stored in lower case.
_USERNAME = re.compile(r"[a-z0-9][a-z0-9._@-]{0,79}")
LOCALES = ("nl", "fr", "en")


def normalise_username(username: str) -> str:
    return username.strip().lower()


def username_problem(username: str) -> str | None:
    if not _USERNAME.fullmatch(normalise_username(username)):
        return (
            "a username is 1-80 letters, digits, '.', '_', '@' or '-', "
            "starting with a letter or digit"
        )
    return None


def password_problem(password: str) -> str | None:
    """Why this password may not be set (None: it may)."""
    if any(hidden(ch) for ch in password):
        return "a password may not hold control or invisible characters"
    if len(password) < MIN_PASSWORD:
        return f"a password has at least {MIN_PASSWORD} characters"
    if len(password) > MAX_PASSWORD:
        return f"a password has at most {MAX_PASSWORD} characters"
    return None


def generate_password() -> str:
    """A random password for `hub user add` without one: 20 URL-safe characters."""
    return secrets.token_urlsafe(15)


def _check_password(password: str) -> None:
    if problem := password_problem(password):
        raise HubError(Code.BAD_USER_INPUT, problem)


async def add_person(
    session: AsyncSession,
    *,
    username: str,
    display_name: str,
    organisation_id: str,
    roles: Iterable[str],
    purposes: Iterable[str],
    password: str,
    controllers: DataControllers,
    sex_worker_id: str | None = None,
    locale: str | None = None,
) -> Person:
    """Store a new person and commit. The checks are those of register_client: known roles
    and purposes, roles allowed at the organisation's kind, and the sex_worker role with the
    worker's id and never one without the other."""
    username = normalise_username(username)
    roles = sorted(set(roles))
    purposes = sorted(set(purposes))
    if problem := username_problem(username):
        raise HubError(Code.BAD_USER_INPUT, problem)
    display_name = display_name.strip()
    if not display_name or len(display_name) > 120 or any(hidden(ch) for ch in display_name):
        raise HubError(
            Code.BAD_USER_INPUT, "a name is 1-120 characters without control or invisible ones"
        )
    if not roles or not purposes:
        raise HubError(Code.BAD_USER_INPUT, "a person needs at least one role and one purpose")
    if bad := sorted(set(roles) - ROLES):
        raise HubError(Code.BAD_USER_INPUT, f"unknown roles: {', '.join(bad)}")
    if bad := sorted(set(purposes) - PURPOSES):
        raise HubError(Code.BAD_USER_INPUT, f"unknown purposes: {', '.join(bad)}")
    if sex_worker_id is not None and "sex_worker" not in roles:
        raise HubError(Code.BAD_USER_INPUT, "a sex_worker_id goes with the sex_worker role")
    # The sex_worker role without a record: a worker who will register themself (where the
    # city's regime allows it; hub/services/participation.py).
    if locale is not None and locale not in LOCALES:
        raise HubError(Code.BAD_USER_INPUT, f"locale must be one of {', '.join(LOCALES)}")
    _check_password(password)
    organisation = await session.get(Organisation, organisation_id)
    if organisation is None:
        raise HubError(Code.NOT_FOUND, f"organisation {organisation_id} not found")
    if sex_worker_id is not None and await session.get(SexWorker, sex_worker_id) is None:
        raise HubError(Code.NOT_FOUND, f"sex worker {sex_worker_id} not found")
    if errors := await binding_errors(session, organisation, roles, controllers):
        raise HubError(Code.FORBIDDEN, "; ".join(errors))
    if await find_person(session, username) is not None:
        raise HubError(Code.CONFLICT, f"user {username} already exists")
    password_hash = await asyncio.to_thread(hash_secret, password)
    person = Person(
        username=username,
        password_hash=password_hash,
        display_name=display_name,
        organisation_id=organisation_id,
        roles=roles,
        purposes=purposes,
        sex_worker_id=sex_worker_id,
        locale=locale,
    )
    session.add(person)
    await session.commit()
    return person


async def find_person(session: AsyncSession, username: str) -> Person | None:
    username = normalise_username(username)
    if username_problem(username):
        return None
    stmt = select(Person).where(col(Person.username) == username)
    return (await session.execute(stmt)).scalars().first()


async def load_person(
    session: AsyncSession, *, username: str | None = None, person_id: str | None = None
) -> tuple[Person, Organisation] | None:
    """The person (by username or id) and their organisation, in one query."""
    stmt = select(Person, Organisation).join(
        Organisation, col(Organisation.id) == col(Person.organisation_id)
    )
    if username is not None:
        username = normalise_username(username)
        if username_problem(username):
            return None
        stmt = stmt.where(col(Person.username) == username)
    elif person_id is not None:
        stmt = stmt.where(col(Person.id) == person_id)
    else:
        return None
    row = (await session.execute(stmt)).first()
    if row is None:
        return None
    person, organisation = row
    return person, organisation


async def _existing(session: AsyncSession, username: str) -> Person:
    person = await find_person(session, username)
    if person is None:
        raise HubError(Code.NOT_FOUND, f"user {normalise_username(username)} not found")
    return person


async def set_person_disabled(session: AsyncSession, username: str, *, disabled: bool) -> bool:
    """Disable (or enable) a person and commit; False if they already were. Disabling moves
    the token epoch on, so the person's tokens stay refused after they are enabled again."""
    person = await _existing(session, username)
    if person.disabled == disabled:
        return False
    values: dict[str, object] = {"disabled": disabled}
    if disabled:
        values.update(token_epoch=col(Person.token_epoch) + 1, disabled_at=utcnow())
    await session.execute(update(Person).where(col(Person.id) == person.id).values(**values))
    await session.commit()
    return True


async def set_password(session: AsyncSession, username: str, password: str) -> None:
    """Give a person a new password and commit; the tokens they hold are refused from now."""
    _check_password(password)
    person = await _existing(session, username)
    password_hash = await asyncio.to_thread(hash_secret, password)
    await session.execute(
        update(Person)
        .where(col(Person.id) == person.id)
        .values(
            password_hash=password_hash,
            token_epoch=col(Person.token_epoch) + 1,
            password_changed_at=utcnow(),
        )
    )
    await session.commit()


@dataclass(frozen=True)
class PersonSummary:
    """What `hub user list` shows of a person: never the password hash."""

    username: str
    display_name: str
    organisation_name: str
    organisation_kind: str
    roles: tuple[str, ...]
    purposes: tuple[str, ...]
    sex_worker: bool
    disabled: bool
    created_at: datetime
    problems: tuple[str, ...]  # why they get no token though they are enabled


async def list_people(session: AsyncSession, controllers: DataControllers) -> list[PersonSummary]:
    stmt = (
        select(Person, Organisation)
        .join(Organisation, col(Organisation.id) == col(Person.organisation_id))
        .order_by(col(Person.username))
    )
    out = []
    for person, org in (await session.execute(stmt)).all():
        problems = await binding_errors(session, org, person.roles, controllers)
        out.append(
            PersonSummary(
                username=person.username,
                display_name=person.display_name,
                organisation_name=org.name,
                organisation_kind=org.kind,
                roles=tuple(person.roles),
                purposes=tuple(person.purposes),
                sex_worker=person.sex_worker_id is not None,
                disabled=person.disabled,
                created_at=person.created_at,
                problems=tuple(problems),
            )
        )
    return out
