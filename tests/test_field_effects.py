"""Field effects: pseudonym (per receiving organisation), generalize, mask; and the most
permissive effect among the rules matching a row."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from hub.policy.document import PolicyError, parse_document
from hub.policy.effects import Pseudonymizer, age_band, mask_text
from hub.policy.engine import PolicySet
from hub.policy.vocabulary import POLICY_DATA_FILES

ROOT = Path(__file__).resolve().parent.parent
CITY = "demo-city-antwerp"
SHIFTS = "{ shifts(first: 20) { edges { node { id sexWorkerId sexWorker { id } } } } }"


def _policies_with(replacements: dict[str, str]) -> PolicySet:
    texts = {
        p.name: p.read_text()
        for p in sorted((ROOT / "policies").glob("*.yaml"))
        if p.name not in POLICY_DATA_FILES
    }
    texts.update(replacements)
    return PolicySet.from_texts(texts)


def test_city_sees_a_pseudonym_instead_of_the_worker(demo_hub):
    body = demo_hub.gql(SHIFTS, as_=CITY)
    nodes = [e["node"] for e in body["data"]["shifts"]["edges"]]
    assert nodes and all(n["sexWorker"] is None for n in nodes)
    assert all(n["sexWorkerId"].startswith("psn_") for n in nodes)
    assert body["extensions"]["withheld"] == {"Shift": ["sexWorker"]}
    # The police see the real ids of the same shifts.
    police = demo_hub.ok(SHIFTS, as_="demo-police-antwerp", purpose="inspection")
    real = {e["node"]["id"]: e["node"]["sexWorkerId"] for e in police["shifts"]["edges"]}
    for n in nodes:
        assert n["sexWorkerId"] != real[n["id"]]


def test_pseudonyms_are_stable_for_one_partner_and_shared_across_its_views(demo_hub):
    first = demo_hub.ok(SHIFTS, as_=CITY)["shifts"]["edges"]
    again = demo_hub.ok(SHIFTS, as_=CITY)["shifts"]["edges"]
    assert [e["node"]["sexWorkerId"] for e in first] == [e["node"]["sexWorkerId"] for e in again]
    police = demo_hub.ok(SHIFTS, as_="demo-police-antwerp", purpose="inspection")
    real_of = {e["node"]["id"]: e["node"]["sexWorkerId"] for e in police["shifts"]["edges"]}
    # One real worker, one pseudonym (per partner): the city can count distinct workers.
    by_real: dict[str, set[str]] = {}
    for e in first:
        by_real.setdefault(real_of[e["node"]["id"]], set()).add(e["node"]["sexWorkerId"])
    assert all(len(p) == 1 for p in by_real.values())
    rentals = demo_hub.ok(
        "{ rentalAgreements(first: 100) { edges { node { sexWorkerId } } } }", as_=CITY
    )
    rental_psn = {e["node"]["sexWorkerId"] for e in rentals["rentalAgreements"]["edges"]}
    shift_psn = {e["node"]["sexWorkerId"] for e in first}
    assert shift_psn & rental_psn


def test_pseudonyms_cannot_be_joined_across_partners():
    p = Pseudonymizer(b"k" * 32)
    a = p.pseudonym("org-a", "SexWorker.id", "worker-1")
    assert a == p.pseudonym("org-a", "SexWorker.id", "worker-1")
    assert a != p.pseudonym("org-b", "SexWorker.id", "worker-1")
    assert a != Pseudonymizer(b"j" * 32).pseudonym("org-a", "SexWorker.id", "worker-1")


def _identity_policy(effect: str) -> dict[str, str]:
    """The police see the identity of a worker at work masked or generalised (the guardrail
    `identity` lets no one else see it in any form)."""
    text = (ROOT / "policies" / "sex_worker.yaml").read_text()
    rule = text.index("  - name: police-validate-identity-during-a-shift")
    head, tail = text[:rule], text[rule:]
    tail = tail.replace(
        '    fields: {"*": allow, gender: deny}',
        f'    fields: {{"*": allow, gender: deny, identity: {effect}}}',
        1,
    )
    return {"sex_worker.yaml": head + tail}


def _at_work(hub) -> list[tuple[str, bytes, bytes]]:
    """(id, identity ciphertext, wrapped key) of the workers with a shift in progress."""
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import select

    from hub.models import DataKey, Premises, SexWorker, ShiftRegistration

    now = datetime.now(UTC)

    async def load() -> list[tuple[str, bytes, bytes]]:
        async with hub.db.session() as s:
            stmt = (
                select(SexWorker.id, SexWorker.identity, DataKey.wrapped_key)
                .join(DataKey, DataKey.sex_worker_id == SexWorker.id)
                .join(ShiftRegistration, ShiftRegistration.sex_worker_id == SexWorker.id)
                .join(Premises, Premises.id == ShiftRegistration.premises_id)
                .where(
                    Premises.city == "Antwerpen",
                    ShiftRegistration.status.in_(["registered", "validated"]),
                    ShiftRegistration.starts_at <= now + timedelta(minutes=55),
                    ShiftRegistration.ends_at >= now + timedelta(minutes=5),
                )
            )
            return [tuple(r) for r in (await s.execute(stmt)).all()]  # type: ignore[misc]

    return hub.run(load())  # type: ignore[no-any-return]


@pytest.mark.parametrize("effect", ["mask", "generalize"])
def test_identity_masked_or_generalized(hub, effect):
    hub.app.state.hub.policies = _policies_with(_identity_policy(effect))
    q = """query($id: ID!) { sexWorker(id: $id) { id identity {
            legalName birthDate nationality documentNumber ageBand } } }"""
    workers = _at_work(hub)
    assert workers
    keyring = hub.app.state.hub.keyring
    today = datetime.now(UTC).date()
    for worker_id, ciphertext, wrapped in workers:
        real = keyring.decrypt(worker_id, wrapped, ciphertext)
        body = hub.ok(
            q, {"id": worker_id}, as_="demo-police-antwerp", purpose="identity_validation"
        )
        seen = body["sexWorker"]["identity"]
        assert seen["birthDate"] is None
        assert seen["nationality"] == real.nationality
        assert seen["ageBand"] == age_band(date.fromisoformat(real.birth_date), today)
        if effect == "mask":
            assert seen["legalName"] == " ".join(w[0] + "." for w in real.legal_name.split())
            assert seen["documentNumber"].endswith(real.document_number[-2:])
            assert real.document_number[:-2] not in seen["documentNumber"]
        else:
            assert seen["legalName"] is None and seen["documentNumber"] is None

    from sqlalchemy import select

    from hub.models import AccessLogEntry

    async def fields() -> list[list[str]]:
        async with hub.db.session() as s:
            stmt = select(AccessLogEntry.fields).where(
                AccessLogEntry.resource == "SexWorker",
                AccessLogEntry.purpose == "identity_validation",
            )
            return list((await s.execute(stmt)).scalars())

    logged = hub.run(fields())
    assert logged and all(f"identity({effect})" in f for f in logged)


def test_most_permissive_effect_per_row_wins(hub):
    """Two rules for the same role: the row matching both shows the field in full."""
    text = (ROOT / "policies" / "premises.yaml").read_text()
    text += """
  - name: police-see-addresses-only-as-zones-everywhere
    roles: [police_officer]
    purposes: [inspection]
    legal_basis: "test"
    actions: [read]
    fields: {"*": allow, address: generalize}
