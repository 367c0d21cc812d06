"""The access matrix: who sees which records and which fields, for every demo role.

For every demo client (one per role), every purpose its token allows and every root field
that returns records, the test pages through the answer and checks EXACTLY which records
came back and how each field of each record (and of each related record) was shown.

The expectation is an oracle written from the hub's promises (docs/threat-model.md),
independent of the policy engine: plain Python rules over the seeded tables, read back
through the ORM. How to read it (for privacy officers): `ACCESS` below lists, per (role,
purpose), the record types that role may see for that purpose, which rows (a rule in one
line), and the fields NOT shown as stored:

- `deny`: the field is null and named in the response's `extensions.withheld`;
- `pseudonym`: a per-organisation pseudonym instead of the value;
- `generalize`: a coarser value (an address becomes its zone).

A type that is not listed for a (role, purpose) is refused: as a root it answers FORBIDDEN;
nested in another record it is null and named as withheld. `KNOWN_POLICY_GAPS` lists the
cells where the shipped policy (policies/*.yaml) does not yet do what the promises ask; those
are expected to fail (strict xfail) until the policy is fixed.

Below the matrix, explicit tests for what must never happen, as far as the API
can produce them.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import SQLModel, select

from hub.auth.clients import register_client
from hub.crypto import Keyring
from hub.demo_clients import DEMO_CLIENTS
from hub.models import (
    Alert,
    ApiClient,
    CareContact,
    Certificate,
    Consent,
    DataKey,
    EmploymentRelation,
    HelpdeskRequest,
    Inspection,
    Investigation,
    Measure,
    MeasureTransition,
    Organisation,
    Pairing,
    Participation,
    Premises,
    Referral,
    RentalAgreement,
    Report,
    ReportReply,
    ReportShare,
    SexWorker,
    ShiftRegistration,
    TraffickingSuspicion,
)
from hub.policy.vocabulary import PURPOSES

# --------------------------------------------------------------------------------------
# Who asks
# --------------------------------------------------------------------------------------

# Beside the demo's one client per role, a client for an NGO that RECEIVES referrals
# (Payoke), so that the receiving side of a referral is in the matrix too.
EXTRA_CLIENTS: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("matrix-ngo-payoke", "payoke", "ngo_worker", ("care", "safety_alerting")),
    # A Ghent operator the demo's self-registered worker paired with (and one it revoked).
    ("matrix-operator-gentse-vensters", "operator_gentse_vensters", "operator", ("self_service",)),
    # The union's helpdesk (Utsopi's NGO role), so that its own records are in the matrix.
    ("matrix-utsopi-helpdesk", "utsopi", "ngo_worker", ("care",)),
)

# The demo employer's employee, acting for themself: the worker's side of an employment.
EMPLOYEE_CLIENT = "matrix-employee"

CLIENT_PURPOSES: dict[str, tuple[str, ...]] = {
    **{c.client_id: c.purposes for c in DEMO_CLIENTS},
    **{cid: purposes for cid, _org, _role, purposes in EXTRA_CLIENTS},
    EMPLOYEE_CLIENT: ("self_service",),
}
CLIENTS = tuple(CLIENT_PURPOSES)


@dataclass(frozen=True)
class Who:
    """A client as the oracle sees it: read from the api_client and organisation tables."""

    client_id: str
    role: str
    org_id: str
    org_kind: str
    city: str | None
    purposes: frozenset[str]
    sex_worker_id: str | None


# --------------------------------------------------------------------------------------
# The seeded tables, read back once per backend
# --------------------------------------------------------------------------------------

# A private (home-based) workplace is added to the demo data, so that the address rules
# for home addresses are exercised. It has no suitability certificate, as in reality.
PRIVATE_ADDRESS = "Kerkstraat 101 bus 4"
PRIVATE_ZONE = "Seefhoek"

MODELS: dict[str, type[SQLModel]] = {
    "Organisation": Organisation,
    "Certificate": Certificate,
    "Premises": Premises,
    "SexWorker": SexWorker,
    "Shift": ShiftRegistration,
    "RentalAgreement": RentalAgreement,
    "Inspection": Inspection,
    "Measure": Measure,
    "Report": Report,
    "Alert": Alert,
    "CareContact": CareContact,
    "Referral": Referral,
    "Investigation": Investigation,
    "Participation": Participation,
    "Pairing": Pairing,
    "TraffickingSuspicion": TraffickingSuspicion,
    "HelpdeskRequest": HelpdeskRequest,
    "EmploymentRelation": EmploymentRelation,
}


@dataclass
class World:
    rows: dict[str, dict[str, Any]]  # GraphQL type -> id -> row
    certificate_of: dict[str, Any]  # premises id -> certificate row
    shares: dict[str, set[str]]  # report id -> organisation ids it was shared with
    replies: dict[str, list[Any]]  # report id -> replies
    transitions: dict[str, list[Any]]  # measure id -> transitions, in order
    data_keys: dict[str, bytes]  # sex worker id -> wrapped data key
    consents: list[Any]
    clients: dict[str, Who]
    keyring: Keyring
    now: datetime

    @property
    def premises(self) -> dict[str, Any]:
        return self.rows["Premises"]

    def lookup(self, type_name: str, column: str, key: str) -> Any:
        if type_name == "Certificate" and column == "premises_id":
            return self.certificate_of.get(key)
        assert column == "id"
        return self.rows[type_name].get(key)


async def _add_matrix_fixtures(hub: Any) -> None:
    demo = hub.demo
    async with hub.db.session() as s:
        s.add(
            Premises(
                address=PRIVATE_ADDRESS,
                city="Antwerpen",
                zone=PRIVATE_ZONE,
                kind="private",
                windows=0,
                operator_id=demo.organisation_ids["operator_vitrine_beheer"],
            )
        )
        await s.commit()
        for client_id, org, role, purposes in EXTRA_CLIENTS:
            await register_client(
                s,
                client_id=client_id,
                organisation_id=demo.organisation_ids[org],
                roles=[role],
                purposes=list(purposes),
            )
        worker_client = await s.get(ApiClient, "demo-worker")
        employee = (await s.execute(select(EmploymentRelation))).scalars().first()
        assert worker_client is not None and employee is not None
        await register_client(
            s,
            client_id=EMPLOYEE_CLIENT,
            organisation_id=worker_client.organisation_id,
            roles=["sex_worker"],
            purposes=["self_service"],
            sex_worker_id=employee.sex_worker_id,
        )


async def _load_world(hub: Any) -> World:
    loaded: dict[type[SQLModel], list[Any]] = {}
    async with hub.db.session() as s:
        tables = (ReportShare, ReportReply, MeasureTransition, DataKey, Consent)
        for model in (*MODELS.values(), *tables):
            loaded[model] = list((await s.execute(select(model))).scalars().all())
        api_clients = list((await s.execute(select(ApiClient))).scalars().all())
    rows = {t: {r.id: r for r in loaded[m]} for t, m in MODELS.items()}
    shares: dict[str, set[str]] = defaultdict(set)
    for sh in loaded[ReportShare]:
        shares[sh.report_id].add(sh.organisation_id)
    replies: dict[str, list[Any]] = defaultdict(list)
    for rp in sorted(loaded[ReportReply], key=lambda r: r.created_at):
        replies[rp.report_id].append(rp)
    transitions: dict[str, list[Any]] = defaultdict(list)
    for tr in sorted(loaded[MeasureTransition], key=lambda t: t.at):
        transitions[tr.measure_id].append(tr)
    clients = {}
    for c in api_clients:
        org = rows["Organisation"][c.organisation_id]
        (role,) = c.roles
        clients[c.client_id] = Who(
            c.client_id, role, org.id, org.kind, org.city, frozenset(c.purposes), c.sex_worker_id
        )
    return World(
        rows=rows,
        certificate_of={c.premises_id: c for c in loaded[Certificate]},
        shares=shares,
        replies=replies,
        transitions=transitions,
        data_keys={k.sex_worker_id: k.wrapped_key for k in loaded[DataKey]},
        consents=loaded[Consent],
        clients=clients,
        keyring=hub.app.state.hub.keyring,
        now=datetime.now(UTC),
    )


# --------------------------------------------------------------------------------------
# The oracle: which rows, in plain Python over the tables
# --------------------------------------------------------------------------------------

Rows = Callable[[World, Who, Any], bool]


def everything(w: World, who: Who, row: Any) -> bool:
    return True


def in_own_city(w: World, who: Who, row: Any) -> bool:
    """The record's city (or a sex worker's registered city) is the caller's city."""
    return bool(row.city == who.city)


