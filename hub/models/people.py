"""People who log in to the consoles (`/console`, `/me`) through the embedded issuer, the
authorization codes it hands out, and the consoles' sessions.

A person is to the authorization code grant what an ApiClient is to client credentials:
the organisation, roles and purposes their tokens carry. The password is a salted scrypt
hash (hub/auth/clients.py), never in clear. With an external OpenID Connect provider the
provider keeps its own people and this table stays empty.
"""

from datetime import datetime

from sqlalchemy import JSON, Column, Text
from sqlmodel import Field, SQLModel

from hub.models.base import UTCDateTime, new_id, utcnow


class Person(SQLModel, table=True):
    """Someone who logs in with a username and password at the embedded issuer.

    Like an ApiClient, a disabled person gets no token and their tokens are refused;
    `token_epoch` (claim `client_epoch`) moves on when they are disabled or their password
    changes, so earlier tokens stay refused.
    """

    __tablename__ = "person"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    username: str = Field(max_length=80, unique=True, index=True)
    password_hash: str = Field(max_length=300)
    display_name: str = Field(max_length=120)
    organisation_id: str = Field(foreign_key="organisation.id", max_length=36)
    roles: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    purposes: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # Only for a sex worker: the worker's own record.
    sex_worker_id: str | None = Field(default=None, foreign_key="sex_worker.id", max_length=36)
    locale: str | None = Field(default=None, max_length=8)  # nl, fr, en: the pages' language
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    disabled: bool = Field(default=False)
    token_epoch: int = Field(default=0)
    disabled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    password_changed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class AuthorizationCode(SQLModel, table=True):
    """A code of the authorization code grant (RFC 6749 4.1, PKCE RFC 7636): single use,
    short-lived, kept by its SHA-256 only so that a database reader cannot redeem it."""

    __tablename__ = "authorization_code"

    code_hash: str = Field(primary_key=True, max_length=64)
    client_id: str = Field(max_length=80)
    person_id: str = Field(foreign_key="person.id", max_length=36, index=True)
    redirect_uri: str = Field(max_length=500)
    scope: str = Field(max_length=200)
    nonce: str | None = Field(default=None, max_length=200)
    code_challenge: str = Field(max_length=128)
    code_challenge_method: str = Field(max_length=10)
    auth_time: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)


class ConsoleLogin(SQLModel, table=True):
    """A login the consoles started and the issuer has not answered yet: the OAuth `state`
    (by its SHA-256), the PKCE verifier and the OpenID nonce, for a few minutes."""

    __tablename__ = "console_login"

    state_hash: str = Field(primary_key=True, max_length=64)
    code_verifier: str = Field(max_length=128)
    nonce: str = Field(max_length=128)
    return_to: str = Field(max_length=500)
    locale: str | None = Field(default=None, max_length=8)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)


class ConsoleSession(SQLModel, table=True):
    """A logged-in person's session in the consoles. The browser holds a random id in a
    Secure, HttpOnly, SameSite=Strict cookie; the table holds its SHA-256, the person's
    access token (sealed with the hub's keyring) and the CSRF token of its forms.
    Logging out deletes the row; a session ends at the token's expiry at the latest."""

    __tablename__ = "console_session"

    id_hash: str = Field(primary_key=True, max_length=64)
    access_token: str = Field(sa_column=Column(Text, nullable=False))
    csrf_token: str = Field(max_length=64)
    subject: str = Field(max_length=200, index=True)
    # When the person last typed a password: the identity shows only after a fresh login.
    authenticated_at: datetime = Field(sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
