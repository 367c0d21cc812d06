"""Recorded outages of the hub itself: while the hub was down, operators could not register
shifts in advance, so a shift that started during an outage may be registered late,
citing the outage (hub/services/shifts.py). Recorded by an operator of the hub with
`hub outage add`; no personal data."""

from datetime import datetime

from sqlmodel import Field, SQLModel

from hub.models.base import UTCDateTime, new_id, utcnow


class Outage(SQLModel, table=True):
    """One period during which the hub was unavailable, with its reason."""

    __tablename__ = "hub_outage"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    starts_at: datetime = Field(sa_type=UTCDateTime, index=True)
    ends_at: datetime = Field(sa_type=UTCDateTime)
    reason: str = Field(max_length=300)
    recorded_by: str = Field(max_length=200)  # e.g. "cli:<operator account>", never a token
    recorded_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
