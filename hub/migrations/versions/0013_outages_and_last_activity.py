"""recorded outages of the hub (late shift registration) and the workers' last activity

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 17:00:00.000000

`hub_outage` holds the outages an operator of the hub records (`hub outage add`); a shift
that started during one may be registered late, and `shift_registration.outage_id` names
the outage it cites. `sex_worker.last_active_at` is the latest activity retention has seen
of the worker; it starts empty (retention fills it from the records still there at its
next run, before it deletes any of them).
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from hub.models.base import UTCDateTime

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_S = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table(
        "hub_outage",
        sa.Column("id", _S(length=36), nullable=False),
        sa.Column("starts_at", UTCDateTime(), nullable=False),
        sa.Column("ends_at", UTCDateTime(), nullable=False),
        sa.Column("reason", _S(length=300), nullable=False),
        sa.Column("recorded_by", _S(length=200), nullable=False),
        sa.Column("recorded_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_hub_outage_starts_at"), "hub_outage", ["starts_at"], unique=False)
    with op.batch_alter_table("shift_registration") as batch:
        batch.add_column(sa.Column("outage_id", _S(length=36), nullable=True))
        batch.create_foreign_key(
            "fk_shift_registration_outage_id", "hub_outage", ["outage_id"], ["id"]
        )
    with op.batch_alter_table("sex_worker") as batch:
        batch.add_column(sa.Column("last_active_at", UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sex_worker") as batch:
        batch.drop_column("last_active_at")
    with op.batch_alter_table("shift_registration") as batch:
        batch.drop_constraint("fk_shift_registration_outage_id", type_="foreignkey")
        batch.drop_column("outage_id")
    op.drop_index(op.f("ix_hub_outage_starts_at"), table_name="hub_outage")
    op.drop_table("hub_outage")
