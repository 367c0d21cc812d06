"""The registry of organisations and API clients as each replica holds it in memory, and the
checks every token passes against it on every request.

A token is admitted only if its organisation is registered, the token's kind and city
claims agree with the registry, each of its roles is allowed at that kind (and a privacy
officer's organisation is a data controller named in policy); a token of the embedded
issuer must also name an enabled client, of the current token epoch, whose registration
still covers the token's organisation, roles and purposes. A token of the consoles' login
(client `hub-console`) names a person by its `sub`, who is checked the same way.

Database triggers move `auth_state.generation` on every change to these tables; each
replica polls it every POLL_S and reloads when it moved, so a change made by any process
(`hub client disable` included) is honoured everywhere within a second, and a request
costs no SQL. A token that names something the cached registry does not know (a client
registered a moment ago) makes the replica look once more before it refuses; what is still
unknown then is refused without SQL until the registry changes again.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import math
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from hub.auth.clients import CONSOLE_CLIENT_ID
from hub.auth.controllers import DataControllers
from hub.db import Database
from hub.errors import Code, HubError
from hub.models.organisation import ApiClient, AuthState, Organisation
from hub.models.people import Person
from hub.policy.principal import Principal
from hub.policy.vocabulary import role_binding_errors
from hub.retry import wait_event

log = logging.getLogger(__name__)

# A quarter of the second a change may take, leaving room for a busy event loop.
POLL_S = 0.25
# A replica whose poller has not succeeded for this long checks the database on the
# request path rather than trust what it holds.
STALE_S = 2.0
# While PostgreSQL's NOTIFY wakes the watcher (hub/notify.py), it looks only this often.
SAFETY_POLL_S = 5.0
MAX_UNKNOWN = 10_000


@dataclass(frozen=True)
class RegisteredOrganisation:
    id: str
    name: str
    kind: str
    city: str | None
    data_controller: bool


@dataclass(frozen=True)
class Holder:
    """Whom the hub's tokens are issued to: an API client (by its client id) or a person
    of the consoles' login (by id, the `sub` of their tokens), and what they may carry."""

    id: str
    organisation_id: str
    roles: frozenset[str]
    purposes: frozenset[str]
    sex_worker_id: str | None
    disabled: bool
    token_epoch: int


@dataclass(frozen=True)
class _Words:
    """How a refusal names the holder: a client or a person."""

    unknown: str
    disabled: str
    revoked: str
    changed: str


_CLIENT = _Words(
    "client unknown or deleted",
    "client disabled",
    "token revoked: its client was disabled or got a new secret since",
    "the token no longer matches its client's registration",
)
_PERSON = _Words(
    "person unknown or deleted",
    "person disabled",
    "token revoked: the person was disabled or changed their password since",
    "the token no longer matches the person's registration",
)


@dataclass(frozen=True)
class Snapshot:
    generation: int
    organisations: Mapping[str, RegisteredOrganisation]
    clients: Mapping[str, Holder]
    people: Mapping[str, Holder] = dataclasses.field(default_factory=dict)


class _MaybeStale(Exception):
    """A refusal that a newer registry could lift: `key` names what was not found."""

    def __init__(self, key: str, refusal: HubError) -> None:
        super().__init__(refusal.message)
        self.key = key
        self.refusal = refusal


def _unauthenticated(reason: str) -> HubError:
    return HubError(Code.UNAUTHENTICATED, reason)


