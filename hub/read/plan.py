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
from operator import attrgetter, itemgetter
from typing import Any

from hub.ids import AudienceSeal
from hub.policy.effects import apply
from hub.policy.engine import FieldMask, Grant
from hub.read.context import Loaders
from hub.read.nodes import NodeSpec, camel
from hub.services.actor import Actor
from hub.state import HubState

# Op kinds of a NodeOut.
ID, TYPENAME, SCALAR, RELATION, IDENTITY, MANY = range(6)


def _same(value: Any) -> Any:
    """A leaf that leaves as it is (a built-in scalar of the right Python type)."""
    return value


class Seen:
    """What rows that matched the same rules have in common: their mask, the GraphQL names
    it withholds, the access-log field names and the effects other than allow; and, per
    place in the response, the row builder made for that mask (`_compile`)."""

    __slots__ = ("builders", "effects", "mask", "shown", "withheld")

    def __init__(
        self,
        mask: FieldMask,
        withheld: frozenset[str],
        shown: frozenset[str],
        effects: dict[str, str],
    ) -> None:
        self.mask = mask
        self.withheld = withheld
        self.shown = shown
        self.effects = effects
        self.builders: dict[NodeOut, Callable[[Any, Request], dict[str, Any]]] = {}


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
    # The match flags as read off a row -> what such rows have in common (a few entries).
    _seen: dict[Any, Seen] = field(default_factory=dict, repr=False)
    _uniform: Seen | None = field(default=None, repr=False)
    _flags: Callable[[Any], Any] | None = field(default=None, repr=False)
    _view: Any = field(default=None, repr=False)

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

    def seen(self, row: Any) -> Seen:
        """What `row` shows and means for the log, from its match flags (cached: rows that
        matched the same rules share one entry)."""
        found = self._uniform
        if found is not None:
            return found
        flags = self._flags
        if flags is None:
            if self.grant.uniform is not None:
                uniform = self.grant.uniform
                found = self._uniform = Seen(uniform, *self.per_mask(uniform))
                return found
            flags = self._flags = _reader(self.match)
        key = flags(row)
        found = self._seen.get(key)
        if found is None:
            mask = self.mask(row)
            found = self._seen[key] = Seen(mask, *self.per_mask(mask))
        return found

    def view(self, row: Any) -> Any:
        """The row as the generic builders see one: attributes by column name."""
        cls = self._view
        if cls is None:
            cls = self._view = _view_class(self.columns)
        return cls(row)


def _reader(indices: tuple[int, ...]) -> Callable[[Any], Any]:
    """A row's values at `indices`, as one hashable key (itemgetter: one C call)."""
    if not indices:
        return lambda _row: ()
    return itemgetter(*indices)


def _view_class(columns: dict[str, int]) -> Any:
    """A class whose instances show a result row's columns as attributes (a read-only
    SimpleNamespace made once per source, without copying the row)."""
    attrs: dict[str, Any] = {"__slots__": ("_row",)}

    def init(self: Any, row: Any) -> None:
        self._row = row

    attrs["__init__"] = init
    for name, index in columns.items():
        attrs[name] = property(_column_getter(index))
    return type("RowView", (), attrs)


def _column_getter(index: int) -> Callable[[Any], Any]:
    def get(self: Any) -> Any:
        return self._row[index]

    return get


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
    # Source -> {record id: subject} and the sets of fields shown, for the access log.
    reads: dict[Source, tuple[dict[str, Any], set[frozenset[str]]]] = field(default_factory=dict)
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
                fields=sorted(frozenset().union(*shown)),
                subjects=[s for s in ids.values() if s] if resource.subject_column else [],
            )


def _personal(source: Source, row: Any) -> bool:
    resource = source.spec.resource
    if resource.personal:
        return True
    if resource.personal_rows is None:
        return False
    return resource.personal_rows(source.view(row))


def note(source: Source, row: Any, req: Request) -> Seen:
    """What building a row means for the response's withheld fields and the access log
    (`select_nodes` notes every row it builds, asked for or not); what the row shows."""
    seen = source.seen(row)
    if seen.withheld:
        req.loaders.withhold(source.spec.type_name, seen.withheld)
    reads = req.reads.get(source)
    if reads is None:
        reads = req.reads[source] = ({}, set())
    # As `select_nodes`: the fields of every row built, the ids of the personal ones.
    reads[1].add(seen.shown)
    record_id = row[source.columns["id"]]
    if record_id not in reads[0] and _personal(source, row):
        subject = source.spec.resource.subject_column
        reads[0][record_id] = row[source.columns[subject]] if subject else None
    return seen


def build(out: NodeOut, row: Any, req: Request, noted: bool = False) -> dict[str, Any]:
    """The response object of one row: fields in the document's order. `noted`: the row
    was noted already (a root row, noted whether it is built or not)."""
    seen = out.source.seen(row) if noted else note(out.source, row, req)
    builder = seen.builders.get(out)
    if builder is None:
        builder = seen.builders[out] = _compile(out, seen)
    return builder(row, req)


