"""Settings, read once from HUB_* environment variables (pydantic-settings) and passed down
explicitly. Every setting is validated at start: a wrong value stops the hub with a message
naming the variable, rather than surfacing later."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(\d+)\s*$")


@dataclass(frozen=True)
class Rate:
    """`per_s` requests a second on average, up to `burst` at once."""

    per_s: float
    burst: int

    @classmethod
    def parse(cls, spec: str) -> Rate | None:
        """ "RATE/BURST" (e.g. "20/40"), or "off" (None: no limit)."""
        if spec.strip().lower() == "off":
            return None
        m = _RATE.match(spec)
        if m is None:
            raise ValueError(f'{spec!r}: expected "RATE/BURST" (e.g. "20/40") or "off"')
        per_s, burst = float(m.group(1)), int(m.group(2))
        if per_s <= 0 or burst < 1:
            raise ValueError(f"{spec!r}: the rate and the burst must be positive")
        return cls(per_s, burst)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="HUB_",
        frozen=True,
        extra="ignore",
        validate_default=True,
        populate_by_name=True,
    )

    database_url: str = Field(
        default="sqlite+aiosqlite:///./hub.db",
        description="SQLAlchemy async URL: sqlite+aiosqlite:///FILE or postgresql+asyncpg://…",
    )
    secret_dir: Path = Field(
        default=Path("./.hub-secrets"),
        description="Keys, created on first start: the master key, signing and sealing keys.",
    )
    policy_dir: Path = Field(default=Path("./policies"), description="The policy documents (YAML).")
    oidc_issuer: str | None = Field(
        default=None, description="An external OpenID Connect issuer; unset: the hub issues tokens."
    )
    oidc_audience: str = Field(
        default="hub", description="The `aud` every access token must carry."
    )
    oidc_jwks_refresh_s: float = Field(
        default=10.0,
        ge=0,
        description="An external provider's JWKS is fetched again for an unknown kid at most "
        "this often.",
    )
    issuer_url: str = Field(
        default="http://127.0.0.1:8000",
        description="The embedded issuer's URL (the `iss` of its tokens); `hub serve` sets it "
        "from the address it binds unless this is given.",
    )
    token_lifetime_s: int = Field(default=3600, ge=60, le=86_400, alias="HUB_TOKEN_LIFETIME")
    console_token_lifetime_s: int = Field(
        default=8 * 3600,
        ge=60,
        le=86_400,
        alias="HUB_CONSOLE_TOKEN_LIFETIME",
        description="Seconds a person's access token from the consoles' login lives (the "
        "embedded issuer's authorization code grant); the console session ends with it.",
    )
    public_url: str | None = Field(
        default=None,
        description="The hub's address as browsers reach it (the consoles' login callback is "
        "<this>/login/callback); unset: the issuer URL.",
    )
    console_client_id: str = Field(
        default="hub-console",
        description="The consoles' OpenID Connect client id (a public client with PKCE) at the "
        "issuer, embedded or external.",
    )
    console_scope: str = Field(
        default="openid",
        pattern=r"^openid( [\x21\x23-\x5b\x5d-\x7e]+)*$",
        description="The scope the consoles ask the issuer for (starts with openid; add what an "
        "external provider needs to put the hub's claims in the access token).",
    )
    console_resource: str | None = Field(
        default=None,
        description="Sent as the RFC 8707 `resource` of the consoles' login, for providers "
        "that issue the hub's access token by resource indicator; unset: not sent.",
    )
    console_fresh_login_s: int = Field(
        default=300,
        ge=30,
        le=3600,
        description="A worker's identity shows on the pages only this long after the password "
        "was typed; later the worker logs in again to see it.",
    )
    kafka_bootstrap: str | None = Field(
        default=None, description="Kafka brokers (host:port,…); unset: the in-process event bus."
    )
    kafka_idempotence: bool = Field(
        default=True,
        description="The idempotent producer (on in production; the test broker lacks it).",
    )
    kafka_inbound_max_bytes: int = Field(
        default=65_536,
        ge=1024,
        le=16 * 1024 * 1024,
        description="The largest inbound partner message, checked before it is parsed; a "
        "larger one is dead-lettered as too_large, without its payload.",
    )
    kafka_linger_ms: int = Field(
        default=5,
        ge=0,
        le=1000,
        description="How long a producer waits to fill a batch before sending it.",
    )
    kafka_session_timeout_ms: int = Field(
        default=10_000, ge=1000, le=300_000, description="Consumer-group session timeout."
    )
    connectors: Literal["inline", "off"] = Field(
        default="inline",
        description="Relay and inbound consumers inside `hub serve` (inline) or not (off: run "
        "them with `hub connectors run`). Each replica's feed runs whenever Kafka is on.",
    )
    page_cap: int = Field(
        default=100, ge=1, le=1000, description="The largest page a list returns."
    )
    max_depth: int = Field(
        default=15,
        ge=1,
        le=50,
        description="The deepest GraphQL selection, introspection included (the standard "
        "introspection query is 15 deep).",
    )
    max_aliases: int = Field(default=15, ge=1, le=1000, description="Aliases per GraphQL document.")
    max_tokens: int = Field(
        default=2000, ge=10, le=100_000, description="Tokens per GraphQL document."
    )
    max_cost: int = Field(
        default=80_000,
        ge=1,
        le=10_000_000,
        description="The estimated cost of a GraphQL operation: the fields it asks for, each "
        "counted once per row (`first`, else 50, for a connection; the page cap for a root "
        "list, 10 for a record's own list; the schema's means for introspection lists).",
    )
    max_body_bytes: int = Field(
        default=256 * 1024,
        ge=1024,
        le=64 * 1024 * 1024,
        description="The largest HTTP request body (with or without Content-Length); a larger "
        "one is answered 413.",
    )
    # Per-client quotas, per replica (hub/schema/quotas.py).
    rate_limit_per_s: float = Field(
        default=20.0,
        ge=0,
        le=100_000,
        description="GraphQL requests a second per client, on average (a token bucket); 0: "
        "no limit. Past it: 429 with Retry-After (RATE_LIMITED).",
    )
    rate_limit_burst: int = Field(
        default=40, ge=1, le=1_000_000, description="Requests a client may make at once."
    )
    rate_limits: dict[str, str] = Field(
        default_factory=dict,
        description='Other rates for some clients, as JSON: {"CLIENT_ID": "RATE/BURST"}, or '
        '"off" to lift the limit (e.g. for a benchmark\'s client).',
    )
    client_ref_patterns: dict[str, str] = Field(
        default_factory=dict,
        description="An NGO's own pattern for its client references, as JSON: "
        '{"ORGANISATION_ID": "REGEX"} (the whole reference must match). Without one: 3 to 40 '
        "letters, digits and . _ / : # - with at least one digit (never a name, no spaces).",
    )
    max_ws_connections: int = Field(
        default=10, ge=1, le=10_000, description="Live WebSocket connections per client."
    )
    max_subscriptions: int = Field(
        default=20,
        ge=1,
        le=100_000,
        description="Live subscriptions per client, across its connections (and at most 10 on "
        "one connection).",
    )
    sql_echo: bool = Field(default=False, description="Log SQL statements (never in production).")
    # The read path (hub/read/) and backpressure.
    read_path: Literal["compiled", "generic"] = Field(
        default="compiled",
        description="Reads through compiled plans, falling back to the generic strawberry path "
        "for what they do not cover (compiled); or always the generic path (generic: for "
        "benchmarks and debugging).",
    )
    gc_freeze: bool = Field(
        default=True,
        description="After start-up, move everything built so far (schema, plans, policies, "
        "modules) out of the garbage collector's reach and collect the young generation "
        "less often, so that a full collection no longer stalls every request in flight "
        "(the tail latency). Off in the test suite, where many apps share one process.",
    )
    max_inflight: int = Field(
        default=32,
        ge=1,
        le=10_000,
        description="GraphQL requests in flight per replica; more wait in the admission "
        "queue, and past it are refused with 503 and Retry-After (RATE_LIMITED).",
    )
    admission_queue: int = Field(
        default=256,
        ge=0,
        le=100_000,
        description="Requests that may wait for a place past max_inflight or "
        "read_row_budget; more are refused at once (0: refuse at once).",
    )
    admission_wait_s: float = Field(
        default=2.0,
        ge=0,
        le=60,
        description="Longest wait in the admission queue before a 503 with Retry-After.",
    )
    read_row_budget: int = Field(
        default=4000,
        ge=1,
        le=1_000_000,
        description="Rows asked for (first x aliases x nested "
        "lists) by the requests in flight per replica; a request past it is refused like one "
        "past max_inflight, so a few huge reads cannot starve small ones.",
    )
    # The pool holds more connections than requests may be in flight, so connections are
    # kept, not opened and closed under load (a PostgreSQL backend costs milliseconds of
    # CPU to start).
    db_pool_size: int = Field(default=24, ge=1, le=500, description="PostgreSQL connections.")
    db_pool_overflow: int = Field(
        default=4, ge=0, le=500, description="PostgreSQL connections beyond the pool, briefly."
    )
    db_pool_timeout_s: float = Field(
        default=5.0,
        gt=0,
        le=300,
        description="Longest wait for a database connection; a "
        "request that waits longer is answered 503, never with fields left null.",
    )
    statement_timeout_ms: int = Field(
        default=10_000,
        ge=100,
        le=600_000,
        description="Longest SQL statement (PostgreSQL "
        "statement_timeout; SQLite: the longest wait for a lock).",
    )
    # The hub's statements are few and fixed (compiled reads are cached plans of the hub's
    # own): PostgreSQL plans each once per connection instead of at every execution. Its
    # default (auto) re-plans the compiled reads every time, since their parameters (the
    # principal's city, the time window) make a custom plan look cheaper; planning cost
    # more than executing (BENCHMARKS.md, bench/plan_cache.py). `auto` gives the choice
    # back to PostgreSQL.
    pg_plan_cache_mode: Literal["force_generic_plan", "auto", "force_custom_plan"] = Field(
        default="force_generic_plan",
        description="PostgreSQL plan_cache_mode of the hub's "
        "connections: plan each prepared statement once (force_generic_plan), or let "
        "PostgreSQL choose (auto).",
    )
    # Operations (hub/observability/).
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="The lowest level logged."
    )
    log_format: Literal["json", "text"] = Field(
        default="json", description="One JSON object per line, or text for people."
    )
    otlp_endpoint: str | None = Field(
        default=None,
        validation_alias=AliasChoices("HUB_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"),
        description="OTLP/HTTP endpoint for traces; unset: no tracing at all.",
    )
    otel_service_name: str = Field(
        default="hub",
        validation_alias=AliasChoices("OTEL_SERVICE_NAME", "otel_service_name"),
        description="The service name on traces.",
    )
    metrics_token: str | None = Field(
        default=None, description="A bearer token /metrics asks for; unset: open."
    )

    # The access log's checkpoints (hub/audit/).
    audit_origin: str = Field(
        default="hub.local/access-log",
        description="The checkpoints' origin line (and key name): names this hub's log.",
    )
    audit_checkpoint_interval_s: float = Field(
        default=60.0,
        gt=0,
        alias="HUB_AUDIT_CHECKPOINT_INTERVAL",
        description="Seconds between checkpoints, signed only when the log grew.",
    )

    @field_validator("rate_limits")
    @classmethod
    def _rates(cls, value: dict[str, str]) -> dict[str, str]:
        for spec in value.values():
            Rate.parse(spec)
        return value

    @field_validator("client_ref_patterns")
    @classmethod
    def _patterns(cls, value: dict[str, str]) -> dict[str, str]:
        for org, pattern in value.items():
            if len(pattern) > 200:
                raise ValueError(f"{org}: a client reference pattern of at most 200 characters")
            try:
                re.compile(pattern)
            except re.error as error:
                raise ValueError(f"{org}: not a regular expression ({error})") from None
        return value

    def client_rates(self) -> tuple[Rate | None, dict[str, Rate | None]]:
        """The default rate of a client (None: no limit) and the rates set per client."""
        default = (
            Rate(self.rate_limit_per_s, self.rate_limit_burst) if self.rate_limit_per_s else None
        )
        return default, {client: Rate.parse(spec) for client, spec in self.rate_limits.items()}

    @classmethod
    def from_env(cls) -> Settings:
        """The settings of the process environment."""
        return cls()

    def with_(self, **changes: Any) -> Settings:
        """A copy with some settings changed, validated like the originals."""
        return type(self).model_validate({**self.model_dump(), **changes})
