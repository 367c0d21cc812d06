"""NGO care contacts (hulpverlening, minimum format), referrals (doorverwijzingen),
trafficking suspicions and the union's helpdesk requests.

`client_ref` is the NGO's own client reference and is never linked to a hub identity.
"""

from datetime import date, datetime

from sqlalchemy import JSON, Column
from sqlmodel import Field, Relationship, SQLModel

from hub.models.base import UTCDateTime, new_id, utcnow
from hub.models.organisation import Organisation


class CareContact(SQLModel, table=True):
    __tablename__ = "care_contact"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    ngo_id: str = Field(foreign_key="organisation.id", max_length=36, index=True)
    client_ref: str = Field(max_length=80)
    contact_date: date = Field(index=True)
    kind: str = Field(max_length=20)
    location: str = Field(max_length=20)
    branch: str = Field(max_length=20)
    city: str = Field(max_length=80)
    recorded_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # The minimum format's request for help and follow-up (null on contacts recorded before).
    request: str | None = Field(default=None, max_length=20)
    follow_up: str | None = Field(default=None, max_length=20)
    follow_up_date: date | None = Field(default=None)


class Referral(SQLModel, table=True):
    __tablename__ = "referral"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    from_org_id: str = Field(foreign_key="organisation.id", max_length=36, index=True)
    # An organisation on the hub, or else a destination outside it (a specialised centre,
    # an outside body): exactly one of the two.
    to_org_id: str | None = Field(
        default=None, foreign_key="organisation.id", max_length=36, index=True
    )
    client_ref: str = Field(max_length=80)
    reason: str = Field(max_length=30)
    consent: bool
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    destination: str | None = Field(default=None, max_length=30)
    # Without the person's consent only for a victim under protection, on this legal basis.
    victim_protection: bool = Field(default=False)
    protection_basis: str | None = Field(default=None, max_length=40)

    # The referring NGO: its city is the referral's city in statistics (policies/referral.yaml).
    from_org: Organisation = Relationship(
        sa_relationship_kwargs={"lazy": "raise", "foreign_keys": "Referral.from_org_id"}
    )


class TraffickingSuspicion(SQLModel, table=True):
    """A suspicion of trafficking, recorded explicitly by the police or an NGO; never
    inferred from any other record. It stays with the organisation that recorded it."""

    __tablename__ = "trafficking_suspicion"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    org_id: str = Field(foreign_key="organisation.id", max_length=36, index=True)
    indicators: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # The person concerned, when known: a worker on the hub, or the NGO's own reference.
    sex_worker_id: str | None = Field(
        default=None, foreign_key="sex_worker.id", max_length=36, index=True
    )
    client_ref: str | None = Field(default=None, max_length=80)
    status: str = Field(max_length=20)
    city: str | None = Field(default=None, max_length=80)
    recorded_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)


class HelpdeskRequest(SQLModel, table=True):
    """A request to the union's helpdesk: the union's own record, never anyone else's."""

    __tablename__ = "helpdesk_request"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    union_id: str = Field(foreign_key="organisation.id", max_length=36, index=True)
    received_on: date = Field(index=True)
    topic: str = Field(max_length=30)
    channel: str = Field(max_length=20)
    status: str = Field(max_length=20)
    text: str = Field(max_length=2000)
    recorded_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
