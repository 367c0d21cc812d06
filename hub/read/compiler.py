"""Compiling a GraphQL read into a plan: SQL through SQLAlchemy Core and a row builder.

A document is analysed once (`analyse`): its operation, its root fields and their merged
selections, fragments flattened. A plan is then made once per (document, operation, roles,
purpose, policy version, which principal values are null) (`compile_plan`):

- one statement per root field, reading only the columns asked for (and those the policy,
  the cursor and the access log need), with the grant's row filter and rule-match flags
  inline; each to-one relation is a LEFT JOIN under the related resource's OWN grant (its
  row filter in the join condition, its match flags beside it); no grant, no join: the
  field is null and withheld, as on the generic path;
- one batched statement per to-many relation (a window over the parents' keys);
- principal values, `$now` (and each `$now` shifted by a duration, `now_params`), arguments
  and cursors are bound parameters, so one plan serves every principal of that role set and
  purpose, at any time.

Whatever the compiler does not cover raises `Unsupported`: the request then goes to the
generic strawberry path, which is also the oracle the differential tests compare with.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLBoolean,
    GraphQLField,
    GraphQLID,
    GraphQLInt,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLString,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    get_named_type,
)
from sqlalchemy import Select, and_, bindparam, select
from sqlalchemy.sql.util import ClauseAdapter

from hub.policy.engine import Grant, PolicySet
from hub.policy.resources import field_kind
from hub.read import filters
from hub.read.filters import Arg
from hub.read.nodes import NodeSpec, first_per_key, snake
from hub.read.plan import (
    ID,
    IDENTITY,
    MANY,
    RELATION,
    SCALAR,
    TYPENAME,
    ManyOut,
    NodeOut,
    Source,
    _same,
)


class Unsupported(Exception):
    """Not covered by the compiler: the generic path answers this request."""


# --- what the schema's types are made of ------------------------------------------------

# (GraphQL type, field) -> (policy field, parent column holding the key, related type,
# related column the key matches): the to-one relations of hub/schema/types.py.
RELATIONS: dict[tuple[str, str], tuple[str, str, str, str]] = {
    ("Certificate", "premises"): ("premises", "premises_id", "Premises", "id"),
    ("Premises", "operator"): ("operator", "operator_id", "Organisation", "id"),
    ("Premises", "certificate"): ("certificate", "id", "Certificate", "premises_id"),
    ("RentalAgreement", "premises"): ("premises", "premises_id", "Premises", "id"),
    ("RentalAgreement", "sexWorker"): ("sex_worker", "sex_worker_id", "SexWorker", "id"),
    ("Shift", "premises"): ("premises", "premises_id", "Premises", "id"),
    ("Shift", "sexWorker"): ("sex_worker", "sex_worker_id", "SexWorker", "id"),
    ("Inspection", "premises"): ("premises", "premises_id", "Premises", "id"),
    ("Inspection", "policeOrg"): ("police_org", "police_org_id", "Organisation", "id"),
    ("Measure", "premises"): ("premises", "premises_id", "Premises", "id"),
    ("Measure", "organisation"): ("organisation", "org_id", "Organisation", "id"),
    ("Report", "author"): ("author", "author_id", "SexWorker", "id"),
    ("Alert", "issuedBy"): ("issued_by", "issued_by_id", "Organisation", "id"),
    ("CareContact", "ngo"): ("ngo", "ngo_id", "Organisation", "id"),
    ("Referral", "fromOrganisation"): ("from_organisation", "from_org_id", "Organisation", "id"),
    ("Referral", "toOrganisation"): ("to_organisation", "to_org_id", "Organisation", "id"),
    ("Consent", "grantee"): ("grantee", "grantee_id", "Organisation", "id"),
    ("TraffickingSuspicion", "organisation"): ("organisation", "org_id", "Organisation", "id"),
    ("HelpdeskRequest", "union"): ("union", "union_id", "Organisation", "id"),
    ("EmploymentRelation", "employer"): ("employer", "employer_id", "Organisation", "id"),
    ("EmploymentRelation", "sexWorker"): ("sex_worker", "sex_worker_id", "SexWorker", "id"),
    ("Consent", "sexWorker"): ("sex_worker", "sex_worker_id", "SexWorker", "id"),
}

# (GraphQL type, field) -> (related type, related column matching the parent's id, order).
TO_MANY: dict[tuple[str, str], tuple[str, str, filters.Order]] = {
    ("Premises", "shifts"): ("Shift", "premises_id", filters.SHIFTS_ORDER),
}


@dataclass(frozen=True)
class RootSpec:
    """How a root field reads: its node, its shape, its arguments and its order."""

    type_name: str
    shape: str  # "connection", "list" or "by_id"
    args: tuple[Arg, ...] = ()
    order: filters.Order = ()  # type: ignore[assignment]
    limit: int | None = None  # a list's fixed limit; None: the page cap
    tie_break: bool = True  # the id ends the order


ROOTS: dict[str, RootSpec] = {
    "premises": RootSpec("Premises", "connection", filters.PREMISES_ARGS, filters.PREMISES_ORDER),
    "shifts": RootSpec("Shift", "connection", filters.SHIFTS_ARGS, filters.SHIFTS_ORDER),
    "rentalAgreements": RootSpec(
        "RentalAgreement", "connection", filters.RENTALS_ARGS, filters.RENTALS_ORDER
    ),
    "inspections": RootSpec(
        "Inspection", "connection", filters.INSPECTIONS_ARGS, filters.INSPECTIONS_ORDER
    ),
    "measures": RootSpec("Measure", "connection", filters.MEASURES_ARGS, filters.MEASURES_ORDER),
    "reports": RootSpec("Report", "connection", filters.REPORTS_ARGS, filters.REPORTS_ORDER),
    "careContacts": RootSpec("CareContact", "connection", filters.CARE_ARGS, filters.CARE_ORDER),
    "referrals": RootSpec("Referral", "connection", (), filters.REFERRALS_ORDER),
    "traffickingSuspicions": RootSpec(
        "TraffickingSuspicion", "connection", (), filters.SUSPICIONS_ORDER
    ),
    "helpdeskRequests": RootSpec("HelpdeskRequest", "connection", (), filters.HELPDESK_ORDER),
    "employmentRelations": RootSpec(
        "EmploymentRelation", "connection", (), filters.EMPLOYMENT_ORDER
    ),
    # Lists: the orders of hub/schema/root.py, whole.
    "organisations": RootSpec(
        "Organisation", "list", (), [("name", False), ("id", False)], 1000, tie_break=False
    ),
    "alerts": RootSpec(
        "Alert", "list", filters.ALERTS_ARGS, [("issued_at", True), ("id", False)], None, False
    ),
    "myConsents": RootSpec("Consent", "list", (), [("granted_at", True)], 500, tie_break=False),
    "sexWorker": RootSpec("SexWorker", "by_id"),
}
# Arguments whose condition compares with the request's clock rather than their value.
NOW_ARGS = frozenset({"activeOnly"})


# --- analysing a document ---------------------------------------------------------------


@dataclass(eq=False)
class Sel:
    """One response key: the field, its merged nodes and (for objects) its selection."""

    key: str
    name: str
    nodes: list[FieldNode]
    field_def: GraphQLField | None  # None for __typename
    children: list[Sel] | None = None

    @property
    def node(self) -> FieldNode:
        return self.nodes[0]


@dataclass(eq=False)
class Operation:
    """A document's operation, analysed once and cached with the document."""

    definition: OperationDefinitionNode
    audit_name: str  # what the access log names the operation
    roots: list[Sel]
    plans: dict[Any, Any] = field(default_factory=dict)
    fragments: dict[str, Any] = field(default_factory=dict)
    # Whether it is within the cost limit, known once for an operation without variables.
    within_cost: bool | None = None
    # Variables as sent (JSON, keys sorted) -> execute.Variables: their coercion and what
    # follows from them, a few per operation.
    variables: dict[bytes, Any] = field(default_factory=dict)


