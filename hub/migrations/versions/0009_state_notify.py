"""NOTIFY hub_auth and hub_policy when the registry's or the policy's generation moves

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 12:55:00.000000

On PostgreSQL only (hub/notify.py): each replica's registry and policy store wake on these
instead of reading their generation four times a second. SQLite keeps polling.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TRIGGERS = {"auth_state": "hub_auth", "policy_state": "hub_policy"}


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        "CREATE FUNCTION hub_state_notify() RETURNS trigger LANGUAGE plpgsql AS $$"
        " BEGIN PERFORM pg_notify(TG_ARGV[0], ''); RETURN NULL; END $$"
    )
    for table, channel in TRIGGERS.items():
        op.execute(
            f"CREATE TRIGGER {table}_notify AFTER INSERT OR UPDATE ON {table}"
            f" FOR EACH STATEMENT EXECUTE FUNCTION hub_state_notify('{channel}')"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_notify ON {table}")
    op.execute("DROP FUNCTION IF EXISTS hub_state_notify()")