def at_premises_in_own_city(w: World, who: Who, row: Any) -> bool:
    return bool(w.premises[row.premises_id].city == who.city)


def own_premises(w: World, who: Who, row: Any) -> bool:
    return bool(row.operator_id == who.org_id)


def at_own_premises(w: World, who: Who, row: Any) -> bool:
    return row.premises_id is not None and w.premises[row.premises_id].operator_id == who.org_id


def employed_by_own_employer(w: World, who: Who, row: Any) -> bool:
    """An employment relation of the caller's organisation, which is an employer (labour
    law of 2024): an operator of premises records none."""
    return bool(row.employer_id == who.org_id and who.org_kind == "employer")


def employee_of_own_employer(w: World, who: Who, row: Any) -> bool:
    """A worker the caller's organisation (an employer) employs or employed."""
    return any(
        employed_by_own_employer(w, who, e) and e.sex_worker_id == row.id
        for e in w.rows["EmploymentRelation"].values()
    )


def tenant_paired_or_employee(w: World, who: Who, row: Any) -> bool:
    """A tenant of the operator's premises, a worker paired with it, or (at an employer)
    its employee."""
    return tenant_or_paired_with_own_org(w, who, row) or employee_of_own_employer(w, who, row)


def tenant_of_own_premises(w: World, who: Who, row: Any) -> bool:
    """A worker who rents (or rented) a window on the operator's premises."""
    return any(
        r.sex_worker_id == row.id and w.premises[r.premises_id].operator_id == who.org_id
        for r in w.rows["RentalAgreement"].values()
    )


def the_worker_themself(w: World, who: Who, row: Any) -> bool:
    return bool(row.id == who.sex_worker_id)


def the_workers_own(w: World, who: Who, row: Any) -> bool:
    return bool(row.sex_worker_id == who.sex_worker_id)


def consented_to_own_ngo_for_care(w: World, who: Who, row: Any) -> bool:
    """The worker gave the caller's NGO a live consent for care covering the worker's record."""
    return any(
        c.sex_worker_id == row.id
        and c.grantee_id == who.org_id
        and c.purpose == "care"
        and c.scope in ("*", "SexWorker")
        and c.revoked_at is None
        for c in w.consents
    )


def participation_in_own_city_under_the_antwerp_police_code(w: World, who: Who, row: Any) -> bool:
    """Each city's police see their own city's participations, and only Antwerp's police
    (whose regime registers workers) any at all."""
    return bool(row.city == who.city == "Antwerpen")


def paired_with_own_org(w: World, who: Who, row: Any) -> bool:
    return bool(row.organisation_id == who.org_id)


def tenant_or_paired_with_own_org(w: World, who: Who, row: Any) -> bool:
    """A tenant of the operator's premises, or a worker whose pairing with the operator
    holds (not one the worker revoked)."""
    return tenant_of_own_premises(w, who, row) or any(
        p.sex_worker_id == row.id and p.organisation_id == who.org_id and p.status == "active"
        for p in w.rows["Pairing"].values()
    )


def shift_of_a_consenting_client(purpose: str) -> Rows:
    """Shifts of a worker who gave the caller's NGO a live consent for `purpose` covering
    the worker's shifts (outreach and safety check-ins)."""

    def rows(w: World, who: Who, row: Any) -> bool:
        return any(
            c.sex_worker_id == row.sex_worker_id
            and c.grantee_id == who.org_id
            and c.purpose == purpose
            and c.scope in ("*", "ShiftRegistration")
            and c.revoked_at is None
            for c in w.consents
        )

    return rows


# An NGO following a consenting client's shifts: when and where, and whose only as the
# worker's id sealed for the NGO, which its consent already shows (not the record).
SHIFT_TIMES_ONLY = {
    "sexWorker": "deny",
    "sexWorkerId": "allow",
    "rentalAgreementId": "deny",
    "createdAt": "deny",
    "validatedAt": "deny",
    "adultVerifiedOnSite": "deny",
}


def written_by_the_worker(w: World, who: Who, row: Any) -> bool:
    return row.author_id is not None and row.author_id == who.sex_worker_id


def the_workers_workplace(w: World, who: Who, row: Any) -> bool:
    """Premises where the worker has a shift or a rental."""
    return any(
        r.premises_id == row.id and r.sex_worker_id == who.sex_worker_id
        for t in ("Shift", "RentalAgreement")
        for r in w.rows[t].values()
    )


def shared_with_own_org(w: World, who: Who, row: Any) -> bool:
    """The report's author chose to share it with the caller's organisation."""
    return who.org_id in w.shares[row.id]


def recorded_by_own_ngo(w: World, who: Who, row: Any) -> bool:
    return bool(row.ngo_id == who.org_id)


def referred_from_or_to_own_ngo(w: World, who: Who, row: Any) -> bool:
    return who.org_id in (row.from_org_id, row.to_org_id)


def recorded_by_own_org(w: World, who: Who, row: Any) -> bool:
    """A trafficking suspicion stays with the police force or NGO that recorded it."""
    return bool(row.org_id == who.org_id)


def referred_by_own_org(w: World, who: Who, row: Any) -> bool:
    """The police see the referrals their own force made, no other."""
    return bool(row.from_org_id == who.org_id)


def received_by_own_union(w: World, who: Who, row: Any) -> bool:
    """The union's helpdesk requests, to the union only."""
    return bool(row.union_id == who.org_id)


def police_alert_in_own_city(w: World, who: Who, row: Any) -> bool:
    """Warnings in the city, except those addressed to NGOs only (unless the police issued
    them): a warning meant for NGOs is not the police's business."""
    return row.city == who.city and (row.audience != "ngos" or row.issued_by_id == who.org_id)


def ngo_alert_in_own_city(w: World, who: Who, row: Any) -> bool:
    """Warnings in the city for sex workers, NGOs or all partners (not police-only ones)."""
    return row.city == who.city and row.audience in ("sex_workers", "ngos", "all_partners")


def partner_alert_in_own_city(w: World, who: Who, row: Any) -> bool:
    return row.city == who.city and row.audience == "all_partners"


def live_sex_worker_alert_in_own_city(w: World, who: Who, row: Any) -> bool:
    return row.city == who.city and row.audience == "sex_workers" and row.valid_until > w.now


def held_by_own_org(w: World, who: Who, row: Any) -> bool:
    """A named case held by the caller's own police organisation."""
    return bool(row.police_org_id == who.org_id)


def held_by_police_of_own_city_for_a_police_dpo(w: World, who: Who, row: Any) -> bool:
    """A named case of a police organisation of the caller's city, for a police DPO."""
    holder = w.rows["Organisation"][row.police_org_id]
    return bool(who.org_kind == holder.kind == "police" and holder.city == who.city)


# --------------------------------------------------------------------------------------
# The oracle: which fields are not shown as stored
# --------------------------------------------------------------------------------------

ALLOW, DENY, PSEUDONYM, GENERALIZE = "allow", "deny", "pseudonym", "generalize"
Fields = dict[str, str] | Callable[[World, Who, Any], dict[str, str]]