def analyse(
    schema: GraphQLSchema, definition: OperationDefinitionNode, fragments: dict[str, Any]
) -> Operation:
    if definition.operation != OperationType.QUERY:
        raise Unsupported("not a query")
    if definition.directives:
        raise Unsupported("directives")
    query = schema.query_type
    assert query is not None
    roots = _collect(query, [definition.selection_set], fragments)
    for root in roots:
        if root.name not in ROOTS:
            raise Unsupported(f"root {root.name}")
    name = definition.name.value if definition.name else definition.operation.value
    return Operation(definition, name, roots)


def _collect(
    parent: GraphQLObjectType, sets: Sequence[SelectionSetNode], fragments: dict[str, Any]
) -> list[Sel]:
    merged: dict[str, Sel] = {}

    def walk(selection_set: SelectionSetNode) -> None:
        for s in selection_set.selections:
            if s.directives:
                raise Unsupported("directives")
            if isinstance(s, FieldNode):
                key = s.alias.value if s.alias else s.name.value
                found = merged.get(key)
                if found is None:
                    name = s.name.value
                    fdef = parent.fields.get(name)
                    if fdef is None and name != "__typename":
                        raise Unsupported(f"field {name}")
                    merged[key] = Sel(key, name, [s], fdef)
                else:
                    found.nodes.append(s)
            elif isinstance(s, InlineFragmentNode):
                _same_type(parent, s.type_condition)
                walk(s.selection_set)
            elif isinstance(s, FragmentSpreadNode):
                frag: FragmentDefinitionNode | None = fragments.get(s.name.value)
                if frag is None:
                    raise Unsupported("unknown fragment")
                _same_type(parent, frag.type_condition)
                walk(frag.selection_set)

    for selection_set in sets:
        walk(selection_set)
    for sel in merged.values():
        if sel.field_def is not None:
            named = get_named_type(sel.field_def.type)
            if isinstance(named, GraphQLObjectType):
                subs = [n.selection_set for n in sel.nodes if n.selection_set is not None]
                sel.children = _collect(named, subs, fragments)
    return list(merged.values())


