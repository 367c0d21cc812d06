"""API clients of the embedded issuer: registration, status, secret rotation, lookup.

A client's roles must be allowed at its organisation's kind (ROLE_ORGANISATION_KINDS), and
a privacy officer's organisation must be a data controller named in policy: checked here
when a client is registered, again when it asks for a token, and on every request.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import func, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from hub.auth.controllers import DataControllers
from hub.config import Settings
from hub.errors import Code, HubError
from hub.models.base import utcnow
from hub.models.organisation import ApiClient, Organisation
from hub.policy.vocabulary import DATA_CONTROLLER_ROLES, PURPOSES, ROLES, role_binding_errors

# Where register_client finds the data controllers when its caller names none: the
# policy directory the hub uses by default (HUB_POLICY_DIR's default).
DEFAULT_POLICY_DIR = Path("./policies")

# scrypt cost: 16 MiB and roughly 50 ms per check; a client asks for a token about once an hour.
_SCRYPT_N = 2**14
_SCRYPT_R = 8
_SCRYPT_P = 1
_SALT_BYTES = 16
_HASH_BYTES = 32

# Client ids travel in HTTP Basic credentials and in log lines: keep them plain.
_CLIENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,79}")
# The consoles' public client of the authorization code grant (hub/auth/authorize.py): its
# tokens name a person, so no API client may take its id.
CONSOLE_CLIENT_ID = "hub-console"
# Its only redirect: the consoles' login callback (hub/consoles/login.py).
CALLBACK_PATH = "/login/callback"
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1", "testserver"})


def browser_url(settings: Settings) -> str:
    """The hub's address as browsers reach it: HUB_PUBLIC_URL, else the issuer URL."""
    return (settings.public_url or settings.issuer_url).rstrip("/")