def private_address_as_zone(w: World, who: Who, row: Any) -> dict[str, str]:
    """A home-based workplace is shown by its zone to all but the worker (guardrail
    private-address-as-zone)."""
    return {"address": GENERALIZE} if row.kind == "private" else {}


def at_premises_in_own_city_with_a_pandkalender(w: World, who: Who, row: Any) -> bool:
    """Rentals and shifts in the caller's city where its regime keeps a pandkalender
    (Antwerp's; Ghent keeps none)."""
    return at_premises_in_own_city(w, who, row) and who.city == "Antwerpen"


def identity_only_during_a_shift(w: World, who: Who, row: Any) -> dict[str, str]:
    """The identity only of a worker with a live shift in the caller's city that is in
    progress (from an hour before its start to its end): no standing identity register."""
    at_work = row.city == "Antwerpen" and any(
        s.sex_worker_id == row.id
        and s.status in ("registered", "validated")
        and w.premises[s.premises_id].city == who.city
        and s.starts_at - timedelta(hours=1) <= w.now <= s.ends_at
        for s in w.rows["Shift"].values()
    )
    return {} if at_work else {"identity": DENY}


def identity_only_during_a_shift_no_gender(w: World, who: Who, row: Any) -> dict[str, str]:
    """The same, and never the gender the worker declared: the worker's alone, at work or
    not."""
    return {**identity_only_during_a_shift(w, who, row), "gender": DENY}


def private_address_generalized(w: World, who: Who, row: Any) -> dict[str, str]:
    """NGOs see a home-based workplace only by its zone, and not who operates it."""
    return {"address": GENERALIZE, "operator": DENY} if row.kind == "private" else {}


def client_ref_only_for_referring_ngo(w: World, who: Who, row: Any) -> dict[str, str]:
    """The NGO-local client reference stays with the NGO that referred the client."""
    return {} if row.from_org_id == who.org_id else {"clientRef": DENY}


@dataclass(frozen=True)
class See:
    rows: Rows
    fields: Fields = field(default_factory=dict)

    def effects(self, w: World, who: Who, row: Any) -> dict[str, str]:
        return self.fields(w, who, row) if callable(self.fields) else self.fields


def see(rows: Rows, **fields: str) -> See:
    return See(rows, fields)


DIRECTORY = see(everything)  # the partner directory: names of organisations, no people
# A worker's self-declared gender is shown to the worker alone (guardrail
# gender-only-to-the-worker): every other view of a worker denies it.
NO_IDENTITY = {"identity": DENY, "gender": DENY}
WORKING_NAME_ONLY = {
    "identity": DENY,
    "adultVerified": DENY,
    "city": DENY,
    "createdAt": DENY,
    "gender": DENY,
}  # workingName and languages remain

# (role, purpose) -> {GraphQL type: which rows, which fields}. Anything not listed: refused.
ACCESS: dict[tuple[str, str], dict[str, See]] = {
    # Local police, validating identities on site: the pandkalender of their city, with the
    # identities of the workers registered in their city.
    ("police_officer", "identity_validation"): {
        "Organisation": DIRECTORY,
        "Premises": See(in_own_city, private_address_as_zone),
        "Certificate": see(at_premises_in_own_city),
        "Shift": see(at_premises_in_own_city_with_a_pandkalender),
        "RentalAgreement": see(at_premises_in_own_city_with_a_pandkalender),
        "SexWorker": See(in_own_city, identity_only_during_a_shift_no_gender),
        "Participation": see(participation_in_own_city_under_the_antwerp_police_code),
    },
    # Local police, inspecting: the same without identities; inspections and measures of
    # their city (no fine amounts, no procedure); reports their zone was chosen for.
    ("police_officer", "inspection"): {
        "Organisation": DIRECTORY,
        "Premises": See(in_own_city, private_address_as_zone),
        "Certificate": see(at_premises_in_own_city),
        "Shift": see(at_premises_in_own_city_with_a_pandkalender),
        "RentalAgreement": see(at_premises_in_own_city_with_a_pandkalender),
        "SexWorker": see(in_own_city, **NO_IDENTITY),
        "Inspection": see(in_own_city),
        "Measure": see(in_own_city, amountCents=DENY, transitions=DENY, targetName=DENY),
        "Participation": see(participation_in_own_city_under_the_antwerp_police_code),
        "TraffickingSuspicion": see(recorded_by_own_org),
        "Referral": see(referred_by_own_org),
    },
    # Local police, warning and answering reports: no pandkalender, no workers.
    ("police_officer", "safety_alerting"): {
        "Organisation": DIRECTORY,
        "Report": see(shared_with_own_org),
        "Alert": see(police_alert_in_own_city),
    },
    # Federal investigators: the cases of their own organisation. Identities only for a
    # named case: a request stating an open case naming the worker (Hub-Case header); the
    # matrix states none, so it sees none (tests/test_investigations.py states them).
    ("police_investigator", "investigation"): {
        "Organisation": DIRECTORY,
        "Premises": See(in_own_city, private_address_as_zone),
        "SexWorker": see(in_own_city, **NO_IDENTITY),
        "Inspection": see(in_own_city),
        "Investigation": see(held_by_own_org),
        "TraffickingSuspicion": see(recorded_by_own_org),
        "Referral": see(referred_by_own_org),
    },
    # City prostitution officer: premises, certificates, measures; occupancy without people
    # (the worker is a per-organisation pseudonym, never a record).
    ("city_officer", "licensing"): {
        "Organisation": DIRECTORY,
        "Premises": See(in_own_city, private_address_as_zone),
        "Certificate": see(at_premises_in_own_city),
        "Shift": see(
            at_premises_in_own_city,
            sexWorker=DENY,
            sexWorkerId=PSEUDONYM,
            rentalAgreementId=DENY,
        ),
        "RentalAgreement": see(at_premises_in_own_city, sexWorker=DENY, sexWorkerId=PSEUDONYM),
        "Inspection": see(in_own_city),
        "Measure": see(in_own_city, targetName=DENY),
        "Alert": see(partner_alert_in_own_city),
    },
    # City administrative enforcement: measures and what they rest on; no people.
    ("city_enforcement", "enforcement"): {
        "Organisation": DIRECTORY,
        "Premises": See(in_own_city, private_address_as_zone),
        "Certificate": see(at_premises_in_own_city),
        "Inspection": see(in_own_city),
        "Measure": see(in_own_city),
        "Alert": see(partner_alert_in_own_city),
    },
    # City study service: aggregates only (indicators), no records at all.
    ("city_analyst", "statistics"): {"Organisation": DIRECTORY},
    # NGOs: their own care contacts and referrals, reports shared with them, warnings to
    # pass on, business premises for outreach (a home address only as its zone).
    # With the worker's consent (for care), an NGO also knows a client's working name and languages.
    ("ngo_worker", "care"): {
        "Organisation": DIRECTORY,
        "Premises": See(in_own_city, private_address_generalized),
        "SexWorker": see(consented_to_own_ngo_for_care, **WORKING_NAME_ONLY),
        "Shift": see(shift_of_a_consenting_client("care"), **SHIFT_TIMES_ONLY),
        "Report": see(shared_with_own_org),
        "Alert": see(ngo_alert_in_own_city),
        "CareContact": see(recorded_by_own_ngo),
        "Referral": See(referred_from_or_to_own_ngo, client_ref_only_for_referring_ngo),
        "TraffickingSuspicion": see(recorded_by_own_org),
        "HelpdeskRequest": see(received_by_own_union),
    },
    ("ngo_worker", "safety_alerting"): {
        "Organisation": DIRECTORY,
        "Premises": See(in_own_city, private_address_generalized),
        "Report": see(shared_with_own_org),
        "Alert": see(ngo_alert_in_own_city),
    },
    # Operators: their own premises, the rentals and shifts on them, measures against them,
    # and only the working name (and languages) of their own tenants.
    ("operator", "self_service"): {
        "Organisation": DIRECTORY,
        "Premises": See(own_premises, private_address_as_zone),
        "Certificate": see(at_own_premises),
        "Shift": see(at_own_premises),
        "RentalAgreement": see(at_own_premises),
        "SexWorker": see(tenant_paired_or_employee, **WORKING_NAME_ONLY),
        "Measure": see(at_own_premises, targetName=DENY),
        "Pairing": see(paired_with_own_org),
        # An employer (labour law of 2024): the employment of its own employees.
        "EmploymentRelation": see(employed_by_own_employer),
    },
    # A sex worker: everything registered about them, their workplaces, their own (named)
    # reports, and live warnings for sex workers in their city (not who issued them).
    ("sex_worker", "self_service"): {
        "Organisation": DIRECTORY,
        "Premises": see(the_workers_workplace),
        "Shift": see(the_workers_own),
        "RentalAgreement": see(the_workers_own),
        "SexWorker": see(the_worker_themself),
        "Report": see(written_by_the_worker),
        "Alert": see(live_sex_worker_alert_in_own_city, issuedBy=DENY),
        "Participation": see(the_workers_own),
        "Pairing": see(the_workers_own),
        "EmploymentRelation": see(the_workers_own),
    },
    # The labour inspection: employers' recognition (in the directory) and every employment
    # relation, the employee only as a pseudonym; no person, workplace, care or report.
    ("labour_inspector", "labour_inspection"): {
        "Organisation": DIRECTORY,
        "EmploymentRelation": see(everything, sexWorker=DENY, sexWorkerId=PSEUDONYM),
    },
    # Privacy officers and the workers' union edit and approve policy: no raw personal data.
    # A police DPO oversees the named cases of its city's police (never the workers they
    # name: no SexWorker grant); a city's DPO reads no case.
    ("privacy_officer", "policy_administration"): {
        "Organisation": DIRECTORY,
        "Investigation": see(held_by_police_of_own_city_for_a_police_dpo),
    },
    ("worker_representative", "policy_administration"): {"Organisation": DIRECTORY},
}

