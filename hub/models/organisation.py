"""Partner organisations (partners) and the API clients they use to obtain tokens."""

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Column, Index
from sqlmodel import Field, SQLModel

from hub.models.base import UTCDateTime, new_id, utcnow


class Organisation(SQLModel, table=True):
    """A partner: city service, police zone, judiciary, NGO, union, operator (uitbater),
    employer or the labour inspection."""

    __tablename__ = "organisation"
    # One recognition number per employer (null for every other organisation).
    __table_args__ = (
        Index("ix_organisation_recognition_number", "recognition_number", unique=True),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    name: str = Field(max_length=200)
    kind: str = Field(max_length=20, index=True)
    city: str | None = Field(default=None, max_length=80, index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # Only for an employer (kind `employer`): its recognition by the labour inspection
    # (labour law of 2024), as the labour inspector recorded it (hub/services/employment.py).
    recognition_status: str | None = Field(default=None, max_length=20)
    recognition_number: str | None = Field(default=None, max_length=20)
    recognition_decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The labour inspection's organisation id (no foreign key: SQLite keeps the registry's
    # triggers on this table only while it is altered in place).
    recognition_decided_by_id: str | None = Field(default=None, max_length=36)


class ApiClient(SQLModel, table=True):
    """An OAuth 2.0 client of the embedded token issuer (client credentials grant).

    The secret is stored as a salted scrypt hash, never in clear. A disabled client gets no
    token and its tokens are refused. Its tokens carry `token_epoch` (claim `client_epoch`);
    disabling it or rotating its secret moves the epoch on, so every earlier token stays
    refused even after the client is enabled again.
    """

    __tablename__ = "api_client"

    client_id: str = Field(primary_key=True, max_length=80)
    secret_hash: str = Field(max_length=300)
    organisation_id: str = Field(foreign_key="organisation.id", max_length=36)
    roles: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    purposes: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # Only for a sex worker's own client: the worker's own record.
    sex_worker_id: str | None = Field(default=None, foreign_key="sex_worker.id", max_length=36)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    disabled: bool = Field(default=False)
    token_epoch: int = Field(default=0)
    disabled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    secret_rotated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class AuthState(SQLModel, table=True):
    """A counter that database triggers move on every change to `organisation` or
    `api_client`; each replica polls it to refresh its cached registry within a second."""

    __tablename__ = "auth_state"

    id: int = Field(primary_key=True)
    generation: int = Field(default=0, sa_type=BigInteger)
