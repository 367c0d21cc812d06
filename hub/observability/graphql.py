"""The GraphQL operation as operations see it: its name for logs and metrics, and (when
tracing) a span around it, from parsing to the durable access-log write."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import nullcontext
from typing import TYPE_CHECKING, Any

from strawberry.extensions import SchemaExtension

from hub.observability.request import current, operation_name

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer


class OperationObserver(SchemaExtension):
    """Put first among the schema's extensions, so its span holds the others' work."""

    def __init__(self, *, tracer: Tracer | None = None) -> None:
        self.tracer = tracer

    def on_operation(self) -> Iterator[None]:  # type: ignore[override]
        ec = self.execution_context
        info = current()
        if info is not None:
            info.operation = operation_name(ec.operation_name)
        span_cm: Any = (
            self.tracer.start_as_current_span("graphql") if self.tracer else nullcontext()
        )
        with span_cm as span:
            yield
            # Known only once parsed: a name from the document itself, and the type.
            name = operation_name(ec.operation_name)
            if info is not None:
                info.operation = name
            if span is not None:
                kind = _operation_type(ec)
                span.update_name(f"graphql {kind} {name}")
                span.set_attribute("graphql.operation.name", name)
                span.set_attribute("graphql.operation.type", kind)


def _operation_type(ec: Any) -> str:
    try:
        return str(ec.operation_type.value)
    except Exception:  # nothing (or nothing valid) was parsed
        return "unknown"


def observer(tracer: Tracer | None) -> Callable[[], OperationObserver]:
    return lambda: OperationObserver(tracer=tracer)
