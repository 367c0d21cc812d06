"""Reports (meldingen) by sex workers, and warnings (waarschuwingen, `Alert`)."""

from datetime import datetime

from sqlmodel import Field, Relationship, SQLModel

from hub.models.base import UTCDateTime, new_id, utcnow


class Report(SQLModel, table=True):
    """A melding. An anonymous report keeps no link to its author: `author_id` stays null.

    It reaches an organisation only through a `ReportShare` its author chose.
    """

    __tablename__ = "report"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    category: str = Field(max_length=30)
    text: str = Field(max_length=4000)
    anonymous: bool = Field(default=False)
    author_id: str | None = Field(default=None, foreign_key="sex_worker.id", max_length=36)
    city: str = Field(max_length=80)
    status: str = Field(default="filed", max_length=20)
    filed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    # An anonymous report's follow-up code, as its SHA-256 (hex): the code itself is shown
    # to the reporter once and never stored, so only its holder can read the replies.
    follow_up_hash: str | None = Field(default=None, max_length=64, unique=True, index=True)

    shares: list["ReportShare"] = Relationship(
        back_populates="report", sa_relationship_kwargs={"lazy": "raise"}
    )
    replies: list["ReportReply"] = Relationship(
        back_populates="report", sa_relationship_kwargs={"lazy": "raise"}
    )


class ReportShare(SQLModel, table=True):
    """The author's choice to share a report with one organisation (police or NGO)."""

    __tablename__ = "report_share"

    report_id: str = Field(foreign_key="report.id", primary_key=True, max_length=36)
    organisation_id: str = Field(foreign_key="organisation.id", primary_key=True, max_length=36)

    report: Report = Relationship(back_populates="shares", sa_relationship_kwargs={"lazy": "raise"})


class ReportReply(SQLModel, table=True):
    """An answer to a report, from an organisation it was shared with or from its author."""

    __tablename__ = "report_reply"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    report_id: str = Field(foreign_key="report.id", max_length=36, index=True)
    author_org_id: str | None = Field(default=None, foreign_key="organisation.id", max_length=36)
    by_reporter: bool = Field(default=False)
    text: str = Field(max_length=4000)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)

    report: Report = Relationship(
        back_populates="replies", sa_relationship_kwargs={"lazy": "raise"}
    )


class FollowUpAttempt(SQLModel, table=True):
    """A wrong follow-up code, kept for a short while to rate-limit guessing: who tried
    (a digest of the caller, never the subject itself) and when."""

    __tablename__ = "follow_up_attempt"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    caller_hash: str = Field(max_length=64, index=True)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)


class Alert(SQLModel, table=True):
    """A warning (waarschuwing) to an audience in one city, in nl/fr/en, until it expires.

    Built from reports with consent, it never stores which report it came from.
    """

    __tablename__ = "alert"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    audience: str = Field(max_length=20)
    city: str = Field(max_length=80, index=True)
    zone: str | None = Field(default=None, max_length=80)
    branch: str | None = Field(default=None, max_length=20)
    severity: str = Field(max_length=10)
    # A common kind of warning, rendered in the reader's language (hub/i18n.py); the texts
    # below are the issuer's own free text, optional when a template is given.
    template: str | None = Field(default=None, max_length=30)
    text_nl: str | None = Field(default=None, max_length=2000)
    text_fr: str | None = Field(default=None, max_length=2000)
    text_en: str | None = Field(default=None, max_length=2000)
    valid_until: datetime = Field(sa_type=UTCDateTime, index=True)
    issued_by_id: str = Field(foreign_key="organisation.id", max_length=36)
    issued_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
