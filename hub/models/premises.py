"""Premises (panden), suitability certificates, rental agreements and the pandkalender."""

from datetime import date, datetime
from typing import TYPE_CHECKING, Optional

from sqlalchemy import Index
from sqlmodel import Field, Relationship, SQLModel

from hub.models.base import UTCDateTime, new_id, utcnow

if TYPE_CHECKING:
    from hub.models.sex_worker import SexWorker


class Premises(SQLModel, table=True):
    """A pand: window premises, club, massage salon or other place of work."""

    __tablename__ = "premises"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    address: str = Field(max_length=200)
    city: str = Field(max_length=80, index=True)
    zone: str | None = Field(default=None, max_length=80)  # e.g. the gedoogzone
    kind: str = Field(max_length=20)
    windows: int = Field(default=0, ge=0)
    operator_id: str | None = Field(
        default=None, foreign_key="organisation.id", max_length=36, index=True
    )
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)

    certificate: Optional["Certificate"] = Relationship(
        back_populates="premises", sa_relationship_kwargs={"lazy": "raise", "uselist": False}
    )
    shifts: list["ShiftRegistration"] = Relationship(
        back_populates="premises", sa_relationship_kwargs={"lazy": "raise"}
    )
    rental_agreements: list["RentalAgreement"] = Relationship(
        back_populates="premises", sa_relationship_kwargs={"lazy": "raise"}
    )


class Certificate(SQLModel, table=True):
    """Suitability certificate (geschiktheidsverklaring) of one premises."""

    __tablename__ = "certificate"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    premises_id: str = Field(foreign_key="premises.id", unique=True, max_length=36)
    status: str = Field(max_length=20)
    valid_from: date
    valid_until: date
    decision: str = Field(default="", max_length=1000)
    decided_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    decided_by_id: str | None = Field(default=None, foreign_key="organisation.id", max_length=36)

    premises: Premises = Relationship(
        back_populates="certificate", sa_relationship_kwargs={"lazy": "raise"}
    )


class RentalAgreement(SQLModel, table=True):
    """Afspraak/huur: an operator rents a window to a worker, who confirms it."""

    __tablename__ = "rental_agreement"
    __table_args__ = (Index("ix_rental_premises_window", "premises_id", "window"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    premises_id: str = Field(foreign_key="premises.id", max_length=36)
    window: int = Field(ge=1)
    sex_worker_id: str = Field(foreign_key="sex_worker.id", max_length=36, index=True)
    starts_at: datetime = Field(sa_type=UTCDateTime)
    ends_at: datetime = Field(sa_type=UTCDateTime)
    confirmed: bool = Field(default=False)
    confirmed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    recorded_by_id: str | None = Field(default=None, foreign_key="organisation.id", max_length=36)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # Rent terms, in euro cents (EUR only): the rent per `rent_period` and the deposit.
    # Null for a rental recorded without them.
    rent_cents: int | None = Field(default=None, ge=0)
    rent_period: str | None = Field(default=None, max_length=10)
    deposit_cents: int | None = Field(default=None, ge=0)
    currency: str | None = Field(default=None, max_length=3)

    premises: Premises = Relationship(
        back_populates="rental_agreements", sa_relationship_kwargs={"lazy": "raise"}
    )
    sex_worker: "SexWorker" = Relationship(
        back_populates="rental_agreements", sa_relationship_kwargs={"lazy": "raise"}
    )


class ShiftRegistration(SQLModel, table=True):
    """Pandkalender-registratie: who works in which window when."""

    __tablename__ = "shift_registration"
    __table_args__ = (
        Index("ix_shift_premises_window_start", "premises_id", "window", "starts_at"),
        Index("ix_shift_start_id", "starts_at", "id"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    premises_id: str = Field(foreign_key="premises.id", max_length=36)
    window: int = Field(ge=1)
    sex_worker_id: str = Field(foreign_key="sex_worker.id", max_length=36, index=True)
    # Set once the confirmed rental covering the shift is found (see registerShift).
    rental_agreement_id: str | None = Field(
        default=None, foreign_key="rental_agreement.id", max_length=36
    )
    starts_at: datetime = Field(sa_type=UTCDateTime)
    ends_at: datetime = Field(sa_type=UTCDateTime)
    status: str = Field(default="registered", max_length=20)
    registered_by_id: str | None = Field(default=None, foreign_key="organisation.id", max_length=36)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    validated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    validated_by_id: str | None = Field(default=None, foreign_key="organisation.id", max_length=36)
    adult_verified_on_site: bool | None = Field(default=None)
    # The recorded outage of the hub cited to register this shift after its start.
    outage_id: str | None = Field(default=None, foreign_key="hub_outage.id", max_length=36)

    premises: Premises = Relationship(
        back_populates="shifts", sa_relationship_kwargs={"lazy": "raise"}
    )
    sex_worker: "SexWorker" = Relationship(
        back_populates="shifts", sa_relationship_kwargs={"lazy": "raise"}
    )
