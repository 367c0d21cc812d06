"""The access log: append-only, the leaves of a Merkle tree with signed checkpoints. Who
read or changed what, why, under which policy version; record ids and field names, never
values."""

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Column, LargeBinary, Text
from sqlmodel import Field, Relationship, SQLModel

from hub.models.base import UTCDateTime


class AccessLogEntry(SQLModel, table=True):
    __tablename__ = "access_log"

    id: int = Field(
        sa_column=Column(BigInteger, primary_key=True, autoincrement=False)
    )  # position in the log, from 1 (the tree's leaf index + 1)
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
    # Random, secret: salts the leaf's field digests (hub/audit/leaf.py).
    salt: bytes = Field(sa_column=Column(LargeBinary, nullable=False))

    subjects: list["AccessLogSubject"] = Relationship(
        sa_relationship_kwargs={
            "lazy": "raise",
            "primaryjoin": "AccessLogEntry.id == foreign(AccessLogSubject.entry_id)",
        }
    )


class AccessLogSubject(SQLModel, table=True):
    """Which sex workers an entry concerns: the worker's view of who looked at their data."""

    __tablename__ = "access_log_subject"

    # No foreign key: the entry and its subjects are written in one transaction by the one
    # writer, and the entry's leaf hash commits to them (migration 0007 says why).
    entry_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    sex_worker_id: str = Field(primary_key=True, max_length=36, index=True)


class AuditHead(SQLModel, table=True):
    """The tree's size, root (hex) and right edge: locked by every append so that replicas
    extend one tree. The edge (the hashes of the complete subtrees the tree splits into,
    largest first) is all an append needs to read."""

    __tablename__ = "audit_head"

    id: int = Field(default=1, primary_key=True)
    seq: int = Field(sa_column=Column(BigInteger, nullable=False))
    hash: str = Field(max_length=64)
    frontier: bytes = Field(default=b"", sa_column=Column(LargeBinary, nullable=False))


class AuditTreeHash(SQLModel, table=True):
    """Every hash of a complete subtree of the log's Merkle tree, at its stored-hash index
    (hub/audit/merkle.py): about two per entry, written with the entries."""

    __tablename__ = "audit_tree_hash"

    index: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    hash: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class AuditCheckpoint(SQLModel, table=True):
    """A signed checkpoint (C2SP signed note) of the tree at one size."""

    __tablename__ = "audit_checkpoint"

    tree_size: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    root: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    note: str = Field(sa_column=Column(Text, nullable=False))
    signed_at: datetime = Field(sa_type=UTCDateTime)
    # Sent to the Kafka topic hub.audit.checkpoints (when Kafka is configured).
    published_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
