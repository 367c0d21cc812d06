"""Investigations (named cases) of the police: the one thing that lets an investigator read
a worker's identity, and only the identity of a worker the case names."""

import re
from datetime import datetime
from typing import TYPE_CHECKING

from sqlmodel import Field, Relationship, SQLModel

from hub.models.base import UTCDateTime, new_id, utcnow
from hub.models.organisation import Organisation

if TYPE_CHECKING:
    from hub.models.sex_worker import SexWorker

# A case reference as a prosecutor's office writes it (a notice number such as
# AN.37.L1.012345/26): an office code of 2 to 4 capitals, then 1 to 6 parts of capitals and
# digits, each after a '.', '/' or '-'; at most 40 characters. Nothing else is ever a case.
CASE_REFERENCE = re.compile(r"[A-Z]{2,4}(?:[./-][A-Z0-9]{1,12}){1,6}")
CASE_REFERENCE_MAX = 40


def is_case_reference(value: str) -> bool:
    return len(value) <= CASE_REFERENCE_MAX and CASE_REFERENCE.fullmatch(value) is not None


class InvestigationSubject(SQLModel, table=True):
    """A sex worker an investigation names."""

    __tablename__ = "investigation_subject"

    investigation_id: str = Field(foreign_key="investigation.id", primary_key=True, max_length=36)
    sex_worker_id: str = Field(
        foreign_key="sex_worker.id", primary_key=True, max_length=36, index=True
    )


class Investigation(SQLModel, table=True):
    """A judicial investigation as the police organisation that holds it records it: the
    case reference of the prosecutor's office, the office (an organisation of kind judiciary,
    or its name), the workers it names, and when it was opened, expires and closed."""

    __tablename__ = "investigation"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    reference: str = Field(max_length=40, unique=True)
    prosecutor_org_id: str | None = Field(
        default=None, foreign_key="organisation.id", max_length=36
    )
    prosecutor_office: str | None = Field(default=None, max_length=120)
    police_org_id: str = Field(foreign_key="organisation.id", max_length=36, index=True)
    opened_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime, index=True)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)

    # The police organisation holding the case: its city is the case's city in statistics
    # (policies/investigation.yaml's aggregate).
    police_org: Organisation = Relationship(
        sa_relationship_kwargs={"lazy": "raise", "foreign_keys": "Investigation.police_org_id"}
    )
    subjects: list["SexWorker"] = Relationship(
        back_populates="investigations",
        link_model=InvestigationSubject,
        sa_relationship_kwargs={"lazy": "raise", "viewonly": True},
    )
