"""`hub policy test`: the policy's test cases, written as data a privacy officer can read.

In the manner of Hasura's permission tests, each case says who asks (a demo client, and so
its organisation, city, roles and purposes), for which purpose, with which GraphQL query,
and what the answer must be: which records come back and which fields are shown, null or
withheld. The runner starts the hub in-process on a fresh SQLite database with the demo
data, under the policy documents being tested, sends every query through the real GraphQL
endpoint, and prints one line per case and a summary.

Case files are `policies/tests/*.yaml`; each holds a list of cases::

    - description: the city officer sees occupancy without identities
      client: demo-city-antwerp          # who asks: a client of hub/demo_clients.py
      purpose: licensing                 # the Hub-Purpose header; omit it to send none
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
        organisation: payoke             # a demo organisation key (see `$demo.org.*` below)
        roles: [ngo_worker]
        purposes: [care]
        sex_worker: worker               # only with the sex_worker role: a `$demo.*` worker

The principal's city and organisation kind are those of its organisation.

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
  the other paths (the premises she sees are among the premises of her shifts).
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

Values may name ids that differ from run to run:

- `$me.<field>`: a field of the asking client's own `me` (`organisationId`, `city`,
  `sexWorkerId`, ...);
- `$demo.org.<key>`: a demo organisation's id (`ghapro`, `antwerp_police`, `violett`, ...,
  the keys of `hub/demo.py`);
- `$demo.worker`: the demo sex worker, in Antwerp, who logs in as `demo-worker`; she gave
  Ghapro a live consent for care;
- `$demo.other_worker_antwerp`: another sex worker in Antwerp; her consent to Boysproject
  is revoked;
- `$demo.worker_ghent`: a sex worker in Ghent, who gave Violett a consent for care (for
  her reports only);
- `$demo.premises_antwerp`: a window premises in Antwerp of the demo operator (Vitrine
  Beheer, `demo-operator`), with a granted certificate; `$demo.premises_ghent`: a window
  premises in Ghent with a granted certificate.

They may stand as a whole value in `variables`, `all`, `some`, `none` and `where`.

The cases of one file run in order against one freshly seeded database; every file starts
from fresh demo data. The runner only reads its own temporary database of invented demo
data, so a failure message may quote a value (at most 60 characters of it). The demo data
is seeded relative to the current time, so cases rely on its invariants (Antwerp police
see Antwerp premises) rather than on exact counts.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, TextIO

import yaml

CASE_KEYS = frozenset(
    {"description", "client", "principal", "purpose", "query", "variables", "expect"}
)
PRINCIPAL_KEYS = frozenset({"organisation", "roles", "purposes", "sex_worker"})
EXPECT_KEYS = frozenset(
    {
        "error",
        "rows",
        "null",
        "not_null",
        "all",
        "some",
        "none",
        "matches",
        "among",
        "withheld",
        "each",
    }
)
ROW_CHECK_KEYS = frozenset({"rows", "null", "not_null", "all", "some", "none", "matches", "among"})
EACH_KEYS = ROW_CHECK_KEYS | {"at", "where"}
ROWS_KEYS = frozenset({"at", "min", "max", "count"})

ME_QUERY = "{ me { subject organisationId organisationKind city roles purposes sexWorkerId } }"
_SHOWN = 60  # characters of a value shown in a failure message


class CaseError(ValueError):
    """A case file that cannot be read as test cases."""


@dataclass(frozen=True)
class PrincipalSpec:
    """A principal described in a case, for which the runner registers a client."""

    organisation: str
    roles: tuple[str, ...]
    purposes: tuple[str, ...]
    sex_worker: str | None = None

    @property
    def client_id(self) -> str:
        parts = [self.organisation, *self.roles, *self.purposes, self.sex_worker or ""]
        return "case-" + hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Case:
    file: str
    number: int  # 1-based position in its file
    description: str
    client: str | PrincipalSpec
    purpose: str | None
    query: str
    variables: dict[str, Any]
    expect: dict[str, Any]

    @property
    def name(self) -> str:
        return f"{self.file}#{self.number}"


@dataclass
class Outcome:
    case: Case
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures


# --- reading cases ------------------------------------------------------------------------


def _null_key(block: dict[Any, Any]) -> dict[str, Any]:
    """YAML reads a bare `null:` key as the null value; it means the `null` expectation."""
    if None in block:
        block["null"] = block.pop(None)
    return block


def _check_keys(where: str, found: Mapping[Any, Any], allowed: frozenset[str]) -> None:
    unknown = sorted(str(k) for k in set(found) - allowed)
    if unknown:
        raise CaseError(f"{where}: unknown key(s) {', '.join(unknown)}")


def _check_rows(where: str, spec: Any) -> None:
    specs = spec if isinstance(spec, list) else [spec]
    for s in specs:
        if not isinstance(s, dict) or not isinstance(s.get("at"), str):
            raise CaseError(f"{where}: rows needs a mapping with `at: path`")
        _check_keys(f"{where}: rows", s, ROWS_KEYS)
        bounds = [k for k in ("min", "max", "count") if k in s]
        if not bounds:
            raise CaseError(f"{where}: rows needs min, max or count")
        for k in bounds:
            if not isinstance(s[k], int) or isinstance(s[k], bool) or s[k] < 0:
                raise CaseError(f"{where}: rows {k} must be a whole number")


def _check_row_checks(where: str, expect: Mapping[str, Any]) -> None:
    if "rows" in expect:
        _check_rows(where, expect["rows"])
    for key in ("null", "not_null"):
        if key in expect and not (
            isinstance(expect[key], list) and all(isinstance(p, str) for p in expect[key])
        ):
            raise CaseError(f"{where}: {key} must be a list of paths")
    for key in ("all", "some", "none", "matches"):
        if key in expect and not isinstance(expect[key], dict):
            raise CaseError(f"{where}: {key} must map paths to values")
    if "among" in expect:
        among = expect["among"]
        if not isinstance(among, dict) or not all(
            isinstance(v, str) or (isinstance(v, list) and all(isinstance(x, str) for x in v))
            for v in among.values()
        ):
            raise CaseError(f"{where}: among must map paths to a path or a list of paths")
    for pattern in (expect.get("matches") or {}).values():
        try:
            re.compile(str(pattern))
        except re.error as exc:
            raise CaseError(f"{where}: bad regular expression {pattern!r}: {exc}") from exc


def _check_expect(where: str, expect: Any) -> dict[str, Any]:
    if not isinstance(expect, dict) or not expect:
        raise CaseError(f"{where}: expect must be a non-empty mapping")
    _null_key(expect)
    _check_keys(f"{where}: expect", expect, EXPECT_KEYS)
    _check_row_checks(where, expect)
    if "error" in expect and not isinstance(expect["error"], str):
        raise CaseError(f"{where}: error must be an error code such as FORBIDDEN")
    if "withheld" in expect:
        withheld = expect["withheld"]
        if not isinstance(withheld, dict) or not all(
            isinstance(v, list) and all(isinstance(f, str) for f in v) for v in withheld.values()
        ):
            raise CaseError(f"{where}: withheld must map type names to lists of fields")
    if "each" in expect:
        blocks = expect["each"] if isinstance(expect["each"], list) else [expect["each"]]
        for block in blocks:
            if not isinstance(block, dict) or not isinstance(block.get("at"), str):
                raise CaseError(f"{where}: each needs a mapping with `at: path`")
            _null_key(block)
            _check_keys(f"{where}: each", block, EACH_KEYS)
            if "where" in block and not isinstance(block["where"], dict):
                raise CaseError(f"{where}: each.where must map paths to values")
            if not set(block) & ROW_CHECK_KEYS:
                raise CaseError(f"{where}: each at {block['at']} checks nothing")
            _check_row_checks(f"{where}: each", block)
    return expect


def _principal(where: str, raw: Any) -> PrincipalSpec:
    if not isinstance(raw, dict):
        raise CaseError(f"{where}: principal must be a mapping")
    _check_keys(f"{where}: principal", raw, PRINCIPAL_KEYS)
    org = raw.get("organisation")
    if not isinstance(org, str):
        raise CaseError(f"{where}: principal needs an organisation")
    lists = {}
    for key in ("roles", "purposes"):
        value = raw.get(key)
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            raise CaseError(f"{where}: principal needs a list of {key}")
        lists[key] = tuple(sorted(value))
    worker = raw.get("sex_worker")
    if worker is not None and not isinstance(worker, str):
        raise CaseError(f"{where}: principal sex_worker names a $demo worker")
    return PrincipalSpec(org, lists["roles"], lists["purposes"], worker)


def parse_cases(text: str, file: str) -> list[Case]:
    """The cases of one file; raises CaseError naming the file and case on any defect."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CaseError(f"{file}: not valid YAML: {exc}") from exc
    if not isinstance(raw, list) or not raw:
        raise CaseError(f"{file}: must hold a non-empty list of cases")
    cases = []
    for i, item in enumerate(raw, start=1):
        where = f"{file}#{i}"
        if not isinstance(item, dict):
            raise CaseError(f"{where}: a case is a mapping")
        _check_keys(where, item, CASE_KEYS)
        for key in ("description", "query"):
            if not isinstance(item.get(key), str) or not item[key].strip():
                raise CaseError(f"{where}: {key} is required")
        if ("client" in item) == ("principal" in item):
            raise CaseError(f"{where}: name either a client or a principal")
        client: str | PrincipalSpec
        if "client" in item:
            if not isinstance(item["client"], str):
                raise CaseError(f"{where}: client must be a client id")
            client = item["client"]
        else:
            client = _principal(where, item["principal"])
        purpose = item.get("purpose")
        if purpose is not None and not isinstance(purpose, str):
            raise CaseError(f"{where}: purpose must be a purpose name")
        variables = item.get("variables") or {}
        if not isinstance(variables, dict):
            raise CaseError(f"{where}: variables must be a mapping")
        cases.append(
            Case(
                file=file,
                number=i,
                description=" ".join(item["description"].split()),
                client=client,
                purpose=purpose,
                query=item["query"],
                variables=variables,
                expect=_check_expect(where, item.get("expect")),
            )
        )
    return cases


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

    specs = expect.get("rows", [])
    for spec in specs if isinstance(specs, list) else [specs]:
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
        for source in [sources] if isinstance(sources, str) else sources:
            pool += at(source) or []
        if values is None:
            continue
        other = [v for v in values if not any(_same(v, p) for p in pool if p is not None)]
        if other:
            fails.append(
                f"{prefix}{path}: {len(other)} of {len(values)} values are not among the "
                f"values at {', '.join([sources] if isinstance(sources, str) else sources)}, "
                f"e.g. {_show(other[0])}"
            )
    return fails


