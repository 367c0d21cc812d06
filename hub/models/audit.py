"""The access log: append-only, hash-chained. Who read or changed what, why, under which
policy version; record ids and field names, never values."""

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Column, ForeignKey
from sqlmodel import Field, Relationship, SQLModel

from hub.models.base import UTCDateTime


class AccessLogEntry(SQLModel, table=True):
    __tablename__ = "access_log"

    id: int = Field(
        sa_column=Column(BigInteger, primary_key=True, autoincrement=False)
    )  # chain position
    at: datetime = Field(sa_type=UTCDateTime, index=True)
    organisation_id: str | None = Field(default=None, max_length=36, index=True)
    roles: str = Field(default="", max_length=300)
    subject: str = Field(default="", max_length=200)  # the token's `sub`
    purpose: str = Field(default="", max_length=40)
    operation: str = Field(default="", max_length=200)  # GraphQL operation or command
    action: str = Field(max_length=40)  # read, write:<action>, deny, policy:<step>, ...
    resource: str = Field(default="", max_length=80)
    record_ids: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    fields: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    policy_version: str = Field(default="", max_length=80)
    outcome: str = Field(default="allowed", max_length=20)  # allowed | denied
    reason: str | None = Field(default=None, max_length=300)
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)

    subjects: list["AccessLogSubject"] = Relationship(sa_relationship_kwargs={"lazy": "raise"})


class AccessLogSubject(SQLModel, table=True):
    """Which sex workers an entry concerns: her view of who looked at her data."""

    __tablename__ = "access_log_subject"

    entry_id: int = Field(
        sa_column=Column(
            BigInteger, ForeignKey("access_log.id"), primary_key=True, autoincrement=False
        )
    )
    sex_worker_id: str = Field(primary_key=True, max_length=36, index=True)


class AuditHead(SQLModel, table=True):
    """The chain's head: locked by every append so that replicas extend one chain."""

    __tablename__ = "audit_head"

    id: int = Field(default=1, primary_key=True)
    seq: int = Field(sa_column=Column(BigInteger, nullable=False))
    hash: str = Field(max_length=64)
