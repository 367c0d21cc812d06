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
    # Operations (hub/observability/): log level and format (json, or text for people),
    # OTLP/HTTP traces when an endpoint is set, and an optional bearer token on /metrics.
    log_level: str = "INFO"
    log_format: str = "json"
    otlp_endpoint: str | None = None
    otel_service_name: str = "hub"
    metrics_token: str | None = None
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
            log_level=e.get("HUB_LOG_LEVEL") or d.log_level,
            log_format=e.get("HUB_LOG_FORMAT") or d.log_format,
            otlp_endpoint=(
                e.get("HUB_OTLP_ENDPOINT") or e.get("OTEL_EXPORTER_OTLP_ENDPOINT") or None
            ),
            otel_service_name=e.get("OTEL_SERVICE_NAME") or d.otel_service_name,
            metrics_token=e.get("HUB_METRICS_TOKEN") or None,
        )

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]