def check(case: Case, body: Mapping[str, Any], symbols: Symbols) -> list[str]:
    """The reasons an answer does not meet the case's expectations (none: it passes)."""
    expect = case.expect
    errors = body.get("errors") or []
    codes = [(e.get("extensions") or {}).get("code", "?") for e in errors]
    fails: list[str] = []
    if "error" in expect:
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
    blocks = expect.get("each", [])
    for block in blocks if isinstance(blocks, list) else [blocks]:
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


# --- running ------------------------------------------------------------------------------


def load_all(tests_dir: Path) -> tuple[dict[str, list[Case]], list[str]]:
    """Cases per file name, and the defects of files that could not be read."""
    files: dict[str, list[Case]] = {}
    defects: list[str] = []
    for path in sorted(tests_dir.glob("*.yaml")):
        try:
            files[path.name] = parse_cases(path.read_text(encoding="utf-8"), path.name)
        except CaseError as exc:
            defects.append(str(exc))
    return files, defects


def run_policy_tests(policy_dir: Path, tests_dir: Path, *, out: TextIO) -> int:
    """Run every case in `tests_dir` against the policies in `policy_dir`; print one line
    per case and a summary; return the number of failures (an unreadable file, a policy
    set that does not load, or an empty test directory count as failures too)."""
    from hub.policy.document import PolicyError
    from hub.policy.engine import PolicySet

    started = time.monotonic()
    try:
        PolicySet.from_directory(policy_dir)
    except PolicyError as exc:
        for err in exc.errors:
            out.write(f"ERROR policy: {err}\n")
        out.write("the policy set does not load: no case was run\n")
        return max(1, len(exc.errors))
    files, defects = load_all(tests_dir)
    for defect in defects:
        out.write(f"FAIL {defect}\n")
    if not files and not defects:
        out.write(f"FAIL no test cases in {tests_dir}\n")
        return 1
    passed, failed = 0, len(defects)
    if files:
        for o in _run_files(policy_dir, list(files.values())):
            if o.passed:
                passed += 1
                out.write(f"PASS {o.case.name} {o.case.description}\n")
            else:
                failed += 1
                out.write(
                    f"FAIL {o.case.name} {o.case.description}: {'; '.join(o.failures)}" + "\n"
                )
            out.flush()
    seconds = time.monotonic() - started
    out.write(f"{passed} passed, {failed} failed ({seconds:.1f}s)\n")
    return failed


