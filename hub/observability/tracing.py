"""OpenTelemetry traces, exported over OTLP/HTTP, only when an endpoint is set.

Spans: one per HTTP request (the request middleware), one per GraphQL operation (the
operation observer), one per SQL statement. Each app has its own tracer provider (none is
installed globally), so nothing is traced, and nothing is imported beyond the API, when
no endpoint is set.

What spans carry is chosen here rather than by the generic instrumentations: those record
the URL with its query string (ASGI), the GraphQL document and every resolver's arguments
(strawberry's extension), where identities and tokens can appear. Ours carry route,
method, status, request id, operation name and type, and the SQL verb; never a value.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import event

from hub.config import Settings

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Tracer
    from sqlalchemy.ext.asyncio import AsyncEngine

TRACES_PATH = "/v1/traces"


def traces_url(endpoint: str) -> str:
    """OTEL_EXPORTER_OTLP_ENDPOINT names the collector; traces go to its /v1/traces."""
    if not endpoint.startswith(("http://", "https://")):
        raise ValueError("the OTLP endpoint must be an http:// or https:// URL")
    base = endpoint.rstrip("/")
    return base if base.endswith(TRACES_PATH) else base + TRACES_PATH


class Tracing:
    """The app's tracer provider and its OTLP exporter; `shutdown` flushes."""

    def __init__(self, provider: TracerProvider) -> None:
        self.provider = provider
        self.tracer: Tracer = provider.get_tracer("hub")

    @classmethod
    def from_settings(cls, settings: Settings) -> Tracing | None:
        if not settings.otlp_endpoint:
            return None
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        provider = TracerProvider(
            resource=Resource.create({"service.name": settings.otel_service_name})
        )
        exporter = OTLPSpanExporter(endpoint=traces_url(settings.otlp_endpoint), timeout=5)
        provider.add_span_processor(BatchSpanProcessor(exporter))
        return cls(provider)

    def trace_statements(self, engine: AsyncEngine) -> None:
        """A client span per SQL statement, named by its verb (SELECT, INSERT, ...)."""
        from opentelemetry.trace import SpanKind, StatusCode

        tracer = self.tracer
        system = engine.dialect.name

        @event.listens_for(engine.sync_engine, "before_cursor_execute")
        def _start(_conn: Any, _cursor: Any, statement: str, *args: Any) -> None:
            context = args[1]
            verb = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else "SQL"
            context._hub_span = tracer.start_span(
                verb,
                kind=SpanKind.CLIENT,
                attributes={"db.system.name": system, "db.operation.name": verb},
            )

        @event.listens_for(engine.sync_engine, "after_cursor_execute")
        def _end(_conn: Any, _cursor: Any, _statement: str, *args: Any) -> None:
            span = getattr(args[1], "_hub_span", None)
            if span is not None:
                span.end()

        @event.listens_for(engine.sync_engine, "handle_error")
        def _failed(exception_context: Any) -> None:
            span = getattr(exception_context.execution_context, "_hub_span", None)
            if span is not None:
                # The type only: a driver's message quotes the statement's values.
                failure = type(exception_context.original_exception).__name__
                span.set_status(StatusCode.ERROR, failure)
                span.end()

    def shutdown(self) -> None:
        self.provider.shutdown()  # exports what is still queued
