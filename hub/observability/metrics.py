"""Prometheus metrics of one app, on its own registry (several apps in one process, as in
the tests, never share or collide).

Two kinds: what happens is counted where it happens (requests by the request middleware,
access-log batches by the audit writer's hook); what a part of the hub *is* (open
subscriptions, consumer lag, dead letters, outbox backlog) is read from that part when
Prometheus scrapes, so the parts themselves need no metrics code.

Label values are bounded: a client chooses its GraphQL operation names, so a name must fit
`[A-Za-z0-9_]{1,64}` and only the first MAX_OPERATIONS distinct names get their own
series; everything else is "other".
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from hub.errors import Code
from hub.observability.request import OTHER

if TYPE_CHECKING:
    from hub.audit.log import AuditRecord
    from hub.connectors.runner import Connectors
    from hub.events.hub import EventHub

MAX_OPERATIONS = 100
MAX_RESOURCES = 64
METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
OUTCOMES = frozenset(c.value for c in Code) | {"OK"}
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500)


class BoundedLabel:
    """The first `cap` distinct values keep their name; later ones become "other"."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self._seen: set[str] = set()

    def __call__(self, value: str) -> str:
        if value in self._seen:
            return value
        if len(self._seen) >= self.cap:
            return OTHER
        self._seen.add(value)
        return value


@dataclass
class OutboxBacklog:
    """Outbox rows not yet passed on (Kafka: not yet published by the relay; embedded: not
    yet read by this replica's tail), as of the last scrape."""

    count: int = 0
    oldest_age_s: float = 0.0
    known: bool = False


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.operation_label = BoundedLabel(MAX_OPERATIONS)
        self.resource_label = BoundedLabel(MAX_RESOURCES)
        self.http_requests = Counter(
            "hub_http_requests",
            "HTTP requests, by route template, method and status.",
            ["route", "method", "status"],
            registry=r,
        )
        self.http_latency = Histogram(
            "hub_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.graphql_requests = Counter(
            "hub_graphql_requests",
            "GraphQL requests over HTTP, by operation name and outcome code (OK or the "
            "first error's extensions.code).",
            ["operation", "outcome"],
            registry=r,
        )
        self.graphql_latency = Histogram(
            "hub_graphql_request_duration_seconds",
            "Time to answer a GraphQL request over HTTP, by operation name.",
            ["operation"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.read_path = Counter(
            "hub_read_path",
            "GraphQL requests by the path that answered them: compiled plans, or the generic "
            "field-by-field path (mutations, subscriptions, rare shapes, answers with errors).",
            ["path"],
            registry=r,
        )
        self.refusals = Counter(
            "hub_policy_refusals",
            "Refusals written to the access log, by resource (or the refused step, e.g. "
            "authenticate, purpose) and code.",
            ["resource", "code"],
            registry=r,
        )
        self.audit_commit = Histogram(
            "hub_audit_commit_seconds",
            "Time to write and commit one group-commit batch of access-log entries.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.audit_batch = Histogram(
            "hub_audit_batch_entries",
            "Access-log entries per group-commit batch.",
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.audit_failures = Counter(
            "hub_audit_write_failures",
            "Access-log batches that could not be written (their requests failed).",
            registry=r,
        )
        self.websockets = Gauge(
            "hub_websocket_connections", "Open WebSocket connections.", registry=r
        )
        self.outbox = OutboxBacklog()
        self._state = _StateCollector(self)
        r.register(self._state)

    def attach(self, *, events: EventHub | None, connectors: Connectors | None) -> None:
        """The parts whose state is read at each scrape."""
        self._state.events = events
        self._state.connectors = connectors

    # --- hooks ----------------------------------------------------------------------------

    def observe_request(
        self,
        *,
        route: str,
        method: str,
        status: int,
        seconds: float,
        operation: str | None = None,
        outcome: str | None = None,
    ) -> None:
        method = method if method in METHODS else OTHER
        self.http_requests.labels(route, method, str(status)).inc()
        self.http_latency.labels(route).observe(seconds)
        if operation is not None:
            op = self.operation_label(operation)
            code = outcome if outcome in OUTCOMES else OTHER
            self.graphql_requests.labels(op, code).inc()
            self.graphql_latency.labels(op).observe(seconds)

    def observe_audit_batch(
        self, records: Sequence[AuditRecord], seconds: float, committed: bool
    ) -> None:
        """The access log's hook: called by its writer after each batch."""
        if not committed:
            self.audit_failures.inc()
            return
        self.audit_commit.observe(seconds)
        self.audit_batch.observe(len(records))
        for r in records:
            if r.outcome == "denied":
                code = r.reason if r.reason in OUTCOMES else OTHER
                self.refusals.labels(self.resource_label(r.resource or r.action), code).inc()

    def set_outbox(self, count: int, oldest: datetime | None) -> None:
        self.outbox.count = count
        self.outbox.oldest_age_s = (
            max(0.0, (datetime.now(UTC) - oldest).total_seconds()) if oldest else 0.0
        )
        self.outbox.known = True


class _StateCollector(Collector):
    """Reads the app's parts when Prometheus scrapes."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self.events: EventHub | None = None
        self.connectors: Connectors | None = None

    def collect(self) -> Iterable[Metric]:
        return list(self._collect())

    def _collect(self) -> Iterator[Metric]:
        subs = GaugeMetricFamily(
            "hub_subscriptions_open", "Live GraphQL subscriptions on this replica."
        )
        if self.events is not None:
            subs.add_metric([], self.events.subscriber_count)
        yield subs

        backlog = self.metrics.outbox
        pending = GaugeMetricFamily(
            "hub_outbox_pending_events",
            "Outbox events not yet passed on (Kafka: unpublished; embedded: not yet read by "
            "this replica's tail).",
        )
        age = GaugeMetricFamily(
            "hub_outbox_oldest_pending_age_seconds", "Age of the oldest pending outbox event."
        )
        if backlog.known:
            pending.add_metric([], backlog.count)
            age.add_metric([], backlog.oldest_age_s)
        yield pending
        yield age

        c = self.connectors
        relay = c.relay if c is not None else None
        published = CounterMetricFamily(
            "hub_outbox_published", "Outbox events published to Kafka by this process's relay."
        )
        failures = CounterMetricFamily(
            "hub_relay_failures", "Relay passes that failed (and were retried)."
        )
        if relay is not None:
            published.add_metric([], relay.published)
            failures.add_metric([], relay.failures)
        yield published
        yield failures

        lag = GaugeMetricFamily(
            "hub_kafka_consumer_lag_messages",
            "Messages on a consumer's assigned partitions not read yet.",
            labels=["consumer", "topic"],
        )
        dead = CounterMetricFamily(
            "hub_dead_letters",
            "Inbound partner events sent to the dead-letter topic, by reason.",
            labels=["reason"],
        )
        if c is not None:
            if c.feed is not None and c.feed.lag is not None:
                lag.add_metric(["feed", "hub.events"], c.feed.lag)
            reasons: dict[str, int] = {}
            for consumer in c.inbound:
                if consumer.lag is not None:
                    lag.add_metric(["inbound", consumer.topic], consumer.lag)
                for reason, n in consumer.dead_letters.items():
                    reasons[reason] = reasons.get(reason, 0) + n
            for reason, n in sorted(reasons.items()):
                dead.add_metric([reason], n)
        yield lag
        yield dead