# Cells where policies/*.yaml gives more (or less) than the oracle: expected to fail until
# the policy is fixed. Keep this list short and reported.
KNOWN_POLICY_GAPS: dict[tuple[str, str, str], str] = {}


# --------------------------------------------------------------------------------------
# The GraphQL side: types, their fields, the root fields
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rel:
    target: str  # GraphQL type of the related record
    key: str  # attribute of this row that holds the key
    column: str = "id"  # column of the related table the key matches


@dataclass(frozen=True)
class TypeSpec:
    scalars: tuple[str, ...]
    relations: dict[str, Rel] = field(default_factory=dict)
    lists: tuple[str, ...] = ()  # to-many fields checked against their own tables
    identity: bool = False


TYPES: dict[str, TypeSpec] = {
    "Organisation": TypeSpec(
        ("name", "kind", "city", "recognitionStatus", "recognitionNumber", "recognitionDecidedAt")
    ),
    "Certificate": TypeSpec(("status", "validFrom", "validUntil", "decision", "decidedAt")),
    "Premises": TypeSpec(
        ("address", "city", "zone", "kind", "windows"),
        {
            "operator": Rel("Organisation", "operator_id"),
            "certificate": Rel("Certificate", "id", "premises_id"),
        },
    ),
    "SexWorker": TypeSpec(
        ("workingName", "adultVerified", "languages", "city", "createdAt", "gender"),
        identity=True,
    ),
    "Shift": TypeSpec(
        (
            "window",
            "sexWorkerId",
            "rentalAgreementId",
            "startsAt",
            "endsAt",
            "status",
            "createdAt",
            "validatedAt",
            "adultVerifiedOnSite",
        ),
        {
            "premises": Rel("Premises", "premises_id"),
            "sexWorker": Rel("SexWorker", "sex_worker_id"),
        },
    ),
    "RentalAgreement": TypeSpec(
        (
            "window",
            "sexWorkerId",
            "startsAt",
            "endsAt",
            "confirmed",
            "confirmedAt",
            "createdAt",
            "rentCents",
            "rentPeriod",
            "depositCents",
            "currency",
        ),
        {
            "premises": Rel("Premises", "premises_id"),
            "sexWorker": Rel("SexWorker", "sex_worker_id"),
        },
    ),
    "EmploymentRelation": TypeSpec(
        ("contractKind", "startsOn", "endsOn", "createdAt", "endedAt", "sexWorkerId"),
        {
            "employer": Rel("Organisation", "employer_id"),
            "sexWorker": Rel("SexWorker", "sex_worker_id"),
        },
    ),
    "Inspection": TypeSpec(
        (
            "city",
            "zone",
            "branch",
            "occurredAt",
            "personsChecked",
            "outcome",
            "administrativeArrests",
            "judicialArrests",
            "hiddenForm",
            "proactive",
        ),
        {
            "premises": Rel("Premises", "premises_id"),
            "policeOrg": Rel("Organisation", "police_org_id"),
        },
    ),
    "Measure": TypeSpec(
        (
            "kind",
            "city",
            "targetSexWorkerId",
            "targetName",
            "status",
            "amountCents",
            "openedAt",
            "updatedAt",
        ),
        {"premises": Rel("Premises", "premises_id"), "organisation": Rel("Organisation", "org_id")},
        lists=("transitions",),
    ),
    "Report": TypeSpec(
        ("category", "text", "anonymous", "city", "status", "filedAt"),
        {"author": Rel("SexWorker", "author_id")},
        lists=("sharedWith", "replies"),
    ),
    "Alert": TypeSpec(
        (
            "audience",
            "city",
            "zone",
            "branch",
            "severity",
            "textNl",
            "textFr",
            "textEn",
            "validUntil",
            "issuedAt",
        ),
        {"issuedBy": Rel("Organisation", "issued_by_id")},
    ),
    "CareContact": TypeSpec(
        (
            "clientRef",
            "contactDate",
            "kind",
            "location",
            "branch",
            "city",
            "recordedAt",
            "request",
            "followUp",
            "followUpDate",
        ),
        {"ngo": Rel("Organisation", "ngo_id")},
    ),
    "Referral": TypeSpec(
        (
            "clientRef",
            "reason",
            "consent",
            "createdAt",
            "destination",
            "victimProtection",
            "protectionBasis",
        ),
        {
            "fromOrganisation": Rel("Organisation", "from_org_id"),
            "toOrganisation": Rel("Organisation", "to_org_id"),
        },
    ),
    "Investigation": TypeSpec(
        ("reference", "prosecutorOffice", "openedAt", "expiresAt", "closedAt", "updatedAt"),
        {
            "prosecutor": Rel("Organisation", "prosecutor_org_id"),
            "policeOrg": Rel("Organisation", "police_org_id"),
        },
    ),
    "Participation": TypeSpec(
        ("city", "regime", "how", "status", "startedAt", "endedAt", "sexWorkerId"),
        {"sexWorker": Rel("SexWorker", "sex_worker_id")},
    ),
    "Pairing": TypeSpec(
        ("status", "createdAt", "expiresAt", "redeemedAt", "revokedAt", "sexWorkerId"),
        {
            "sexWorker": Rel("SexWorker", "sex_worker_id"),
            "organisation": Rel("Organisation", "organisation_id"),
        },
    ),
    "TraffickingSuspicion": TypeSpec(
        ("indicators", "sexWorkerId", "clientRef", "status", "city", "recordedAt", "updatedAt"),
        {"organisation": Rel("Organisation", "org_id")},
    ),
    "HelpdeskRequest": TypeSpec(
        ("receivedOn", "topic", "channel", "status", "text", "recordedAt", "updatedAt"),
        {"union": Rel("Organisation", "union_id")},
    ),
}

