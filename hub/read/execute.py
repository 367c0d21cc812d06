"""Running a read through its compiled plan, or saying that the generic path must.

`CompiledReads.execute` parses and validates a request (graphql-core, with the schema's
limits; both cached), finds or compiles its plan (cached per document, operation, roles,
purpose, policy version and which principal values are null, bounded LRU), runs one
statement per root field and one per to-many relation on one connection, builds the
response in one pass, writes the access-log entries (durable before the answer leaves) and
returns the response body (orjson). It returns None whenever the generic path must answer:
anything the compiler does not cover, and any request whose answer would carry an error
(no purpose, no grant, a bad argument or cursor), so errors come from one place.
"""

from __future__ import annotations

import logging
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Hashable
from typing import Any

import orjson
from graphql import (
    DocumentNode,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    get_operation_ast,
    parse,
    specified_rules,
    validate,
)
from graphql.execution.values import get_argument_values, get_variable_values
from sqlalchemy import bindparam
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hub.errors import HubError
from hub.policy.principal import Principal
from hub.policy.where import now_params
from hub.read.compiler import (
    NOW_ARGS,
    ROOTS,
    TO_MANY,
    Compiler,
    Operation,
    Plan,
    RootPlan,
    Sel,
    Unsupported,
    analyse,
)
from hub.read.nodes import NodeSpec, _after
from hub.read.plan import ManyOut, NodeOut, Request, build, note
from hub.services.actor import Actor
from hub.state import HubState

log = logging.getLogger("hub.read")

# Which path served each read; exported as a metric where the app has metrics.
SERVED: dict[str, int] = {"compiled": 0, "generic": 0}


