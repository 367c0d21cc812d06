"""a worker's participation per city, and pairings by code with an operator

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-01 17:00:00.000000

`participation`: one row per worker and city, with the city's regime (voluntary or
compulsory) and who recorded it (the worker themself, or the police). `pairing`: a code
the worker made (kept as its SHA-256 only, single use, short-lived) and, once redeemed,
the organisation it links the worker to.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import hub.models.base

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_S = sqlmodel.sql.sqltypes.AutoString
_T = hub.models.base.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "participation",
        sa.Column("id", _S(length=36), nullable=False),
        sa.Column("sex_worker_id", _S(length=36), nullable=False),
        sa.Column("city", _S(length=80), nullable=False),
        sa.Column("regime", _S(length=20), nullable=False),
        sa.Column("how", _S(length=20), nullable=False),
        sa.Column("status", _S(length=20), nullable=False),
        sa.Column("started_at", _T(timezone=True), nullable=False),
        sa.Column("ended_at", _T(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["sex_worker_id"], ["sex_worker.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("sex_worker_id", "city", name="uq_participation_city"),
    )
    op.create_index("ix_participation_sex_worker_id", "participation", ["sex_worker_id"])
    op.create_index("ix_participation_city", "participation", ["city"])
    op.create_table(
        "pairing",
        sa.Column("id", _S(length=36), nullable=False),
        sa.Column("sex_worker_id", _S(length=36), nullable=False),
        sa.Column("organisation_id", _S(length=36), nullable=True),
        sa.Column("code_hash", _S(length=64), nullable=True),
        sa.Column("status", _S(length=20), nullable=False),
        sa.Column("created_at", _T(timezone=True), nullable=False),
        sa.Column("expires_at", _T(timezone=True), nullable=False),
        sa.Column("redeemed_at", _T(timezone=True), nullable=True),
        sa.Column("revoked_at", _T(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["sex_worker_id"], ["sex_worker.id"]),
        sa.ForeignKeyConstraint(["organisation_id"], ["organisation.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_pairing_sex_worker_id", "pairing", ["sex_worker_id"])
    op.create_index("ix_pairing_organisation_id", "pairing", ["organisation_id"])
    op.create_index("ix_pairing_code_hash", "pairing", ["code_hash"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_pairing_code_hash", table_name="pairing")
    op.drop_index("ix_pairing_organisation_id", table_name="pairing")
    op.drop_index("ix_pairing_sex_worker_id", table_name="pairing")
    op.drop_table("pairing")
    op.drop_index("ix_participation_city", table_name="participation")
    op.drop_index("ix_participation_sex_worker_id", table_name="participation")
    op.drop_table("participation")