LIST_SELECTIONS = {
    "transitions": "transitions { fromStatus toStatus note at }",
    "sharedWith": "sharedWith { id }",
    "replies": "replies { id text byReporter createdAt organisation { id } }",
}
IDENTITY_SELECTION = "identity { legalName birthDate nationality documentNumber }"


def selection(type_name: str, depth: int = 0) -> str:
    """Every field of the type, and of the records it relates to (one level deep: the
    relations of a related record are checked where that record is a root)."""
    spec = TYPES[type_name]
    parts = ["id", *spec.scalars]
    if spec.identity:
        parts.append(IDENTITY_SELECTION)
    parts += [LIST_SELECTIONS[f] for f in spec.lists]
    if depth < 1:
        parts += [f"{f} {{ {selection(r.target, depth + 1)} }}" for f, r in spec.relations.items()]
    return " ".join(parts)


@dataclass(frozen=True)
class Root:
    type_name: str
    shape: str  # "list", "connection" or "by_id"
    args: str = ""


ROOTS: dict[str, Root] = {
    "organisations": Root("Organisation", "list"),
    "premises": Root("Premises", "connection"),
    "shifts": Root("Shift", "connection"),
    "rentalAgreements": Root("RentalAgreement", "connection"),
    "sexWorker": Root("SexWorker", "by_id"),
    "inspections": Root("Inspection", "connection"),
    "measures": Root("Measure", "connection"),
    "reports": Root("Report", "connection"),
    # Expired warnings too: what a caller may see must not rest on the default filter.
    "alerts": Root("Alert", "list", "(activeOnly: false)"),
    "careContacts": Root("CareContact", "connection"),
    "referrals": Root("Referral", "connection"),
    "investigations": Root("Investigation", "connection"),
    "participations": Root("Participation", "list"),
    "pairings": Root("Pairing", "list"),
    "traffickingSuspicions": Root("TraffickingSuspicion", "connection"),
    "helpdeskRequests": Root("HelpdeskRequest", "connection"),
    "employmentRelations": Root("EmploymentRelation", "connection"),
}
PAGE = 100
ALIASES = 15  # the hub's alias limit: sexWorker(id) is asked for 15 ids per request
UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"


def root_query(root: str) -> str:
    r = ROOTS[root]
    sel = selection(r.type_name)
    if r.shape == "list":
        return f"{{ {root}{r.args} {{ {sel} }} }}"
    if r.shape == "connection":
        return (
            f"query($after: String) {{ {root}(first: {PAGE}, after: $after) "
            f"{{ edges {{ node {{ {sel} }} }} pageInfo {{ hasNextPage endCursor }} }} }}"
        )
    vars_ = ", ".join(f"$id{i}: ID!" for i in range(ALIASES))
    fields = " ".join(f"w{i}: sexWorker(id: $id{i}) {{ {sel} }}" for i in range(ALIASES))
    return f"query({vars_}) {{ {fields} }}"


# Queries that need a purpose but return nothing much: for the purpose checks.
PROBES: dict[str, str] = {
    root: (
        f'{{ sexWorker(id: "{UNKNOWN_ID}") {{ id }} }}'
        if r.shape == "by_id"
        else f"{{ {root}{r.args} {{ id }} }}"
        if r.shape == "list"
        else f"{{ {root}(first: 1) {{ edges {{ node {{ id }} }} }} }}"
    )
    for root, r in ROOTS.items()
}


@dataclass
class Page:
    nodes: list[dict[str, Any]]
    withheld: dict[str, list[str]]


@dataclass
class Outcome:
    error: str | None = None
    pages: list[Page] = field(default_factory=list)
    asked: list[str] = field(default_factory=list)  # the ids asked for, by sexWorker(id)

    @property
    def nodes(self) -> list[dict[str, Any]]:
        return [n for p in self.pages for n in p.nodes]


_OUTCOMES: dict[tuple[str, str, str, str], Outcome] = {}


def fetch(hub: Any, w: World, client: str, purpose: str, root: str) -> Outcome:
    """Everything `root` returns to `client` for `purpose`, all pages (cached per backend)."""
    key = (hub.url, client, purpose, root)
    if key in _OUTCOMES:
        return _OUTCOMES[key]
    query, shape = root_query(root), ROOTS[root].shape
    out = Outcome()
    requests: list[dict[str, Any]]
    if shape == "by_id":
        out.asked = sorted(w.rows["SexWorker"])
        chunks = [out.asked[i : i + ALIASES] for i in range(0, len(out.asked), ALIASES)]
        requests = [
            {f"id{i}": (chunk[i] if i < len(chunk) else UNKNOWN_ID) for i in range(ALIASES)}
            for chunk in chunks
        ]
    else:
        requests = [{}]
    while requests:
        variables = requests.pop(0)
        body = hub.gql(query, variables, as_=client, purpose=purpose)
        if body.get("errors"):
            codes = {e["extensions"]["code"] for e in body["errors"]}
            assert len(codes) == 1, body["errors"]
            out.error = codes.pop()
            out.pages = []
            break
        data = body["data"]
        withheld = body.get("extensions", {}).get("withheld", {})
        if shape == "list":
            out.pages.append(Page(data[root], withheld))
        elif shape == "by_id":
            out.pages.append(Page([n for n in data.values() if n is not None], withheld))
        else:
            conn = data[root]
            out.pages.append(Page([e["node"] for e in conn["edges"]], withheld))
            if conn["pageInfo"]["hasNextPage"]:
                requests.append({"after": conn["pageInfo"]["endCursor"]})
    _OUTCOMES[key] = out
    return out


# --------------------------------------------------------------------------------------
# Checking an answer against the oracle
# --------------------------------------------------------------------------------------


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def same(api: Any, db: Any) -> bool:
    """The API's JSON value and the column's value are the same value."""
    if db is None or api is None:
        return api is None and db is None
    if isinstance(db, list):  # a list of enum values (a suspicion's indicators)
        return isinstance(api, list) and len(api) == len(db) and all(map(same, api, db))
    if isinstance(db, datetime):
        return datetime.fromisoformat(api) == db
    if isinstance(db, date):
        return date.fromisoformat(api) == db
    if isinstance(db, str) and api != db:
        return bool(api == db.upper())  # enums: GraphQL names are the upper-cased values
    return bool(api == db)


