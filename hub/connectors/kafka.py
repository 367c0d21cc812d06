"""Kafka clients from settings, the hub's topic names, and topic creation."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from hub.config import Settings

log = logging.getLogger("hub.connectors")

HUB_EVENTS = "hub.events"
DEADLETTER = "hub.deadletter"
PARTITIONS = 3
REQUEST_TIMEOUT_MS = 5_000  # a produce fails (and is retried by the caller) after this


def bootstrap(settings: Settings) -> str:
    if not settings.kafka_bootstrap:
        raise RuntimeError("HUB_KAFKA_BOOTSTRAP is not set")
    return settings.kafka_bootstrap


def producer(settings: Settings) -> AIOKafkaProducer:
    """acks from all in-sync replicas; idempotent unless HUB_KAFKA_IDEMPOTENCE=0."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap(settings),
        acks="all",
        enable_idempotence=settings.kafka_idempotence,
        request_timeout_ms=REQUEST_TIMEOUT_MS,
        retry_backoff_ms=200,
        linger_ms=5,
    )


def consumer(settings: Settings, *topics: str, group_id: str | None, **kw: Any) -> AIOKafkaConsumer:
    """Offsets are committed by the caller (after its own commit), never automatically."""
    return AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap(settings),
        group_id=group_id,
        enable_auto_commit=False,
        session_timeout_ms=settings.kafka_session_timeout_ms,
        heartbeat_interval_ms=max(100, settings.kafka_session_timeout_ms // 4),
        request_timeout_ms=max(REQUEST_TIMEOUT_MS, settings.kafka_session_timeout_ms + 1000),
        retry_backoff_ms=200,
        metadata_max_age_ms=5_000,
        **kw,
    )


async def lag(consumer: AIOKafkaConsumer) -> int | None:
    """Messages on the consumer's assigned partitions that it has not read yet (from the
    high-water marks of its latest fetches); None before the first fetch."""
    total, known = 0, False
    for tp in consumer.assignment():
        high = consumer.highwater(tp)
        if high is None:
            continue
        total += max(0, high - await consumer.position(tp))
        known = True
    return total if known else None


async def ensure_topics(settings: Settings, names: Iterable[str]) -> None:
    """Create the topics that do not exist yet (the broker may not auto-create them)."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap(settings), request_timeout_ms=REQUEST_TIMEOUT_MS
    )
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = sorted(set(names) - existing)
        if missing:
            response = await admin.create_topics(
                [NewTopic(n, num_partitions=PARTITIONS, replication_factor=1) for n in missing]
            )
            for topic, code, *_ in getattr(response, "topic_errors", []):
                if code not in (0, 36):  # 36: TOPIC_ALREADY_EXISTS (another replica won)
                    raise RuntimeError(f"cannot create topic {topic}: error {code}")
    finally:
        await admin.close()