def _same_type(parent: GraphQLObjectType, condition: Any) -> None:
    if condition is not None and condition.name.value != parent.name:
        raise Unsupported("a fragment on another type")


def type_name_of(sel: Sel) -> str:
    assert sel.field_def is not None
    return get_named_type(sel.field_def.type).name


# --- compiling a plan -------------------------------------------------------------------


def principal_binds(nulls: dict[str, bool]) -> dict[str, Any]:
    """Request variables made of bound parameters: `$principal.x` is `:p_x`, `$now` is
    `:now`. A null principal value stays None, as the generic path binds it (a comparison
    with it is false), and is part of the plan's key."""
    return {
        "principal": {n: None if null else bindparam(f"p_{n}") for n, null in nulls.items()},
        "now": bindparam("now"),
        # A request that states a case (Hub-Case) is served by the generic path only.
        "request": {"case": None},
    }


@dataclass(eq=False)
class Statement:
    """One SQL statement of a plan, with the to-many relations hanging off its rows."""

    columns: list[Any] = field(default_factory=list)
    from_: Any = None
    where: list[Any] = field(default_factory=list)
    order: list[Any] = field(default_factory=list)
    manys: list[ManyOut] = field(default_factory=list)
    select: Select[Any] | None = None
    aliases: int = 0

    def add(self, column: Any) -> int:
        self.columns.append(column.label(f"c{len(self.columns)}"))
        return len(self.columns) - 1

    def finish(self) -> Select[Any]:
        stmt = select(*self.columns).select_from(self.from_)
        if self.where:
            stmt = stmt.where(*self.where)
        if self.order:
            stmt = stmt.order_by(*self.order)
        self.select = stmt
        return stmt


