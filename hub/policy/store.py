"""Where the active policy lives: versions in the database, compiled into a PolicySet.

On first start the documents of `policies/` become version 1 of each resource (and a
resource that later appears in `policies/` joins as its version 1). From then on the
database is the source of truth; `hub policy export` writes the active versions back.
Every activation increments `policy_state.generation`; each replica polls it (four times
a second: one primary-key read) and recompiles when it changes, so an activation is
effective everywhere within a second, with room for a busy replica. A set that fails to
compile is never installed: the previous one stays.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from hub.db import Database
from hub.models import PolicyState, PolicyVersion
from hub.policy.document import PolicyError
from hub.policy.engine import PolicySet, document_resource
from hub.policy.partner_document import PARTNERS_FILE, PARTNERS_RESOURCE, is_partner_document
from hub.policy.vocabulary import POLICY_DATA_FILES
from hub.retry import wait_event

log = logging.getLogger("hub.policy")
POLL_S = 0.25
# While PostgreSQL's NOTIFY wakes the watcher (hub/notify.py), it looks only this often.
SAFETY_POLL_S = 5.0


def file_documents(policy_dir: Path) -> dict[str, str]:
    """{resource: yaml} of the policy files (POLICY_DATA_FILES and tests/ excluded), and the
    partner directory (partners.yaml) when it names its resource."""
    out: dict[str, str] = {}
    for path in sorted(policy_dir.glob("*.yaml")):
        if path.name in POLICY_DATA_FILES:
            continue
        text = path.read_text()
        out[document_resource(text, path.name)] = text
    partners = policy_dir / PARTNERS_FILE
    if partners.exists() and is_partner_document(text := partners.read_text()):
        out[PARTNERS_RESOURCE] = text
    return out


def compile_set(active: dict[str, tuple[int, str]], generation: int) -> PolicySet:
    """Compile {resource: (version, yaml)} into a PolicySet; raises PolicyError."""
    return PolicySet.from_texts(
        {f"{res}@{ver}": text for res, (ver, text) in active.items()},
        version=f"g{generation}",
        versions={res: ver for res, (ver, _) in active.items()},
    )


async def active_documents(session: AsyncSession) -> dict[str, tuple[int, str]]:
    rows = (
        await session.execute(select(PolicyVersion).where(col(PolicyVersion.active).is_(True)))
    ).scalars()
    return {r.resource: (r.version, r.document) for r in rows}


async def generation(session: AsyncSession) -> int:
    state = await session.get(PolicyState, 1)
    return state.generation if state else 0


class PolicyStore:
    def __init__(self, db: Database, policy_dir: Path, install: Callable[[PolicySet], None]):
        self.db = db
        self.policy_dir = policy_dir
        self.install = install
        self.generation = -1
        self._task: asyncio.Task[None] | None = None
        self._woken: asyncio.Event | None = None
        # Whether a notification will tell of every activation (set by the app on PostgreSQL).
        self.notified: Callable[[], bool] = lambda: False
        self.looks = 0

    def wake(self) -> None:
        """A policy was activated somewhere: look now."""
        if self._woken is not None:
            self._woken.set()

    async def load(self) -> PolicySet:
        """Seed missing resources from the files, then compile and install the active set."""
        await self._seed()
        policies = await self.reload(force=True)
        assert policies is not None
        return policies

    async def _seed(self) -> None:
        files = file_documents(self.policy_dir)
        async with self.db.session() as session:
            present = set(await active_documents(session))
            missing = {r: t for r, t in files.items() if r not in present}
            if not missing:
                return
            has_state = await session.get(PolicyState, 1) is not None
            session.add_all(
                PolicyVersion(resource=r, version=1, document=t, active=True)
                for r, t in missing.items()
            )
            if not has_state:
                session.add(PolicyState(id=1, generation=0))
            try:
                await session.commit()
            except IntegrityError:  # another process seeded at the same moment: use theirs
                await session.rollback()

    async def reload(self, *, force: bool = False) -> PolicySet | None:
        """Recompile if the generation moved (or `force`); returns the installed set."""
        self.looks += 1
        async with self.db.session() as session:
            current = await generation(session)
            if current == self.generation and not force:
                return None
            active = await active_documents(session)
        try:
            policies = compile_set(active, current)
        except PolicyError as exc:
            # Activation compiles before it commits, so this means a bad row in the table.
            log.error(
                "active policy does not compile (%d errors); keeping the previous set",
                len(exc.errors),
            )
            if force:
                raise
            return None
        self.install(policies)
        self.generation = current
        log.info("policy generation %d installed", current)
        return policies

    def start(self) -> None:
        if self._task is None:
            self._woken = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._watch())

    async def _watch(self) -> None:
        assert self._woken is not None
        while True:
            every = SAFETY_POLL_S if self.notified() else POLL_S
            await wait_event(self._woken, every)
            self._woken.clear()
            try:
                await self.reload()
            except Exception as exc:  # the watcher must survive a passing database error
                log.warning("policy reload failed: %s", type(exc).__name__)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
