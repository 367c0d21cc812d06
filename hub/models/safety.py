"""Inspections (controles) by the police and administrative measures by the city."""

from datetime import datetime
from typing import TYPE_CHECKING, Optional

from sqlalchemy import Column, LargeBinary
from sqlmodel import Field, Relationship, SQLModel

from hub.models.base import UTCDateTime, new_id, utcnow

if TYPE_CHECKING:
    from hub.models.premises import Premises


class Inspection(SQLModel, table=True):
    """A police check (controle) of one branch at one place and time. Counts, no identities."""

    __tablename__ = "inspection"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    city: str = Field(max_length=80, index=True)
    zone: str | None = Field(default=None, max_length=80)
    branch: str = Field(max_length=20)
    premises_id: str | None = Field(default=None, foreign_key="premises.id", max_length=36)
    occurred_at: datetime = Field(sa_type=UTCDateTime, index=True)
    persons_checked: int = Field(default=0, ge=0)
    outcome: str = Field(max_length=10)
    administrative_arrests: int = Field(default=0, ge=0)
    judicial_arrests: int = Field(default=0, ge=0)
    hidden_form: bool = Field(default=False)  # a controlled hidden form of prostitution
    proactive: bool = Field(default=True)  # proactive check, or reactive to a complaint
    police_org_id: str = Field(foreign_key="organisation.id", max_length=36)
    recorded_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)

    premises: Optional["Premises"] = Relationship(sa_relationship_kwargs={"lazy": "raise"})


class Measure(SQLModel, table=True):
    """Bestuurlijke maatregel: fine, suspension, closure... with its procedure state."""

    __tablename__ = "measure"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    kind: str = Field(max_length=30)
    city: str = Field(max_length=80, index=True)
    premises_id: str | None = Field(default=None, foreign_key="premises.id", max_length=36)
    # What the measure is against: exactly one of the premises (premises_id), a worker
    # (target_sex_worker_id) or a client or third party, whose name is encrypted under a
    # data key of its own (target_name, wrapped key in target_name_key). A worker's erasure
    # nulls the worker reference; nothing then names the person.
    target_sex_worker_id: str | None = Field(
        default=None, foreign_key="sex_worker.id", max_length=36, index=True
    )
    target_name: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    target_name_key: bytes | None = Field(
        default=None, sa_column=Column(LargeBinary, nullable=True)
    )
    # premises, sex_worker, client or other_person (MeasureTargetKind): set at opening,
    # never personal, and kept when the worker's reference is erased.
    target_kind: str = Field(default="premises", max_length=20)
    status: str = Field(default="opened", max_length=20)
    amount_cents: int | None = Field(default=None, ge=0)
    org_id: str = Field(foreign_key="organisation.id", max_length=36)
    opened_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)

    premises: Optional["Premises"] = Relationship(sa_relationship_kwargs={"lazy": "raise"})
    transitions: list["MeasureTransition"] = Relationship(
        back_populates="measure", sa_relationship_kwargs={"lazy": "raise"}
    )


class MeasureTransition(SQLModel, table=True):
    """One step of a measure's procedure, kept as history."""

    __tablename__ = "measure_transition"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    measure_id: str = Field(foreign_key="measure.id", max_length=36, index=True)
    from_status: str | None = Field(default=None, max_length=20)
    to_status: str = Field(max_length=20)
    note: str | None = Field(default=None, max_length=1000)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    by_org_id: str = Field(foreign_key="organisation.id", max_length=36)

    measure: Measure = Relationship(
        back_populates="transitions", sa_relationship_kwargs={"lazy": "raise"}
    )
