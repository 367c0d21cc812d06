"""Policy test cases: what each role must and must never see, as data a privacy officer
can read, in the manner of Hasura's permission tests.

Each case says who asks (a demo client, and so its organisation, city, roles and
purposes), for which purpose, with which GraphQL query, and what the answer must be: which
records come back and which fields are shown, null or withheld. This module reads and
checks cases and answers; `hub policy test` (hub/commands/policy_test.py) runs them
against the hub with demo data.

Case files are `policies/tests/*.yaml`; each holds a list of cases::

    - description: the city officer sees occupancy without identities
      client: demo-city-antwerp          # who asks: a client of hub/demo_clients.py
      purpose: licensing                 # the Hub-Purpose header; omit it to send none
      stated_case: AN.37.L1.004217/26    # optional: the Hub-Case header (an investigator's case)
      query: |
        { shifts(first: 20) { edges { node { window premises { city }
            sexWorker { workingName } sexWorkerId } } } }
      variables: {}                      # optional GraphQL variables
      expect:
        rows: {at: shifts.edges, min: 1}                 # how many records
        all: {shifts.edges.node.premises.city: Antwerpen} # every value equals
        some: {shifts.edges.node.window: 1}              # at least one value equals
        none: {shifts.edges.node.premises.city: Gent}    # no value equals
        null: [shifts.edges.node.sexWorker]              # every value is null
        not_null: [shifts.edges.node.window]             # no value is null
        matches: {shifts.edges.node.sexWorkerId: "^psn_"} # every value matches a regex
        withheld: {Shift: [sexWorker]}                   # exactly these fields withheld
    - description: the study service reads no rows
      client: demo-analyst-antwerp
      purpose: statistics
      query: "{ shifts(first: 1) { edges { node { id } } } }"
      expect: {error: FORBIDDEN}                         # the error code of the answer

Instead of `client`, a case may describe the principal itself; the runner registers a
client for it::

      principal:
        organisation: payoke             # a demo organisation key (see `$demo.org.*`)
        roles: [ngo_worker]
        purposes: [care]
        sex_worker: worker               # only with the sex_worker role: a `$demo.*` worker

The principal's city and organisation kind are those of its organisation; its roles and
purposes must be known ones. A case's `purpose` outside the vocabulary is taken for a
misspelling unless the case expects `error: BAD_USER_INPUT`, the hub's answer to it.

Paths are the response's field names (or aliases) joined by dots, from the top of `data`;
they walk through lists implicitly, so `shifts.edges.node.premises.city` is the city of
every premises of every shift on the page. Where a record on the way is null (withheld or
not reachable), the value at the end of the path is null.

Expectations:

- `error`: the answer carries an error with this `extensions.code` (FORBIDDEN,
  PURPOSE_REQUIRED, BAD_USER_INPUT, NOT_FOUND, ...). Without `error`, any error fails
  the case.
- `rows`: `{at: path, min: n, max: n, count: n}` (one mapping or a list of them): the
  number of records at the path.
- `null`, `not_null`: a list of paths whose values are all null, or none null.
- `all`, `some`, `none`: `{path: value}`: every value, at least one value, or no value
  at the path equals the given one.
- `matches`: `{path: regex}`: every value matches (Python `re.search`).
- `among`: `{path: [other path, ...]}`: every value at the path is also found at one of
  the other paths (the premises the worker sees are among those of the worker's shifts).
- `withheld`: the exact `extensions.withheld` of the answer, `{Type: [field, ...]}`;
  `withheld: {}` says nothing was withheld.
- `each`: `{at: path, where: {path: value}, ...}` (one mapping or a list): for every
  record at `at` whose fields equal those under `where`, the checks `rows`, `null`,
  `not_null`, `all`, `some`, `none`, `matches` and `among` hold, with paths relative to
  the record. At least one record must match `where`.

`null`, `not_null`, `all`, `some`, `none`, `matches` and `among` fail when their path
reaches no value at all, so an expectation never holds vacuously; write
`rows: {at: ..., count: 0}` to expect nothing. Unknown keys are errors, so a misspelt
expectation fails instead of being skipped.

A case file that cannot be read is refused whole, each problem with its line, its path
(`[3].expect.nul`, counting cases from 0) and the closest known key or name.

Values may name ids that differ from run to run: `$me.<field>`, a field of the asking
client's own `me` (`organisationId`, `city`, `sexWorkerId`, ...), and `$demo.<name>`, a
value of the demo data the runner seeds (listed in hub/commands/policy_test.py). They may
stand as a whole value in `variables`, `all`, `some`, `none` and `where`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, ConfigDict, Field, RootModel, model_validator
from pydantic_core import PydanticCustomError

from hub.policy.document import Purpose, Role, Text
from hub.policy.vocabulary import PURPOSES
from hub.policy.yamlsource import (
    OneOrMany,
    PolicyError,
    Problem,
    Strict,
    load,
    problems,
    suggest,
)

_SHOWN = 60  # characters of a value shown in a failure message


class CaseError(PolicyError):
    """A case file that cannot be read as test cases."""


# --- reading cases ------------------------------------------------------------------------


def _regex(pattern: str) -> str:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise PydanticCustomError("regex", f"bad regular expression: {exc}", {}) from None
    return pattern


def _null_key(value: Any) -> Any:
    """YAML reads a bare `null:` key as the null value; it means the `null` expectation."""
    if isinstance(value, dict) and None in value:
        return {"null" if k is None else k: v for k, v in value.items()}
    return value


Count = Annotated[int, Field(ge=0)] | None


class RowsSpec(Strict):
    at: str
    min: Count = None
    max: Count = None
    count: Count = None

    @model_validator(mode="after")
    def _bounded(self) -> RowsSpec:
        if not self.model_fields_set & {"min", "max", "count"}:
            raise PydanticCustomError("rows", "rows needs min, max or count", {})
        return self


class RowChecks(Strict):
    rows: Annotated[list[RowsSpec], OneOrMany] = []
    null: list[str] = []
    not_null: list[str] = []
    all: dict[str, Any] = {}
    some: dict[str, Any] = {}
    none: dict[str, Any] = {}
    matches: dict[str, Annotated[str, AfterValidator(_regex)]] = {}
    among: dict[str, Annotated[list[str], OneOrMany]] = {}

    @model_validator(mode="before")
    @classmethod
    def _null(cls, value: Any) -> Any:
        return _null_key(value)


ROW_CHECK_KEYS = frozenset(RowChecks.model_fields)


class EachSpec(RowChecks):
    at: str
    where: dict[str, Any] = {}

    @model_validator(mode="after")
    def _checks_something(self) -> EachSpec:
        if not self.model_fields_set & ROW_CHECK_KEYS:
            raise PydanticCustomError("each", f"each at {self.at} checks nothing", {})
        return self


class Expect(RowChecks):
    error: Text | None = None
    withheld: dict[str, list[str]] | None = None
    each: Annotated[list[EachSpec], OneOrMany] = []

    @model_validator(mode="after")
    def _expects_something(self) -> Expect:
        if not self.model_fields_set:
            raise PydanticCustomError("expect", "expect names no expectation", {})
        return self


class PrincipalSpec(Strict):
    """A principal described in a case, for which the runner registers a client."""

    organisation: str
    roles: Annotated[list[Role], OneOrMany, Field(min_length=1), AfterValidator(sorted)]
    purposes: Annotated[list[Purpose], OneOrMany, Field(min_length=1), AfterValidator(sorted)]
    sex_worker: str | None = None

    @property
    def client_id(self) -> str:
        parts = [self.organisation, *self.roles, *self.purposes, self.sex_worker or ""]
        return "case-" + hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


class CaseSpec(Strict):
    description: Text
    client: str | None = None
    principal: PrincipalSpec | None = None
    purpose: str | None = None  # the Hub-Purpose header, which a case may get wrong on purpose
    stated_case: str | None = None  # the Hub-Case header: the investigation a request states
    query: Text
    variables: dict[str, Any] | None = None
    expect: Expect

    @model_validator(mode="after")
    def _consistent(self) -> CaseSpec:
        found: list[Problem] = []
        if (self.client is None) == (self.principal is None):
            found.append(((), "name either a client or a principal", None))
        # An unknown purpose is refused with BAD_USER_INPUT: any other expectation means
        # the purpose is misspelt.
        purpose = self.purpose
        if (
            purpose is not None
            and purpose not in PURPOSES
            and self.expect.error != "BAD_USER_INPUT"
        ):
            message = f"unknown purpose {purpose!r} (expect BAD_USER_INPUT for it)"
            found.append((("purpose",), message, suggest(purpose, PURPOSES)))
        if found:
            raise problems(found)
        return self


class CaseFile(RootModel[Annotated[list[CaseSpec], Field(min_length=1)]]):
    model_config = ConfigDict(strict=True)


@dataclass(frozen=True)
class Case:
    file: str
    number: int  # 1-based position in its file
    description: str
    client: str | PrincipalSpec
    purpose: str | None
    query: str
    variables: dict[str, Any]
    expect: dict[str, Any]  # the expectations the case names, lists where one may be
    stated_case: str | None = None  # the Hub-Case header

    @property
    def name(self) -> str:
        return f"{self.file}#{self.number}"


def parse_cases(text: str, file: str) -> list[Case]:
    """The cases of one file; raises CaseError with every problem of the file."""
    try:
        specs = load(text, file).validate(CaseFile).root
    except PolicyError as exc:
        raise CaseError(exc.issues) from None
    cases = []
    for number, spec in enumerate(specs, start=1):
        client = spec.principal if spec.client is None else spec.client
        assert client is not None  # the model requires one of them
        cases.append(
            Case(
                file=file,
                number=number,
                description=" ".join(spec.description.split()),
                client=client,
                purpose=spec.purpose,
                query=spec.query,
                variables=spec.variables or {},
                expect=spec.expect.model_dump(exclude_unset=True),
                stated_case=spec.stated_case,
            )
        )
    return cases


def load_all(tests_dir: Path) -> tuple[dict[str, list[Case]], list[str]]:
    """Cases per file name, and the defects of files that could not be read."""
    files: dict[str, list[Case]] = {}
    defects: list[str] = []
    for path in sorted(tests_dir.glob("*.yaml")):
        try:
            files[path.name] = parse_cases(path.read_text(encoding="utf-8"), path.name)
        except CaseError as exc:
            defects.extend(exc.errors)
    return files, defects


# --- checking an answer -------------------------------------------------------------------


class PathError(LookupError):
    pass


def walk(value: Any, path: str) -> list[Any]:
    """Every value at `path` below `value`, through lists; null where a record on the way
    is null. Raises PathError where the path names a field the answer does not hold."""
    values = [value]
    for step in path.split("."):
        nxt: list[Any] = []
        for v in _flatten(values):
            if v is None:
                nxt.append(None)
            elif isinstance(v, dict):
                if step not in v:
                    raise PathError(f"{path}: the answer has no field {step!r} there")
                nxt.append(v[step])
            else:
                raise PathError(f"{path}: {step!r} is below a value, not a record")
        values = nxt
    return list(_flatten(values))


def _flatten(values: list[Any]) -> Iterator[Any]:
    for v in values:
        if isinstance(v, list):
            yield from _flatten(v)
        else:
            yield v


def _same(expected: Any, actual: Any) -> bool:
    if expected is None or isinstance(expected, bool):
        return actual is expected
    if isinstance(actual, bool):
        return False
    if isinstance(expected, datetime | date):
        return actual == expected.isoformat()
    return bool(expected == actual)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."


class Symbols:
    """`$me.*` and `$demo.*` values, resolved per asking client."""

    def __init__(self, demo: Mapping[str, str], me: Mapping[str, Any]) -> None:
        self.demo = demo
        self.me = me

    def resolve(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: self.resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if isinstance(value, str) and value.startswith("$"):
            head, _, name = value[1:].partition(".")
            table = {"me": self.me, "demo": self.demo}.get(head)
            if table is None or name not in table:
                raise KeyError(f"unknown value {value}")
            return table[name]
        return value


def _row_checks(
    data: Any, expect: Mapping[str, Any], symbols: Symbols, prefix: str = ""
) -> list[str]:
    fails: list[str] = []

    def at(path: str) -> list[Any] | None:
        try:
            return walk(data, path)
        except PathError as exc:
            fails.append(prefix + str(exc))
            return None

    def nonempty(path: str, values: list[Any] | None) -> list[Any] | None:
        if values is not None and not values:
            fails.append(f"{prefix}{path}: no value there, the expectation would hold vacuously")
            return None
        return values

    for spec in expect.get("rows", []):
        values = at(spec["at"])
        if values is None:
            continue
        n = sum(1 for v in values if v is not None)
        if "count" in spec and n != spec["count"]:
            fails.append(f"{prefix}{spec['at']}: {n} records, expected {spec['count']}")
        if "min" in spec and n < spec["min"]:
            fails.append(f"{prefix}{spec['at']}: {n} records, expected at least {spec['min']}")
        if "max" in spec and n > spec["max"]:
            fails.append(f"{prefix}{spec['at']}: {n} records, expected at most {spec['max']}")
    for path in expect.get("null", []):
        values = nonempty(path, at(path))
        if values is not None:
            shown = [v for v in values if v is not None]
            if shown:
                fails.append(
                    f"{prefix}{path}: {len(shown)} of {len(values)} values not null, "
                    f"e.g. {_show(shown[0])}"
                )
    for path in expect.get("not_null", []):
        values = nonempty(path, at(path))
        if values is not None and None in values:
            fails.append(f"{prefix}{path}: {values.count(None)} of {len(values)} values null")
    for key in ("all", "some", "none"):
        for path, raw in (expect.get(key) or {}).items():
            try:
                wanted = symbols.resolve(raw)
            except KeyError as exc:
                fails.append(f"{prefix}{path}: {exc.args[0]}")
                continue
            values = nonempty(path, at(path))
            if values is None:
                continue
            other = [v for v in values if not _same(wanted, v)]
            if key == "all" and other:
                fails.append(
                    f"{prefix}{path}: {len(other)} of {len(values)} values are not "
                    f"{_show(wanted)}, e.g. {_show(other[0])}"
                )
            if key == "some" and len(other) == len(values):
                fails.append(
                    f"{prefix}{path}: none of {len(values)} values is {_show(wanted)}, "
                    f"e.g. {_show(values[0])}"
                )
            if key == "none" and len(other) < len(values):
                fails.append(
                    f"{prefix}{path}: {len(values) - len(other)} of {len(values)} values "
                    f"are {_show(wanted)}"
                )
    for path, pattern in (expect.get("matches") or {}).items():
        values = nonempty(path, at(path))
        if values is None:
            continue
        regex = re.compile(str(pattern))
        other = [v for v in values if not (isinstance(v, str) and regex.search(v))]
        if other:
            fails.append(
                f"{prefix}{path}: {len(other)} of {len(values)} values do not match "
                f"{str(pattern)!r}, e.g. {_show(other[0])}"
            )
    for path, sources in (expect.get("among") or {}).items():
        values = nonempty(path, at(path))
        pool: list[Any] = []
        for source in sources:
            pool += at(source) or []
        if values is None:
            continue
        other = [v for v in values if not any(_same(v, p) for p in pool if p is not None)]
        if other:
            fails.append(
                f"{prefix}{path}: {len(other)} of {len(values)} values are not among the "
                f"values at {', '.join(sources)}, e.g. {_show(other[0])}"
            )
    return fails


def check(case: Case, body: Mapping[str, Any], symbols: Symbols) -> list[str]:
    """The reasons an answer does not meet the case's expectations (none: it passes)."""
    expect = case.expect
    errors = body.get("errors") or []
    codes = [(e.get("extensions") or {}).get("code", "?") for e in errors]
    fails: list[str] = []
    if expect.get("error") is not None:
        if expect["error"] not in codes:
            got = ", ".join(codes) if codes else "no error"
            fails.append(f"expected error {expect['error']}, got {got}")
    elif errors:
        first = errors[0]
        fails.append(f"unexpected error {codes[0]}: {first.get('message', '')}")
        return fails
    data = body.get("data")
    row_expect = {k: v for k, v in expect.items() if k in ROW_CHECK_KEYS}
    if row_expect or "each" in expect:
        if data is None:
            return fails + ["the answer holds no data"]
        fails += _row_checks(data, row_expect, symbols)
    for block in expect.get("each", []):
        fails += _each(data, block, symbols)
    if "withheld" in expect:
        actual = {
            t: sorted(fs)
            for t, fs in ((body.get("extensions") or {}).get("withheld") or {}).items()
        }
        wanted = {t: sorted(fs) for t, fs in (expect["withheld"] or {}).items()}
        if actual != wanted:
            fails.append(f"withheld {actual or '{}'}, expected {wanted or '{}'}")
    return fails


def _each(data: Any, block: Mapping[str, Any], symbols: Symbols) -> list[str]:
    try:
        records = [r for r in walk(data, block["at"]) if r is not None]
    except PathError as exc:
        return [str(exc)]
    fails: list[str] = []
    matched = 0
    for i, record in enumerate(records):
        try:
            keep = all(
                any(_same(symbols.resolve(v), x) for x in walk(record, p))
                for p, v in (block.get("where") or {}).items()
            )
        except (PathError, KeyError) as exc:
            return [f"{block['at']} where: {exc}"]
        if not keep:
            continue
        matched += 1
        fails += _row_checks(record, block, symbols, prefix=f"{block['at']}[{i}].")
    if not matched:
        fails.append(f"{block['at']}: no record matches {block.get('where') or {}}")
    return fails
