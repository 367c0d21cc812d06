"""Reading through the policy, field by field (the generic path): every row a GraphQL
field returns comes from here.

One SQL statement per connection page and one per batch of related records (DataLoaders),
whatever the number of rows. The policy's row filter is part of the statement; the rules
that matched each row come back as extra boolean columns, so the field mask is applied in
one pass per row. Denied fields become null and are named in the response's extensions.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.sql.util import ClauseAdapter
from strawberry.dataloader import DataLoader
from strawberry.types import Info

from hub.errors import Code, HubError
from hub.policy.engine import FieldMask, Grant
from hub.policy.resources import RESOURCES, Resource
from hub.read.context import ReadContext

_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def snake(name: str) -> str:
    return _CAMEL.sub("_", name).lower()


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


Builder = Callable[[ReadContext, Any, FieldMask, frozenset[str], tuple[Any, ...]], Any]


@dataclass
class NodeSpec:
    """How one resource becomes one GraphQL type."""

    type_name: str
    resource: Resource
    build: Builder  # (ctx, row, field mask, selected fields, extra columns) -> node
    extra_columns: Sequence[Any] = ()
    join: Callable[[Select[Any]], Select[Any]] | None = None
    _withheld: dict[tuple[frozenset[str], frozenset[str]], frozenset[str]] = field(
        default_factory=dict, repr=False
    )
    _shown: dict[tuple[FieldMask, frozenset[str]], frozenset[str]] = field(
        default_factory=dict, repr=False
    )

    def shown(self, mask: FieldMask, selected: frozenset[str]) -> frozenset[str]:
        """The policy fields a row returns, for the access log: `field` or `field(effect)`."""
        key = (mask, selected)
        found = self._shown.get(key)
        if found is None:
            names = {"id"}
            for f in selected & mask.shown:
                if f in self.resource.fields:
                    effect = mask.effect(f)
                    names.add(f if effect == "allow" else f"{f}({effect})")
            found = frozenset(names)
            self._shown[key] = found
        return found

    def withheld(self, allowed: frozenset[str], selected: frozenset[str]) -> frozenset[str]:
        key = (allowed, selected)
        found = self._withheld.get(key)
        if found is None:
            found = frozenset(camel(f) for f in selected - allowed if f in self.resource.fields)
            self._withheld[key] = found
        return found


def spec(type_name: str, resource: str, build: Builder, **kw: Any) -> NodeSpec:
    return NodeSpec(type_name, RESOURCES[resource], build, **kw)


def _collect(selections: Sequence[Any], out: set[str], path: tuple[str, ...]) -> None:
    for sel in selections:
        name = getattr(sel, "name", None)
        subs = getattr(sel, "selections", None) or []
        if name is None or not hasattr(sel, "arguments"):  # fragment or inline fragment
            _collect(subs, out, path)
        elif path:
            if name == path[0]:
                _collect(subs, out, path[1:])
        else:
            out.add(snake(name))


def selected(info: Info, path: tuple[str, ...] = ()) -> frozenset[str]:
    """The policy field names selected below the current field (through `path`), cached."""
    ctx: ReadContext = info.context
    key = (id(info._raw_info.field_nodes[0]), path)
    found = ctx.loaders.selections.get(key)
    if found is None:
        out: set[str] = set()
        for f in info.selected_fields:
            _collect(f.selections, out, path)
        found = frozenset(out)
        ctx.loaders.selections[key] = found
    return found


async def select_nodes(
    ctx: ReadContext,
    node: NodeSpec,
    grant: Grant,
    selection: frozenset[str],
    *conditions: Any,
    order: Sequence[Any] = (),
    limit: int | None = None,
    keep: int | None = None,
) -> list[tuple[Any, Any]]:
    """Run one policy-filtered SELECT; return (row, masked GraphQL node) pairs.

    Only the first `keep` rows are built, returned and logged; rows past it (a page's
    look-ahead row) come back as (row, None), never shown and so never logged.
    """
    v = ctx.actor.vars
    model = node.resource.model
    match = grant.match_columns(v)
    stmt: Select[Any] = select(model, *node.extra_columns, *match)
    if node.join is not None:
        stmt = node.join(stmt)
    stmt = stmt.where(grant.row_filter(v), *conditions)
    if order:
        stmt = stmt.order_by(*order)
    if limit is not None:
        stmt = stmt.limit(limit)
    async with ctx.hub.db.sessions() as session:
        rows = (await session.execute(stmt)).all()
    n_extra = len(node.extra_columns)
    out = []
    shown: set[str] = set()
    for i, row in enumerate(rows):
        if keep is not None and i >= keep:
            out.append((row[0], None))
            continue
        matched = tuple(bool(x) for x in row[1 + n_extra :]) if match else None
        mask = grant.mask(matched)
        withheld = node.withheld(mask.shown, selection)
        if withheld:
            ctx.loaders.withhold(node.type_name, withheld)
        shown |= node.shown(mask, selection)
        built = node.build(ctx, row[0], mask, selection, tuple(row[1 : 1 + n_extra]))
        out.append((row[0], built))
    resource = node.resource
    personal = [r for r, n in out if n is not None and resource.is_personal(r)]
    if personal:
        subject = resource.subject_column
        ctx.actor.record(
            "read",
            resource.name,
            record_ids=[str(r.id) for r in personal],
            fields=sorted(shown),
            subjects=[s for r in personal if (s := getattr(r, subject))] if subject else [],
        )
    return out


def _page_size(ctx: ReadContext, first: int | None) -> int:
    cap = ctx.hub.page_cap
    if first is None:
        return min(50, cap)
    if first < 1 or first > cap:
        raise HubError(Code.BAD_USER_INPUT, f"first must be between 1 and {cap}")
    return first


async def fetch_page(
    info: Info,
    node: NodeSpec,
    *,
    conditions: Sequence[Any] = (),
    order: Sequence[tuple[str, bool]],  # (column, descending); the id is added last
    first: int | None,
    after: str | None,
    action: str = "read",
) -> tuple[list[tuple[str, Any]], bool]:
    """A keyset page of `node`s the caller may read: [(cursor, node)], has_next_page."""
    ctx: ReadContext = info.context
    grant = ctx.actor.require_grant(node.resource.name, action)
    size = _page_size(ctx, first)
    model = node.resource.model
    keys = [(getattr(model, c), desc) for c, desc in order] + [(model.id, order[0][1])]
    conds = list(conditions)
    # A cursor opens only for the audience it was made for (its ids are inside).
    scope = f"{ctx.actor.principal.audience}|{node.type_name}:{','.join(c for c, _ in order)}"
    if after:
        values = ctx.hub.cursors.decode(scope, after)
        if len(values) != len(keys):
            raise HubError(Code.BAD_USER_INPUT, "invalid cursor")
        conds.append(_after(keys, values))
    selection = selected(info, ("edges", "node"))
    # Sort keys must be read even when the caller may not see them: they seal the cursor.
    rows = await select_nodes(
        ctx,
        node,
        grant,
        selection,
        *conds,
        order=[k.desc() if d else k.asc() for k, d in keys],
        limit=size + 1,
        keep=size,
    )
    has_next = len(rows) > size
    # Sealing costs an encryption per row: only for the cursors asked for (and the last,
    # which is pageInfo.endCursor).
    every_cursor = "cursor" in selected(info, ("edges",))
    kept = rows[:size]
    page = []
    for i, (row, built) in enumerate(kept):
        cursor = ""
        if every_cursor or i == len(kept) - 1:
            values = [getattr(row, c) for c, _ in order] + [row.id]
            cursor = ctx.hub.cursors.encode(scope, values)
        page.append((cursor, built))
    return page, has_next


def _after(keys: list[tuple[Any, bool]], values: list[Any]) -> Any:
    """Rows strictly after `values` in the lexicographic order of `keys`."""
    clauses = []
    for i, (col, desc) in enumerate(keys):
        eqs = [k == val for (k, _), val in zip(keys[:i], values[:i], strict=True)]
        step = col < values[i] if desc else col > values[i]
        clauses.append(and_(*eqs, step))
    return or_(*clauses)


def node_loader(
    ctx: ReadContext, node: NodeSpec, key_column: str, selection: frozenset[str]
) -> Any:
    """A per-request DataLoader of `node`s by a unique column, through the read policy."""

    async def batch(keys: list[str]) -> list[Any]:
        grant = ctx.actor.grant(node.resource.name, "read")
        if grant is None:
            return [None] * len(keys)
        column = getattr(node.resource.model, key_column)
        pairs = await select_nodes(ctx, node, grant, selection, column.in_(set(keys)))
        by_key = {getattr(row, key_column): built for row, built in pairs}
        return [by_key.get(k) for k in keys]

    return ctx.loaders.get(
        ("node", node.type_name, key_column, selection),
        lambda: DataLoader(batch, max_batch_size=500),
    )


async def related(
    info: Info, parent_type: str, node: NodeSpec, key: str | None, key_column: str = "id"
) -> Any:
    """Resolve a to-one relation through the related resource's own policy."""
    if key is None:
        return None
    ctx: ReadContext = info.context
    found = await node_loader(ctx, node, key_column, selected(info)).load(key)
    if found is None:
        ctx.loaders.withhold(parent_type, frozenset({info.python_name and camel(info.python_name)}))
    return found