class LRU:
    """A small bounded cache, least recently used out first."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[Hashable, Any] = OrderedDict()

    def get(self, key: Hashable) -> Any:
        found = self._items.get(key)
        if found is not None:
            self._items.move_to_end(key)
        return found

    def put(self, key: Hashable, value: Any) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)


_UNSUPPORTED = object()


class AuditFailed(Exception):
    """The access log could not be written: the request fails (fail closed)."""


_VARIABLES_PER_OPERATION = 32  # the variables whose coercion each operation keeps


class Variables:
    """An operation's variables as one request sent them: coerced (or the errors), and,
    once asked, whether the operation is within the cost limit with them and how many
    rows it asks for. Read only once made (graphql-core's coerced values included)."""

    __slots__ = ("coerced", "rows", "within")

    def __init__(self, coerced: Any) -> None:
        self.coerced = coerced
        self.within: bool | None = None
        self.rows: int | None = None


class Fallback(Exception):
    """This request is for the generic path (its answer would carry an error)."""


class CompiledReads:
    def __init__(
        self,
        schema: GraphQLSchema,
        hub: HubState,
        *,
        nodes: dict[str, NodeSpec],
        identity: Any,
        pseudonym_scopes: dict[tuple[str, str], str],
        limits_rule: Any,
        max_tokens: int,
        within_cost: Callable[[OperationDefinitionNode, dict[str, Any], Any], bool] | None = None,
        documents: int = 256,
        plans: int = 64,
    ) -> None:
        self.schema = schema
        self.hub = hub
        self.nodes = nodes
        self.identity = identity
        self.scopes = pseudonym_scopes
        self.rules = [*specified_rules, limits_rule]
        self.max_tokens = max_tokens
        self.within_cost = within_cost
        self.documents = LRU(documents)
        self.plans_per_document = plans
        self._engine: AsyncEngine | None = None
        self._engine_for: AsyncEngine | None = None

    # documents and plans

    def operation(self, query: str, name: str | None) -> Operation | None:
        key = (query, name)
        found = self.documents.get(key)
        if found is None:
            found = self._analyse(query, name)
            self.documents.put(key, found)
        return None if found is _UNSUPPORTED else found  # type: ignore[no-any-return]

    def _analyse(self, query: str, name: str | None) -> Any:
        try:
            document: DocumentNode = parse(query, max_tokens=self.max_tokens)
        except GraphQLError:
            return _UNSUPPORTED
        if validate(self.schema, document, self.rules):
            return _UNSUPPORTED
        definition = get_operation_ast(document, name)
        if definition is None:
            return _UNSUPPORTED
        fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        try:
            op = analyse(self.schema, definition, fragments)
            op.fragments = fragments
            return op
        except Unsupported as why:
            log.debug("generic path for a document: %s", why)
            return _UNSUPPORTED

    def plan(self, op: Operation, actor: Actor, purpose: str) -> Plan | None:
        principal = actor.principal
        nulls = {n: v is None for n, v in principal.variables().items()}
        policies = actor.policies
        key = (principal.roles, purpose, policies.version, tuple(nulls.values()))
        found = op.plans.get(key)
        if found is None:
            compiler = Compiler(
                self.schema,
                self.nodes,
                policies,
                principal.roles,
                purpose,
                nulls,
                self.identity,
                self.scopes,
            )
            try:
                found = compiler.plan(op)
            except Unsupported as why:
                log.debug("generic path for a plan: %s", why)
                found = _UNSUPPORTED
            if len(op.plans) >= self.plans_per_document:
                op.plans.pop(next(iter(op.plans)))
            op.plans[key] = found
        return None if found is _UNSUPPORTED else found  # type: ignore[return-value]

    # requests

    async def execute(
        self, principal: Principal, purpose_header: str | None, body: Any
    ) -> tuple[bytes, str | None] | None:
        """The response body and the operation's name (from the document), or None: the
        generic path answers."""
        if not isinstance(body, dict):
            return None
        query, name, variables = body.get("query"), body.get("operationName"), body.get("variables")
        if not isinstance(query, str) or not (name is None or isinstance(name, str)):
            return None
        if variables is not None and not isinstance(variables, dict):
            return None
        op = self.operation(query, name)
        if op is None:
            return None
        actor = Actor(principal, self.hub.policies, purpose_header=purpose_header)
        try:
            purpose = actor.purpose
        except HubError:
            return None
        known = self._variables(op, variables)
        coerced = known.coerced
        if isinstance(coerced, list):
            return None
        if known.within is None:
            known.within = self._within_cost(op, coerced.coerced)
        if not known.within:
            return None  # the generic path refuses it (QUERY_TOO_COMPLEX)
        plan = self.plan(op, actor, purpose)
        if plan is None:
            return None
        try:
            body_out = await self._run(plan, actor, coerced)
        except Fallback:
            return None
        if actor.audit.records:
            try:
                await actor.audit.flush(self.hub.audit, (name or op.audit_name)[:200])
            except Exception as error:
                raise AuditFailed from error
        document_name = op.definition.name.value if op.definition.name else None
        return orjson.dumps(body_out), document_name

    def _within_cost(self, op: Operation, variables: dict[str, Any]) -> bool:
        if self.within_cost is None:
            return True
        if op.within_cost is not None:
            return op.within_cost
        within = self.within_cost(op.definition, op.fragments, variables)
        if not op.definition.variable_definitions:
            op.within_cost = within  # the same for every request
        return within

    def rows_asked(self, body: Any) -> int:
        """About how many rows a request asks for (page sizes times nested list sizes), to
        weigh it for admission; a request the compiler does not know weighs a page."""
        cap = self.hub.page_cap
        if not isinstance(body, dict) or not isinstance(body.get("query"), str):
            return cap
        name = body.get("operationName")
        op = self.operation(body["query"], name if isinstance(name, str) else None)
        variables = body.get("variables")
        if op is None or not (variables is None or isinstance(variables, dict)):
            return cap
        known = self._variables(op, variables)
        coerced = known.coerced
        if isinstance(coerced, list):
            return cap
        if known.rows is None:
            known.rows = self._rows_asked(op, coerced, cap)
        return known.rows

    def _variables(self, op: Operation, variables: dict[str, Any] | None) -> Variables:
        """The request's variables coerced, and what follows from them alone (within the
        cost limit, rows asked), cached per operation and per variables as sent: the
        admission gate and the request read them for every request, usually the same few."""
        try:
            key = orjson.dumps(variables, option=orjson.OPT_SORT_KEYS) if variables else b""
        except TypeError:
            key = None  # not JSON (only a test sends that): coerced each time
        found = op.variables.get(key) if key is not None else None
        if found is None:
            found = Variables(
                get_variable_values(
                    self.schema, op.definition.variable_definitions or [], variables or {}
                )
            )
            if key is not None:
                if len(op.variables) >= _VARIABLES_PER_OPERATION:
                    op.variables.pop(next(iter(op.variables)))
                op.variables[key] = found
        return found

    def _rows_asked(self, op: Operation, coerced: Any, cap: int) -> int:
        total = 0
        for root in op.roots:
            spec = ROOTS[root.name]
            if spec.shape == "by_id":
                size = 1
            elif spec.shape == "list":
                size = spec.limit or cap
            else:
                size = self._asked(root, coerced, cap)
            total += size * max(1, self._nested(root, coerced, cap))
        return total

    @staticmethod
    def _asked(sel: Sel, variables: Any, cap: int) -> int:
        try:
            assert sel.field_def is not None
            first = get_argument_values(sel.field_def, sel.node, variables).get("first")
        except GraphQLError:
            return cap
        return first if isinstance(first, int) and 0 < first <= cap else min(50, cap)

    def _nested(self, sel: Sel, variables: Any, cap: int) -> int:
        """The largest fan-out of to-many relations below `sel`."""
        widest = 0
        for child in sel.children or []:
            if child.field_def is None or child.children is None:
                continue
            below = self._nested(child, variables, cap)
            if any(field == child.name for _t, field in TO_MANY):
                widest = max(widest, self._asked(child, variables, cap) * max(1, below))
            else:
                widest = max(widest, below)
        return widest

    async def _run(self, plan: Plan, actor: Actor, variables: Any) -> dict[str, Any]:
        """The response; a connection the database dropped (a restart) is tried once more.

        The pool does not ping a connection before lending it (that round trip cost more
        than a tenth of a request): a read is safe to repeat, and the access-log records
        are collected only from the attempt that succeeds."""
        try:
            return await self._run_once(plan, actor, variables)
        except DBAPIError as error:
            if not error.connection_invalidated:
                raise
            log.info("a pooled connection was dropped by the database; reading again")
            return await self._run_once(plan, actor, variables)

    async def _run_once(self, plan: Plan, actor: Actor, variables: Any) -> dict[str, Any]:
        req = Request(self.hub, actor)
        base: dict[str, Any] = {
            f"p_{n}": v for n, v in actor.principal.variables().items() if v is not None
        }
        base["now"] = actor.now
        base.update(now_params(actor.now))
        data: dict[str, Any] = {}
        async with self._reads_engine().connect() as conn:
            for root in plan.roots:
                data[root.sel.key] = await self._root(conn, root, base, req, variables)
        req.record_reads()
        out: dict[str, Any] = {"data": data}
        withheld = req.loaders.withheld
        if withheld:
            out["extensions"] = {"withheld": {t: sorted(f) for t, f in sorted(withheld.items())}}
        return out

    def _reads_engine(self) -> AsyncEngine:
        """The hub's engine, its connections lent without a transaction (autocommit): a
        compiled read is only SELECTs, each of which sees its own snapshot under READ
        COMMITTED whether or not a transaction surrounds them (as on the generic path, which
        reads through a session per statement), so the BEGIN and ROLLBACK round trips of
        every request bought nothing. Made once per engine; it shares the engine's pool."""
        engine = self.hub.db.engine
        if self._engine_for is not engine:
            self._engine = engine.execution_options(isolation_level="AUTOCOMMIT")
            self._engine_for = engine
        assert self._engine is not None
        return self._engine

    def _page_size(self, first: Any) -> int:
        cap = self.hub.page_cap
        if first is None:
            return min(50, cap)
        if not isinstance(first, int) or first < 1 or first > cap:
            raise Fallback
        return first

    async def _root(
        self,
        conn: AsyncConnection,
        root: RootPlan,
        base: dict[str, Any],
        req: Request,
        variables: Any,
    ) -> Any:
        assert root.sel.field_def is not None
        try:
            args = get_argument_values(root.sel.field_def, root.sel.node, variables)
        except GraphQLError:
            raise Fallback from None
        spec = root.spec
        params = dict(base)
        present: list[bool] = []
        try:
            for a in spec.args:
                value = args.get(a.name)
                present.append(bool(value))
                if value:
                    if a.sealed:
                        value = req.seal.unseal(value)
                    params[f"a_{a.name}"] = (
                        req.actor.now if a.name in NOW_ARGS else a.convert(value)
                    )
            size = 0
            cursor_scope = ""
            if spec.shape == "connection":
                size = self._page_size(args.get("first"))
                params["lim"] = size + 1
                after = args.get("after")
                present.append(bool(after))
                cursor_scope = (
                    f"{req.actor.principal.audience}|{root.source.spec.type_name}:"
                    f"{','.join(c for c, _ in spec.order)}"
                )
                if after:
                    values = self.hub.cursors.decode(cursor_scope, after)
                    if len(values) != len(root.order_keys()):
                        raise Fallback
                    params.update({f"c_{i}": v for i, v in enumerate(values)})
            elif spec.shape == "list":
                params["lim"] = spec.limit or self.hub.page_cap
            else:
                params["id"] = req.seal.unseal(args["id"])
        except HubError:
            raise Fallback from None
        stmt = root.variants.get(tuple(present))
        if stmt is None:
            stmt = self._variant(root, present)
        rows = (await conn.execute(stmt, params)).all()
        source = root.source
        if spec.shape == "connection":
            kept = rows[:size]
            has_next = len(rows) > size
        else:
            kept = rows
            has_next = False
        for row in kept:
            note(source, row, req)
        await self._fetch_many(conn, root.statement.manys, kept, base, req, variables)
        if spec.shape == "by_id":
            assert isinstance(root.shape, NodeOut)
            return build(root.shape, kept[0], req, noted=True) if kept else None
        if spec.shape == "list":
            assert isinstance(root.shape, NodeOut)
            return [build(root.shape, row, req, noted=True) for row in kept]
        cursors: list[str] = [""] * len(kept)
        order_columns = [source.columns[c] for c, _ in spec.order] + [source.id_index]
        for i, row in enumerate(kept):
            if root.every_cursor or i == len(kept) - 1:
                cursors[i] = self.hub.cursors.encode(cursor_scope, [row[j] for j in order_columns])
        assert isinstance(root.shape, list)
        return _connection(root.shape, kept, cursors, has_next, req)

    def _variant(self, root: RootPlan, present: list[bool]) -> Any:
        assert root.statement.select is not None
        stmt = root.statement.select
        conditions = [
            a.condition(bindparam(f"a_{a.name}"))
            for a, given in zip(root.spec.args, present, strict=False)
            if given
        ]
        # The conditions name the model's columns; the statement reads its alias.
        from sqlalchemy.sql.util import ClauseAdapter

        adapter = ClauseAdapter(root.alias)
        conditions = [adapter.traverse(c) for c in conditions]
        if root.spec.shape == "connection" and present[-1]:
            keys = root.order_keys()
            conditions.append(_after(keys, [bindparam(f"c_{i}") for i in range(len(keys))]))
        if conditions:
            stmt = stmt.where(*conditions)
        if root.spec.shape != "by_id":
            stmt = stmt.limit(bindparam("lim"))
        root.variants[tuple(present)] = stmt
        return stmt

    async def _fetch_many(
        self,
        conn: AsyncConnection,
        manys: list[ManyOut],
        rows: Any,
        base: dict[str, Any],
        req: Request,
        variables: Any,
    ) -> None:
        for many in manys:
            if many.grant_missing:
                continue
            keys = {row[many.parent_key] for row in rows if row[many.parent_key] is not None}
            grouped: dict[Any, list[Any]] = defaultdict(list)
            req.many[many] = grouped
            if not keys:
                continue
            try:
                args = get_argument_values(many.sel.field_def, many.sel.node, variables)
            except GraphQLError:
                raise Fallback from None
            first = self._page_size(args.get("first"))
            params = {**base, "keys": sorted(keys), "first": first}
            child_rows = (await conn.execute(many.statement.select, params)).all()
            for row in child_rows:
                grouped[row[many.child_key]].append(row)
            await self._fetch_many(conn, many.statement.manys, child_rows, base, req, variables)


def _connection(
    ops: list[tuple[Any, ...]],
    rows: Any,
    cursors: list[str],
    has_next: bool,
    req: Request,
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for op in ops:
        key, kind = op[0], op[1]
        if kind == "typename":
            out[key] = op[2]
        elif kind == "edges":
            edges = []
            for i, row in enumerate(rows):
                edge: dict[str, Any] = {}
                for e in op[2]:
                    if e[1] == "cursor":
                        edge[e[0]] = cursors[i]
                    elif e[1] == "node":
                        edge[e[0]] = build(e[2], row, req, noted=True)
                    else:
                        edge[e[0]] = e[2]
                edges.append(edge)
            out[key] = edges
        else:  # pageInfo
            info: dict[str, Any] = {}
            for p in op[2]:
                if p[1] == "hasNextPage":
                    info[p[0]] = has_next
                elif p[1] == "endCursor":
                    info[p[0]] = cursors[-1] if rows else None
                else:
                    info[p[0]] = p[2]
            out[key] = info
    return out
