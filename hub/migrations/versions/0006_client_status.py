"""client status (disable, token epoch) and the auth registry's generation counter

Revision ID: 0006
Revises: 0004 (temporarily: 0005 is being written on another branch; point this at "0005"
when that lands)
Create Date: 2026-12-01 08:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import hub.models.base

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Every change to these tables moves auth_state.generation, whatever code makes it, so the
# replicas' cached registries (hub/auth/registry.py) notice it within a second.
WATCHED = ("organisation", "api_client")


def upgrade() -> None:
    with op.batch_alter_table("api_client", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("disabled", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column("token_epoch", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("disabled_at", hub.models.base.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column(
                "secret_rotated_at", hub.models.base.UTCDateTime(timezone=True), nullable=True
            )
        )
    op.create_table(
        "auth_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.execute("INSERT INTO auth_state (id, generation) VALUES (1, 0)")

    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION hub_auth_changed() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN UPDATE auth_state SET generation = generation + 1 WHERE id = 1; "
            "RETURN NULL; END $$"
        )
        for table in WATCHED:
            op.execute(
                f"CREATE TRIGGER {table}_auth_changed "
                f"AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION hub_auth_changed()"
            )
    else:
        bump = "UPDATE auth_state SET generation = generation + 1 WHERE id = 1;"
        for table in WATCHED:
            for event in ("INSERT", "UPDATE", "DELETE"):
                name = f"{table}_auth_changed_{event.lower()}"
                op.execute(f"CREATE TRIGGER {name} AFTER {event} ON {table} BEGIN {bump} END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in WATCHED:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_auth_changed ON {table}")
        op.execute("DROP FUNCTION IF EXISTS hub_auth_changed()")
    else:
        for table in WATCHED:
            for event in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_auth_changed_{event}")
    op.drop_table("auth_state")
    with op.batch_alter_table("api_client", schema=None) as batch_op:
        batch_op.drop_column("secret_rotated_at")
        batch_op.drop_column("disabled_at")
        batch_op.drop_column("token_epoch")
        batch_op.drop_column("disabled")
