"""who rejected a policy change: the organisation and the role (never a token)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 14:30:00.000000

The officers' console shows each version and change with who proposed, approved and
rejected it; a rejection kept only its reason and time.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_S = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    with op.batch_alter_table("policy_change") as batch:
        batch.add_column(sa.Column("rejected_by", _S(length=200), nullable=True))
        batch.add_column(sa.Column("rejected_by_org", _S(length=36), nullable=True))
        batch.add_column(sa.Column("rejected_by_role", _S(length=40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("policy_change") as batch:
        batch.drop_column("rejected_by_role")
        batch.drop_column("rejected_by_org")
        batch.drop_column("rejected_by")
