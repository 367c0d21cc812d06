"""employers and work: recognition of employers, employment relations, rent terms

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-01 17:00:00.000000

Since the labour law of 2024 a recognised employer may employ sex workers under an
employment contract. An organisation of kind `employer` carries its recognition by the
labour inspection (status, number, when and by whom); `employment_relation` links a worker
to an employer; a rental agreement carries its rent terms (EUR cents). Organisation columns
are added in place (no table copy), so SQLite keeps the registry's triggers on the table.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import hub.models.base

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_S = sqlmodel.sql.sqltypes.AutoString
_T = hub.models.base.UTCDateTime


def upgrade() -> None:
    op.add_column("organisation", sa.Column("recognition_status", _S(length=20), nullable=True))
    op.add_column("organisation", sa.Column("recognition_number", _S(length=20), nullable=True))
    op.add_column(
        "organisation", sa.Column("recognition_decided_at", _T(timezone=True), nullable=True)
    )
    op.add_column(
        "organisation", sa.Column("recognition_decided_by_id", _S(length=36), nullable=True)
    )
    op.create_index(
        "ix_organisation_recognition_number", "organisation", ["recognition_number"], unique=True
    )
    op.add_column("rental_agreement", sa.Column("rent_cents", sa.Integer(), nullable=True))
    op.add_column("rental_agreement", sa.Column("rent_period", _S(length=10), nullable=True))
    op.add_column("rental_agreement", sa.Column("deposit_cents", sa.Integer(), nullable=True))
    op.add_column("rental_agreement", sa.Column("currency", _S(length=3), nullable=True))
    op.create_table(
        "employment_relation",
        sa.Column("id", _S(length=36), nullable=False),
        sa.Column("employer_id", _S(length=36), nullable=False),
        sa.Column("sex_worker_id", _S(length=36), nullable=False),
        sa.Column("contract_kind", _S(length=20), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=True),
        sa.Column("recorded_by_id", _S(length=36), nullable=True),
        sa.Column("created_at", _T(timezone=True), nullable=False),
        sa.Column("ended_at", _T(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["employer_id"], ["organisation.id"]),
        sa.ForeignKeyConstraint(["sex_worker_id"], ["sex_worker.id"]),
        sa.ForeignKeyConstraint(["recorded_by_id"], ["organisation.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_employment_relation_employer_id", "employment_relation", ["employer_id"])
    op.create_index(
        "ix_employment_relation_sex_worker_id", "employment_relation", ["sex_worker_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_employment_relation_sex_worker_id", table_name="employment_relation")
    op.drop_index("ix_employment_relation_employer_id", table_name="employment_relation")
    op.drop_table("employment_relation")
    with op.batch_alter_table("rental_agreement") as batch:
        batch.drop_column("currency")
        batch.drop_column("deposit_cents")
        batch.drop_column("rent_period")
        batch.drop_column("rent_cents")
    op.drop_index("ix_organisation_recognition_number", table_name="organisation")
    # In place (SQLite 3.35+), so the registry's triggers on the table stay.
    op.drop_column("organisation", "recognition_decided_by_id")
    op.drop_column("organisation", "recognition_decided_at")
    op.drop_column("organisation", "recognition_number")
    op.drop_column("organisation", "recognition_status")
