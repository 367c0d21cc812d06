"""`hub db upgrade`: apply the database migrations."""

from __future__ import annotations

import argparse

from hub.commands.common import settings


def upgrade(_args: argparse.Namespace) -> int:
    from hub.db import upgrade as migrate

    migrate(settings().database_url)
    print("database schema is up to date")
    return 0
