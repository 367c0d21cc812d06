"""investigations (named cases) and the workers they name

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01 16:40:00.000000

An investigator reads a worker's identity only under an open investigation of the
investigator's own organisation that names the worker (policies/sex_worker.yaml, guardrail
`identity`). The case reference is unique: the request names it (Hub-Case header).
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import hub.models.base

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_S = sqlmodel.sql.sqltypes.AutoString
_T = hub.models.base.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "investigation",
        sa.Column("id", _S(length=36), nullable=False),
        sa.Column("reference", _S(length=40), nullable=False),
        sa.Column("prosecutor_org_id", _S(length=36), nullable=True),
        sa.Column("prosecutor_office", _S(length=120), nullable=True),
        sa.Column("police_org_id", _S(length=36), nullable=False),
        sa.Column("opened_at", _T(timezone=True), nullable=False),
        sa.Column("expires_at", _T(timezone=True), nullable=False),
        sa.Column("closed_at", _T(timezone=True), nullable=True),
        sa.Column("updated_at", _T(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["prosecutor_org_id"], ["organisation.id"]),
        sa.ForeignKeyConstraint(["police_org_id"], ["organisation.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("reference"),
    )
    op.create_index("ix_investigation_police_org_id", "investigation", ["police_org_id"])
    op.create_index("ix_investigation_expires_at", "investigation", ["expires_at"])
    op.create_table(
        "investigation_subject",
        sa.Column("investigation_id", _S(length=36), nullable=False),
        sa.Column("sex_worker_id", _S(length=36), nullable=False),
        sa.ForeignKeyConstraint(["investigation_id"], ["investigation.id"]),
        sa.ForeignKeyConstraint(["sex_worker_id"], ["sex_worker.id"]),
        sa.PrimaryKeyConstraint("investigation_id", "sex_worker_id"),
    )
    op.create_index(
        "ix_investigation_subject_sex_worker_id", "investigation_subject", ["sex_worker_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_investigation_subject_sex_worker_id", table_name="investigation_subject")
    op.drop_table("investigation_subject")
    op.drop_index("ix_investigation_expires_at", table_name="investigation")
    op.drop_index("ix_investigation_police_org_id", table_name="investigation")
    op.drop_table("investigation")
