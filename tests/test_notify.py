"""An idle replica on PostgreSQL is quiet: its auth registry and policy store are woken by
NOTIFY (hub/notify.py, migration 0009) and look at the database only as a safety net;
on SQLite they poll. That a change still reaches every replica within a second is proved
by tests/test_auth_revocation.py and tests/test_compiled_load.py on both backends."""

from __future__ import annotations

import time
from typing import Any

WINDOW_S = 1.5


def _looks(hub: Any) -> tuple[int, int]:
    return hub.app.state.registry.looks, hub.app.state.hub.store.looks


def _settled(hub: Any, timeout_s: float = 10.0) -> tuple[int, int]:
    """The look counts once the start-up looks are over (bounded)."""
    deadline = time.monotonic() + timeout_s
    notifications = hub.app.state.notifications
    while notifications is not None and not notifications.listening:
        assert time.monotonic() < deadline, "the notification connection did not open"
        time.sleep(0.05)
    before = _looks(hub)
    while True:
        time.sleep(0.3)
        now = _looks(hub)
        if now == before or time.monotonic() > deadline:
            return now
        before = now


def test_an_idle_replica_looks_at_its_generations_only_as_a_safety_net(hub):
    before = _settled(hub)
    time.sleep(WINDOW_S)  # a measuring window, not a synchronisation
    registry, store = (a - b for a, b in zip(_looks(hub), before, strict=True))
    if hub.backend == "postgresql":
        assert (registry, store) == (0, 0)
    else:
        assert registry >= 4 and store >= 4  # SQLite has no NOTIFY: they poll


def test_a_change_wakes_the_registry_at_once_on_postgresql(hub):
    if hub.backend != "postgresql":
        return  # polled on SQLite; the revocation tests cover it
    before = _settled(hub)[0]
    started = time.monotonic()
    r = hub.client.post(
        "/graphql",
        json={"query": "{ __typename }"},
        headers={"Authorization": f"Bearer {hub.token('demo-police-antwerp')}"},
    )
    assert r.status_code == 200
    hub.run(_bump(hub))
    while hub.app.state.registry.looks == before:
        assert time.monotonic() - started < 2.0, "no look after a committed change"
        time.sleep(0.01)


async def _bump(hub: Any) -> None:
    from sqlalchemy import text

    async with hub.db.engine.begin() as conn:
        await conn.execute(text("UPDATE auth_state SET generation = generation + 1 WHERE id = 1"))
