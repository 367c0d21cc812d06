"""The `where` language of policy rules, compiled once into SQL filter builders.

    {premises.city: {eq: $principal.city}}
    {and: [{status: {ne: cancelled}}, {or: [{a: {in: [x, y]}}, {b: {is_null: true}}]}]}
    {shifts: {and: [{starts_at: {lte: $now+PT1H}}, {ends_at: {gte: $now}}]}}

A path walks the model: columns, and relationships (to-one compiles to EXISTS via `has`,
to-many via `any`). A relationship given a whole expression (`shifts: {...}`) asks for ONE
related row meeting all of it; `shifts.a` and `shifts.b` side by side may be met by two
different rows. Values are literals, `$principal.<variable>`, `$now`, or `$now` plus or
minus an ISO 8601 duration of weeks, days, hours, minutes and seconds (`$now-PT1H`,
`$now+P2D`): the request's clock, shifted in Python and bound as a parameter, so the same
condition runs on SQLite and PostgreSQL and in both read paths (`now_value`), or
`$request.case`: the case reference the request states (the Hub-Case header), null when it
states none; only the generic read path binds it (the compiled path binds null). Compilation
checks every path, operator, variable and vocabulary value, so a rule that loads is a rule
the database can apply; the result is a function from request variables to a SQL boolean.
A comparison with a principal variable that is null (a police officer has no
`sex_worker_id`) is false: missing facts never widen access.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, false, not_, or_, true
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.sql.elements import BindParameter, ColumnElement

from hub.policy.principal import PRINCIPAL_VARIABLES
from hub.policy.resources import COLUMN_VOCABULARIES

# `$request.<name>`: what the request states beside its purpose (hub/services/actor.py).
REQUEST_VARIABLES = frozenset({"case"})

Vars = Mapping[str, Any]
Filter = Callable[[Vars], ColumnElement[bool]]

OPERATORS = frozenset({"eq", "ne", "in", "lt", "lte", "gt", "gte", "is_null"})
_LOGICAL = frozenset({"and", "or", "not"})


class WhereError(ValueError):
    pass


# `$now`, optionally shifted by a duration without months or years (whose length varies).
_NOW = re.compile(
    r"^\$now(?:([+-])P(?!$)(?:(\d{1,4})W)?(?:(\d{1,5})D)?"
    r"(?:T(?=\d)(?:(\d{1,6})H)?(?:(\d{1,7})M)?(?:(\d{1,8})S)?)?)?$"
)


def now_offset(raw: str) -> timedelta | None:
    """The shift of `$now[+-]<duration>` (zero for `$now`), or None if `raw` is not one."""
    m = _NOW.match(raw)
    if m is None:
        return None
    sign, *parts = m.groups()
    if sign is None:
        return timedelta(0)
    if not any(parts):
        return None
    w, d, h, mi, s = (int(p) if p else 0 for p in parts)
    delta = timedelta(weeks=w, days=d, hours=h, minutes=mi, seconds=s)
    return -delta if sign == "-" else delta


def _now_param(offset: timedelta) -> str:
    seconds = int(offset.total_seconds())
    return f"now_{'m' if seconds < 0 else 'p'}{abs(seconds)}"


def now_value(v: Vars, offset: timedelta) -> Any:
    """`$now` shifted by `offset`: a value for the generic path, where `v["now"]` is the
    request's clock; a bound parameter for a compiled plan, where `v["now"]` is one
    (`now_params` gives the values to bind)."""
    now = v["now"]
    if not offset:
        return now
    if isinstance(now, BindParameter):
        return bindparam(_now_param(offset))
    return now + offset


# Every shift of `$now` a loaded rule uses, so that a compiled plan can bind them all.
_OFFSETS: set[timedelta] = set()


def now_params(now: datetime) -> dict[str, datetime]:
    """The values of the shifted `$now` parameters of compiled plans, for this clock."""
    return {_now_param(o): now + o for o in tuple(_OFFSETS)}


def _value_getter(raw: Any, column: Any, where: str) -> tuple[Callable[[Vars], Any], bool]:
    """Return (getter, is_variable) for one operand, checked against the column."""
    if isinstance(raw, str) and raw.startswith("$"):
        if raw.startswith("$now"):
            offset = now_offset(raw)
            if offset is None:
                raise WhereError(
                    f"{where}: {raw} is not $now or $now plus or minus a duration such as"
                    " PT1H or P2D (no months or years)"
                )
            if _python_type(column) not in ((date, datetime) if not offset else (datetime,)):
                raise WhereError(f"{where}: {raw} compared with a column that is not a time")
            if offset:
                _OFFSETS.add(offset)
            return (lambda v: now_value(v, offset)), True
        if raw.startswith("$principal."):
            name = raw.removeprefix("$principal.")
            if name not in PRINCIPAL_VARIABLES:
                raise WhereError(f"{where}: unknown variable {raw}")
            return (lambda v: v["principal"][name]), True
        if raw.startswith("$request."):
            name = raw.removeprefix("$request.")
            if name not in REQUEST_VARIABLES:
                raise WhereError(f"{where}: unknown variable {raw}")
            return (lambda v: v.get("request", {}).get(name)), True
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
        rel = mapper.relationships[head]
        if not rest:
            if not isinstance(ops, dict) or not ops:
                raise WhereError(
                    f"{where}: {path} names a relation: give a field ({path}.x) or a whole"
                    f" condition on one related row ({path}: {{and: [...]}})"
                )
            inner = compile_where(rel.mapper.class_, ops, where)
        else:
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