@dataclass(eq=False)
class RootPlan:
    sel: Sel
    spec: RootSpec
    statement: Statement
    source: Source
    alias: Any
    # A connection: ops for its response shape; a list or by_id: one NodeOut.
    shape: list[tuple[Any, ...]] | NodeOut
    every_cursor: bool = False
    variants: dict[tuple[bool, ...], Select[Any]] = field(default_factory=dict)

    def order_keys(self) -> list[tuple[Any, bool]]:
        keys = [(self.alias.c[c], desc) for c, desc in self.spec.order]
        if self.spec.tie_break:
            keys.append((self.alias.c.id, self.spec.order[0][1] if self.spec.order else False))
        return keys


@dataclass(eq=False)
class Plan:
    roots: list[RootPlan]


class Compiler:
    """Makes plans for one schema, one role set, one purpose and one policy version."""

    def __init__(
        self,
        schema: GraphQLSchema,
        nodes: dict[str, NodeSpec],
        policies: PolicySet,
        roles: frozenset[str],
        purpose: str,
        nulls: dict[str, bool],
        identity: Any,
        pseudonym_scopes: dict[tuple[str, str], str],
    ) -> None:
        self.schema = schema
        self.nodes = nodes
        self.policies = policies
        self.roles = roles
        self.purpose = purpose
        self.vars = principal_binds(nulls)
        self.identity = identity
        self.scopes = pseudonym_scopes

    def grant(self, resource: str) -> Grant | None:
        return self.policies.grant(self.roles, self.purpose, resource, "read")

    def plan(self, op: Operation) -> Plan:
        return Plan([self._root(sel) for sel in op.roots])

    # roots

    def _root(self, sel: Sel) -> RootPlan:
        spec = ROOTS[sel.name]
        node = self.nodes[spec.type_name]
        grant = self.grant(node.resource.name)
        if grant is None:
            raise Unsupported("no grant: the generic path answers FORBIDDEN")
        st = Statement()
        if spec.shape == "connection":
            node_sels = [
                n
                for e in sel.children or []
                if e.name == "edges"
                for n in e.children or []
                if n.name == "node"
            ]
        else:
            node_sels = [sel]
        selection = frozenset(snake(c.name) for n in node_sels for c in n.children or [] if c.name)
        source, alias = self._source(st, node, grant, selection, root=True)
        for c, _desc in spec.order:
            self._column(st, source, alias, c)
        plan_outs: list[tuple[Any, ...]] | NodeOut
        if spec.shape == "connection":
            plan_outs = self._connection(st, sel, source, alias)
        else:
            plan_outs = self._node(st, sel.children or [], source, alias, spec.type_name)
        st.where.append(self._adapt(alias, grant.row_filter(self.vars)))
        root = RootPlan(sel, spec, st, source, alias, plan_outs)
        st.order = [k.desc() if d else k.asc() for k, d in root.order_keys()]
        if spec.shape == "by_id":
            st.where.append(alias.c.id == bindparam("id"))
        st.finish()
        root.every_cursor = any(
            c.name == "cursor"
            for e in sel.children or []
            if e.name == "edges"
            for c in e.children or []
        )
        return root

    def _connection(
        self, st: Statement, sel: Sel, source: Source, alias: Any
    ) -> list[tuple[Any, ...]]:
        ops: list[tuple[Any, ...]] = []
        for c in sel.children or []:
            if c.name == "__typename":
                ops.append((c.key, "typename", type_name_of(sel)))
            elif c.name == "edges":
                edge_ops: list[tuple[Any, ...]] = []
                for e in c.children or []:
                    if e.name == "__typename":
                        edge_ops.append((e.key, "typename", type_name_of(c)))
                    elif e.name == "cursor":
                        edge_ops.append((e.key, "cursor"))
                    elif e.name == "node":
                        out = self._node(st, e.children or [], source, alias, type_name_of(e))
                        edge_ops.append((e.key, "node", out))
                    else:
                        raise Unsupported(f"edge field {e.name}")
                ops.append((c.key, "edges", edge_ops))
            elif c.name == "pageInfo":
                info_ops: list[tuple[Any, ...]] = []
                for p in c.children or []:
                    if p.name == "__typename":
                        info_ops.append((p.key, "typename", type_name_of(c)))
                    elif p.name in ("hasNextPage", "endCursor"):
                        info_ops.append((p.key, p.name))
                    else:
                        raise Unsupported(f"pageInfo field {p.name}")
                ops.append((c.key, "pageInfo", info_ops))
            else:
                raise Unsupported(f"connection field {c.name}")
        return ops

    # sources and nodes

    def _source(
        self, st: Statement, node: NodeSpec, grant: Grant, selection: frozenset[str], *, root: bool
    ) -> tuple[Source, Any]:
        alias = node.resource.model.__table__.alias(f"t{st.aliases}")
        st.aliases += 1
        if root:
            st.from_ = alias
        source = Source(node, grant, selection)
        self._column(st, source, alias, "id")
        resource = node.resource
        if resource.subject_column:
            self._column(st, source, alias, resource.subject_column)
        if resource.personal_rows is not None:
            # Which rows are personal is read off the row (a private workplace's kind).
            for c in ("kind",):
                self._column(st, source, alias, c)
        source.match = tuple(st.add(self._adapt(alias, m)) for m in grant.match_columns(self.vars))
        return source, alias

    def _column(self, st: Statement, source: Source, alias: Any, name: str) -> int:
        found = source.columns.get(name)
        if found is None:
            found = source.columns[name] = st.add(alias.c[name])
        return found

    @staticmethod
    def _adapt(alias: Any, clause: Any) -> Any:
        return ClauseAdapter(alias).traverse(clause)

    def _node(
        self, st: Statement, sels: list[Sel], source: Source, alias: Any, type_name: str
    ) -> NodeOut:
        out = NodeOut(source, type_name)
        resource = source.spec.resource
        columns = alias.c
        for s in sels:
            if s.name == "__typename":
                out.ops.append((TYPENAME, s.key, type_name))
                continue
            if s.name == "id":
                out.ops.append((ID, s.key))
                continue
            rel = RELATIONS.get((type_name, s.name))
            if rel is not None:
                out.ops.append(self._relation(st, s, source, alias, type_name, rel))
                continue
            many = TO_MANY.get((type_name, s.name))
            if many is not None:
                out.ops.append((MANY, s.key, self._many(st, s, source, type_name, many)))
                continue
            name = snake(s.name)
            if (type_name, name) == ("SexWorker", "identity"):
                out.ops.append(self._identity(st, s, source, alias))
                continue
            if (type_name, name) == ("Measure", "target_name"):
                raise Unsupported("Measure.targetName is decrypted by the generic path")
            if name not in resource.fields or name not in columns:
                raise Unsupported(f"{type_name}.{s.name}")
            index = self._column(st, source, alias, name)
            kind: str | None = field_kind(resource, name)
            if name == "address":
                # generalize shows the zone, or else the city, of the same row.
                for c in ("zone", "city"):
                    self._column(st, source, alias, c)
            scope = self.scopes.get((resource.name, name), f"{resource.name}.{name}")
            assert s.field_def is not None
            out.ops.append((SCALAR, s.key, name, index, serializer(s.field_def.type), kind, scope))
        return out

    def _relation(
        self,
        st: Statement,
        s: Sel,
        parent: Source,
        parent_alias: Any,
        parent_type: str,
        rel: tuple[str, str, str, str],
    ) -> tuple[Any, ...]:
        policy_field, parent_column, target_type, key_column = rel
        fk = self._column(st, parent, parent_alias, parent_column)
        node = self.nodes[target_type]
        grant = self.grant(node.resource.name)
        child: NodeOut | None = None
        if grant is not None:
            selection = frozenset(snake(c.name) for c in s.children or [])
            source, alias = self._source(st, node, grant, selection, root=False)
            condition = and_(
                alias.c[key_column] == parent_alias.c[parent_column],
                self._adapt(alias, grant.row_filter(self.vars)),
            )
            st.from_ = st.from_.outerjoin(alias, condition)
            child = self._node(st, s.children or [], source, alias, target_type)
        return (RELATION, s.key, policy_field, fk, child, s.name)

    def _identity(self, st: Statement, s: Sel, source: Source, alias: Any) -> tuple[Any, ...]:
        self._column(st, source, alias, "identity")
        if source.wrapped_key is None:
            from hub.models import DataKey

            keys = DataKey.__table__.alias(f"t{st.aliases}")  # type: ignore[attr-defined]
            st.aliases += 1
            st.from_ = st.from_.outerjoin(keys, keys.c.sex_worker_id == alias.c.id)
            source.wrapped_key = st.add(keys.c.wrapped_key)
        sub_ops: list[tuple[str, str | None, Any]] = []
        for c in s.children or []:
            if c.name == "__typename":
                sub_ops.append((c.key, None, type_name_of(s)))
            else:
                assert c.field_def is not None
                sub_ops.append((c.key, snake(c.name), serializer(c.field_def.type)))
        return (IDENTITY, s.key, self.identity, sub_ops)

    def _many(
        self,
        parent_st: Statement,
        s: Sel,
        parent: Source,
        parent_type: str,
        many: tuple[str, str, filters.Order],
    ) -> ManyOut:
        target_type, key_column, order = many
        node = self.nodes[target_type]
        grant = self.grant(node.resource.name)
        st = Statement()
        selection = frozenset(snake(c.name) for c in s.children or [])
        if grant is None:
            out = ManyOut(
                NodeOut(Source(node, _NO_GRANT, selection), target_type),
                parent.id_index,
                0,
                parent_type=parent_type,
                field_name=s.name,
                grant_missing=True,
            )
            parent_st.manys.append(out)
            return out
        source, alias = self._source(st, node, grant, selection, root=True)
        child_key = self._column(st, source, alias, key_column)
        node_out = self._node(st, s.children or [], source, alias, target_type)
        model = node.resource.model
        keys = [getattr(model, c).desc() if d else getattr(model, c).asc() for c, d in order]
        keys.append(model.id.desc() if order[0][1] else model.id.asc())
        st.where.append(
            first_per_key(
                model,
                key_column,
                bindparam("keys", expanding=True),
                grant.row_filter(self.vars),
                keys,
                bindparam("first"),
                target=alias.c.id,
            )
        )
        ordered = [alias.c[key_column]]
        ordered += [alias.c[c].desc() if d else alias.c[c].asc() for c, d in order]
        ordered.append(alias.c.id.desc() if order[0][1] else alias.c.id.asc())
        st.order = ordered
        st.finish()
        out = ManyOut(
            node_out,
            parent.id_index,
            child_key,
            statement=st,
            parent_type=parent_type,
            field_name=s.name,
        )
        out.sel = s
        parent_st.manys.append(out)
        return out


class _NoGrant:
    uniform = None


_NO_GRANT: Any = _NoGrant()


# --- serialising leaves -----------------------------------------------------------------

_PLAIN = (GraphQLString, GraphQLID, GraphQLInt, GraphQLBoolean)


def serializer(gql_type: Any) -> Any:
    """What graphql-core does to a leaf value on its way out: the scalar's or the enum's
    own `serialize` (built-in scalars of the right Python type pass as they are)."""
    if isinstance(gql_type, GraphQLNonNull):
        gql_type = gql_type.of_type
    if isinstance(gql_type, GraphQLList):
        inner = serializer(gql_type.of_type)
        return lambda values: [None if v is None else inner(v) for v in values]
    if gql_type in _PLAIN:
        return _same
    return gql_type.serialize
