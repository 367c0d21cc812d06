"""access_log_subject without its foreign key to access_log

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 11:40:00.000000

The only writer of both tables is the access log's append (hub/audit/log.py), which inserts
an entry and its subjects in one transaction, and every entry's leaf hash commits to its
subjects, so `hub audit verify` already detects a subject row that does not belong. The
foreign key added nothing to that, and it cost a lookup per row: a page of 50 shifts
concerns 100 subject rows, and on PostgreSQL the checks (a plan cached while the log was
small) took more database time than the read itself.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# SQLite keeps the constraint unnamed: batch mode names it by this convention to drop it.
NAMING = {"fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s"}
SQLITE_NAME = "fk_access_log_subject_entry_id_access_log"
POSTGRES_NAME = "access_log_subject_entry_id_fkey"


def _name() -> str:
    return POSTGRES_NAME if op.get_bind().dialect.name == "postgresql" else SQLITE_NAME


def upgrade() -> None:
    with op.batch_alter_table("access_log_subject", naming_convention=NAMING) as batch_op:
        batch_op.drop_constraint(_name(), type_="foreignkey")


def downgrade() -> None:
    with op.batch_alter_table("access_log_subject", naming_convention=NAMING) as batch_op:
        batch_op.create_foreign_key(_name(), "access_log", ["entry_id"], ["id"])
