"""what a measure is against: premises, a worker, a client or another third party

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-01 20:00:00.000000

The fines indicator splits fines between workers, clients, other third parties and
premises. A measure names its target (premises, a worker's reference, or a sealed name) but
not whether a named person is a client; `target_kind` records that at opening. It is not
personal data and stays when the worker's reference is nulled by erasure.

Existing rows: a measure on premises is `premises`; one that names a worker, or names
nothing any more (only a worker's erasure leaves a measure without a target), is
`sex_worker`; one with a sealed name is `other_person`, because whether that person was a
client was never recorded (it is not guessed). The column is added in place.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_S = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.add_column(
        "measure",
        sa.Column("target_kind", _S(length=20), nullable=False, server_default="premises"),
    )
    op.execute(
        "UPDATE measure SET target_kind = CASE"
        " WHEN premises_id IS NOT NULL THEN 'premises'"
        " WHEN target_name IS NOT NULL THEN 'other_person'"
        " ELSE 'sex_worker' END"
    )


def downgrade() -> None:
    with op.batch_alter_table("measure") as batch:
        batch.drop_column("target_kind")
