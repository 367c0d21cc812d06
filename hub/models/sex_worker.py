"""Sex workers (sekswerkers) and the per-person data keys that protect their identity."""

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import JSON, Column, LargeBinary
from sqlmodel import Field, Relationship, SQLModel

from hub.models.base import UTCDateTime, new_id, utcnow
from hub.models.investigation import InvestigationSubject

if TYPE_CHECKING:
    from hub.models.employment import EmploymentRelation
    from hub.models.investigation import Investigation
    from hub.models.participation import Pairing, Participation
    from hub.models.premises import RentalAgreement, ShiftRegistration


class SexWorker(SQLModel, table=True):
    """A sex worker as registered by the police at validation, or by the worker.

    `identity` is AES-GCM ciphertext of the legal name, birth date, nationality and document
    number, under a data key of the worker's own (see hub/crypto.py). Residence status is
    never stored. `gender` is self-declared by the worker, optional, and shown to nobody
    else.
    """

    __tablename__ = "sex_worker"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    working_name: str = Field(max_length=80)
    identity: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    adult_verified: bool = Field(default=False)
    languages: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    city: str = Field(max_length=80, index=True)
    registered_by_id: str | None = Field(default=None, foreign_key="organisation.id", max_length=36)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # The latest activity seen of the worker (shift, rental, consent, report), kept by
    # retention so that it outlives the records it was read from (hub/services/retention.py).
    last_active_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The worker's gender as the worker declared it (hub.models.enums.Gender), NULL when not
    # stated. Set and read by the worker alone (policies/sex_worker.yaml, guardrail
    # `gender-only-to-the-worker`); cleared by erasure and by retention's anonymisation.
    gender: str | None = Field(default=None, max_length=20)

    shifts: list["ShiftRegistration"] = Relationship(
        back_populates="sex_worker", sa_relationship_kwargs={"lazy": "raise"}
    )
    rental_agreements: list["RentalAgreement"] = Relationship(
        back_populates="sex_worker", sa_relationship_kwargs={"lazy": "raise"}
    )
    # The open or past investigations that name the worker (for the policy's `where`).
    investigations: list["Investigation"] = Relationship(
        back_populates="subjects",
        link_model=InvestigationSubject,
        sa_relationship_kwargs={"lazy": "raise", "viewonly": True},
    )
    participations: list["Participation"] = Relationship(
        back_populates="sex_worker", sa_relationship_kwargs={"lazy": "raise"}
    )
    pairings: list["Pairing"] = Relationship(
        back_populates="sex_worker", sa_relationship_kwargs={"lazy": "raise"}
    )
    employments: list["EmploymentRelation"] = Relationship(
        back_populates="sex_worker", sa_relationship_kwargs={"lazy": "raise"}
    )


class DataKey(SQLModel, table=True):
    """One person's data key, wrapped by the master key. Deleting it erases the identity."""

    __tablename__ = "data_key"

    sex_worker_id: str = Field(foreign_key="sex_worker.id", primary_key=True, max_length=36)
    wrapped_key: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
