"""Field effects: pseudonym (per receiving organisation), generalize, mask; and the most
permissive effect among the rules matching a row."""

from __future__ import annotations

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
    text = (ROOT / "policies" / "sex_worker.yaml").read_text()
    text = text.replace(
        '    fields: {"*": allow, identity: deny}',
        f'    fields: {{"*": allow, identity: {effect}}}',
    )
    return {"sex_worker.yaml": text}


@pytest.mark.parametrize("effect", ["mask", "generalize"])
def test_identity_masked_or_generalized(hub, effect):
    hub.app.state.hub.policies = _policies_with(_identity_policy(effect))
    q = """{ shifts(first: 10) { edges { node { sexWorker { id identity {
            legalName birthDate nationality documentNumber ageBand } } } } } }"""
    full = hub.ok(q, as_="demo-police-antwerp", purpose="identity_validation")
    shown = hub.ok(q, as_="demo-police-antwerp", purpose="inspection")
    for a, b in zip(full["shifts"]["edges"], shown["shifts"]["edges"], strict=True):
        real, seen = a["node"]["sexWorker"]["identity"], b["node"]["sexWorker"]["identity"]
        assert seen["birthDate"] is None
        assert seen["nationality"] == real["nationality"]
        assert seen["ageBand"] == real["ageBand"]
        if effect == "mask":
            assert seen["legalName"] == " ".join(w[0] + "." for w in real["legalName"].split())
            assert seen["documentNumber"].endswith(real["documentNumber"][-2:])
            assert real["documentNumber"][:-2] not in seen["documentNumber"]
        else:
            assert seen["legalName"] is None and seen["documentNumber"] is None

    from sqlalchemy import select

    from hub.models import AccessLogEntry

    async def fields() -> list[list[str]]:
        async with hub.db.session() as s:
            stmt = select(AccessLogEntry.fields).where(
                AccessLogEntry.resource == "SexWorker", AccessLogEntry.purpose == "inspection"
            )
            return list((await s.execute(stmt)).scalars())

    assert [f"identity({effect})" in f for f in hub.run(fields())] == [True]


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
