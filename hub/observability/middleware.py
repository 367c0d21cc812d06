"""The request middleware: a request id for every request, the hub's own request log line
(in place of uvicorn's access log), request metrics, and the HTTP span when tracing.

The log line names the method, the path without its query string, the status, the latency
and the request id, with what the GraphQL endpoint learnt (client id, purpose, operation,
outcome). Health probes and scrapes are logged at DEBUG unless they fail.
"""

from __future__ import annotations

import logging
import time
from contextlib import nullcontext
from typing import TYPE_CHECKING, Any

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.observability import request as req
from hub.observability.metrics import Metrics

if TYPE_CHECKING:
    from hub.observability.tracing import Tracing

log = logging.getLogger("hub.request")
QUIET_PATHS = frozenset({"/health", "/ready", "/metrics"})
MAX_PATH = 200
# The outcome of a request that never reached GraphQL execution, from its status.
STATUS_OUTCOMES = {400: "BAD_USER_INPUT", 401: "UNAUTHENTICATED", 403: "FORBIDDEN"}


def _outcome(info: req.RequestInfo, status: int) -> str:
    if info.outcome:
        return info.outcome
    if status < 400:
        return "OK"
    if status >= 500:
        return "INTERNAL"
    return STATUS_OUTCOMES.get(status, "BAD_USER_INPUT")


class RequestMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics, tracing: Tracing | None = None) -> None:
        self.app = app
        self.metrics = metrics
        self.tracing = tracing

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = Headers(scope=scope)
        info = req.RequestInfo(
            request_id=req.request_id(headers.get("x-request-id")),
            method=scope["method"],
            path=scope["path"][:MAX_PATH],
        )
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)["X-Request-ID"] = info.request_id
            await send(message)

        token = req.begin(info)
        span_cm: Any = nullcontext()
        if self.tracing is not None:
            from opentelemetry.trace import SpanKind
            from opentelemetry.trace.propagation.tracecontext import (
                TraceContextTextMapPropagator,
            )

            parent = TraceContextTextMapPropagator().extract(
                {k: v for k, v in headers.items() if k in ("traceparent", "tracestate")}
            )
            span_cm = self.tracing.tracer.start_as_current_span(
                f"{info.method} {info.path}",
                context=parent,
                kind=SpanKind.SERVER,
                attributes={
                    "http.request.method": info.method,
                    "url.path": info.path,
                    "hub.request_id": info.request_id,
                },
            )
        try:
            with span_cm as span:
                try:
                    await self.app(scope, receive, send_with_id)
                finally:
                    self._finish(info, scope, status, time.perf_counter() - started, span)
        finally:
            req.end(token)

    def _finish(
        self, info: req.RequestInfo, scope: Scope, status: int, seconds: float, span: Any
    ) -> None:
        route = _route(scope)
        graphql = route == "/graphql"
        if graphql:
            info.outcome = _outcome(info, status)
            info.operation = info.operation or "unknown"  # refused before it was read
        self.metrics.observe_request(
            route=route,
            method=info.method,
            status=status,
            seconds=seconds,
            operation=info.operation if graphql else None,
            outcome=info.outcome,
        )
        if span is not None:
            _finish_span(span, info, route, status)
        quiet = info.path in QUIET_PATHS and status < 400
        level = logging.WARNING if status >= 500 else logging.DEBUG if quiet else logging.INFO
        if not log.isEnabledFor(level):
            return
        log.log(
            level,
            "%s %s %d",
            info.method,
            info.path,
            status,
            extra={
                "method": info.method,
                "path": info.path,
                "status": status,
                "latency_ms": round(seconds * 1000, 2),
            },
        )

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A live connection: its id in the handshake's response, a line when it closes."""
        headers = Headers(scope=scope)
        info = req.RequestInfo(
            request_id=req.request_id(headers.get("x-request-id")),
            method="WEBSOCKET",
            path=scope["path"][:MAX_PATH],
        )
        accepted = False

        async def send_with_id(message: Message) -> None:
            nonlocal accepted
            if message["type"] == "websocket.accept":
                accepted = True
                extra = [(b"x-request-id", info.request_id.encode())]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        token = req.begin(info)
        started = time.perf_counter()
        self.metrics.websockets.inc()
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            self.metrics.websockets.dec()
            log.info(
                "websocket %s closed",
                info.path,
                extra={
                    "method": info.method,
                    "path": info.path,
                    "status": 101 if accepted else 403,
                    "latency_ms": round((time.perf_counter() - started) * 1000, 2),
                },
            )
            req.end(token)


def _route(scope: Scope) -> str:
    """The matched route's template (bounded, unlike the path), or "other"."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) and path else req.OTHER


def _finish_span(span: Any, info: req.RequestInfo, route: str, status: int) -> None:
    from opentelemetry.trace import StatusCode

    span.update_name(f"{info.method} {route}")
    span.set_attribute("http.route", route)
    span.set_attribute("http.response.status_code", status)
    if info.client_id:
        span.set_attribute("hub.client_id", info.client_id)
    if info.outcome:
        span.set_attribute("hub.outcome", info.outcome)
    if status >= 500:
        span.set_status(StatusCode.ERROR)
