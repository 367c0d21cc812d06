"""API clients of the embedded issuer: registration, secret hashing, lookup."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Iterable

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from hub.errors import Code, HubError
from hub.models.organisation import ApiClient, Organisation
from hub.policy.vocabulary import PURPOSES, ROLES

# scrypt cost: 16 MiB and roughly 50 ms per check; a client asks for a token about once an hour.
_SCRYPT_N = 2**14
_SCRYPT_R = 8
_SCRYPT_P = 1
_SALT_BYTES = 16
_HASH_BYTES = 32

# Client ids travel in HTTP Basic credentials and in log lines: keep them plain.
_CLIENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,79}")


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


async def register_client(
    session: AsyncSession,
    *,
    client_id: str,
    organisation_id: str,
    roles: Iterable[str],
    purposes: Iterable[str],
    sex_worker_id: str | None = None,
) -> str:
    """Store a new API client and commit; return its secret, which is shown once and never stored.

    A sex worker's own client carries both the `sex_worker` role and her sex-worker id, and
    no other client carries either: a role without the id would match records by a null id.
    """
    roles = sorted(set(roles))
    purposes = sorted(set(purposes))
    if not _CLIENT_ID.fullmatch(client_id):
        raise HubError(
            Code.BAD_USER_INPUT, "client_id must be 1-80 letters, digits, '.', '_' or '-'"
        )
    if not roles or not purposes:
        raise HubError(Code.BAD_USER_INPUT, "a client needs at least one role and one purpose")
    if bad := _unknown(roles, ROLES):
        raise HubError(Code.BAD_USER_INPUT, f"unknown roles: {', '.join(bad)}")
    if bad := _unknown(purposes, PURPOSES):
        raise HubError(Code.BAD_USER_INPUT, f"unknown purposes: {', '.join(bad)}")
    if ("sex_worker" in roles) != (sex_worker_id is not None):
        raise HubError(Code.BAD_USER_INPUT, "the sex_worker role and a sex_worker_id go together")
    if await session.get(Organisation, organisation_id) is None:
        raise HubError(Code.NOT_FOUND, f"organisation {organisation_id} not found")
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