class Checker:
    """Walks an answer, checking each record against the oracle for (client, purpose)."""

    def __init__(self, w: World, who: Who, purpose: str) -> None:
        self.w, self.who = w, who
        self.access = ACCESS.get((who.role, purpose), {})
        self.pseudonyms: dict[str, str] = {}

    def visible(self, type_name: str, row: Any) -> bool:
        s = self.access.get(type_name)
        return s is not None and s.rows(self.w, self.who, row)

    def expected_ids(self, type_name: str) -> set[str]:
        return {i for i, r in self.w.rows[type_name].items() if self.visible(type_name, r)}

    def check_page(self, type_name: str, page: Page) -> None:
        expected: dict[str, set[str]] = defaultdict(set)
        for node in page.nodes:
            self.node(type_name, node, expected, type_name)
        assert page.withheld == {t: sorted(f) for t, f in sorted(expected.items())}, (
            "extensions.withheld"
        )

    def node(
        self, type_name: str, node: dict[str, Any], withheld: dict[str, set[str]], path: str
    ) -> None:
        row = self.w.rows[type_name].get(node["id"])
        assert row is not None, f"{path}: unknown {type_name} {node['id']}"
        assert self.visible(type_name, row), f"{path}: {type_name} {row.id} must not be shown"
        effects = self.access[type_name].effects(self.w, self.who, row)
        spec = TYPES[type_name]
        for f in spec.scalars:
            self.scalar(type_name, f, effects.get(f, ALLOW), node[f], row, withheld, path)
        if spec.identity:
            self.identity(effects.get("identity", ALLOW), node["identity"], row, withheld, path)
        for f in spec.lists:
            if effects.get(f, ALLOW) == DENY:
                assert node[f] is None, f"{path}.{f} must be withheld"
                withheld[type_name].add(f)
            else:
                self.to_many(f, node[f], row, path)
        for f, rel in spec.relations.items():
            if f not in node:
                continue  # not selected this deep
            value, effect = node[f], effects.get(f, ALLOW)
            key = getattr(row, rel.key)
            target = None if key is None else self.w.lookup(rel.target, rel.column, key)
            if effect == DENY:
                assert value is None, f"{path}.{f} must be withheld"
                withheld[type_name].add(f)
            elif key is None:
                assert value is None, f"{path}.{f}: nothing to show"
            elif target is not None and self.visible(rel.target, target):
                assert value is not None, f"{path}.{f}: {rel.target} {target.id} must be shown"
                assert value["id"] == target.id, f"{path}.{f}: wrong {rel.target}"
                self.node(rel.target, value, withheld, f"{path}.{f}")
            else:
                # Not visible, or not there at all: both read as withheld, so that the
                # answer does not tell whether a record the caller may not see exists.
                assert value is None, f"{path}.{f} must be withheld"
                withheld[type_name].add(f)

    def scalar(
        self,
        type_name: str,
        f: str,
        effect: str,
        value: Any,
        row: Any,
        withheld: dict[str, set[str]],
        path: str,
    ) -> None:
        stored = getattr(row, snake(f))
        if (type_name, f) == ("Measure", "targetName") and stored is not None:
            # A client's or third party's name is stored sealed; shown, it is the plain name.
            stored = self.w.keyring.open_name(row.id, row.target_name_key, stored)
        where = f"{path}.{f} ({effect})"
        if effect == DENY:
            assert value is None, f"{where} must be null"
            withheld[type_name].add(f)
        elif effect == ALLOW:
            assert same(value, stored), f"{where}: {value!r} is not the stored {stored!r}"
        elif effect == PSEUDONYM:
            assert stored is None or (value and value.startswith("psn_") and value != stored), (
                f"{where}: {value!r} is no pseudonym"
            )
            if stored is not None:
                # One pseudonym per value for one organisation, so it can count and join.
                assert self.pseudonyms.setdefault(stored, value) == value, where
        elif effect == GENERALIZE:
            assert f == "address", f"no generalisation expected for {where}"
            assert value == (row.zone or row.city), f"{where}: {value!r} is not the zone"
        else:  # pragma: no cover - the table names no other effect
            raise AssertionError(f"unknown effect {effect}")

    def identity(
        self, effect: str, value: Any, row: Any, withheld: dict[str, set[str]], path: str
    ) -> None:
        if effect == DENY:
            assert value is None, f"{path}.identity must be null"
            withheld["SexWorker"].add("identity")
            return
        assert effect == ALLOW
        if row.identity is None or row.id not in self.w.data_keys:
            assert value is None, f"{path}.identity: nothing stored"
            return
        ident = self.w.keyring.decrypt(row.id, self.w.data_keys[row.id], row.identity)
        assert value == {
            "legalName": ident.legal_name,
            "birthDate": ident.birth_date,
            "nationality": ident.nationality,
            "documentNumber": ident.document_number,
        }, f"{path}.identity is not the registered one"

    def to_many(self, f: str, value: Any, row: Any, path: str) -> None:
        if f == "transitions":
            stored = self.w.transitions[row.id]
            got = [(t["fromStatus"], t["toStatus"], t["note"]) for t in value]
            want = [
                (t.from_status.upper() if t.from_status else None, t.to_status.upper(), t.note)
                for t in stored
            ]
            assert got == want, f"{path}.transitions"
        elif f == "sharedWith":
            assert {o["id"] for o in value} == self.w.shares[row.id], f"{path}.sharedWith"
        elif f == "replies":
            # The author reads every answer; an organisation reads the reporter's and its
            # own, never another organisation's (no case notes passed between partners).
            stored = [
                r
                for r in self.w.replies[row.id]
                if (row.author_id is not None and row.author_id == self.who.sex_worker_id)
                or r.by_reporter
                or r.author_org_id == self.who.org_id
            ]
            assert [r["id"] for r in value] == [r.id for r in stored], f"{path}.replies"
            for got, want in zip(value, stored, strict=True):
                assert got["text"] == want.text and got["byReporter"] == want.by_reporter
                org = got["organisation"]
                assert (org and org["id"]) == want.author_org_id, f"{path}.replies.organisation"


# --------------------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def world(demo_hub: Any) -> World:
    demo_hub.run(_add_matrix_fixtures(demo_hub))
    return demo_hub.run(_load_world(demo_hub))  # type: ignore[no-any-return]


# --------------------------------------------------------------------------------------
# The matrix
# --------------------------------------------------------------------------------------


def _matrix_params() -> Iterable[Any]:
    for client in CLIENTS:
        for purpose in CLIENT_PURPOSES[client]:
            for root in ROOTS:
                gap = KNOWN_POLICY_GAPS.get((client, purpose, root))
                marks = [pytest.mark.xfail(strict=True, reason=gap)] if gap else []
                yield pytest.param(
                    client, purpose, root, id=f"{client}-{purpose}-{root}", marks=marks
                )


@pytest.mark.parametrize(("client", "purpose", "root"), list(_matrix_params()))
def test_access_matrix(demo_hub: Any, world: World, client: str, purpose: str, root: str) -> None:
    who = world.clients[client]
    check = Checker(world, who, purpose)
    type_name = ROOTS[root].type_name
    out = fetch(demo_hub, world, client, purpose, root)
    if type_name not in check.access:
        assert out.error == "FORBIDDEN", f"{who.role}/{purpose} must not read {root}"
        return
    assert out.error is None, f"{who.role}/{purpose} may read {root}, got {out.error}"
    got = [n["id"] for n in out.nodes]
    assert len(got) == len(set(got)), "a record came back twice while paging"
    expected = check.expected_ids(type_name)
    if ROOTS[root].shape == "by_id":
        expected &= set(out.asked)
    assert set(got) == expected, (
        f"{root}: {len(set(got) - expected)} shown that must not be, "
        f"{len(expected - set(got))} missing"
    )
    for page in out.pages:
        check.check_page(type_name, page)


def test_matrix_covers_every_role_and_the_oracle_is_not_empty(world: World) -> None:
    """Every role of the demo is in the matrix, every purpose of every token has a row in
    ACCESS, and every cell of ACCESS selects something in the data for at least one client
    (a rule that selects nothing would test nothing)."""
    assert {world.clients[c].role for c in CLIENTS} == {r for r, _p in ACCESS}
    selects: dict[tuple[str, str, str], bool] = defaultdict(bool)
    for client in CLIENTS:
        who = world.clients[client]
        for purpose in CLIENT_PURPOSES[client]:
            assert (who.role, purpose) in ACCESS, (client, purpose)
            check = Checker(world, who, purpose)
            for type_name in check.access:
                selects[who.role, purpose, type_name] |= bool(check.expected_ids(type_name))
    assert [cell for cell, some in selects.items() if not some] == []


# --------------------------------------------------------------------------------------
# What must never happen (docs/threat-model.md)
# --------------------------------------------------------------------------------------


def _sex_worker_nodes(root: str, nodes: list[dict[str, Any]]) -> Iterable[dict[str, Any]]:
    for n in nodes:
        if root == "sexWorker":
            yield n
        for f in ("sexWorker", "author"):
            if n.get(f):
                yield n[f]


def _purposes(client: str) -> tuple[str, ...]:
    return CLIENT_PURPOSES[client]


