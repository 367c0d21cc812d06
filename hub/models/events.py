"""The transactional outbox, the inbound de-duplication table and the local dead letters."""

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Column, Identity, Integer, LargeBinary, UniqueConstraint
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


class DeadLetter(SQLModel, table=True):
    """An inbound message the hub could not apply and could not park on the dead-letter
    topic either (the broker refused or timed out): kept here so that its offset can be
    committed and the partition goes on. `hub deadletter list|replay` reads it."""

    __tablename__ = "dead_letter"
    __table_args__ = (UniqueConstraint("topic", "partition", "offset"),)

    id: int | None = Field(
        default=None,
        sa_column=Column(
            BigInteger().with_variant(Integer(), "sqlite"), Identity(), primary_key=True
        ),
    )
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    partner: str = Field(max_length=64)
    topic: str = Field(max_length=200)
    partition: int
    offset: int = Field(sa_column=Column(BigInteger(), nullable=False))
    reason: str = Field(max_length=40)
    detail: str = Field(max_length=500)
    size: int  # bytes of the message's value
    sha256: str = Field(max_length=64)  # of the value, so a copy can be matched
    key: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    # The message's headers as [name, base64 value] pairs (binary-mode CloudEvents carry
    # their attributes there), and its value: both None when left out (too large). Never
    # logged.
    headers: list | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    payload: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    replayed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
