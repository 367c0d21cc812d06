"""Per-client quotas, per replica: a token bucket of requests (RATE_LIMITED, HTTP 429 with
Retry-After), and caps on live WebSocket connections and on subscriptions across them.

A client is named by its token's `client_id` (or `azp`), else by its subject. The defaults
apply to every client; `Settings.rate_limits` sets another rate for some clients, or lifts
it ("off": a benchmark's client, say). Memory only: each replica counts for itself.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping

from hub.auth.clients import CONSOLE_CLIENT_ID
from hub.config import Rate
from hub.policy.principal import Principal

MAX_TRACKED = 10_000  # buckets kept before full ones are forgotten


def client_key(principal: Principal) -> str:
    """Whose bucket a request takes from: the client's; for a person logged in through the
    consoles' client (all people share it), the person's own."""
    if principal.client_id is None or principal.client_id == CONSOLE_CLIENT_ID:
        return f"sub:{principal.subject}"
    return principal.client_id


class _Bucket:
    __slots__ = ("tokens", "at")

    def __init__(self, tokens: float, at: float) -> None:
        self.tokens = tokens
        self.at = at


class ClientQuotas:
    def __init__(
        self,
        default: Rate | None,
        per_client: Mapping[str, Rate | None] | None = None,
        *,
        max_connections: int = 10,
        max_subscriptions: int = 20,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.default = default
        self.per_client = dict(per_client or {})
        self.max_connections = max_connections
        self.max_subscriptions = max_subscriptions
        self.clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self.connections: dict[str, int] = {}
        self.subscriptions: dict[str, int] = {}

    def rate(self, client: str) -> Rate | None:
        return self.per_client.get(client, self.default)

    def take(self, client: str) -> float:
        """Spend one request of `client`'s bucket: 0 if it may go, else the seconds until
        it may (the request is refused)."""
        rate = self.rate(client)
        if rate is None:
            return 0.0
        now = self.clock()
        bucket = self._buckets.get(client)
        if bucket is None:
            if len(self._buckets) >= MAX_TRACKED:
                self._forget_full(now)
            bucket = self._buckets[client] = _Bucket(float(rate.burst), now)
        else:
            bucket.tokens = min(float(rate.burst), bucket.tokens + (now - bucket.at) * rate.per_s)
            bucket.at = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / rate.per_s

    def _forget_full(self, now: float) -> None:
        for client, bucket in list(self._buckets.items()):
            rate = self.rate(client)
            if rate is None or bucket.tokens + (now - bucket.at) * rate.per_s >= rate.burst:
                del self._buckets[client]

    # live connections and subscriptions

    def connect(self, client: str) -> bool:
        """Count a live connection of `client`, unless it holds the most it may."""
        held = self.connections.get(client, 0)
        if held >= self.max_connections:
            return False
        self.connections[client] = held + 1
        return True

    def disconnect(self, client: str) -> None:
        _release(self.connections, client)

    def subscribe(self, client: str) -> bool:
        """Count a live subscription of `client` (on any of its connections), unless it
        holds the most it may."""
        held = self.subscriptions.get(client, 0)
        if held >= self.max_subscriptions:
            return False
        self.subscriptions[client] = held + 1
        return True

    def unsubscribe(self, client: str) -> None:
        _release(self.subscriptions, client)


def _release(counts: dict[str, int], client: str) -> None:
    held = counts.get(client, 0) - 1
    if held > 0:
        counts[client] = held
    else:
        counts.pop(client, None)


def retry_after(seconds: float) -> str:
    """Whole seconds for a Retry-After header (at least 1)."""
    return str(max(1, math.ceil(seconds)))