def _run_files(policy_dir: Path, files: list[list[Case]]) -> Iterator[Outcome]:
    """The outcomes of the cases, file by file as each file finishes."""
    from hub.db import upgrade

    with tempfile.TemporaryDirectory(prefix="hub-policy-test-") as tmp:
        root = Path(tmp)
        secret_dir = root / "secrets"
        # Migrate and seed once; every file then starts from a copy of that database.
        template = root / "template.db"
        upgrade(f"sqlite+aiosqlite:///{template}")
        demo_symbols = asyncio.run(_seed(template, secret_dir))
        for n, cases in enumerate(files):
            db = root / f"{n}.db"
            shutil.copy(template, db)
            yield from asyncio.run(_run_file(policy_dir, secret_dir, db, cases, demo_symbols))


async def _seed(db_file: Path, secret_dir: Path) -> dict[str, str]:
    """Seed the demo data and the demo clients; return the `$demo.*` values."""
    from hub.crypto import Keyring
    from hub.db import Database
    from hub.demo import seed
    from hub.demo_clients import ensure_demo_clients

    db = Database(f"sqlite+aiosqlite:///{db_file}")
    try:
        async with db.session() as session:
            demo = await seed(session, Keyring.from_secret_dir(secret_dir))
            await session.commit()
            symbols = await _demo_symbols(session, demo)
        await ensure_demo_clients(db, demo)
    finally:
        await db.dispose()
    return symbols