def first_per_key(
    model: Any,
    key_column: str,
    keys: Any,
    row_filter: Any,
    order: Sequence[Any],
    first: Any,
    alias: str = "w",
    target: Any = None,
) -> Any:
    """The condition "among the first `first` rows, in `order`, of each key" over the rows
    `row_filter` lets through: a window over the keys, so a to-many relation is one
    statement whatever the number of parents. `keys` and `first` may be bound parameters."""
    w = model.__table__.alias(alias)
    adapt = ClauseAdapter(w)
    rank = func.row_number().over(
        partition_by=w.c[key_column], order_by=[adapt.traverse(o) for o in order]
    )
    inner = (
        select(w.c.id, rank.label("rank"))
        .where(w.c[key_column].in_(keys), adapt.traverse(row_filter))
        .subquery(f"{alias}_ranked")
    )
    ids = select(inner.c.id).where(inner.c.rank <= first)
    return (model.id if target is None else target).in_(ids)


async def related_many(
    info: Info,
    parent_type: str,
    node: NodeSpec,
    key: str | None,
    key_column: str,
    order: Sequence[tuple[str, bool]],
    first: int | None,
) -> list[Any] | None:
    """Resolve a to-many relation: the first `first` related records the caller may read,
    each through the related resource's own policy; null and withheld without a grant."""
    if key is None:
        return None
    ctx: ReadContext = info.context
    size = _page_size(ctx, first)
    grant = ctx.actor.grant(node.resource.name, "read")
    if grant is None:
        ctx.loaders.withhold(parent_type, frozenset({camel(info.python_name)}))
        return None
    model = node.resource.model
    keys = [getattr(model, c).desc() if d else getattr(model, c).asc() for c, d in order]
    keys.append(model.id.desc() if order[0][1] else model.id.asc())
    selection = selected(info)

    async def batch(parents: list[str]) -> list[list[Any]]:
        column = getattr(model, key_column)
        window = first_per_key(
            model, key_column, set(parents), grant.row_filter(ctx.actor.vars), keys, size
        )
        pairs = await select_nodes(ctx, node, grant, selection, window, order=[column, *keys])
        grouped: dict[str, list[Any]] = {p: [] for p in parents}
        for row, built in pairs:
            grouped[getattr(row, key_column)].append(built)
        return [grouped[p] for p in parents]

    loader = ctx.loaders.get(
        ("many", node.type_name, key_column, size, selection),
        lambda: DataLoader(batch, max_batch_size=500),
    )
    return await loader.load(key)  # type: ignore[no-any-return]


async def read_back(info: Info, node: NodeSpec, row_id: str, action: str) -> Any:
    """A mutation's result, as the caller may see it: through the read rules, or else
    through the rules of the action just performed (a worker filing an anonymous report
    may see what was filed, though nothing links it to the worker afterwards)."""
    ctx: ReadContext = info.context
    model = node.resource.model
    sel = selected(info)
    for act in ("read", action):
        grant = ctx.actor.grant(node.resource.name, act)
        if grant is None:
            continue
        pairs = await select_nodes(ctx, node, grant, sel, model.id == row_id)
        if pairs:
            return pairs[0][1]
    ctx.loaders.withhold(node.type_name, frozenset(f for f in sel if f != "id"))
    return node.build(ctx, _IdOnly(row_id), FieldMask(frozenset({"id"})), frozenset(), (None,))


class _IdOnly:
    """A row of which the caller may see nothing but the id."""

    def __init__(self, row_id: str) -> None:
        self.id = row_id

    def __getattr__(self, name: str) -> None:
        return None
