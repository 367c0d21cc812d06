"""Policy versions and the change workflow (propose, preview, approve, activate, roll back)."""

from datetime import datetime

from sqlalchemy import Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from hub.models.base import UTCDateTime, new_id, utcnow


class PolicyVersion(SQLModel, table=True):
    """One version of one resource's policy document. Exactly one per resource is active."""

    __tablename__ = "policy_version"
    __table_args__ = (UniqueConstraint("resource", "version"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    resource: str = Field(max_length=80, index=True)
    version: int
    document: str = Field(sa_column=Column(Text, nullable=False))
    active: bool = Field(default=False, index=True)
    change_id: str | None = Field(default=None, max_length=36)
    activated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class PolicyChange(SQLModel, table=True):
    """A proposed change (or roll-back) of one resource's policy, and its fate."""

    __tablename__ = "policy_change"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    resource: str = Field(max_length=80, index=True)
    kind: str = Field(default="change", max_length=20)  # change | rollback
    document: str = Field(sa_column=Column(Text, nullable=False))
    reason: str = Field(max_length=2000)
    base_version: int  # the active version the change was proposed against
    status: str = Field(default="proposed", max_length=20, index=True)
    touches_sex_worker_data: bool = Field(default=False)
    proposed_by: str = Field(max_length=200)  # token subject
    proposed_by_org: str = Field(max_length=36)
    proposed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    rejection_reason: str | None = Field(default=None, max_length=2000)
    rejected_by: str | None = Field(default=None, max_length=200)  # token subject
    rejected_by_org: str | None = Field(default=None, max_length=36)
    rejected_by_role: str | None = Field(default=None, max_length=40)
    activated_version: int | None = None


class PolicyApproval(SQLModel, table=True):
    __tablename__ = "policy_approval"

    change_id: str = Field(foreign_key="policy_change.id", primary_key=True, max_length=36)
    approver: str = Field(primary_key=True, max_length=200)  # token subject
    approver_org: str = Field(max_length=36)
    role: str = Field(max_length=40)  # privacy_officer | worker_representative
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class PolicyState(SQLModel, table=True):
    """A counter every activation increments; replicas poll it to reload within a second."""

    __tablename__ = "policy_state"

    id: int = Field(default=1, primary_key=True)
    generation: int = Field(default=0)
