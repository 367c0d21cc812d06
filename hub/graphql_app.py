"""The /graphql endpoint: authenticate first, then hand over to strawberry.

Nothing of the schema runs for a request without a valid token. Errors leave with a stable
`extensions.code`; unexpected failures leave as INTERNAL without their message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from contextlib import nullcontext
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import orjson
from graphql import GraphQLError
from sqlalchemy import exc as sa_exc
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.types import Message, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLHTTPResponse
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionResult
from strawberry.types.unset import UNSET

from hub.audit.log import AuditRecord
from hub.auth.verify import TokenVerifier, principal_for_request
from hub.consoles.session import LANGUAGE_COOKIE
from hub.errors import Code, HubError
from hub.i18n import environment, negotiate
from hub.models.base import utcnow
from hub.observability import request as observed
from hub.observability.metrics import Metrics
from hub.observability.request import operation_name
from hub.policy.principal import Principal
from hub.read.execute import SERVED, AuditFailed, CompiledReads
from hub.read.gate import Overloaded, ReadGate
from hub.retry import wait_event
from hub.schema.context import Context
from hub.schema.quotas import ClientQuotas, client_key, retry_after
from hub.schema.root import normalise_error
from hub.services.actor import Actor
from hub.state import HubState
from hub.web import json_error, json_refusals

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer


def format_error(error: GraphQLError) -> dict[str, Any]:
    """A GraphQL error as it leaves (see hub.schema.root.normalise_error)."""
    return dict(normalise_error(error).formatted)


log = logging.getLogger("hub.graphql")
RETRY_AFTER_S = 1


def overloaded_response() -> Response:
    """503 RATE_LIMITED with Retry-After, counted and logged with that outcome."""
    busy = "the hub is busy: retry shortly"
    return json_error(Code.RATE_LIMITED, busy, 503, {"Retry-After": str(RETRY_AFTER_S)})


def _for_lack_of_capacity(error: BaseException | None) -> bool:
    """A failure that says "too busy" (no connection in time, a statement cancelled by its
    timeout, a lock not had in time), not "wrong": answered 503 as a whole."""
    if isinstance(error, sa_exc.TimeoutError | TimeoutError):
        return True
    if isinstance(error, sa_exc.DBAPIError):
        orig = error.orig
        state = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
        if state in ("57014", "55P03"):  # query_canceled, lock_not_available
            return True
        return "database is locked" in str(orig)
    return False


def error_response(error: HubError) -> Response:
    status = 401 if error.code == Code.UNAUTHENTICATED else 403
    headers = {"WWW-Authenticate": 'Bearer realm="hub"'} if status == 401 else {}
    body = {"errors": [{"message": error.message, "extensions": {"code": error.code.value}}]}
    return JSONResponse(body, status_code=status, headers=headers)


# GraphiQL (hub/templates/graphiql.html) with its assets served by the hub itself
# (hub/static/vendor/graphiql/), under a policy that lets the page load nothing else: no
# inline script, no eval, no inline style (the vendored build needs none of them; its fonts
# are files), requests to this hub only.
GRAPHIQL_CSP = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'self'",
    )
)
GRAPHIQL_HEADERS = '{\n  "Authorization": "Bearer TOKEN",\n  "Hub-Purpose": "PURPOSE"\n}\n'
GRAPHIQL_QUERY = "{\n  me {\n    roles\n    purposes\n  }\n}\n"


def graphiql_page(request: Request) -> Response:
    """GraphiQL's page in the language the browser asks for (its help text; GraphiQL itself
    speaks English)."""
    locale = negotiate(request.headers.get("accept-language"), request.cookies.get(LANGUAGE_COOKIE))
    html = (
        environment(locale)
        .get_template("graphiql.html")
        .render(
            locale=locale,
            endpoint="/graphql",
            headers=GRAPHIQL_HEADERS,
            query=GRAPHIQL_QUERY,
        )
    )
    headers = {
        "Content-Security-Policy": GRAPHIQL_CSP,
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
        "Content-Language": locale,
    }
    return HTMLResponse(html, headers=headers)


ANONYMOUS = Principal("", "", "", None, frozenset(), frozenset())
MAX_MESSAGE = 64 * 1024  # bytes of one WebSocket message from a client


class _Strawberry(GraphQL[Context, None]):
    def __init__(
        self, schema: Any, hub: HubState, verifier: TokenVerifier, quotas: ClientQuotas
    ) -> None:
        super().__init__(
            schema,
            graphql_ide=None,  # the hub serves its own GraphiQL page (graphiql_page)
            allow_queries_via_get=False,
            # graphql-transport-ws only; the legacy graphql-ws protocol is off.
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            connection_init_wait_timeout=timedelta(seconds=10),
        )
        self.hub = hub
        self.verifier = verifier
        self.quotas = quotas

    async def get_context(self, request: Any, response: Any) -> Context:
        if isinstance(request, WebSocket):
            # Nothing is authenticated until connection_init (see on_ws_connect).
            ctx = Context(
                hub=self.hub,
                actor=Actor(ANONYMOUS, self.hub.policies),
                authenticated=False,
                quotas=self.quotas,
            )
            request.scope.setdefault("state", {})["hub_context"] = ctx
            return ctx
        principal = getattr(request.state, "principal", None)
        if principal is None:  # only the GraphiQL page gets here without a token
            return Context(
                hub=self.hub, actor=Actor(ANONYMOUS, self.hub.policies), authenticated=False
            )
        _note(principal, request.headers.get("hub-purpose"))
        actor = Actor(
            principal,
            self.hub.policies,
            purpose_header=request.headers.get("hub-purpose"),
            case_header=request.headers.get("hub-case"),
        )
        return Context(hub=self.hub, actor=actor, quotas=self.quotas)

    async def on_ws_connect(self, context: Context) -> Any:
        """Authenticate in connection_init: {"authorization": "Bearer …", "purpose": …}.

        The names are read in any case, and the HTTP headers' names serve too ("Hub-Purpose",
        "Hub-Role"): GraphiQL sends the JSON of its header editor as the connection's
        parameters."""
        given = context.connection_params
        params = {str(k).lower(): v for k, v in given.items()} if isinstance(given, dict) else {}
        raw = params.get("authorization") or ""
        scheme, _, token = str(raw).partition(" ")
        try:
            if scheme.lower() != "bearer" or not token.strip():
                raise HubError(Code.UNAUTHENTICATED, "connection_init needs authorization")
            principal = await self.verifier.verify(token.strip())
            role = params.get("role") or params.get("hub-role")
            principal = principal_for_request(principal, str(role) if role else None)
        except HubError as error:
            await self.hub.audit.append(
                [
                    AuditRecord(
                        at=utcnow(),
                        action="authenticate",
                        outcome="denied",
                        reason=error.code.value,
                    )
                ]
            )
            context.close = (4403, f"{error.code.value}: {error.message}"[:120])
            raise ConnectionRejectionError({"code": error.code.value}) from None
        client = client_key(principal)
        if not self.quotas.connect(client):
            limit = self.quotas.max_connections
            context.close = (4429, f"RATE_LIMITED: at most {limit} connections per client")
            raise ConnectionRejectionError({"code": Code.RATE_LIMITED.value})
        context.counted_client = client
        purpose = params.get("purpose") or params.get("hub-purpose")
        context.actor = Actor(
            principal, self.hub.policies, purpose_header=str(purpose) if purpose else None
        )
        _note(principal, context.actor.purpose_header)
        context.expires_at = principal.expires_at
        context.authenticated = True
        return UNSET

    async def process_result(self, request: Any, result: ExecutionResult) -> GraphQLHTTPResponse:
        # Never half an answer: a field that failed for lack of capacity fails the request.
        if result.errors and any(_for_lack_of_capacity(e.original_error) for e in result.errors):
            raise Overloaded
        out: GraphQLHTTPResponse = {"data": result.data}
        errors = [format_error(e) for e in result.errors or []]
        if errors:
            out["errors"] = errors  # type: ignore[typeddict-item]
        info = observed.current()
        if info is not None:
            info.outcome = str(errors[0]["extensions"]["code"]) if errors else "OK"
        if result.extensions:
            out["extensions"] = result.extensions
        return out


def _note(principal: Principal, purpose_header: str | None) -> None:
    """Who asks, for which purpose, as the request's log line names it."""
    info = observed.current()
    if info is not None:
        info.client_id = observed.client_id(principal.client_id)
        info.purpose = observed.purpose(purpose_header, principal.purposes)


