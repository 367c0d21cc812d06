"""published statistics reports: one city's indicators for one closed period, frozen

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-01 17:00:00.000000

A report is computed once, when first asked for or published by `hub statistics publish`,
and returned unchanged afterwards, so that late records cannot be differenced out of two
reports of the same period. Only suppressed figures are stored.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from hub.models.base import UTCDateTime

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_S = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table(
        "published_report",
        sa.Column("id", _S(length=36), nullable=False),
        sa.Column("city", _S(length=80), nullable=False),
        sa.Column("period_first", sa.Date(), nullable=False),
        sa.Column("period_last", sa.Date(), nullable=False),
        sa.Column("label", _S(length=10), nullable=False),
        sa.Column("figures", sa.JSON(), nullable=False),
        sa.Column("published_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("city", "period_first", "period_last"),
    )


def downgrade() -> None:
    op.drop_table("published_report")
