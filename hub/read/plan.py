"""A compiled read plan, and the one pass that turns its rows into the response.

A plan (hub/read/compiler.py makes it) holds, per root field, one SQL statement with every
to-one relation joined under the related resource's own grant, and for every to-many
relation one batched statement. Each table in a statement is a `Source`: its grant, the
columns read and where they sit in a result row. Each place in the response that shows a
record is a `NodeOut`: the fields to write, in the document's order, each a small op.

Building a row follows the generic builders (hub/schema/types.py) field by field: the same
mask, the same effects, the same withheld names and the same access-log record, so the two
paths answer alike (the differential tests compare them).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from types import SimpleNamespace
from typing import Any

from hub.ids import AudienceSeal
from hub.policy.effects import apply
from hub.policy.engine import FieldMask, Grant
from hub.read.context import Loaders
from hub.read.nodes import NodeSpec, camel
from hub.services.actor import Actor
from hub.state import HubState

# Op kinds of a NodeOut (plain ints: the row loop compares them).
ID, TYPENAME, SCALAR, RELATION, IDENTITY, MANY = range(6)


@dataclass(eq=False)
class Source:
    """One table of one statement, read under one grant."""

    spec: NodeSpec
    grant: Grant
    selection: frozenset[str]  # the policy fields selected here (withheld, shown)
    columns: dict[str, int] = field(default_factory=dict)  # model column -> row index
    match: tuple[int, ...] = ()  # row indices of the per-rule match flags
    wrapped_key: int | None = None  # row index of the worker's data key (identity)
    _per_mask: dict[FieldMask, tuple[frozenset[str], frozenset[str], dict[str, str]]] = field(
        default_factory=dict, repr=False
    )

    @property
    def id_index(self) -> int:
        return self.columns["id"]

    def mask(self, row: Any) -> FieldMask:
        grant = self.grant
        if grant.uniform is not None:
            return grant.uniform
        return grant.mask(tuple(bool(row[i]) for i in self.match))

    def per_mask(self, mask: FieldMask) -> tuple[frozenset[str], frozenset[str], dict[str, str]]:
        """(withheld GraphQL names, access-log field names, effects other than allow)."""
        found = self._per_mask.get(mask)
        if found is None:
            found = (
                self.spec.withheld(mask.shown, self.selection),
                self.spec.shown(mask, self.selection),
                dict(mask.transforms),
            )
            self._per_mask[mask] = found
        return found

    def view(self, row: Any) -> SimpleNamespace:
        """The row as the generic builders see one: attributes by column name."""
        return SimpleNamespace(**{c: row[i] for c, i in self.columns.items()})


@dataclass(eq=False)
class NodeOut:
    """One place in the response that shows records of `source`."""

    source: Source
    type_name: str
    ops: list[tuple[Any, ...]] = field(default_factory=list)


@dataclass(eq=False)
class ManyOut:
    """A to-many relation: its own statement, batched over the parents' keys."""

    node: NodeOut
    parent_key: int  # row index, in the parent's statement, of the key the children match
    child_key: int  # row index, in the child statement, of the column matching that key
    statement: Any = None
    first: int = 50
    parent_type: str = ""
    field_name: str = ""
    grant_missing: bool = False
    sel: Any = None  # the field, for its arguments
    children: list[ManyOut] = field(default_factory=list)  # to-many relations below


@dataclass
class Request:
    """What one compiled request collects while its rows become the response."""

    hub: HubState
    actor: Actor
    loaders: Loaders = field(default_factory=Loaders)
    # Source -> {record id: subject} and the fields shown, for the access log.
    reads: dict[Source, tuple[dict[str, Any], set[str]]] = field(default_factory=dict)
    # ManyOut -> parent key -> child rows.
    many: dict[ManyOut, dict[Any, list[Any]]] = field(default_factory=dict)

    @cached_property
    def seal(self) -> AudienceSeal:
        """The caller's id seal, as for the generic path (hub/ids.py)."""
        return self.hub.ids.for_audience(self.actor.principal.audience)

    def record_reads(self) -> None:
        """One access-log record per source, as `select_nodes` writes one per statement."""
        for source, (ids, shown) in self.reads.items():
            if not ids:
                continue
            resource = source.spec.resource
            self.actor.record(
                "read",
                resource.name,
                record_ids=list(ids),
                fields=sorted(shown),
                subjects=[s for s in ids.values() if s] if resource.subject_column else [],
            )