def compiled_reads(schema: Any, hub: HubState, settings: Any) -> CompiledReads:
    """The compiled read path over the schema's own types and builders."""
    from hub.schema.limits import CostModel, complexity_rule
    from hub.schema.types import NODES, PSEUDONYM_SCOPES, _identity

    costs = CostModel(schema._schema, settings.page_cap)
    return CompiledReads(
        schema._schema,
        hub,
        nodes=NODES,
        identity=_identity,
        pseudonym_scopes=PSEUDONYM_SCOPES,
        limits_rule=complexity_rule(settings.max_depth, settings.max_aliases),
        max_tokens=settings.max_tokens,
        within_cost=lambda op, fragments, variables: costs.within(
            op, fragments, variables, settings.max_cost
        ),
    )


# Reasons for the closes that strawberry gives none or a generic one.
CLOSE_REASONS = {
    1000: "closed",
    1008: "refused: the hub speaks graphql-transport-ws only",
    1011: "internal error",
    4400: "bad request",
    4401: "UNAUTHENTICATED",
    4403: "FORBIDDEN",
    4408: "connection_init timeout",
    4429: "RATE_LIMITED",
}


def _with_reason(message: Message, scope: Scope) -> Message:
    """A close that says why: the refusal the hub recorded for this connection (instead
    of strawberry's generic "Forbidden"), else the code's reason when it carries none."""
    ctx = scope.get("state", {}).get("hub_context")
    if isinstance(ctx, Context) and ctx.close is not None and message.get("code") == 4403:
        code, reason = ctx.close
        return {**message, "code": code, "reason": reason}
    if not message.get("reason"):
        code = int(message.get("code") or 1000)
        return {**message, "code": code, "reason": CLOSE_REASONS.get(code, "closed")}
    return message


