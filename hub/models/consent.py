"""Consents (toestemmingen) a sex worker grants to an organisation for one purpose."""

from datetime import datetime

from sqlmodel import Field, SQLModel

from hub.models.base import UTCDateTime, new_id, utcnow


class Consent(SQLModel, table=True):
    __tablename__ = "consent"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    sex_worker_id: str = Field(foreign_key="sex_worker.id", max_length=36, index=True)
    grantee_id: str = Field(foreign_key="organisation.id", max_length=36)
    purpose: str = Field(max_length=40)
    scope: str = Field(default="*", max_length=80)  # a resource name, or * for all
    granted_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