def _compile(out: NodeOut, seen: Seen) -> Callable[[Any, Request], dict[str, Any]]:
    """The builder of `out`'s objects for rows of one mask, made once: a function that
    returns one dict display, its values in the document's order (as the ops are).

    Only names made here appear in the generated text (keys, serializers and helpers are
    passed in its namespace), so nothing from the document is ever compiled as code."""
    source = out.source
    mask = seen.mask
    shown = mask.shown
    effects = seen.effects
    ns: dict[str, Any] = {}
    items: list[str] = []
    uses_seal = False
    for n, op in enumerate(out.ops):
        kind = op[0]
        ns[f"k{n}"] = op[1]
        if kind == SCALAR:
            _, _key, name, index, serialize, kind_of, scope = op
            effect = effects.get(name)
            ns[f"s{n}"] = serialize
            if name not in shown:
                value = "None"
            elif effect is None and name.endswith("_id"):
                uses_seal = True
                value = f"None if (v{n} := row[{index:d}]) is None else s{n}(seal(v{n}))"
            elif effect is None and not name.endswith("_ids"):
                if serialize is _same:
                    value = f"row[{index:d}]"
                else:
                    value = f"None if (v{n} := row[{index:d}]) is None else s{n}(v{n})"
            else:
                ns[f"f{n}"] = _scalar_op(op, effect, source)
                value = f"f{n}(row, req)"
        elif kind == ID:
            uses_seal = True
            value = f"seal(row[{source.columns['id']:d}])"
        elif kind == TYPENAME:
            ns[f"t{n}"] = op[2]
            value = f"t{n}"
        elif kind == RELATION:
            if op[2] not in shown:
                value = "None"
            else:
                ns[f"r{n}"] = _relation_op(op, out)
                value = f"r{n}(row, req)"
        elif kind == IDENTITY:
            ns[f"i{n}"] = _identity_op(op, mask, source)
            value = f"i{n}(row, req)"
        else:  # MANY
            ns[f"m{n}"] = op[2]
            ns["_many"] = _many
            value = f"_many(m{n}, row, req)"
        items.append(f"k{n}: {value}")
    lines = ["def build(row, req):"]
    if uses_seal:
        lines.append("    seal = req.seal.seal")
    lines.append("    return {" + ", ".join(items) + "}")
    exec("\n".join(lines), ns)  # noqa: S102 (text made above from fixed pieces only)
    return ns["build"]  # type: ignore[no-any-return]


def _scalar_op(
    op: tuple[Any, ...], effect: str | None, source: Source
) -> Callable[[Any, Request], Any]:
    """A scalar with an effect (or a list of references): as the generic builders."""
    _, _key, name, index, serialize, kind_of, scope = op

    def value_of(row: Any, req: Request) -> Any:
        value = row[index]
        if value is None:
            return None
        if effect is None and name.endswith("_ids"):
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
        return serialize(value)

    return value_of


def _relation_op(op: tuple[Any, ...], out: NodeOut) -> Callable[[Any, Request], Any]:
    """A to-one relation the row's mask shows: the related object, or null (withheld when
    no grant or the related resource's policy hides it)."""
    _, _key, _name, fk_index, child, gql_name = op
    withheld = frozenset({gql_name})
    type_name = out.type_name
    child_id = child.source.columns["id"] if child is not None else 0

    def relation(row: Any, req: Request) -> Any:
        if row[fk_index] is None:
            return None
        if child is None or row[child_id] is None:
            # No grant for the related resource, or its policy hides that record.
            req.loaders.withhold(type_name, withheld)
            return None
        return build(child, row, req)

    return relation


IdentityBuilder = Callable[
    [dict[str, Any], Any, Any, FieldMask, frozenset[str], tuple[Any, ...]], None
]


class _IdentityRow:
    """What the identity builder reads off a worker's row: its id and its ciphertext."""

    __slots__ = ("id", "identity")

    def __init__(self, record_id: Any, identity: Any) -> None:
        self.id = record_id
        self.identity = identity


def _identity_op(
    op: tuple[Any, ...], mask: FieldMask, source: Source
) -> Callable[[Any, Request], Any]:
    """The identity of a worker's row, through the generic builder (which decrypts only
    what the mask shows and the document asks for), written out as the document asks."""
    _, _key, special, sub_ops = op
    wrapped_at = source.wrapped_key
    id_at = source.columns["id"]
    identity_at = source.columns["identity"]
    selection = source.selection
    ns: dict[str, Any] = {}
    items: list[str] = []
    for n, (key, attr, serialize) in enumerate(sub_ops):
        ns[f"k{n}"] = key
        if attr is None:  # __typename
            ns[f"t{n}"] = serialize
            items.append(f"k{n}: t{n}")
        else:
            ns[f"s{n}"] = serialize
            ns[f"a{n}"] = attrgetter(attr)
            items.append(f"k{n}: None if (v{n} := a{n}(ident)) is None else s{n}(v{n})")
    exec(  # noqa: S102 (text made here from fixed pieces only, as in _compile)
        "def write(ident):\n    return {" + ", ".join(items) + "}", ns
    )
    write = ns["write"]

    def identity(row: Any, req: Request) -> Any:
        kw: dict[str, Any] = {}
        wrapped = row[wrapped_at] if wrapped_at is not None else None
        special(kw, req, _IdentityRow(row[id_at], row[identity_at]), mask, selection, (wrapped,))
        ident = kw.get("identity")
        return None if ident is None else write(ident)

    return identity


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
