"""an anonymous report's follow-up code (its hash) and wrong-code attempts

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 14:20:00.000000

An anonymous report keeps no link to its author; the reporter gets a follow-up code once,
and only its SHA-256 is kept on the report, so the holder of the code can read the replies.
`follow_up_attempt` keeps wrong codes for a short while to rate-limit guessing.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import hub.models.base

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_S = sqlmodel.sql.sqltypes.AutoString
_T = hub.models.base.UTCDateTime


def upgrade() -> None:
    op.add_column("report", sa.Column("follow_up_hash", _S(length=64), nullable=True))
    op.create_index("ix_report_follow_up_hash", "report", ["follow_up_hash"], unique=True)
    op.create_table(
        "follow_up_attempt",
        sa.Column("id", _S(length=36), nullable=False),
        sa.Column("caller_hash", _S(length=64), nullable=False),
        sa.Column("at", _T(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_follow_up_attempt_caller_hash", "follow_up_attempt", ["caller_hash"])
    op.create_index("ix_follow_up_attempt_at", "follow_up_attempt", ["at"])


def downgrade() -> None:
    op.drop_index("ix_follow_up_attempt_at", table_name="follow_up_attempt")
    op.drop_index("ix_follow_up_attempt_caller_hash", table_name="follow_up_attempt")
    op.drop_table("follow_up_attempt")
    op.drop_index("ix_report_follow_up_hash", table_name="report")
    with op.batch_alter_table("report") as batch:
        batch.drop_column("follow_up_hash")
