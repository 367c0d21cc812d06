"""a worker's self-declared gender (optional, the worker's alone)

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-01 20:00:00.000000

`sex_worker.gender`: NULL (not stated) for every existing worker; only the worker sets it
(setMyGender) and reads it. Added in place (no table copy).
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "sex_worker",
        sa.Column("gender", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
    )


def downgrade() -> None:
    # In place (SQLite 3.35+).
    op.drop_column("sex_worker", "gender")
