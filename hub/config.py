"""Settings, read once from HUB_* environment variables and passed down explicitly."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path


def _bool(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite+aiosqlite:///./hub.db"
    secret_dir: Path = Path("./.hub-secrets")
    policy_dir: Path = Path("./policies")
    # Token issuer: unset means the hub is its own authorization server.
    oidc_issuer: str | None = None
    oidc_audience: str = "hub"
    # An external provider's JWKS is fetched again for an unknown kid at most this often.
    oidc_jwks_refresh_s: float = 10.0
    issuer_url: str = "http://127.0.0.1:8000"
    token_lifetime_s: int = 3600
    kafka_bootstrap: str | None = None
    # The idempotent producer (on in production; the Tansu test broker lacks it).
    kafka_idempotence: bool = True
    kafka_session_timeout_ms: int = 10_000  # consumer groups; a group joins in about half
    # Relay and inbound consumers: inside `hub serve` ("inline") or not ("off": run them
    # with `hub connectors run`). Each replica's feed of hub.events runs whenever Kafka is on.
    connectors: str = "inline"
    page_cap: int = 100
    max_depth: int = 10
    max_aliases: int = 15
    max_tokens: int = 2000
    sql_echo: bool = False
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        e = dict(os.environ if env is None else env)
        d = cls()
        return cls(
            database_url=e.get("HUB_DATABASE_URL", d.database_url),
            secret_dir=Path(e.get("HUB_SECRET_DIR", str(d.secret_dir))),
            policy_dir=Path(e.get("HUB_POLICY_DIR", str(d.policy_dir))),
            oidc_issuer=e.get("HUB_OIDC_ISSUER") or None,
            oidc_audience=e.get("HUB_OIDC_AUDIENCE", d.oidc_audience),
            oidc_jwks_refresh_s=float(e.get("HUB_OIDC_JWKS_REFRESH_S", d.oidc_jwks_refresh_s)),
            issuer_url=e.get("HUB_ISSUER_URL", d.issuer_url),
            token_lifetime_s=int(e.get("HUB_TOKEN_LIFETIME", d.token_lifetime_s)),
            kafka_bootstrap=e.get("HUB_KAFKA_BOOTSTRAP") or None,
            kafka_idempotence=_bool(e.get("HUB_KAFKA_IDEMPOTENCE"), True),
            kafka_session_timeout_ms=int(
                e.get("HUB_KAFKA_SESSION_TIMEOUT_MS", d.kafka_session_timeout_ms)
            ),
            connectors=e.get("HUB_CONNECTORS", d.connectors),
            page_cap=int(e.get("HUB_PAGE_CAP", d.page_cap)),
            max_depth=int(e.get("HUB_MAX_DEPTH", d.max_depth)),
            max_aliases=int(e.get("HUB_MAX_ALIASES", d.max_aliases)),
            max_tokens=int(e.get("HUB_MAX_TOKENS", d.max_tokens)),
            sql_echo=_bool(e.get("HUB_SQL_ECHO"), False),
        )

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]