async def _demo_symbols(session: Any, demo: Any) -> dict[str, str]:
    """The `$demo.*` values of a freshly seeded database."""
    from sqlalchemy import select
    from sqlmodel import col

    from hub.models import Certificate, Premises, SexWorker

    stmt_cities = select(col(SexWorker.id), col(SexWorker.city))
    cities: dict[str, str] = {i: c for i, c in (await session.execute(stmt_cities)).all()}
    workers = demo.sex_worker_ids
    antwerp = [w for w in workers if cities[w] == "Antwerpen"]
    ghent = [w for w in workers if cities[w] == "Gent"]

    async def window_premises(city: str, operator: str | None = None) -> str:
        stmt = (
            select(col(Premises.id))
            .join(Certificate, col(Certificate.premises_id) == col(Premises.id))
            .where(
                col(Premises.city) == city,
                col(Premises.kind) == "window",
                col(Certificate.status) == "granted",
            )
        )
        if operator is not None:
            stmt = stmt.where(col(Premises.operator_id) == operator)
        stmt = stmt.order_by(col(Premises.address))
        found: str = (await session.execute(stmt)).scalars().first()
        return found

    symbols = {f"org.{k}": v for k, v in demo.organisation_ids.items()}
    symbols.update(
        {
            "worker": workers[0],
            "other_worker_antwerp": next(w for w in antwerp if w != workers[0]),
            "worker_ghent": ghent[0],
            "premises_antwerp": await window_premises(
                "Antwerpen", demo.organisation_ids["operator_vitrine_beheer"]
            ),
            "premises_ghent": await window_premises("Gent"),
        }
    )
    return symbols


