"""What the `hub` subcommands share: the settings (with readable errors), a database for the
length of one command, logging, and the issuer address `hub serve` records."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from hub.config import Settings
    from hub.db import Database

T = TypeVar("T")

# Written by `hub serve` and `hub demo` while they serve: the issuer URL of their tokens, so
# `hub token` on the same machine mints tokens that hub accepts.
ISSUER_FILE = "serve-issuer-url"


class ConfigurationError(Exception):
    """A HUB_* variable with a wrong value: one line per variable, `NAME: reason`."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


def _variable(field: str) -> str:
    """The environment variable behind a settings field, as pydantic names it in an error."""
    from pydantic import AliasChoices

    from hub.config import Settings

    info = Settings.model_fields.get(field)
    if info is None:
        return field  # already an alias, such as HUB_TOKEN_LIFETIME
    alias = info.validation_alias
    if isinstance(alias, AliasChoices) and isinstance(alias.choices[0], str):
        return alias.choices[0].upper()
    if isinstance(alias, str):
        return alias.upper()
    if info.alias:
        return info.alias.upper()
    prefix = Settings.model_config.get("env_prefix", "")
    return f"{prefix}{field}".upper()


def settings(**changes: Any) -> Settings:
    """The settings of the environment (with `changes`); ConfigurationError when a variable
    is wrong. The value itself is never repeated: it may be a secret or a URL with one."""
    from pydantic import ValidationError

    from hub.config import Settings

    try:
        found = Settings.from_env()
        return found.with_(**changes) if changes else found
    except ValidationError as exc:
        lines = []
        for error in exc.errors(include_url=False, include_input=False):
            where = _variable(str(error["loc"][0])) if error["loc"] else "settings"
            lines.append(f"{where}: {error['msg']}")
        raise ConfigurationError(lines) from None


def fail(message: str, code: int = 1) -> int:
    """Print `error: message` to stderr and return the exit code."""
    print(f"error: {message}", file=sys.stderr)
    return code


def configure_logging(config: Settings) -> bool:
    """Configure logging from HUB_LOG_LEVEL and HUB_LOG_FORMAT; False if they are wrong."""
    from hub.observability.logs import configure_logging as configure

    try:
        configure(config)
    except ValueError as e:
        fail(str(e))
        return False
    return True


def with_database(config: Settings, action: Callable[[Database], Awaitable[T]]) -> T:
    """Run `action(db)` on the configured database, disposed of afterwards."""
    from hub.db import Database

    async def run() -> T:
        db = Database(config.database_url)
        try:
            return await action(db)
        finally:
            await db.dispose()

    return asyncio.run(run())


def in_session(config: Settings, action: Callable[[Any], Awaitable[T]]) -> T:
    """Run `action(session)` in one session of the configured database."""

    async def run(db: Database) -> T:
        async with db.session() as session:
            return await action(session)

    return with_database(config, run)


def read_vkey(value: str) -> str:
    """A verifier key given as itself or as the path of a file holding it."""
    path = Path(value)
    return path.read_text().strip() if "+" not in value and path.is_file() else value.strip()


@contextlib.contextmanager
def issuer_recorded(config: Settings) -> Iterator[None]:
    """Record the issuer URL of the hub being served in the secret dir, for `hub token`,
    and remove it when serving stops (unless another `hub serve` has replaced it)."""
    path = config.secret_dir / ISSUER_FILE
    config.secret_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.write_text(config.issuer_url + "\n")
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            if path.read_text().strip() == config.issuer_url:
                path.unlink()


def recorded_issuer(config: Settings) -> str | None:
    """The issuer URL a running `hub serve` recorded in the secret dir, if any."""
    try:
        return (config.secret_dir / ISSUER_FILE).read_text().strip() or None
    except OSError:
        return None


def issuer_from_environment() -> str | None:
    return os.environ.get("HUB_ISSUER_URL") or None
