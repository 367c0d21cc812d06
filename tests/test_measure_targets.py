"""A measure's target is structured (issue 11): premises, a worker, or a client or third
party's name sealed under a data key of its own; exactly one kind; the name shown only to
the roles the measure policy allows; a worker's erasure removes the worker from the target.
On SQLite and PostgreSQL, one seeded hub per backend for the module.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select, text

from hub.models import Measure, OutboxEvent, Premises
from tests.conftest import BACKENDS, Hub, Templates, _start

ENFORCEMENT = "demo-enforcement-antwerp"
POLICE = "demo-police-antwerp"
CITY = "demo-city-antwerp"
DPO = "demo-dpo-antwerp"

OPEN = """
mutation($input: MeasureInput!) {
  openMeasure(input: $input) { id kind targetName targetSexWorkerId premises { id } }
}"""
READ = """
query {
  measures(first: 100) { edges { node { id targetName targetSexWorkerId } } }
}"""
ERASE = "mutation($id: ID!) { eraseIdentity(sexWorkerId: $id) }"


@pytest.fixture(scope="module", params=BACKENDS)
def hub(
    request: pytest.FixtureRequest, templates: Templates, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Hub]:
    yield from _start(templates, request.param, tmp_path_factory.mktemp("targets"), seeded=True)


def _name() -> str:
    return f"Client {uuid.uuid4().hex[:10]}"


def _open(hub: Hub, target: dict[str, Any], kind: str = "STREET_BAN") -> dict[str, Any]:
    body = hub.ok(OPEN, {"input": {"kind": kind, "target": target}}, as_=ENFORCEMENT)
    return body["openMeasure"]  # type: ignore[no-any-return]


def _row(hub: Hub, measure_id: str) -> Any:
    async def go() -> Any:
        async with hub.db.session() as session:
            return await session.get(Measure, measure_id)

    return hub.run(go())


def _count(hub: Hub) -> int:
    async def go() -> int:
        async with hub.db.session() as session:
            return int((await session.execute(select(func.count()).select_from(Measure))).scalar())

    return hub.run(go())  # type: ignore[no-any-return]


def _premises_antwerp(hub: Hub) -> str:
    async def go() -> str:
        async with hub.db.session() as session:
            stmt = select(Premises.id).where(Premises.city == "Antwerpen").limit(1)
            return str((await session.execute(stmt)).scalar_one())

    return hub.run(go())  # type: ignore[no-any-return]


def test_a_measure_against_premises(hub):
    premises = _premises_antwerp(hub)
    m = _open(hub, {"premisesId": premises}, kind="TEMPORARY_CLOSURE")
    assert m["premises"] == {"id": premises}
    assert m["targetName"] is None and m["targetSexWorkerId"] is None
    row = _row(hub, m["id"])
    assert (row.premises_id, row.target_sex_worker_id, row.target_name) == (premises, None, None)


def test_a_measure_against_a_third_party_is_sealed(hub):
    name = _name()
    m = _open(hub, {"personName": name, "personRole": "CLIENT"})
    assert m["targetName"] == name and m["premises"] is None
    row = _row(hub, m["id"])
    # Never in clear: neither the row's bytes nor the event in the outbox hold the name.
    assert row.target_name and row.target_name_key
    assert name.encode() not in row.target_name and name.encode() not in row.target_name_key

    async def raw() -> list[Any]:
        async with hub.db.session() as session:
            stmt = text("SELECT * FROM measure WHERE id = :i")
            measure = (await session.execute(stmt, {"i": m["id"]})).one()
            events = (
                await session.execute(
                    select(OutboxEvent.envelope).where(OutboxEvent.record_id == m["id"])
                )
            ).scalars()
            return [*measure, *events]

    for value in hub.run(raw()):
        assert name not in str(value) and name.encode() not in str(value).encode()
    # Opened with the key of that measure only: another id's AAD does not open it.
    keyring = hub.app.state.hub.keyring
    assert keyring.open_name(row.id, row.target_name_key, row.target_name) == name
    with pytest.raises(Exception):  # noqa: B017, PT011 - cryptography's InvalidTag
        keyring.open_name(str(uuid.uuid4()), row.target_name_key, row.target_name)


@pytest.mark.parametrize(
    "target",
    [
        pytest.param({}, id="none"),
        pytest.param({"premisesId": "P", "personName": "A. Client"}, id="premises-and-name"),
        pytest.param({"sexWorkerId": "W", "personName": "A. Client"}, id="worker-and-name"),
        pytest.param({"premisesId": "P", "sexWorkerId": "W"}, id="premises-and-worker"),
    ],
)
def test_exactly_one_kind_of_target(hub, target):
    assert hub.demo is not None
    ids = {"P": _premises_antwerp(hub), "W": hub.demo.sex_worker_ids[0]}
    target = {k: ids.get(v, v) for k, v in target.items()}
    before = _count(hub)
    variables = {"input": {"kind": "STREET_BAN", "target": target}}
    assert hub.error_code(OPEN, variables, as_=ENFORCEMENT) == "BAD_USER_INPUT"
    assert _count(hub) == before


def test_the_name_is_withheld_from_roles_the_policy_does_not_allow(hub):
    name = _name()
    m = _open(hub, {"personName": name, "personRole": "CLIENT"})
    for client, purpose in ((POLICE, "inspection"), (CITY, "licensing")):
        body = hub.gql(READ, as_=client, purpose=purpose)
        assert "errors" not in body, body
        nodes = {e["node"]["id"]: e["node"] for e in body["data"]["measures"]["edges"]}
        assert m["id"] in nodes, client
        assert nodes[m["id"]]["targetName"] is None, client
        assert name not in str(body)
        assert "targetName" in body["extensions"]["withheld"]["Measure"], client
    body = hub.gql(READ, as_=ENFORCEMENT, purpose="enforcement")
    nodes = {e["node"]["id"]: e["node"] for e in body["data"]["measures"]["edges"]}
    assert nodes[m["id"]]["targetName"] == name


def test_erasing_the_worker_removes_the_reference(hub):
    assert hub.demo is not None
    worker = hub.demo.sex_worker_ids[-1]
    m = _open(hub, {"sexWorkerId": worker}, kind="STREET_BAN")
    assert m["targetSexWorkerId"] == worker and m["targetName"] is None
    assert _row(hub, m["id"]).target_sex_worker_id == worker
    assert hub.ok(ERASE, {"id": worker}, as_=DPO)["eraseIdentity"] is True
    row = _row(hub, m["id"])
    assert row is not None and row.target_sex_worker_id is None
    assert (row.kind, row.status, row.city) == ("street_ban", "opened", "Antwerpen")
    body = hub.gql(READ, as_=ENFORCEMENT, purpose="enforcement")
    nodes = {e["node"]["id"]: e["node"] for e in body["data"]["measures"]["edges"]}
    assert nodes[m["id"]]["targetSexWorkerId"] is None


def test_the_measure_table_matches_its_model(hub):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlmodel import SQLModel

    async def diffs() -> list[Any]:
        async with hub.db.engine.connect() as conn:
            return await conn.run_sync(  # type: ignore[no-any-return]
                lambda c: compare_metadata(
                    MigrationContext.configure(c, opts={"compare_type": True}), SQLModel.metadata
                )
            )

    assert [d for d in hub.run(diffs()) if "measure" in repr(d)] == []


def _old_database(tmp_path: Any, revision: str) -> tuple[Any, str]:
    """A SQLite database migrated up to `revision`, with an Antwerp city organisation 'o'
    and a window premises 'p' for the measures a migration test writes."""
    import sqlite3

    from hub.db import upgrade

    path = tmp_path / "old.db"
    url = f"sqlite+aiosqlite:///{path}"
    upgrade(url, revision)
    with sqlite3.connect(path) as c:
        c.execute(
            "INSERT INTO organisation (id, name, kind, city, created_at)"
            " VALUES ('o', 'Stad', 'city', 'Antwerpen', '2026-01-01 00:00:00')"
        )
        c.execute(
            "INSERT INTO premises (id, address, city, kind, windows, created_at)"
            " VALUES ('p', 'Straat 1', 'Antwerpen', 'window', 1, '2026-01-01 00:00:00')"
        )
    return path, url


def test_the_migration_seals_free_text_targets(tmp_path, monkeypatch):
    """Migration 0019 on a database holding free-text targets (SQLite): the name of a
    measure without premises is sealed with the master key, a premises' text dropped."""
    import sqlite3

    from hub.crypto import Keyring, load_or_create_key
    from hub.db import upgrade

    path, url = _old_database(tmp_path, "0018")
    with sqlite3.connect(path) as c:
        c.executemany(
            "INSERT INTO measure (id, kind, city, premises_id, target, status, org_id,"
            " opened_at, updated_at) VALUES (?, 'fine', 'Antwerpen', ?, ?, 'opened', 'o',"
            " '2026-01-01 00:00:00', '2026-01-01 00:00:00')",
            [("m-person", None, "J. Peeters"), ("m-premises", "p", "premises")],
        )
    secrets = tmp_path / "secrets"
    monkeypatch.setenv("HUB_SECRET_DIR", str(secrets))
    with pytest.raises(RuntimeError, match="master key"):
        upgrade(url)  # no key: it refuses, and never creates one
    assert not (secrets / "master.key").exists()
    keyring = Keyring(load_or_create_key(secrets / "master.key"))
    upgrade(url)
    with sqlite3.connect(path) as c:
        got = dict(
            (r[0], r[1:])
            for r in c.execute(
                "SELECT id, premises_id, target_name, target_name_key FROM measure"
            ).fetchall()
        )
        columns = [r[1] for r in c.execute("PRAGMA table_info(measure)")]
    assert "target" not in columns
    premises_id, name, key = got["m-person"]
    assert premises_id is None and b"Peeters" not in name
    assert keyring.open_name("m-person", key, name) == "J. Peeters"
    assert got["m-premises"] == ("p", None, None)


