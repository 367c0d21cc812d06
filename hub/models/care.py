"""NGO care contacts (hulpverlening, minimum format) and referrals (doorverwijzingen).

`client_ref` is the NGO's own client reference and is never linked to a hub identity.
"""

from datetime import date, datetime

from sqlmodel import Field, SQLModel

from hub.models.base import UTCDateTime, new_id, utcnow


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


class Referral(SQLModel, table=True):
    __tablename__ = "referral"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    from_org_id: str = Field(foreign_key="organisation.id", max_length=36, index=True)
    to_org_id: str = Field(foreign_key="organisation.id", max_length=36, index=True)
    client_ref: str = Field(max_length=80)
    reason: str = Field(max_length=30)
    consent: bool
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
