"""warnings from templates: alert.template, and the Dutch text optional beside a template

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01 17:10:00.000000

A warning may be issued from a template (a common kind of warning, shown in the reader's
language) with optional free text, so `alert.text_nl` may be empty when `template` is set.
Existing warnings keep their texts and have no template.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_S = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    with op.batch_alter_table("alert") as batch:
        batch.add_column(sa.Column("template", _S(length=30), nullable=True))
        batch.alter_column("text_nl", existing_type=_S(length=2000), nullable=True)


def downgrade() -> None:
    # A warning issued from a template alone gets its template's key as its Dutch text.
    op.execute("UPDATE alert SET text_nl = template WHERE text_nl IS NULL")
    with op.batch_alter_table("alert") as batch:
        batch.alter_column("text_nl", existing_type=_S(length=2000), nullable=False)
        batch.drop_column("template")
