"""`hub policy test`: run the policy's test cases (hub/policy/cases.py) against the hub.

The runner starts the hub in-process on a fresh SQLite database with the demo data, under
the policy documents being tested, sends every query through the real GraphQL endpoint,
and prints one line per case and a summary. The cases of one file run in order against
one freshly seeded database; every file starts from fresh demo data. The runner only
reads its own temporary database of invented demo data, so a failure message may quote a
value (at most 60 characters of it). The demo data is seeded relative to the current
time, so cases rely on its invariants (Antwerp police see Antwerp premises) rather than
on exact counts.

The `$demo.*` values a case may name:

- `$demo.org.<key>`: a demo organisation's id (`ghapro`, `antwerp_police`, `violett`, ...,
  the keys of `hub/demo.py`);
- `$demo.worker`: the demo sex worker, in Antwerp, who logs in as `demo-worker` and gave
  Ghapro a live consent for care;
- `$demo.other_worker_antwerp`: another sex worker in Antwerp, whose consent to
  Boysproject is revoked;
- `$demo.worker_ghent`: a sex worker in Ghent, who gave Violett a consent for care (for
  the worker's reports only); Ghent's regime registers no identities, so it has none;
- `$demo.worker_at_work`: a worker in Antwerp with a shift in progress (the demo always
  seeds one), whose identity the local police may read at identity_validation;
  `$demo.worker_off_duty`: a worker in Antwerp with an identity and no shift within two
  hours of now, whose identity they may not;
- `$demo.case_subject`: the worker the demo's open case (AN.37.L1.004217/26, held by the
  federal judicial police in Antwerp) names: the demo sex worker;
  `$demo.case_outsider`: another worker in Antwerp with an identity, whom it does not name
  (the same as `$demo.other_worker_antwerp`);
- `$demo.premises_antwerp`: a window premises in Antwerp of the demo operator (Vitrine
  Beheer, `demo-operator`), with a granted certificate; `$demo.premises_ghent`: a window
  premises in Ghent with a granted certificate.
- `$demo.employee`: a worker in Antwerp employed by the demo employer (Noorderlicht
  Werkgever, `demo-employer`), whose shifts the employer registers without a rental.
"""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, TextIO

import httpx
from sqlalchemy import select
from sqlmodel import col

from hub.app import create_app
from hub.auth.clients import register_client
from hub.config import Settings
from hub.crypto import Keyring
from hub.db import Database, upgrade
from hub.demo import seed
from hub.demo_clients import ensure_demo_clients
from hub.errors import Code, HubError
from hub.models import Certificate, EmploymentRelation, Premises, SexWorker, ShiftRegistration
from hub.models.base import utcnow
from hub.policy.cases import Case, PrincipalSpec, Symbols, check, load_all
from hub.policy.document import PolicyError
from hub.policy.engine import PolicySet
from hub.policy.principal import Principal

ME_QUERY = "{ me { subject organisationId organisationKind city roles purposes sexWorkerId } }"


@dataclass
class Outcome:
    case: Case
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures


def run_policy_tests(policy_dir: Path, tests_dir: Path, *, out: TextIO) -> int:
    """Run every case in `tests_dir` against the policies in `policy_dir`; print one line
    per case and a summary; return the number of failures (an unreadable file, a policy
    set that does not load, or an empty test directory count as failures too)."""
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

    now = utcnow()
    live = select(
        col(ShiftRegistration.sex_worker_id),
        col(ShiftRegistration.starts_at),
        col(ShiftRegistration.ends_at),
    ).where(col(ShiftRegistration.status).in_(["registered", "validated"]))
    shifts = (await session.execute(live)).all()
    at_work = sorted({w for w, s, e in shifts if s - timedelta(hours=1) <= now <= e})
    near = {w for w, s, e in shifts if s - timedelta(hours=3) <= now <= e + timedelta(hours=2)}
    symbols = {f"org.{k}": v for k, v in demo.organisation_ids.items()}
    symbols["worker_at_work"] = next(w for w in antwerp if w in at_work)
    symbols["worker_off_duty"] = next(w for w in antwerp if w not in near)
    symbols.update(
        {
            "worker": workers[0],
            "case_subject": workers[0],
            "case_outsider": next(w for w in antwerp if w != workers[0]),
            "other_worker_antwerp": next(w for w in antwerp if w != workers[0]),
            "worker_ghent": ghent[0],
            "premises_antwerp": await window_premises(
                "Antwerpen", demo.organisation_ids["operator_vitrine_beheer"]
            ),
            "premises_ghent": await window_premises("Gent"),
        }
    )
    employed = select(col(EmploymentRelation.sex_worker_id)).order_by(
        col(EmploymentRelation.created_at)
    )
    employee = (await session.execute(employed)).scalars().first()
    if employee is not None:
        symbols["employee"] = employee
    return symbols


async def _register(db: Any, spec: PrincipalSpec, demo_symbols: Mapping[str, str]) -> None:
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


def _audience(token: str) -> str:
    """Whom the ids of a token's answers are sealed for (the runner minted the token)."""
    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return Principal(
        subject=claims["sub"],
        org_id=claims["org"],
        org_kind=claims.get("org_kind", ""),
        city=claims.get("city"),
        roles=frozenset(claims.get("roles", ())),
        purposes=frozenset(claims.get("purposes", ())),
        sex_worker_id=claims.get("sex_worker_id"),
    ).audience


async def _run_file(
    policy_dir: Path,
    secret_dir: Path,
    db: Path,
    cases: list[Case],
    demo_symbols: Mapping[str, str],
) -> list[Outcome]:
    url = f"sqlite+aiosqlite:///{db}"
    app = create_app(Settings(database_url=url, secret_dir=secret_dir, policy_dir=policy_dir))
    state = app.state.hub
    outcomes: list[Outcome] = []
    async with app.router.lifespan_context(app):
        tokens: dict[str, str] = {}
        me: dict[str, dict[str, Any]] = {}
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as http:

            async def ask(
                token: str,
                purpose: str | None,
                query: str,
                variables: Any,
                stated_case: str | None = None,
            ) -> Any:
                headers = {"Authorization": f"Bearer {token}"}
                if purpose is not None:
                    headers["Hub-Purpose"] = purpose
                if stated_case is not None:
                    headers["Hub-Case"] = stated_case
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
                # Ids reach a client sealed for it (hub/ids.py): so do the demo's symbols.
                seal = state.ids.for_audience(_audience(tokens[client_id]))
                symbols = Symbols({k: seal.seal(v) for k, v in demo_symbols.items()}, me[client_id])
                try:
                    variables = symbols.resolve(case.variables)
                except KeyError as exc:
                    outcome.failures.append(f"variables: {exc.args[0]}")
                    continue
                body = await ask(
                    tokens[client_id], case.purpose, case.query, variables, case.stated_case
                )
                outcome.failures.extend(check(case, body, symbols))
    return outcomes
