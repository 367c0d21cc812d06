"""trafficking suspicions, the union's helpdesk, the NGO minimum format, referrals outside

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-01 17:00:00.000000

`trafficking_suspicion` and `helpdesk_request` are new records that stay with the
organisation holding them. A care contact gains the minimum format's request for help and
follow-up; a referral may go to a destination outside the hub (then `to_org_id` is null)
and may be made without consent for a victim under protection, on a recorded legal basis.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import hub.models.base

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_S = sqlmodel.sql.sqltypes.AutoString
_T = hub.models.base.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "trafficking_suspicion",
        sa.Column("id", _S(length=36), nullable=False),
        sa.Column("org_id", _S(length=36), nullable=False),
        sa.Column("indicators", sa.JSON(), nullable=False),
        sa.Column("sex_worker_id", _S(length=36), nullable=True),
        sa.Column("client_ref", _S(length=80), nullable=True),
        sa.Column("status", _S(length=20), nullable=False),
        sa.Column("city", _S(length=80), nullable=True),
        sa.Column("recorded_at", _T(timezone=True), nullable=False),
        sa.Column("updated_at", _T(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["organisation.id"]),
        sa.ForeignKeyConstraint(["sex_worker_id"], ["sex_worker.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_trafficking_suspicion_org_id", "trafficking_suspicion", ["org_id"])
    op.create_index(
        "ix_trafficking_suspicion_sex_worker_id", "trafficking_suspicion", ["sex_worker_id"]
    )
    op.create_index("ix_trafficking_suspicion_updated_at", "trafficking_suspicion", ["updated_at"])
    op.create_table(
        "helpdesk_request",
        sa.Column("id", _S(length=36), nullable=False),
        sa.Column("union_id", _S(length=36), nullable=False),
        sa.Column("received_on", sa.Date(), nullable=False),
        sa.Column("topic", _S(length=30), nullable=False),
        sa.Column("channel", _S(length=20), nullable=False),
        sa.Column("status", _S(length=20), nullable=False),
        sa.Column("text", _S(length=2000), nullable=False),
        sa.Column("recorded_at", _T(timezone=True), nullable=False),
        sa.Column("updated_at", _T(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["union_id"], ["organisation.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_helpdesk_request_union_id", "helpdesk_request", ["union_id"])
    op.create_index("ix_helpdesk_request_received_on", "helpdesk_request", ["received_on"])
    with op.batch_alter_table("care_contact") as batch:
        batch.add_column(sa.Column("request", _S(length=20), nullable=True))
        batch.add_column(sa.Column("follow_up", _S(length=20), nullable=True))
        batch.add_column(sa.Column("follow_up_date", sa.Date(), nullable=True))
    with op.batch_alter_table("referral") as batch:
        batch.alter_column("to_org_id", existing_type=_S(length=36), nullable=True)
        batch.add_column(sa.Column("destination", _S(length=30), nullable=True))
        batch.add_column(
            sa.Column("victim_protection", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("protection_basis", _S(length=40), nullable=True))


def downgrade() -> None:
    # Referrals to a destination outside the hub have no organisation to go back to.
    op.execute("DELETE FROM referral WHERE to_org_id IS NULL")
    with op.batch_alter_table("referral") as batch:
        batch.drop_column("protection_basis")
        batch.drop_column("victim_protection")
        batch.drop_column("destination")
        batch.alter_column("to_org_id", existing_type=_S(length=36), nullable=False)
    with op.batch_alter_table("care_contact") as batch:
        batch.drop_column("follow_up_date")
        batch.drop_column("follow_up")
        batch.drop_column("request")
    op.drop_index("ix_helpdesk_request_received_on", table_name="helpdesk_request")
    op.drop_index("ix_helpdesk_request_union_id", table_name="helpdesk_request")
    op.drop_table("helpdesk_request")
    op.drop_index("ix_trafficking_suspicion_updated_at", table_name="trafficking_suspicion")
    op.drop_index("ix_trafficking_suspicion_sex_worker_id", table_name="trafficking_suspicion")
    op.drop_index("ix_trafficking_suspicion_org_id", table_name="trafficking_suspicion")
    op.drop_table("trafficking_suspicion")