"""
    hub.app.state.hub.policies = _policies_with({"premises.yaml": text})
    data = hub.ok(
        "{ premises(first: 100) { edges { node { city zone address } } } }",
        as_="demo-police-antwerp",
        purpose="inspection",
    )
    nodes = [e["node"] for e in data["premises"]["edges"]]
    own = [n for n in nodes if n["city"] == "Antwerpen"]
    other = [n for n in nodes if n["city"] != "Antwerpen"]
    assert own and other
    assert all(n["address"] and n["address"] != n["zone"] for n in own)
    assert all(n["address"] == (n["zone"] or n["city"]) for n in other)


@pytest.mark.parametrize(
    ("resource", "fields", "message"),
    [
        ("Inspection", "{persons_checked: pseudonym}", "does not apply to persons_checked"),
        ("Inspection", '{"*": mask}', "* takes allow or deny"),
        ("Premises", "{kind: generalize}", "does not apply to kind"),
        ("Premises", "{operator: mask}", "does not apply to operator"),
        ("Premises", "{address: blur}", "unknown effect"),
    ],
)
def test_effects_that_do_not_fit_a_field_are_load_errors(resource, fields, message):
    doc = f"""resource: {resource}
rules:
  - name: r
    roles: [police_officer]
    purposes: [inspection]
    legal_basis: "test"
    fields: {fields}
"""
    with pytest.raises(PolicyError) as exc:
        parse_document(doc)
    assert message in str(exc.value)


def test_helpers():
    assert mask_text("AB1234567") == "•••••••67"
    assert mask_text("abc") == "•••"
    from datetime import date

    assert age_band(date(2000, 6, 1), date(2026, 5, 31)) == "25-34"
    assert age_band(date(2008, 1, 1), date(2026, 1, 1)) == "18-24"