def _replay(body: bytes) -> Receive:
    """A receive channel that hands the generic path the body already read."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


class GraphQLEndpoint:
    def __init__(
        self,
        schema: Any,
        hub: HubState,
        verifier: TokenVerifier,
        *,
        compiled: CompiledReads | None = None,
        gate: ReadGate | None = None,
        tracer: Tracer | None = None,
        metrics: Metrics | None = None,
        quotas: ClientQuotas | None = None,
    ) -> None:
        self.quotas = quotas or ClientQuotas(None)
        self.graphql = _Strawberry(schema, hub, verifier, self.quotas)
        self.hub = hub
        self.verifier = verifier
        self.compiled = compiled
        self.tracer = tracer
        self.metrics = metrics
        self.gate = gate or ReadGate(max_requests=10_000, max_rows=10_000_000)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Limits on a live connection: message size, and a clean close when the token that
        authenticated it expires or is revoked."""
        closed = asyncio.Event()

        async def guarded_receive() -> Message:
            while True:
                message = await receive()
                if message["type"] == "websocket.receive":
                    size = len(message.get("text") or "") + len(message.get("bytes") or b"")
                    if size > MAX_MESSAGE:
                        closed.set()
                        await send(
                            {"type": "websocket.close", "code": 4413, "reason": "message too large"}
                        )
                        return {"type": "websocket.disconnect", "code": 4413}
                    refused = self._over_rate(scope, message)
                    if refused is not None:
                        await guarded_send({"type": "websocket.send", "text": refused})
                        continue  # the operation never reaches strawberry
                if message["type"] == "websocket.disconnect":
                    closed.set()
                return message

        async def guarded_send(message: Message) -> None:
            if closed.is_set() and message["type"] != "websocket.close":
                return
            if message["type"] == "websocket.close":
                if closed.is_set():
                    return
                closed.set()
                message = _with_reason(message, scope)
            await send(message)

        async def expire() -> None:
            while not closed.is_set():
                ctx = scope.get("state", {}).get("hub_context")
                expires = ctx.expires_at if isinstance(ctx, Context) else None
                wait = 1.0 if expires is None else max(0.0, min(1.0, expires - time.time()))
                if expires is not None and time.time() >= expires:
                    await guarded_send(
                        {"type": "websocket.close", "code": 4401, "reason": "token expired"}
                    )
                    return
                if (
                    isinstance(ctx, Context)
                    and ctx.authenticated
                    and self.verifier.revoked(ctx.actor.principal)
                ):
                    # Its client was disabled (or its organisation changed) meanwhile.
                    await guarded_send(
                        {"type": "websocket.close", "code": 4403, "reason": "token revoked"}
                    )
                    return
                await wait_event(closed, wait)

        watchdog = asyncio.get_running_loop().create_task(expire())
        try:
            await self.graphql(scope, guarded_receive, guarded_send)
        finally:
            closed.set()
            watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watchdog
            ctx = scope.get("state", {}).get("hub_context")
            if isinstance(ctx, Context) and ctx.counted_client is not None:
                self.quotas.disconnect(ctx.counted_client)
                ctx.counted_client = None

    def _over_rate(self, scope: Scope, message: Message) -> str | None:
        """For an operation (`subscribe`) on an authenticated connection past its client's
        rate: the `error` message that refuses it. Operations over a WebSocket spend the
        same bucket as HTTP requests, so a connection is no way around the rate limit."""
        ctx = scope.get("state", {}).get("hub_context")
        if not isinstance(ctx, Context) or ctx.counted_client is None:
            return None
        try:
            parsed = orjson.loads(message.get("text") or message.get("bytes") or b"")
        except orjson.JSONDecodeError:
            return None  # strawberry refuses it
        if not isinstance(parsed, dict) or parsed.get("type") != "subscribe":
            return None
        if not self.quotas.take(ctx.counted_client):
            return None
        error = {
            "message": "too many requests from this client: retry later",
            "extensions": {"code": Code.RATE_LIMITED.value},
        }
        op_id = parsed.get("id")
        return orjson.dumps(
            {"id": op_id if isinstance(op_id, str) else "", "type": "error", "payload": [error]}
        ).decode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
            return
        await json_refusals(self._http, scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        if request.method == "GET" and "text/html" in request.headers.get("accept", ""):
            await graphiql_page(request)(scope, receive, send)  # a static page, no data
            return
        try:
            scheme, _, token = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise HubError(Code.UNAUTHENTICATED, "a bearer access token is required")
            principal = await self.verifier.verify(token.strip())
            principal = principal_for_request(principal, request.headers.get("hub-role"))
        except HubError as error:
            # Refused at the door: recorded without any claim of the unverified token.
            info = observed.current()
            if info is not None:
                info.outcome = error.code.value
            await self.hub.audit.append(
                [
                    AuditRecord(
                        at=utcnow(),
                        action="authenticate",
                        outcome="denied",
                        reason=error.code.value,
                    )
                ]
            )
            await error_response(error)(scope, receive, send)
            return
        wait = self.quotas.take(client_key(principal))
        if wait:
            _note(principal, request.headers.get("hub-purpose"))
            message = "too many requests from this client: retry later"
            headers = {"Retry-After": retry_after(wait)}
            await json_error(Code.RATE_LIMITED, message, 429, headers)(scope, receive, send)
            return
        scope.setdefault("state", {})["principal"] = principal
        body: Any = None
        raw = b""
        if request.method == "POST" and "json" in request.headers.get("content-type", ""):
            raw = await request.body()
            receive = _replay(raw)
            try:
                body = orjson.loads(raw)
            except orjson.JSONDecodeError:
                _note(principal, request.headers.get("hub-purpose"))
                message = "the request body is not valid JSON"
                await json_error(Code.BAD_USER_INPUT, message, 400)(scope, receive, send)
                return
        rows = self.compiled.rows_asked(body) if self.compiled is not None else 1
        try:
            async with self.gate.admit(rows):
                await self._serve(principal, request, body, scope, receive, send)
        except Overloaded:
            await overloaded_response()(scope, receive, send)

    async def _serve(
        self,
        principal: Principal,
        request: Request,
        body: Any,
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> None:
        # A request that states a case (Hub-Case) is answered by the generic path, the one
        # that binds `$request.case`.
        stated_case = request.headers.get("hub-case") is not None
        if self.compiled is not None and body is not None and not stated_case:
            _note(principal, request.headers.get("hub-purpose"))
            span_cm: Any = (
                self.tracer.start_as_current_span("graphql") if self.tracer else nullcontext()
            )
            with span_cm as span:
                try:
                    out = await self.compiled.execute(
                        principal, request.headers.get("hub-purpose"), body
                    )
                except AuditFailed:
                    raise
                except Exception as error:
                    if _for_lack_of_capacity(error):
                        raise Overloaded from None
                    # A fault of the compiled path must not cost the caller an answer.
                    log.warning("compiled read failed (%s): generic path", type(error).__name__)
                    out = None
                if out is not None:
                    answer, name = out
                    shown = operation_name(name)
                    info = observed.current()
                    if info is not None:
                        info.operation, info.outcome = shown, "OK"
                    if span is not None:
                        span.update_name(f"graphql query {shown}")
                        span.set_attribute("graphql.operation.name", shown)
                        span.set_attribute("graphql.operation.type", "query")
                    SERVED["compiled"] += 1
                    if self.metrics is not None:
                        self.metrics.read_path.labels("compiled").inc()
                    log.debug("read served by the compiled path")
                    await Response(answer, media_type="application/json")(scope, receive, send)
                    return
        SERVED["generic"] += 1
        if self.metrics is not None:
            self.metrics.read_path.labels("generic").inc()
        log.debug("request served by the generic path")
        await self.graphql(scope, receive, send)
