"""Employment of sex workers under an employment contract (labour law of 2024): the relation
between a worker and a recognised employer, recorded by the employer."""

from datetime import date, datetime
from typing import TYPE_CHECKING

from sqlmodel import Field, Relationship, SQLModel

from hub.models.base import UTCDateTime, new_id, utcnow
from hub.models.organisation import Organisation

if TYPE_CHECKING:
    from hub.models.sex_worker import SexWorker


class EmploymentRelation(SQLModel, table=True):
    """A worker employed by an employer (organisation of kind `employer`) from `starts_on`
    to `ends_on` (open-ended: null) under a contract of `contract_kind`. The worker sees it
    in self-service; the labour inspection sees it without the worker's identity."""

    __tablename__ = "employment_relation"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    employer_id: str = Field(foreign_key="organisation.id", max_length=36, index=True)
    sex_worker_id: str = Field(foreign_key="sex_worker.id", max_length=36, index=True)
    contract_kind: str = Field(max_length=20)
    starts_on: date
    ends_on: date | None = Field(default=None)
    recorded_by_id: str | None = Field(default=None, foreign_key="organisation.id", max_length=36)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)

    employer: Organisation = Relationship(
        sa_relationship_kwargs={
            "lazy": "raise",
            "foreign_keys": "[EmploymentRelation.employer_id]",
        }
    )
    sex_worker: "SexWorker" = Relationship(
        back_populates="employments", sa_relationship_kwargs={"lazy": "raise"}
    )
