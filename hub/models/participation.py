"""One person across cities: a worker's participation in each city's regime, and the
pairings that link a worker to an operator (or employer) of the worker's choosing."""

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, Relationship, SQLModel

from hub.models.base import UTCDateTime, new_id, utcnow

if TYPE_CHECKING:
    from hub.models.sex_worker import SexWorker


class Participation(SQLModel, table=True):
    """A worker's participation in one city's regime (policies/regimes.yaml): one row per
    worker and city. `regime` is the city's participation kind when the worker joined
    (voluntary or compulsory); `how` says who recorded it: the worker themself (`self`,
    voluntary regimes only) or the police at identity validation (`police`)."""

    __tablename__ = "participation"
    __table_args__ = (UniqueConstraint("sex_worker_id", "city", name="uq_participation_city"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    sex_worker_id: str = Field(foreign_key="sex_worker.id", max_length=36, index=True)
    city: str = Field(max_length=80, index=True)
    regime: str = Field(max_length=20)
    how: str = Field(max_length=20)
    status: str = Field(default="active", max_length=20)
    started_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)

    sex_worker: "SexWorker" = Relationship(
        back_populates="participations", sa_relationship_kwargs={"lazy": "raise"}
    )


class Pairing(SQLModel, table=True):
    """A link the worker made with one organisation (an operator or employer) by a pairing
    code: the code is shown to the worker once and kept only as its SHA-256, works once and
    until `expires_at`. `organisation_id` is set when an organisation redeems the code."""

    __tablename__ = "pairing"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    sex_worker_id: str = Field(foreign_key="sex_worker.id", max_length=36, index=True)
    organisation_id: str | None = Field(
        default=None, foreign_key="organisation.id", max_length=36, index=True
    )
    code_hash: str | None = Field(default=None, max_length=64, unique=True, index=True)
    status: str = Field(default="pending", max_length=20)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    redeemed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)

    sex_worker: "SexWorker" = Relationship(
        back_populates="pairings", sa_relationship_kwargs={"lazy": "raise"}
    )
