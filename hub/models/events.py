"""The transactional outbox and the inbound de-duplication table."""

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Column, Identity, Integer
from sqlmodel import Field, SQLModel

from hub.models.base import UTCDateTime, utcnow


class OutboxEvent(SQLModel, table=True):
    """A domain event, written in the same transaction as the change it records."""

    __tablename__ = "outbox"

    # INTEGER on SQLite, where only that type is an alias of the auto-numbered rowid.
    seq: int | None = Field(
        default=None,
        sa_column=Column(
            BigInteger().with_variant(Integer(), "sqlite"), Identity(), primary_key=True
        ),
    )
    event_id: str = Field(max_length=36, unique=True)
    type: str = Field(max_length=120)
    resource: str = Field(max_length=80)
    record_id: str = Field(max_length=36)  # the partition key: one record's events in order
    envelope: dict = Field(sa_column=Column(JSON, nullable=False))  # CloudEvents, unprojected
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    published_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)


class InboxEvent(SQLModel, table=True):
    """Ids of inbound partner events already applied: each is applied once."""

    __tablename__ = "inbox"

    event_id: str = Field(primary_key=True, max_length=200)
    source: str = Field(max_length=200)
    type: str = Field(max_length=120)
    topic: str = Field(max_length=200)
    processed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