def test_the_worker_sees_who_read_a_measure_against_them(hub):
    assert hub.demo is not None
    me = hub.demo.sex_worker_ids[0]  # the demo-worker client's worker
    log = "{ myAccessLog(first: 100) { edges { node { action resource } } } }"

    def measure_entries() -> list[str]:
        body = hub.ok(log, as_="demo-worker")["myAccessLog"]["edges"]
        return sorted(e["node"]["action"] for e in body if e["node"]["resource"] == "Measure")

    before = measure_entries()
    _open(hub, {"sexWorkerId": me})
    hub.ok(READ, as_=ENFORCEMENT, purpose="enforcement")
    after = measure_entries()
    assert len(after) > len(before) and "read" in after and "write:open" in after, after


# --- what the measure is against, without who (the fines indicator's split) -------------

KINDS = "{ measures(first: 100) { edges { node { id targetKind } } } }"


@pytest.mark.parametrize("role", ["CLIENT", "OTHER_PERSON"])
def test_a_named_person_is_said_to_be_a_client_or_another_third_party(hub, role):
    m = _open(hub, {"personName": _name(), "personRole": role})
    assert _row(hub, m["id"]).target_kind == role.lower()


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        pytest.param({"premisesId": "P"}, "premises", id="premises"),
        pytest.param({"sexWorkerId": "W"}, "sex_worker", id="worker"),
    ],
)
def test_premises_and_workers_are_their_own_kind_of_target(hub, target, expected):
    assert hub.demo is not None
    ids = {"P": _premises_antwerp(hub), "W": hub.demo.sex_worker_ids[1]}
    m = _open(hub, {k: ids[v] for k, v in target.items()})
    assert _row(hub, m["id"]).target_kind == expected
    for client, purpose in ((ENFORCEMENT, "enforcement"), (POLICE, "inspection")):
        edges = hub.ok(KINDS, as_=client, purpose=purpose)["measures"]["edges"]
        assert {e["node"]["id"]: e["node"]["targetKind"] for e in edges}[m["id"]] == (
            expected.upper()
        )