async def _register(db: Any, spec: PrincipalSpec, demo_symbols: Mapping[str, str]) -> None:
    from hub.auth.clients import register_client
    from hub.errors import Code, HubError

    org = demo_symbols.get(f"org.{spec.organisation}")
    if org is None:
        raise HubError(Code.NOT_FOUND, f"no demo organisation {spec.organisation}")
    worker = None
    if spec.sex_worker is not None:
        worker = demo_symbols.get(spec.sex_worker.removeprefix("$demo."))
        if worker is None:
            raise HubError(Code.NOT_FOUND, f"no demo sex worker {spec.sex_worker}")
    async with db.session() as session:
        await register_client(
            session,
            client_id=spec.client_id,
            organisation_id=org,
            roles=spec.roles,
            purposes=spec.purposes,
            sex_worker_id=worker,
        )


async def _run_file(
    policy_dir: Path,
    secret_dir: Path,
    db: Path,
    cases: list[Case],
    demo_symbols: Mapping[str, str],
) -> list[Outcome]:
    import httpx

    from hub.app import create_app
    from hub.config import Settings
    from hub.errors import HubError

    url = f"sqlite+aiosqlite:///{db}"
    app = create_app(Settings(database_url=url, secret_dir=secret_dir, policy_dir=policy_dir))
    state = app.state.hub
    outcomes: list[Outcome] = []
    async with app.router.lifespan_context(app):
        tokens: dict[str, str] = {}
        me: dict[str, dict[str, Any]] = {}
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as http:

            async def ask(token: str, purpose: str | None, query: str, variables: Any) -> Any:
                headers = {"Authorization": f"Bearer {token}"}
                if purpose is not None:
                    headers["Hub-Purpose"] = purpose
                r = await http.post(
                    "/graphql", json={"query": query, "variables": variables}, headers=headers
                )
                try:
                    return r.json()
                except ValueError:
                    code = f"HTTP_{r.status_code}"
                    return {
                        "errors": [{"message": "not a JSON answer", "extensions": {"code": code}}]
                    }

            for case in cases:
                outcome = Outcome(case)
                outcomes.append(outcome)
                spec = case.client
                client_id = spec.client_id if isinstance(spec, PrincipalSpec) else spec
                if client_id not in tokens:
                    try:
                        if isinstance(spec, PrincipalSpec):
                            await _register(state.db, spec, demo_symbols)
                        tokens[client_id] = await app.state.issuer.mint(client_id)
                    except HubError as exc:
                        outcome.failures.append(f"cannot ask as {client_id}: {exc.message}")
                        continue
                    body = await ask(tokens[client_id], None, ME_QUERY, {})
                    me[client_id] = (body.get("data") or {}).get("me") or {}
                symbols = Symbols(demo_symbols, me[client_id])
                try:
                    variables = symbols.resolve(case.variables)
                except KeyError as exc:
                    outcome.failures.append(f"variables: {exc.args[0]}")
                    continue
                body = await ask(tokens[client_id], case.purpose, case.query, variables)
                outcome.failures.extend(check(case, body, symbols))
    return outcomes