class Registry:
    def __init__(
        self,
        db: Database,
        controllers: DataControllers,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.db = db
        self.controllers = controllers
        self._clock = clock
        self._snapshot: Snapshot | None = None
        self._polled_at = -math.inf
        self._lock = asyncio.Lock()
        self._unknown: set[str] = set()
        self._task: asyncio.Task[None] | None = None
        self._woken: asyncio.Event | None = None
        # Whether a notification will tell of every change (set by the app on PostgreSQL).
        self.notified: Callable[[], bool] = lambda: False
        self.looks = 0

    def wake(self) -> None:
        """A change was committed somewhere: look now."""
        if self._woken is not None:
            self._woken.set()

    @property
    def generation(self) -> int | None:
        return None if self._snapshot is None else self._snapshot.generation

    # --- keeping up with the database ----------------------------------------------------

    async def refresh(self) -> Snapshot:
        """Look at the generation counter and reload if it moved; returns what is held."""
        asked_at = self._clock()
        async with self._lock:
            if self._snapshot is not None and self._polled_at >= asked_at:
                return self._snapshot  # another request looked while this one waited
            self.looks += 1
            async with self.db.session() as session:
                generation = (
                    await session.execute(
                        select(col(AuthState.generation)).where(col(AuthState.id) == 1)
                    )
                ).scalar_one_or_none()
                if generation is None:
                    raise RuntimeError("auth_state has no row: run `hub db upgrade`")
                snapshot = self._snapshot
                if snapshot is None or snapshot.generation != generation:
                    snapshot = await self._load(session, generation)
            if snapshot is not self._snapshot:
                self._snapshot = snapshot
                self._unknown.clear()
                log.info(
                    "auth registry generation %d: %d organisations, %d clients, %d people",
                    generation,
                    len(snapshot.organisations),
                    len(snapshot.clients),
                    len(snapshot.people),
                )
            self._polled_at = self._clock()
            return snapshot

    async def _load(self, session: AsyncSession, generation: int) -> Snapshot:
        orgs = (
            await session.execute(
                select(
                    col(Organisation.id),
                    col(Organisation.name),
                    col(Organisation.kind),
                    col(Organisation.city),
                )
            )
        ).all()
        # A name two organisations of one kind share names neither as data controller.
        namesakes = Counter((name, kind) for _, name, kind, _ in orgs)
        organisations = {
            oid: RegisteredOrganisation(
                id=oid,
                name=name,
                kind=kind,
                city=city,
                data_controller=self.controllers.names(name, kind) and namesakes[(name, kind)] == 1,
            )
            for oid, name, kind, city in orgs
        }
        # Never the secret or password hash.
        clients = await _holders(session, col(ApiClient.client_id), ApiClient)
        people = await _holders(session, col(Person.id), Person)
        return Snapshot(generation, organisations, clients, people)

    def start(self) -> None:
        if self._task is None:
            self._woken = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._watch())

    async def _watch(self) -> None:
        assert self._woken is not None
        while True:
            started = self._clock()
            self._woken.clear()
            try:
                await self.refresh()
            except Exception as exc:  # the watcher must survive a passing database error
                log.warning("auth registry refresh failed: %s", type(exc).__name__)
            # Every POLL_S from start to start, however long the look took; when notified
            # of changes, on each notification and every SAFETY_POLL_S.
            every = SAFETY_POLL_S if self.notified() else POLL_S
            await wait_event(self._woken, every - (self._clock() - started))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _current(self) -> Snapshot:
        # Notified of changes, the watcher looks only every SAFETY_POLL_S: fresh for as long.
        age = self._clock() - self._polled_at
        fresh = age <= STALE_S or (self.notified() and age <= SAFETY_POLL_S + STALE_S)
        if self._snapshot is not None and fresh:
            return self._snapshot
        try:
            return await self.refresh()
        except Exception as exc:
            log.warning("auth registry unavailable: %s", type(exc).__name__)
            raise _unauthenticated("the hub cannot check tokens against its registry now") from None

    # --- the checks ----------------------------------------------------------------------

    async def admit(self, principal: Principal, *, hub_token: bool, token_epoch: int) -> Principal:
        """The principal with the registry's kind and city, or a refusal (HubError).

        `hub_token`: issued by the embedded issuer (then it must name a current client).
        """
        snapshot = await self._current()
        try:
            return self._admit(snapshot, principal, hub_token, token_epoch)
        except _MaybeStale as first:
            if first.key in self._unknown:
                raise first.refusal from None
        snapshot = await self._recheck()
        try:
            return self._admit(snapshot, principal, hub_token, token_epoch)
        except _MaybeStale as still:
            if len(self._unknown) >= MAX_UNKNOWN:
                self._unknown.clear()
            self._unknown.add(still.key)
            raise still.refusal from None

    async def _recheck(self) -> Snapshot:
        try:
            return await self.refresh()
        except Exception as exc:
            log.warning("auth registry unavailable: %s", type(exc).__name__)
            raise _unauthenticated("the hub cannot check tokens against its registry now") from None

    def still_admits(self, principal: Principal, *, hub_token: bool) -> bool:
        """Whether what this replica holds still admits a principal admitted before (for a
        live connection; no SQL). A disabled or deleted client, or an organisation changed
        so that its roles no longer fit, is not."""
        snapshot = self._snapshot
        if snapshot is None:
            return True  # nothing loaded since it was admitted: nothing says otherwise
        holder: Holder | None = (
            snapshot.people.get(principal.subject)
            if principal.client_id == CONSOLE_CLIENT_ID
            else snapshot.clients.get(principal.client_id or "")
        )
        epoch = holder.token_epoch if holder is not None else 0
        try:
            self._admit(snapshot, principal, hub_token, epoch)
        except (HubError, _MaybeStale):
            return False
        return True

    def _admit(
        self, snapshot: Snapshot, principal: Principal, hub_token: bool, token_epoch: int
    ) -> Principal:
        if hub_token:
            self._check_client(snapshot, principal, token_epoch)
        org = snapshot.organisations.get(principal.org_id)
        if org is None:
            raise _MaybeStale(
                f"org:{principal.org_id}",
                _unauthenticated("the token's organisation is not registered at the hub"),
            )
        if principal.org_kind and principal.org_kind != org.kind:
            raise HubError(
                Code.FORBIDDEN, "the token's org_kind is not its organisation's registered kind"
            )
        if principal.city is not None and principal.city != org.city:
            raise HubError(
                Code.FORBIDDEN, "the token's city is not its organisation's registered city"
            )
        errors = role_binding_errors(principal.roles, org.kind, data_controller=org.data_controller)
        if errors:
            raise HubError(Code.FORBIDDEN, "; ".join(errors))
        if principal.org_kind == org.kind and principal.city == org.city:
            return principal
        return dataclasses.replace(principal, org_kind=org.kind, city=org.city)

    @staticmethod
    def _check_client(snapshot: Snapshot, principal: Principal, token_epoch: int) -> None:
        """The token's holder is registered, enabled, of the current token epoch, and its
        registration still covers the token's claims: the API client it names, or for the
        consoles' login the person who is its subject."""
        client_id = principal.client_id
        if not client_id:
            raise _unauthenticated("the token names no client")
        if client_id == CONSOLE_CLIENT_ID:
            key, holder, words = (
                f"person:{principal.subject}",
                snapshot.people.get(principal.subject),
                _PERSON,
            )
        else:
            key, holder, words = f"client:{client_id}", snapshot.clients.get(client_id), _CLIENT
        if holder is None:
            raise _MaybeStale(key, _unauthenticated(words.unknown))
        if holder.disabled:
            raise _unauthenticated(words.disabled)
        if token_epoch != holder.token_epoch:
            revoked = _unauthenticated(words.revoked)
            if token_epoch > holder.token_epoch:
                raise _MaybeStale(f"epoch:{key}:{token_epoch}", revoked)
            raise revoked
        if (
            principal.org_id != holder.organisation_id
            or not principal.roles <= holder.roles
            or not principal.purposes <= holder.purposes
            or principal.sex_worker_id != holder.sex_worker_id
        ):
            raise _unauthenticated(words.changed)


async def _holders(
    session: AsyncSession, key: Any, model: type[ApiClient] | type[Person]
) -> dict[str, Holder]:
    """Every API client or person, by `key`, with what their tokens may carry."""
    rows = (
        await session.execute(
            select(
                key,
                col(model.organisation_id),
                col(model.roles),
                col(model.purposes),
                col(model.sex_worker_id),
                col(model.disabled),
                col(model.token_epoch),
            )
        )
    ).all()
    return {
        hid: Holder(
            id=hid,
            organisation_id=org,
            roles=frozenset(roles or ()),
            purposes=frozenset(purposes or ()),
            sex_worker_id=worker,
            disabled=bool(disabled),
            token_epoch=int(epoch),
        )
        for hid, org, roles, purposes, worker, disabled, epoch in rows
    }