@pytest.mark.parametrize("client", CLIENTS)
def test_outing_identity_only_during_a_shift_or_to_the_worker(
    demo_hub: Any, world: World, client: str
) -> None:
    """An identity is shown only to the local police validating identities in their city
    during the worker's shift, or to the worker; never to an investigator without a named
    case, never anywhere else, for no purpose."""
    who = world.clients[client]
    for purpose in _purposes(client):
        for root in ROOTS:
            out = fetch(demo_hub, world, client, purpose, root)
            for sw in _sex_worker_nodes(root, out.nodes):
                if sw.get("identity") is None:
                    continue
                worker = world.rows["SexWorker"][sw["id"]]
                assert (
                    who.role == "police_officer"
                    and purpose == "identity_validation"
                    and worker.city == who.city
                    and not identity_only_during_a_shift(world, who, worker)
                ) or (who.role == "sex_worker" and worker.id == who.sex_worker_id), (
                    f"{client}/{purpose} sees the identity of {worker.id} via {root}"
                )


@pytest.mark.parametrize("client", CLIENTS)
def test_outing_gender_only_to_the_worker(demo_hub: Any, world: World, client: str) -> None:
    """A worker's self-declared gender is shown to the worker alone: to no role, for no
    purpose, through no root (the demo declares one for many of its workers)."""
    who = world.clients[client]
    assert any(w.gender for w in world.rows["SexWorker"].values())
    for purpose in _purposes(client):
        for root in ROOTS:
            out = fetch(demo_hub, world, client, purpose, root)
            for sw in _sex_worker_nodes(root, out.nodes):
                if sw.get("gender") is None:
                    continue
                worker = world.rows["SexWorker"][sw["id"]]
                assert who.role == "sex_worker" and worker.id == who.sex_worker_id, (
                    f"{client}/{purpose} sees the gender of {worker.id} via {root}"
                )


@pytest.mark.parametrize("client", CLIENTS)
def test_outing_working_name_never_tied_to_identity_elsewhere(
    demo_hub: Any, world: World, client: str
) -> None:
    """Wherever a working name comes with a legal name, it is the right pair: the identity
    shown is that worker's own, decrypted from the worker's record."""
    for purpose in _purposes(client):
        for root in ("shifts", "rentalAgreements", "sexWorker", "reports"):
            out = fetch(demo_hub, world, client, purpose, root)
            for sw in _sex_worker_nodes(root, out.nodes):
                if sw.get("identity") is None:
                    continue
                row = world.rows["SexWorker"][sw["id"]]
                ident = world.keyring.decrypt(row.id, world.data_keys[row.id], row.identity)
                assert sw["identity"]["legalName"] == ident.legal_name
                assert sw["workingName"] in (None, row.working_name)


def test_city_sees_occupancy_as_one_stable_pseudonym_per_worker(
    demo_hub: Any, world: World
) -> None:
    """The city officer counts who works where without learning who: each worker is one
    pseudonym across shifts and rentals, never the worker's id, and two workers never share one."""
    by_worker: dict[str, set[str]] = defaultdict(set)
    for root, type_name in (("shifts", "Shift"), ("rentalAgreements", "RentalAgreement")):
        out = fetch(demo_hub, world, "demo-city-antwerp", "licensing", root)
        assert out.nodes
        for n in out.nodes:
            assert n["sexWorker"] is None
            by_worker[world.rows[type_name][n["id"]].sex_worker_id].add(n["sexWorkerId"])
    assert all(len(p) == 1 for p in by_worker.values())
    pseudonyms = [next(iter(p)) for p in by_worker.values()]
    assert len(set(pseudonyms)) == len(pseudonyms)
    assert not set(pseudonyms) & set(world.rows["SexWorker"])


@pytest.mark.parametrize("client", CLIENTS)
def test_care_contacts_never_leave_their_ngo(demo_hub: Any, world: World, client: str) -> None:
    """No care contact reaches police, city or another NGO: only the NGO that recorded it
    reads it; a receiving NGO never learns the referring NGO's client reference."""
    who = world.clients[client]
    for purpose in _purposes(client):
        care = fetch(demo_hub, world, client, purpose, "careContacts")
        if who.role != "ngo_worker" or purpose != "care":
            assert care.error == "FORBIDDEN", f"{client}/{purpose} reads care contacts"
            continue
        got = {n["id"] for n in care.nodes}
        own = {c.id for c in world.rows["CareContact"].values() if c.ngo_id == who.org_id}
        assert got == own
        assert all(n["ngo"]["id"] == who.org_id for n in care.nodes)
        referrals = fetch(demo_hub, world, client, purpose, "referrals")
        for n in referrals.nodes:
            ref = world.rows["Referral"][n["id"]]
            if ref.from_org_id != who.org_id:
                assert n["clientRef"] is None, "a receiving NGO sees the client reference"
    # And the receiving side is really in the matrix: Payoke receives referrals.
    payoke = world.clients["matrix-ngo-payoke"].org_id
    assert any(r.to_org_id == payoke for r in world.rows["Referral"].values())


@pytest.mark.parametrize("client", CLIENTS)
def test_reports_reach_only_organisations_they_were_shared_with(
    demo_hub: Any, world: World, client: str
) -> None:
    """A report reaches an organisation only if its author shared it with that organisation
    (or it is the author's own); no role reads reports by city, zone or any other route."""
    who = world.clients[client]
    for purpose in _purposes(client):
        out = fetch(demo_hub, world, client, purpose, "reports")
        if out.error:
            assert out.error == "FORBIDDEN"
            continue
        for n in out.nodes:
            report = world.rows["Report"][n["id"]]
            assert who.org_id in world.shares[report.id] or (
                who.sex_worker_id is not None and report.author_id == who.sex_worker_id
            ), f"{client}/{purpose} reads report {report.id} not shared with it"


@pytest.mark.parametrize("client", CLIENTS)
def test_anonymous_reports_never_show_an_author(demo_hub: Any, world: World, client: str) -> None:
    anonymous = {r.id for r in world.rows["Report"].values() if r.anonymous}
    assert anonymous, "the demo has anonymous reports"
    # Stored without any link to the author, so no policy can ever show one.
    assert all(world.rows["Report"][i].author_id is None for i in anonymous)
    for purpose in _purposes(client):
        out = fetch(demo_hub, world, client, purpose, "reports")
        for n in out.nodes:
            if n["id"] in anonymous:
                assert n["anonymous"] is True
                assert n["author"] is None, f"{client}/{purpose} sees the author of {n['id']}"


def test_an_anonymous_report_filed_now_keeps_no_author(demo_hub: Any, world: World) -> None:
    """Filed through the API and read back by everyone it was shared with: no author, and
    no link to the author stored anywhere. (This one writes: the oracle's snapshot is refreshed.)"""
    orgs = demo_hub.demo.organisation_ids
    shared = [orgs["antwerp_police"], orgs["ghapro"]]
    try:
        filed = demo_hub.ok(
            "mutation($i: ReportInput!) { fileReport(input: $i) { id anonymous author { id } } }",
            {
                "i": {
                    "category": "VIOLENCE",
                    "text": "test",
                    "anonymous": True,
                    "sharedWith": shared,
                }
            },
            as_="demo-worker",
        )["fileReport"]
    finally:
        fresh = demo_hub.run(_load_world(demo_hub))
        world.__dict__.update(fresh.__dict__)
        for key in [k for k in _OUTCOMES if k[0] == demo_hub.url]:
            del _OUTCOMES[key]
    assert filed["anonymous"] is True and filed["author"] is None
    assert world.rows["Report"][filed["id"]].author_id is None
    q = "{ reports(first: 100) { edges { node { id author { id workingName } } } } }"
    for client, purpose in (
        ("demo-police-antwerp", "safety_alerting"),
        ("demo-ngo-ghapro", "care"),
    ):
        nodes = [e["node"] for e in demo_hub.ok(q, as_=client, purpose=purpose)["reports"]["edges"]]
        mine = [n for n in nodes if n["id"] == filed["id"]]
        assert len(mine) == 1, (client, purpose)
        assert mine[0]["author"] is None
    # Not shared with the Ghent police: they do not receive it at all.
    nodes = demo_hub.ok(q, as_="demo-police-ghent", purpose="safety_alerting")["reports"]["edges"]
    assert filed["id"] not in {e["node"]["id"] for e in nodes}


