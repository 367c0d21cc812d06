"""people who log in to the consoles, authorization codes, console logins and sessions

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 14:10:00.000000

Every change to `person` moves auth_state.generation like a change to `api_client` does
(0006), so the replicas' registries notice a disabled person within a second.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import hub.models.base

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_S = sqlmodel.sql.sqltypes.AutoString
_T = hub.models.base.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "person",
        sa.Column("id", _S(length=36), nullable=False),
        sa.Column("username", _S(length=80), nullable=False),
        sa.Column("password_hash", _S(length=300), nullable=False),
        sa.Column("display_name", _S(length=120), nullable=False),
        sa.Column("organisation_id", _S(length=36), nullable=False),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("purposes", sa.JSON(), nullable=False),
        sa.Column("sex_worker_id", _S(length=36), nullable=True),
        sa.Column("locale", _S(length=8), nullable=True),
        sa.Column("created_at", _T(timezone=True), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("token_epoch", sa.Integer(), nullable=False),
        sa.Column("disabled_at", _T(timezone=True), nullable=True),
        sa.Column("password_changed_at", _T(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["organisation_id"], ["organisation.id"]),
        sa.ForeignKeyConstraint(["sex_worker_id"], ["sex_worker.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_person_username", "person", ["username"], unique=True)
    op.create_table(
        "authorization_code",
        sa.Column("code_hash", _S(length=64), nullable=False),
        sa.Column("client_id", _S(length=80), nullable=False),
        sa.Column("person_id", _S(length=36), nullable=False),
        sa.Column("redirect_uri", _S(length=500), nullable=False),
        sa.Column("scope", _S(length=200), nullable=False),
        sa.Column("nonce", _S(length=200), nullable=True),
        sa.Column("code_challenge", _S(length=128), nullable=False),
        sa.Column("code_challenge_method", _S(length=10), nullable=False),
        sa.Column("auth_time", _T(timezone=True), nullable=False),
        sa.Column("expires_at", _T(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"]),
        sa.PrimaryKeyConstraint("code_hash"),
    )
    op.create_index("ix_authorization_code_person_id", "authorization_code", ["person_id"])
    op.create_table(
        "console_login",
        sa.Column("state_hash", _S(length=64), nullable=False),
        sa.Column("code_verifier", _S(length=128), nullable=False),
        sa.Column("nonce", _S(length=128), nullable=False),
        sa.Column("return_to", _S(length=500), nullable=False),
        sa.Column("locale", _S(length=8), nullable=True),
        sa.Column("created_at", _T(timezone=True), nullable=False),
        sa.Column("expires_at", _T(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("state_hash"),
    )
    op.create_table(
        "console_session",
        sa.Column("id_hash", _S(length=64), nullable=False),
        sa.Column("access_token", sa.Text(), nullable=False),
        sa.Column("csrf_token", _S(length=64), nullable=False),
        sa.Column("subject", _S(length=200), nullable=False),
        sa.Column("authenticated_at", _T(timezone=True), nullable=False),
        sa.Column("created_at", _T(timezone=True), nullable=False),
        sa.Column("expires_at", _T(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id_hash"),
    )
    op.create_index("ix_console_session_subject", "console_session", ["subject"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE TRIGGER person_auth_changed "
            "AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON person "
            "FOR EACH STATEMENT EXECUTE FUNCTION hub_auth_changed()"
        )
    else:
        bump = "UPDATE auth_state SET generation = generation + 1 WHERE id = 1;"
        for event in ("INSERT", "UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER person_auth_changed_{event.lower()} AFTER {event} ON person "
                f"BEGIN {bump} END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS person_auth_changed ON person")
    else:
        for event in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS person_auth_changed_{event}")
    op.drop_index("ix_console_session_subject", table_name="console_session")
    op.drop_table("console_session")
    op.drop_table("console_login")
    op.drop_index("ix_authorization_code_person_id", table_name="authorization_code")
    op.drop_table("authorization_code")
    op.drop_index("ix_person_username", table_name="person")
    op.drop_table("person")