def secure_cookies(url: str) -> bool | None:
    """Whether cookies for browsers at `url` are Secure: True on HTTPS; False for plain
    HTTP on a loopback address (the demo); None for plain HTTP anywhere else, where a
    login cookie would cross the network in clear (the consoles refuse to log in)."""
    parts = urlsplit(url)
    if parts.scheme == "https":
        return True
    return False if (parts.hostname or "") in _LOOPBACK else None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_secret(secret: str) -> str:
    """`scrypt$n$r$p$salt$hash`, with a random salt per secret."""
    salt = os.urandom(_SALT_BYTES)
    digest = hashlib.scrypt(
        secret.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=_HASH_BYTES
    )
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def check_secret(secret: str, stored: str) -> bool:
    """Whether `secret` matches the stored hash; a malformed hash never matches."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = _unb64(digest)
        actual = hashlib.scrypt(
            secret.encode(), salt=_unb64(salt), n=int(n), r=int(r), p=int(p), dklen=len(expected)
        )
    except (ValueError, TypeError, UnicodeError):
        return False
    return hmac.compare_digest(actual, expected)


def _unknown(values: Iterable[str], vocabulary: frozenset[str]) -> list[str]:
    return sorted(set(values) - vocabulary)


async def is_data_controller(
    session: AsyncSession, organisation: Organisation, controllers: DataControllers
) -> bool:
    """Named in policy by name and kind, and no other organisation of that kind has the name."""
    if not controllers.names(organisation.name, organisation.kind):
        return False
    namesakes = (
        await session.execute(
            select(func.count())
            .select_from(Organisation)
            .where(col(Organisation.name) == organisation.name)
            .where(col(Organisation.kind) == organisation.kind)
        )
    ).scalar_one()
    return bool(namesakes == 1)


async def binding_errors(
    session: AsyncSession,
    organisation: Organisation,
    roles: Iterable[str],
    controllers: DataControllers,
) -> list[str]:
    """Why these roles may not be held at this organisation (empty: they may)."""
    roles = frozenset(roles)
    controller = bool(roles & DATA_CONTROLLER_ROLES) and await is_data_controller(
        session, organisation, controllers
    )
    return role_binding_errors(roles, organisation.kind, data_controller=controller)


async def register_client(
    session: AsyncSession,
    *,
    client_id: str,
    organisation_id: str,
    roles: Iterable[str],
    purposes: Iterable[str],
    sex_worker_id: str | None = None,
    controllers: DataControllers | None = None,
) -> str:
    """Store a new API client and commit; return its secret, which is shown once and never stored.

    A sex worker's own client carries both the `sex_worker` role and the worker's id, and
    no other client carries either: a role without the id would match records by a null id.
    Each role must be allowed at the organisation's kind (FORBIDDEN otherwise); the data
    controllers come from `controllers`, or else from the default policy directory.
    """
    roles = sorted(set(roles))
    purposes = sorted(set(purposes))
    if not _CLIENT_ID.fullmatch(client_id):
        raise HubError(
            Code.BAD_USER_INPUT, "client_id must be 1-80 letters, digits, '.', '_' or '-'"
        )
    if client_id == CONSOLE_CLIENT_ID:
        raise HubError(Code.CONFLICT, f"{CONSOLE_CLIENT_ID} is the consoles' own client")
    if not roles or not purposes:
        raise HubError(Code.BAD_USER_INPUT, "a client needs at least one role and one purpose")
    if bad := _unknown(roles, ROLES):
        raise HubError(Code.BAD_USER_INPUT, f"unknown roles: {', '.join(bad)}")
    if bad := _unknown(purposes, PURPOSES):
        raise HubError(Code.BAD_USER_INPUT, f"unknown purposes: {', '.join(bad)}")
    if ("sex_worker" in roles) != (sex_worker_id is not None):
        raise HubError(Code.BAD_USER_INPUT, "the sex_worker role and a sex_worker_id go together")
    organisation = await session.get(Organisation, organisation_id)
    if organisation is None:
        raise HubError(Code.NOT_FOUND, f"organisation {organisation_id} not found")
    if controllers is None:
        controllers = DataControllers.from_directory(DEFAULT_POLICY_DIR)
    if errors := await binding_errors(session, organisation, roles, controllers):
        raise HubError(Code.FORBIDDEN, "; ".join(errors))
    if await session.get(ApiClient, client_id) is not None:
        raise HubError(Code.CONFLICT, f"client {client_id} already exists")

    secret = secrets.token_urlsafe(32)
    # scrypt is deliberately slow; keep it off the event loop.
    secret_hash = await asyncio.to_thread(hash_secret, secret)
    session.add(
        ApiClient(
            client_id=client_id,
            secret_hash=secret_hash,
            organisation_id=organisation_id,
            roles=roles,
            purposes=purposes,
            sex_worker_id=sex_worker_id,
        )
    )
    await session.commit()
    return secret


async def load_client(
    session: AsyncSession, client_id: str
) -> tuple[ApiClient, Organisation] | None:
    """The client and its organisation, in one query; None if there is no such client."""
    stmt = (
        select(ApiClient, Organisation)
        .join(Organisation, col(Organisation.id) == col(ApiClient.organisation_id))
        .where(col(ApiClient.client_id) == client_id)
    )
    row = (await session.execute(stmt)).first()
    if row is None:
        return None
    api_client, organisation = row
    return api_client, organisation


async def _existing(session: AsyncSession, client_id: str) -> ApiClient:
    client = await session.get(ApiClient, client_id)
    if client is None:
        raise HubError(Code.NOT_FOUND, f"client {client_id} not found")
    return client


async def set_client_disabled(session: AsyncSession, client_id: str, *, disabled: bool) -> bool:
    """Disable (or enable) a client and commit; False if it already was.

    Disabling also moves the client's token epoch on, so its tokens stay refused after it is
    enabled again: an enabled client asks for new ones.
    """
    client = await _existing(session, client_id)
    if client.disabled == disabled:
        return False
    values: dict[str, object] = {"disabled": disabled}
    if disabled:
        values.update(token_epoch=col(ApiClient.token_epoch) + 1, disabled_at=utcnow())
    await session.execute(
        update(ApiClient).where(col(ApiClient.client_id) == client_id).values(**values)
    )
    await session.commit()
    return True


async def rotate_client_secret(session: AsyncSession, client_id: str) -> str:
    """Give a client a new secret and commit; return it (shown once, never stored).

    The old secret stops working at once, and so do the tokens obtained before.
    """
    await _existing(session, client_id)
    secret = secrets.token_urlsafe(32)
    secret_hash = await asyncio.to_thread(hash_secret, secret)
    await session.execute(
        update(ApiClient)
        .where(col(ApiClient.client_id) == client_id)
        .values(
            secret_hash=secret_hash,
            token_epoch=col(ApiClient.token_epoch) + 1,
            secret_rotated_at=utcnow(),
        )
    )
    await session.commit()
    return secret


@dataclass(frozen=True)
class ClientSummary:
    """What `hub client list` shows of a client: never its secret nor its hash."""

    client_id: str
    organisation_id: str
    organisation_name: str
    organisation_kind: str
    roles: tuple[str, ...]
    purposes: tuple[str, ...]
    own_worker_client: bool
    disabled: bool
    created_at: datetime
    problems: tuple[str, ...]  # why its tokens are refused though it is enabled


async def list_clients(session: AsyncSession, controllers: DataControllers) -> list[ClientSummary]:
    stmt = (
        select(ApiClient, Organisation)
        .join(Organisation, col(Organisation.id) == col(ApiClient.organisation_id))
        .order_by(col(ApiClient.client_id))
    )
    out = []
    for client, org in (await session.execute(stmt)).all():
        problems = await binding_errors(session, org, client.roles, controllers)
        out.append(
            ClientSummary(
                client_id=client.client_id,
                organisation_id=org.id,
                organisation_name=org.name,
                organisation_kind=org.kind,
                roles=tuple(client.roles),
                purposes=tuple(client.purposes),
                own_worker_client=client.sex_worker_id is not None,
                disabled=client.disabled,
                created_at=client.created_at,
                problems=tuple(problems),
            )
        )
    return out