# Refusals are recorded in the access log (a durable write each), so the purpose checks
# below are chosen rather than exhaustive: the check sits before any policy lookup, the
# same for every root.


@pytest.mark.parametrize("client", CLIENTS)
def test_a_purpose_the_token_lacks_is_forbidden(demo_hub: Any, world: World, client: str) -> None:
    """Purpose binding: a token is used only for the purposes it names. Every purpose it
    lacks is refused on the partner directory, which the policy opens to every role and
    every purpose, so that only the purpose binding can refuse it."""
    for purpose in sorted(PURPOSES - set(CLIENT_PURPOSES[client])):
        code = demo_hub.error_code(PROBES["organisations"], as_=client, purpose=purpose)
        assert code == "FORBIDDEN", (client, purpose)


def test_a_purpose_the_token_lacks_is_forbidden_on_every_root(demo_hub: Any) -> None:
    """The local police token lacks `investigation` (the investigators' purpose, which
    opens identities): every root refuses it."""
    for root, probe in PROBES.items():
        code = demo_hub.error_code(probe, as_="demo-police-antwerp", purpose="investigation")
        assert code == "FORBIDDEN", root


def _one_root(client: str) -> str:
    """A different root for each client, so that across clients every root is tried."""
    return list(ROOTS)[CLIENTS.index(client) % len(ROOTS)]


@pytest.mark.parametrize("client", CLIENTS)
def test_an_unknown_purpose_is_bad_user_input(demo_hub: Any, world: World, client: str) -> None:
    code = demo_hub.error_code(PROBES[_one_root(client)], as_=client, purpose="marketing")
    assert code == "BAD_USER_INPUT"


def test_an_unknown_purpose_is_bad_user_input_on_every_root(demo_hub: Any) -> None:
    for root, probe in PROBES.items():
        code = demo_hub.error_code(probe, as_="demo-worker", purpose="Self_Service")
        assert code == "BAD_USER_INPUT", root


MULTI_PURPOSE = [c for c in CLIENTS if len(CLIENT_PURPOSES[c]) > 1]
SINGLE_PURPOSE = [c for c in CLIENTS if len(CLIENT_PURPOSES[c]) == 1]


def test_a_multi_purpose_token_must_state_its_purpose_on_every_root(demo_hub: Any) -> None:
    for root, probe in PROBES.items():
        code = demo_hub.error_code(probe, as_="demo-police-antwerp")
        assert code == "PURPOSE_REQUIRED", root


@pytest.mark.parametrize("client", MULTI_PURPOSE)
def test_a_multi_purpose_token_must_state_its_purpose(
    demo_hub: Any, world: World, client: str
) -> None:
    """Without Hub-Purpose a token with several purposes reads no data, but `me` works."""
    assert demo_hub.error_code(PROBES[_one_root(client)], as_=client) == "PURPOSE_REQUIRED"
    me = demo_hub.ok("{ me { roles purposes organisationId } }", as_=client)["me"]
    who = world.clients[client]
    assert me == {
        "roles": [who.role],
        "purposes": sorted(CLIENT_PURPOSES[client]),
        "organisationId": who.org_id,
    }


@pytest.mark.parametrize("client", SINGLE_PURPOSE)
def test_a_single_purpose_token_uses_its_only_purpose(
    demo_hub: Any, world: World, client: str
) -> None:
    """Without Hub-Purpose, a one-purpose token reads exactly what it reads with it."""
    (purpose,) = CLIENT_PURPOSES[client]
    check = Checker(world, world.clients[client], purpose)
    # The last root it may read (a personal-data root where it has one).
    root = [r for r, spec in ROOTS.items() if spec.type_name in check.access][-1]
    implicit = demo_hub.gql(PROBES[root], as_=client)
    explicit = demo_hub.gql(PROBES[root], as_=client, purpose=purpose)
    assert "errors" not in implicit
    assert implicit == explicit, root


def test_an_unknown_sex_worker_id_reads_as_null(demo_hub: Any) -> None:
    """An id sealed for the caller that names no record reads as null; an id that was
    never sealed for the caller (here a raw record id) is NOT_FOUND."""
    query = "query($id: ID!) { sexWorker(id: $id) { id } }"
    unknown = "00000000-0000-4000-8000-000000000000"
    police = {"as_": "demo-police-antwerp", "purpose": "inspection"}
    assert demo_hub.ok(query, {"id": unknown}, **police) == {"sexWorker": None}
    raw = demo_hub.gql(PROBES["sexWorker"], **police)
    assert [e["extensions"]["code"] for e in raw["errors"]] == ["NOT_FOUND"]


RESIDENCE = re.compile(
    r"residen|verblijf|sejour|séjour|immigra|migration|visa|permit|asylum|asiel|undocumented"
    r"|legal_?status|stay",
    re.IGNORECASE,
)


def test_no_residence_status_anywhere_in_the_schema(demo_hub: Any) -> None:
    """The hub does not store residence status: no type, field, argument, input field or
    enum value of the API names it, and no table column does."""
    body = demo_hub.ok(
        """{ __schema { types { name fields { name args { name } }
             inputFields { name } enumValues { name } } } }""",
        as_="demo-dpo-antwerp",
    )
    names: list[str] = []
    for t in body["__schema"]["types"]:
        if t["name"].startswith("__"):
            continue
        names.append(t["name"])
        for f in t["fields"] or []:
            names.append(f"{t['name']}.{f['name']}")
            names += [f"{t['name']}.{f['name']}({a['name']})" for a in f["args"]]
        names += [f"{t['name']}.{f['name']}" for f in t["inputFields"] or []]
        names += [f"{t['name']}.{v['name']}" for v in t["enumValues"] or []]
    assert "SexWorker.identity" in names  # the introspection did reach the personal data
    assert not [n for n in names if RESIDENCE.search(n)]
    columns = [
        f"{table.name}.{c.name}" for table in SQLModel.metadata.sorted_tables for c in table.columns
    ]
    assert "sex_worker.identity" in columns
    assert not [c for c in columns if RESIDENCE.search(c)]
    # Nor does the identity that is stored (encrypted) carry it.
    from hub.crypto import Identity

    assert not [f for f in Identity.__dataclass_fields__ if RESIDENCE.search(f)]


def test_no_trafficking_inference_and_no_reporter_in_warnings(demo_hub: Any) -> None:
    """Trafficking suspicion is never a property of a registered worker, and a warning has
    no way to point at a report or a reporter."""
    body = demo_hub.ok(
        """{ __schema { types { name fields { name type { name kind ofType { name
             ofType { name ofType { name } } } } } } } }""",
        as_="demo-dpo-antwerp",
    )
    types = {t["name"]: t for t in body["__schema"]["types"]}

    def field_types(t: dict[str, Any]) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        for f in t["fields"] or []:
            names, ty = set(), f["type"]
            while ty:
                names.add(ty["name"])
                ty = ty.get("ofType")
            out[f["name"]] = names - {None}
        return out

    for name in ("SexWorker", "SexWorkerIdentity"):
        assert not [
            f
            for f in field_types(types[name])
            if re.search(r"traffick|victim|suspic|risk|exploit", f, re.IGNORECASE)
        ], name
    alert = field_types(types["Alert"])
    assert not [f for f, ts in alert.items() if ts & {"Report", "SexWorker", "ReportReply"}]
    assert not [f for f in alert if re.search(r"report|author|worker", f, re.IGNORECASE)]