def _personal(source: Source, row: Any) -> bool:
    resource = source.spec.resource
    if resource.personal:
        return True
    if resource.personal_rows is None:
        return False
    return resource.personal_rows(source.view(row))


def note(source: Source, row: Any, req: Request) -> FieldMask:
    """What building a row means for the response's withheld fields and the access log
    (`select_nodes` notes every row it builds, asked for or not); the row's mask."""
    mask = source.mask(row)
    withheld, shown_fields, effects = source.per_mask(mask)
    if withheld:
        req.loaders.withhold(source.spec.type_name, withheld)
    record_id = row[source.id_index]
    reads = req.reads.get(source)
    if reads is None:
        reads = req.reads[source] = ({}, set())
    # As `select_nodes`: the fields of every row built, the ids of the personal ones.
    reads[1].update(shown_fields)
    if record_id not in reads[0] and _personal(source, row):
        subject = source.spec.resource.subject_column
        reads[0][record_id] = row[source.columns[subject]] if subject else None
    return mask


def build(out: NodeOut, row: Any, req: Request) -> dict[str, Any]:
    """The response object of one row: fields in the document's order."""
    source = out.source
    mask = note(source, row, req)
    effects = source.per_mask(mask)[2]
    shown = mask.shown
    obj: dict[str, Any] = {}
    for op in out.ops:
        kind = op[0]
        if kind == SCALAR:
            _, key, name, index, serialize, kind_of, scope = op
            value = row[index] if name in shown else None
            if value is not None:
                effect = effects.get(name)
                if effect is None and name.endswith("_id"):
                    value = req.seal.seal(value)  # a reference leaves sealed, like an id
                elif effect is None and name.endswith("_ids"):
                    value = [req.seal.seal(v) for v in value]
                if effect is not None and kind_of is not None:
                    value = apply(
                        effect,
                        kind_of,
                        value,
                        pseudonyms=req.hub.pseudonyms,
                        org_id=req.actor.principal.org_id,
                        scope=scope,
                        row=source.view(row),
                    )
                value = serialize(value)
            obj[key] = value
        elif kind == ID:
            obj[op[1]] = req.seal.seal(row[source.id_index])
        elif kind == TYPENAME:
            obj[op[1]] = op[2]
        elif kind == RELATION:
            obj[op[1]] = _relation(op, row, shown, out, req)
        elif kind == IDENTITY:
            obj[op[1]] = _identity(op, row, mask, source, req)
        else:  # MANY
            obj[op[1]] = _many(op[2], row, req)
    return obj


def _relation(
    op: tuple[Any, ...], row: Any, shown: frozenset[str], out: NodeOut, req: Request
) -> Any:
    _, _key, name, fk_index, child, gql_name = op
    if name not in shown:
        return None
    if row[fk_index] is None:
        return None
    if child is None or row[child.source.id_index] is None:
        # No grant for the related resource, or its policy hides that record.
        req.loaders.withhold(out.type_name, frozenset({gql_name}))
        return None
    return build(child, row, req)


IdentityBuilder = Callable[
    [dict[str, Any], Any, Any, FieldMask, frozenset[str], tuple[Any, ...]], None
]


def _identity(op: tuple[Any, ...], row: Any, mask: FieldMask, source: Source, req: Request) -> Any:
    _, _key, special, sub_ops = op
    kw: dict[str, Any] = {}
    wrapped = row[source.wrapped_key] if source.wrapped_key is not None else None
    view = SimpleNamespace(id=row[source.id_index], identity=row[source.columns["identity"]])
    special(kw, req, view, mask, source.selection, (wrapped,))
    ident = kw.get("identity")
    if ident is None:
        return None
    obj: dict[str, Any] = {}
    for key, attr, serialize in sub_ops:
        if attr is None:
            obj[key] = serialize
            continue
        value = getattr(ident, attr)
        obj[key] = None if value is None else serialize(value)
    return obj


def _many(many: ManyOut, row: Any, req: Request) -> Any:
    if many.grant_missing:
        req.loaders.withhold(many.parent_type, frozenset({many.field_name}))
        return None
    key = row[many.parent_key]
    if key is None:
        return None
    rows = req.many.get(many, {}).get(key, ())
    return [build(many.node, r, req) for r in rows]


__all__ = ["ManyOut", "NodeOut", "Request", "Source", "build", "camel"]
