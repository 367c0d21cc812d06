"""Publishing the access log's signed checkpoints to Kafka (topic hub.audit.checkpoints).

Each checkpoint not yet published is sent (key: its tree size, value: the signed note, as
served at GET /audit/checkpoint) and then marked; several replicas may send the same one,
which consumers see as the same key and bytes again. A note holds a size and a hash only.
"""

from __future__ import annotations

import logging

from aiokafka import AIOKafkaProducer
from sqlalchemy import select, update
from sqlmodel import col

from hub.config import Settings
from hub.connectors import kafka
from hub.db import Database
from hub.models import AuditCheckpoint
from hub.models.base import utcnow

log = logging.getLogger("hub.connectors")

TOPIC = "hub.audit.checkpoints"
BATCH = 100


class CheckpointPublisher:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._producer: AIOKafkaProducer | None = None

    async def _started(self) -> AIOKafkaProducer:
        if self._producer is None:
            await kafka.ensure_topics(self.settings, [TOPIC])
            producer = kafka.producer(self.settings)
            await producer.start()
            self._producer = producer
        return self._producer

    async def publish(self, db: Database) -> int:
        """Send every unpublished checkpoint, oldest first; the count sent."""
        async with db.session() as session:
            rows = (
                await session.execute(
                    select(col(AuditCheckpoint.tree_size), col(AuditCheckpoint.note))
                    .where(col(AuditCheckpoint.published_at).is_(None))
                    .order_by(col(AuditCheckpoint.tree_size))
                    .limit(BATCH)
                )
            ).all()
        if not rows:
            return 0
        producer = await self._started()
        for size, note in rows:
            await producer.send_and_wait(TOPIC, value=note.encode(), key=str(size).encode())
        async with db.session() as session:
            await session.execute(
                update(AuditCheckpoint)
                .where(col(AuditCheckpoint.tree_size).in_([size for size, _ in rows]))
                .values(published_at=utcnow())
            )
            await session.commit()
        log.info("published %d audit checkpoint(s) to %s", len(rows), TOPIC)
        return len(rows)

    async def close(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()
