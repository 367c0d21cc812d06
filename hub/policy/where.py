"""The `where` language of policy rules, compiled once into SQL filter builders.

    {premises.city: {eq: $principal.city}}
    {and: [{status: {ne: cancelled}}, {or: [{a: {in: [x, y]}}, {b: {is_null: true}}]}]}

A path walks the model: columns, and relationships (to-one compiles to EXISTS via `has`,
to-many via `any`). Values are literals, `$principal.<variable>` or `$now`. Compilation
checks every path, operator, variable and vocabulary value, so a rule that loads is a rule
the database can apply; the result is a function from request variables to a SQL boolean.
A comparison with a principal variable that is null (a police officer has no
`sex_worker_id`) is false: missing facts never widen access.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, false, not_, or_, true
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.sql.elements import ColumnElement

from hub.policy.principal import PRINCIPAL_VARIABLES
from hub.policy.resources import COLUMN_VOCABULARIES

Vars = Mapping[str, Any]
Filter = Callable[[Vars], ColumnElement[bool]]

OPERATORS = frozenset({"eq", "ne", "in", "lt", "lte", "gt", "gte", "is_null"})
_LOGICAL = frozenset({"and", "or", "not"})


class WhereError(ValueError):
    pass


def _value_getter(raw: Any, column: Any, where: str) -> tuple[Callable[[Vars], Any], bool]:
    """Return (getter, is_variable) for one operand, checked against the column."""
    if isinstance(raw, str) and raw.startswith("$"):
        if raw == "$now":
            if _python_type(column) not in (date, datetime):
                raise WhereError(f"{where}: $now compared with a non-date column")
            return (lambda v: v["now"]), True
        if raw.startswith("$principal."):
            name = raw.removeprefix("$principal.")
            if name not in PRINCIPAL_VARIABLES:
                raise WhereError(f"{where}: unknown variable {raw}")
            return (lambda v: v["principal"][name]), True
        raise WhereError(f"{where}: unknown variable {raw}")
    _check_literal(raw, column, where)
    return (lambda _v: raw), False


def _python_type(column: Any) -> type:
    t = column.type
    for candidate in (t, getattr(t, "impl", None)):
        try:
            py = candidate.python_type if candidate is not None else object
        except NotImplementedError:
            continue
        if py is not object:
            return py  # type: ignore[no-any-return]
    return object


def _check_literal(raw: Any, column: Any, where: str) -> None:
    t = _python_type(column)
    if t is bool:
        ok = isinstance(raw, bool)
    elif t is int:
        ok = isinstance(raw, int) and not isinstance(raw, bool)
    elif t in (date, datetime):
        ok = isinstance(raw, date | datetime)
    elif t is str:
        ok = isinstance(raw, str)
        vocab = COLUMN_VOCABULARIES.get((column.table.name, column.name))
        if ok and vocab is not None and raw not in {m.value for m in vocab}:
            raise WhereError(f"{where}: {raw!r} is not a value of {column.name}")
    else:
        ok = False
    if not ok:
        raise WhereError(f"{where}: {raw!r} does not fit column {column.name}")


def _compare(column: Any, spec: Any, op: str, arg: Any, where: str) -> Filter:
    """`column` is the model attribute used in SQL; `spec` its Column, for checks."""
    if op == "is_null":
        if not isinstance(arg, bool):
            raise WhereError(f"{where}: is_null takes true or false")
        return (lambda _v: column.is_(None)) if arg else (lambda _v: column.is_not(None))
    if op == "in":
        if not isinstance(arg, list) or not arg:
            raise WhereError(f"{where}: in takes a non-empty list")
        getters = [_value_getter(a, spec, where)[0] for a in arg]

        def _in(v: Vars) -> ColumnElement[bool]:
            values = [g(v) for g in getters]
            values = [x for x in values if x is not None]
            return column.in_(values) if values else false()

        return _in
    getter, _ = _value_getter(arg, spec, where)
    sql_op = {
        "eq": column.__eq__,
        "ne": column.__ne__,
        "lt": column.__lt__,
        "lte": column.__le__,
        "gt": column.__gt__,
        "gte": column.__ge__,
    }[op]

    def _cmp(v: Vars) -> ColumnElement[bool]:
        value = getter(v)
        if value is None:
            return false()
        return sql_op(value)  # type: ignore[no-any-return]

    return _cmp


def _path(model: Any, path: str, ops: Any, where: str) -> Filter:
    head, _, rest = path.partition(".")
    mapper = sa_inspect(model)
    if head in mapper.relationships:
        if not rest:
            raise WhereError(f"{where}: {path} names a relation, not a field")
        rel = mapper.relationships[head]
        inner = _path(rel.mapper.class_, rest, ops, where)
        attr = getattr(model, head)
        if rel.uselist:
            return lambda v: attr.any(inner(v))
        return lambda v: attr.has(inner(v))
    if head not in mapper.columns or rest:
        raise WhereError(f"{where}: unknown path {path!r} on {model.__name__}")
    column = mapper.columns[head]
    if not isinstance(ops, dict) or not ops:
        raise WhereError(f"{where}: {path} needs an operator, e.g. {{eq: ...}}")
    parts: list[Filter] = []
    for op, arg in ops.items():
        if op not in OPERATORS:
            raise WhereError(f"{where}: unknown operator {op!r}")
        parts.append(_compare(getattr(model, head), column, op, arg, where))
    return _all(parts)


def _all(parts: list[Filter]) -> Filter:
    if len(parts) == 1:
        return parts[0]
    return lambda v: and_(*(p(v) for p in parts))


def _negate(inner: Filter) -> Filter:
    return lambda v: not_(inner(v))


def _combine(subs: list[Filter], *, conjunction: bool) -> Filter:
    if conjunction:
        return lambda v: and_(*(s(v) for s in subs))
    return lambda v: or_(*(s(v) for s in subs))


def compile_where(model: Any, expr: Any, where: str = "where") -> Filter:
    """Compile a `where` expression for `model`; raise WhereError on anything unknown."""
    if expr is None or expr == {}:
        return lambda _v: true()
    if not isinstance(expr, dict):
        raise WhereError(f"{where}: expected a mapping, got {type(expr).__name__}")
    parts: list[Filter] = []
    for key, arg in expr.items():
        if key in _LOGICAL:
            if key == "not":
                parts.append(_negate(compile_where(model, arg, where)))
                continue
            if not isinstance(arg, list) or not arg:
                raise WhereError(f"{where}: {key} takes a non-empty list")
            subs = [compile_where(model, a, where) for a in arg]
            parts.append(_combine(subs, conjunction=key == "and"))
        else:
            parts.append(_path(model, str(key), arg, where))
    return _all(parts)


def uses_variable(expr: Any, name: str) -> bool:
    if isinstance(expr, dict):
        return any(uses_variable(k, name) or uses_variable(v, name) for k, v in expr.items())
    if isinstance(expr, list):
        return any(uses_variable(x, name) for x in expr)
    return expr == name