@pytest.mark.parametrize(
    "target",
    [
        pytest.param({"personName": "A. Client"}, id="name-without-role"),
        pytest.param({"personName": "A. Client", "personRole": "PREMISES"}, id="name-as-premises"),
        pytest.param({"personName": "A. Client", "personRole": "SEX_WORKER"}, id="name-as-worker"),
        pytest.param({"premisesId": "P", "personRole": "CLIENT"}, id="role-without-name"),
    ],
)
def test_a_person_role_goes_with_a_name_and_names_a_client_or_third_party(hub, target):
    ids = {"P": _premises_antwerp(hub)}
    target = {k: ids.get(v, v) for k, v in target.items()}
    before = _count(hub)
    variables = {"input": {"kind": "STREET_BAN", "target": target}}
    assert hub.error_code(OPEN, variables, as_=ENFORCEMENT) == "BAD_USER_INPUT"
    assert _count(hub) == before


def test_the_kind_of_target_outlives_the_workers_erasure(hub):
    assert hub.demo is not None
    worker = hub.demo.sex_worker_ids[-2]
    m = _open(hub, {"sexWorkerId": worker})
    assert hub.ok(ERASE, {"id": worker}, as_=DPO)["eraseIdentity"] is True
    row = _row(hub, m["id"])
    assert (row.target_sex_worker_id, row.target_kind) == (None, "sex_worker")


def test_the_migration_records_the_kind_of_existing_targets(tmp_path):
    """Migration 0021 (SQLite): premises stay premises, a worker (or a worker's erased
    reference) is a worker, a sealed name is another third party: never guessed a client."""
    import sqlite3

    from hub.db import upgrade

    path, url = _old_database(tmp_path, "0020")
    with sqlite3.connect(path) as c:
        c.execute(
            "INSERT INTO sex_worker (id, working_name, adult_verified, languages, city,"
            " created_at) VALUES ('w', 'Mira', 1, '[]', 'Antwerpen', '2026-01-01 00:00:00')"
        )
        c.executemany(
            "INSERT INTO measure (id, kind, city, premises_id, target_sex_worker_id,"
            " target_name, status, org_id, opened_at, updated_at) VALUES (?, 'fine',"
            " 'Antwerpen', ?, ?, ?, 'opened', 'o', '2026-01-01 00:00:00',"
            " '2026-01-01 00:00:00')",
            [
                ("m-premises", "p", None, None),
                ("m-worker", None, "w", None),
                ("m-erased", None, None, None),
                ("m-name", None, None, b"sealed"),
            ],
        )
    upgrade(url)
    with sqlite3.connect(path) as c:
        got = dict(c.execute("SELECT id, target_kind FROM measure").fetchall())
    assert got == {
        "m-premises": "premises",
        "m-worker": "sex_worker",
        "m-erased": "sex_worker",
        "m-name": "other_person",
    }
