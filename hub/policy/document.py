"""Policy documents: one YAML document per resource, validated whole.

The models below check a document's shape and its closed vocabularies (roles, purposes,
effects, the resource, durations); each rule's validator then checks it against the
resource registry: its actions and fields, the effects that fit each field's kind, its
`where` expression, consent. Everything unknown is an error naming the file, line and
path, with the closest known name where there is one; a document with any error is
refused whole.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, StringConstraints, ValidationInfo, model_validator
from pydantic_core import PydanticCustomError
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import true

from hub.policy.effects import EFFECTS, EFFECTS_FOR_KIND
from hub.policy.resources import COLUMN_VOCABULARIES, RESOURCES, Resource, field_kind
from hub.policy.vocabulary import PURPOSES, ROLES
from hub.policy.where import (
    OPERATORS,
    PRINCIPAL_VARIABLES,
    REQUEST_VARIABLES,
    Filter,
    WhereError,
    compile_where,
    now_offset,
)
from hub.policy.yamlsource import (
    OneOrMany,
    Path,
    Problem,
    Strict,
    known_name,
    load,
    problems,
    suggest,
)
from hub.policy.yamlsource import PolicyError as PolicyError

_DURATION = re.compile(r"^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?$")


@dataclass(frozen=True)
class Rule:
    name: str
    roles: frozenset[str]
    purposes: frozenset[str]
    actions: frozenset[str]
    legal_basis: str
    where: Any
    where_filter: Filter
    fields: dict[str, str]  # field → effect, "*" expanded
    requires_consent: bool = False


@dataclass(frozen=True)
class Aggregate:
    roles: frozenset[str]
    purposes: frozenset[str]
    min_cell: int
    # Which rows the caller may count (the rules' `where` language); every row when None.
    where: Any = None
    where_filter: Filter = field(default=lambda _v: true(), repr=False, compare=False)


@dataclass(frozen=True)
class PolicyDocument:
    resource: Resource
    retention: timedelta | None
    rules: tuple[Rule, ...]
    aggregate: Aggregate | None
    source: str = field(repr=False, default="")


def _duration(text: Any) -> timedelta:
    """ISO 8601 durations of whole days, weeks, months (30 d) and years (365 d)."""
    m = _DURATION.match(text) if isinstance(text, str) else None
    if not m or not any(m.groups()):
        raise PydanticCustomError(
            "duration", f"{text!r} is not an ISO 8601 duration like P180D", {}
        )
    y, mo, w, d = (int(g) if g else 0 for g in m.groups())
    return timedelta(days=365 * y + 30 * mo + 7 * w + d)


Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
Role = Annotated[str, known_name("role", ROLES)]
Purpose = Annotated[str, known_name("purpose", PURPOSES)]
Roles = Annotated[list[Role], OneOrMany, Field(min_length=1)]
Purposes = Annotated[list[Purpose], OneOrMany, Field(min_length=1)]


class AggregateSpec(Strict):
    roles: Roles
    purposes: Purposes
    min_cell: Annotated[int, Field(ge=1)]
    where: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _fits_resource(self, info: ValidationInfo) -> AggregateSpec:
        resource = (info.context or {}).get("resource")
        if resource is not None and self.where is not None:
            problem = _where_problem(resource.model, self.where, ("where",))
            if problem:
                raise problems([problem])
        return self


class RuleSpec(Strict):
    name: Text
    roles: Roles
    purposes: Purposes
    legal_basis: Text
    actions: Annotated[list[str], OneOrMany, Field(min_length=1)] = ["read"]
    where: dict[str, Any] | None = None
    fields: Annotated[
        dict[str, Annotated[str, known_name("effect", EFFECTS)]], Field(min_length=1)
    ] = {"*": "allow"}
    requires_consent: bool = False

    @model_validator(mode="after")
    def _fits_resource(self, info: ValidationInfo) -> RuleSpec:
        resource = (info.context or {}).get("resource")
        found = _misfits(self, resource) if resource is not None else []
        if found:
            raise problems(found)
        return self


class DocumentSpec(Strict):
    resource: Annotated[str, known_name("resource", RESOURCES)]
    description: str | None = None
    retention: Annotated[timedelta, BeforeValidator(_duration)] | None = None
    rules: list[RuleSpec] | None = None  # none: nobody may access the resource
    aggregate: AggregateSpec | None = None

    @model_validator(mode="after")
    def _names_unique(self) -> DocumentSpec:
        seen: set[str] = set()
        found: list[Problem] = []
        for i, rule in enumerate(self.rules or ()):
            if rule.name in seen:
                found.append((("rules", i, "name"), f"a second rule named {rule.name!r}", None))
            seen.add(rule.name)
        if found:
            raise problems(found)
        return self


def _misfits(rule: RuleSpec, resource: Resource) -> list[Problem]:
    """What in a rule the resource does not have, or does not allow."""
    found: list[Problem] = []
    for i, action in enumerate(rule.actions):
        if action not in resource.actions:
            message = f"unknown action {action!r} of {resource.name}"
            found.append((("actions", i), message, suggest(action, resource.actions)))
    for name, effect in rule.fields.items():
        at: Path = ("fields", name)
        if name == "*":
            if effect not in ("allow", "deny"):
                found.append((at, f"* takes allow or deny; name the fields for {effect}", None))
        elif name not in resource.fields:
            message = f"unknown field {name!r} of {resource.name}"
            found.append((at, message, suggest(name, resource.fields)))
        elif effect not in EFFECTS_FOR_KIND[kind := field_kind(resource, name)]:
            fits = ", ".join(e for e in EFFECTS if e in EFFECTS_FOR_KIND[kind])
            message = f"{effect} does not apply to {name} (a {kind} field: {fits})"
            found.append((at, message, None))
    if rule.requires_consent and resource.subject_column is None:
        message = f"requires_consent on {resource.name}, which has no data subject"
        found.append((("requires_consent",), message, None))
    problem = _where_problem(resource.model, rule.where, ("where",))
    return found + ([problem] if problem else [])


def _where_error(model: Any, expr: Any) -> str | None:
    try:
        compile_where(model, expr, "where")
    except WhereError as exc:
        return str(exc).removeprefix("where: ")
    return None


def _where_problem(model: Any, expr: Any, at: Path) -> Problem | None:
    """Where a `where` expression does not compile: its innermost failing part, and why."""
    message = _where_error(model, expr)
    if message is None:
        return None
    for key, arg in expr.items() if isinstance(expr, dict) else ():
        parts: list[tuple[Path, Any]]
        if key in ("and", "or") and isinstance(arg, list):
            parts = [((key, i), a) for i, a in enumerate(arg)]
        elif key == "not":
            parts = [((key,), arg)]
        elif isinstance(arg, dict) and len(arg) > 1:  # one operator at a time
            parts = [((), {key: {op: value}}) for op, value in arg.items()]
        elif len(expr) > 1:  # one comparison at a time
            parts = [((), {key: arg})]
        elif (related := _relation(model, str(key))) is not None and isinstance(arg, dict):
            return _where_problem(related, arg, at + (key,)) or (at + (key,), message, None)
        else:
            column, close = _column(model, str(key))
            if column is None or not isinstance(arg, dict) or not arg:
                return at + (key,), message, close
            ((op, value),) = arg.items()
            return at + (key, op), message, _value_suggestion(column, op, value)
        for step, part in parts:
            found = _where_problem(model, part, at + step)
            if found:
                return found
    return at, message, None


def _relation(model: Any, name: str) -> Any:
    """The model a relationship of `model` leads to, or None."""
    relationships = sa_inspect(model).relationships
    return relationships[name].mapper.class_ if name in relationships else None


def _column(model: Any, path: str) -> tuple[Any, str | None]:
    """The column a `where` path names (None if it names none), or a close known path."""
    mapper = sa_inspect(model)
    head, _, rest = path.partition(".")
    if head in mapper.relationships:
        if not rest:
            return None, None
        column, close = _column(mapper.relationships[head].mapper.class_, rest)
        return column, f"{head}.{close}" if close else None
    if head in mapper.columns and not rest:
        return mapper.columns[head], None
    close = suggest(head, [*mapper.columns.keys(), *mapper.relationships.keys()])
    return None, (f"{close}.{rest}" if rest else close) if close else None


def _value_suggestion(column: Any, op: str, value: Any) -> str | None:
    if op not in OPERATORS:
        return suggest(op, OPERATORS)
    variables = [
        "$now",
        *(f"$principal.{v}" for v in PRINCIPAL_VARIABLES),
        *(f"$request.{v}" for v in REQUEST_VARIABLES),
    ]
    vocabulary = COLUMN_VOCABULARIES.get((column.table.name, column.name))
    known = {m.value for m in vocabulary} if vocabulary else set()
    for v in value if isinstance(value, list) else [value]:
        if isinstance(v, str) and v.startswith("$now") and now_offset(v) is not None:
            continue
        if isinstance(v, str) and v.startswith("$") and v not in variables:
            return suggest(v, variables)
        if isinstance(v, str) and known and not v.startswith("$") and v not in known:
            return suggest(v, known)
    return None


def _rule(spec: RuleSpec, resource: Resource) -> Rule:
    default = spec.fields.get("*", "deny")
    fields = {f: spec.fields.get(f, default) for f in resource.fields}
    # A visible row is always identified by its id; hiding it would hide the row itself.
    fields["id"] = "allow"
    return Rule(
        name=spec.name,
        roles=frozenset(spec.roles),
        purposes=frozenset(spec.purposes),
        actions=frozenset(spec.actions),
        legal_basis=spec.legal_basis,
        where=spec.where,
        where_filter=compile_where(resource.model, spec.where),
        fields=fields,
        requires_consent=spec.requires_consent,
    )


def parse_document(text: str, *, origin: str = "<document>") -> PolicyDocument:
    """Validate and compile one document; raises PolicyError with every problem."""
    source = load(text, origin)
    named = source.data.get("resource") if isinstance(source.data, dict) else None
    resource = RESOURCES.get(named) if isinstance(named, str) else None
    spec = source.validate(DocumentSpec, context={"resource": resource})
    assert resource is not None  # a valid document names a known resource
    aggregate = None
    if spec.aggregate is not None:
        agg = spec.aggregate
        aggregate = Aggregate(
            frozenset(agg.roles),
            frozenset(agg.purposes),
            agg.min_cell,
            where=agg.where,
            where_filter=compile_where(resource.model, agg.where),
        )
    rules = tuple(_rule(r, resource) for r in spec.rules or ())
    return PolicyDocument(resource, spec.retention, rules, aggregate, source=text)
