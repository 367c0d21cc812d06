"""structured measure targets: premises, a worker, or a sealed name; free text removed

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-01 18:00:00.000000

A measure's free-text `target` could name a person in clear for ten years, untouched by
erasure. It is replaced by exactly one of: the premises (`premises_id`, as before), a worker
(`target_sex_worker_id`, nulled when the worker is erased) or a client or third party's name,
encrypted under a data key of its own wrapped by the master key (`target_name`,
`target_name_key`).

Existing rows: a measure on premises keeps the premises as its target and its free text is
dropped (it described the premises the row already names). Any other measure's free text
is sealed as a name with the master key of HUB_SECRET_DIR; the migration refuses to run,
changing nothing, when such rows exist and that key is absent (it never creates one).
Downgrade cannot restore text it would have to decrypt: targets come back as "premises" or
"sealed".
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_S = sqlmodel.sql.sqltypes.AutoString


def _keyring():  # type: ignore[no-untyped-def]
    from hub.config import Settings
    from hub.crypto import Keyring

    path = Settings().secret_dir / "master.key"
    if not path.exists():
        raise RuntimeError(
            "measures name their target in free text: the master key (HUB_SECRET_DIR) is "
            "needed to seal those names; nothing was changed"
        )
    return Keyring(path.read_bytes())


def upgrade() -> None:
    # Read and refuse before any change (SQLite does not roll back a half-done batch).
    bind = op.get_bind()
    named = bind.execute(
        sa.text("SELECT id, target FROM measure WHERE premises_id IS NULL AND target <> ''")
    ).all()
    keyring = _keyring() if named else None
    with op.batch_alter_table("measure") as batch:
        batch.add_column(sa.Column("target_sex_worker_id", _S(length=36), nullable=True))
        batch.add_column(sa.Column("target_name", sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column("target_name_key", sa.LargeBinary(), nullable=True))
        batch.create_foreign_key(
            "fk_measure_target_sex_worker_id", "sex_worker", ["target_sex_worker_id"], ["id"]
        )
        batch.create_index("ix_measure_target_sex_worker_id", ["target_sex_worker_id"])
    if keyring is not None:
        for measure_id, text in named:
            wrapped, sealed = keyring.seal_name(measure_id, text)
            bind.execute(
                sa.text("UPDATE measure SET target_name = :n, target_name_key = :k WHERE id = :i"),
                {"n": sealed, "k": wrapped, "i": measure_id},
            )
    with op.batch_alter_table("measure") as batch:
        batch.drop_column("target")


def downgrade() -> None:
    with op.batch_alter_table("measure") as batch:
        batch.add_column(sa.Column("target", _S(length=200), nullable=True))
    op.execute(
        "UPDATE measure SET target = CASE WHEN premises_id IS NOT NULL THEN 'premises' "
        "ELSE 'sealed' END"
    )
    with op.batch_alter_table("measure") as batch:
        batch.alter_column("target", existing_type=_S(length=200), nullable=False)
        batch.drop_index("ix_measure_target_sex_worker_id")
        batch.drop_constraint("fk_measure_target_sex_worker_id", type_="foreignkey")
        batch.drop_column("target_name_key")
        batch.drop_column("target_name")
        batch.drop_column("target_sex_worker_id")
