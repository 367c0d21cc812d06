"""The demo's API clients: one per role, so every role can be tried with a ready token; and
the demo's people, one per kind of console user, who log in at the embedded issuer.

The people's passwords are fixed (`demo-<username>-2026`) so that the demo's output, the
README and the browser tests can name them: they are for the demo only, and only `hub demo`
seeds them (with the clients), never `hub serve`. Two privacy officers (the City of
Antwerp's DPO and the Antwerp police zone's, both data controllers named in
policies/controllers.yaml) and the workers' representative can complete the four-eyes
approval of a policy change (hub/services/policy_changes.py) between them.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlmodel import col

from hub.auth.clients import DEFAULT_POLICY_DIR, register_client
from hub.auth.controllers import DataControllers
from hub.auth.people import add_person, find_person
from hub.db import Database
from hub.demo import DemoData
from hub.models import ApiClient, Organisation, SexWorker
from hub.models.enums import OrganisationKind

# Sex workers act for themselves; their clients belong to the city's self-service platform.
SELF_SERVICE_ORG = "HookUp Antwerpen – zelfbediening"


@dataclass(frozen=True)
class DemoClient:
    client_id: str
    organisation: str  # a DemoData.organisation_ids key, or "self_service"
    roles: tuple[str, ...]
    purposes: tuple[str, ...]
    example: str  # an example query for this role
    purpose: str  # the Hub-Purpose of the example
    sex_worker: bool = False


SHIFTS_WITH_IDENTITY = (
    "{ shifts(first: 5) { edges { node { startsAt window premises { address } "
    "sexWorker { workingName identity { legalName birthDate } } } } } }"
)

DEMO_CLIENTS: tuple[DemoClient, ...] = (
    DemoClient(
        "demo-police-antwerp", "antwerp_police", ("police_officer",),
        ("identity_validation", "inspection", "safety_alerting"),
        SHIFTS_WITH_IDENTITY, "identity_validation",
    ),
    DemoClient(
        "demo-police-ghent", "ghent_police", ("police_officer",),
        ("identity_validation", "inspection", "safety_alerting"),
        "{ inspections(first: 5) { edges { node { branch outcome personsChecked occurredAt } } } }",
        "inspection",
    ),
    DemoClient(
        "demo-investigator", "federal_police", ("police_investigator",), ("investigation",),
        "{ inspections(first: 5) { edges { node { branch outcome judicialArrests } } } }",
        "investigation",
    ),
    DemoClient(
        "demo-city-antwerp", "antwerp_city_licensing", ("city_officer",), ("licensing",),
        "{ shifts(first: 5) { edges { node { startsAt window premises { address } "
        "sexWorker { workingName } } } } }",
        "licensing",
    ),
    DemoClient(
        "demo-enforcement-antwerp", "antwerp_city_enforcement", ("city_enforcement",),
        ("enforcement",),
        "{ measures(first: 5) { edges { node { kind status amountCents "
        "transitions { toStatus at } } } } }",
        "enforcement",
    ),
    DemoClient(
        "demo-analyst-antwerp", "antwerp_study_service", ("city_analyst",), ("statistics",),
        "{ organisations { name kind } }", "statistics",
    ),
    DemoClient(
        "demo-ngo-ghapro", "ghapro", ("ngo_worker",), ("care", "safety_alerting"),
        "{ careContacts(first: 5) { edges { node { clientRef contactDate kind location } } } }",
        "care",
    ),
    DemoClient(
        "demo-ngo-violett", "violett", ("ngo_worker",), ("care", "safety_alerting"),
        "{ reports(first: 5) { edges { node { category text anonymous "
        "author { workingName } } } } }",
        "safety_alerting",
    ),
    DemoClient(
        "demo-operator", "operator_vitrine_beheer", ("operator",), ("self_service",),
        "{ shifts(first: 5) { edges { node { startsAt window status "
        "sexWorker { workingName identity { legalName } } } } } }",
        "self_service",
    ),
    DemoClient(
        "demo-worker", "self_service", ("sex_worker",), ("self_service",),
        "{ shifts(first: 5) { edges { node { startsAt premises { address } status } } } "
        "alerts { severity textNl validUntil } }",
        "self_service",
        sex_worker=True,
    ),
    DemoClient(
        "demo-dpo-antwerp", "antwerp_dpo", ("privacy_officer",), ("policy_administration",),
        "{ me { roles purposes } organisations { name } }", "policy_administration",
    ),
    DemoClient(
        "demo-dpo-police", "antwerp_police", ("privacy_officer",), ("policy_administration",),
        "{ investigations(first: 5) { edges { node { reference openedAt expiresAt } } } }",
        "policy_administration",
    ),
    DemoClient(
        "demo-utsopi", "utsopi", ("worker_representative",), ("policy_administration",),
        "{ me { roles purposes } }", "policy_administration",
    ),
    DemoClient(
        "demo-employer", "employer_noorderlicht", ("operator",), ("self_service",),
        "{ employmentRelations(first: 5) { edges { node { contractKind startsOn "
        "sexWorker { workingName } } } } }",
        "self_service",
    ),
    DemoClient(
        "demo-labour-inspector", "labour_inspection", ("labour_inspector",),
        ("labour_inspection",),
        "{ organisations { name kind recognitionStatus recognitionNumber } "
        "employmentRelations(first: 5) { edges { node { contractKind startsOn sexWorkerId "
        "employer { name } } } } }",
        "labour_inspection",
    ),
)  # fmt: skip


async def ensure_demo_clients(
    db: Database, demo: DemoData, controllers: DataControllers | None = None
) -> dict[str, str | None]:
    """Register the demo clients that do not exist yet, and add the demo people
    (DEMO_PEOPLE, below) likewise; return the clients' new secrets (or None).
    `controllers`: the data controllers of the policy directory in use (default ./policies)."""

    secrets: dict[str, str | None] = {}
    async with db.session() as session:
        self_org = (
            await session.execute(
                select(Organisation).where(col(Organisation.name) == SELF_SERVICE_ORG)
            )
        ).scalar_one_or_none()
        if self_org is None:
            self_org = Organisation(
                name=SELF_SERVICE_ORG, kind=OrganisationKind.CITY.value, city="Antwerpen"
            )
            session.add(self_org)
            await session.commit()
        for c in DEMO_CLIENTS:
            if await session.get(ApiClient, c.client_id) is not None:
                secrets[c.client_id] = None
                continue
            org = (
                self_org.id
                if c.organisation == "self_service"
                else demo.organisation_ids[c.organisation]
            )
            secrets[c.client_id] = await register_client(
                session,
                client_id=c.client_id,
                organisation_id=org,
                roles=list(c.roles),
                purposes=list(c.purposes),
                sex_worker_id=demo.sex_worker_ids[0] if c.sex_worker else None,
                controllers=controllers,
            )
        self_org_id = self_org.id
    if controllers is None:
        controllers = DataControllers.from_directory(DEFAULT_POLICY_DIR)
    await ensure_demo_people(db, demo, self_org_id, controllers)
    return secrets


# --- people -----------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoPerson:
    username: str
    name: str  # invented; the worker's is their working name in the demo data
    organisation: str  # a DemoData.organisation_ids key, or "self_service"
    roles: tuple[str, ...]
    purposes: tuple[str, ...]
    console: str  # the page they land on after login
    sees: str  # what they see there, for the demo's output
    sex_worker: bool = False
    locale: str | None = None
    worker_index: int = 0  # which of DemoData.sex_worker_ids, for a sex worker

    @property
    def password(self) -> str:
        """Demo only: fixed, printed by `hub demo` and used by the tests."""
        return f"demo-{self.username}-2026"


DEMO_PEOPLE: tuple[DemoPerson, ...] = (
    DemoPerson(
        "dpo-antwerpen", "Els Verhaegen", "antwerp_dpo", ("privacy_officer",),
        ("policy_administration",), "/console",
        "policies, proposals, approvals, access log (City of Antwerp DPO)",
    ),
    DemoPerson(
        "dpo-politie", "Karim Bouzid", "antwerp_police", ("privacy_officer",),
        ("policy_administration",), "/console",
        "the second privacy officer's approval (Antwerp police zone DPO)",
    ),
    DemoPerson(
        "utsopi", "Robin Claes", "utsopi", ("worker_representative",),
        ("policy_administration",), "/console",
        "approvals of changes about workers (Utsopi)",
    ),
    DemoPerson(
        "worker", "", "self_service", ("sex_worker",), ("self_service",), "/me",
        "own record, who read it and why, consents, reports (worker 0, Antwerp)",
        sex_worker=True,
    ),
    DemoPerson(
        "politie", "Jonas De Smet", "antwerp_police", ("police_officer",),
        ("identity_validation", "inspection", "safety_alerting"), "/account",
        "no console: the police work through the API (TOKEN_POLICE_ANTWERP above)",
    ),
    DemoPerson(
        "stad", "Lotte Wouters", "antwerp_city_licensing", ("city_officer",), ("licensing",),
        "/account", "no console: licensing works through the API (TOKEN_CITY_ANTWERP above)",
    ),
    DemoPerson(
        "ngo", "Amira El Idrissi", "ghapro", ("ngo_worker",), ("care", "safety_alerting"),
        "/care", "the workers who consented to Ghapro's care",
    ),
    DemoPerson(
        "werker-gent", "", "self_service", ("sex_worker",), ("self_service",), "/me/pairing",
        "a worker who registered themself in Ghent (no identity), paired with Gentse Vensters",
        sex_worker=True, worker_index=2,  # the demo's first worker of Ghent
    ),
    DemoPerson(
        "nieuw", "Sam", "self_service", ("sex_worker",), ("self_service",), "/me/register",
        "no worker record yet: registers themself in Ghent under a working name",
    ),
    DemoPerson(
        "inspectie", "Sofie Janssens", "labour_inspection", ("labour_inspector",),
        ("labour_inspection",), "/account",
        "no console: the labour inspection works through the API (TOKEN_LABOUR_INSPECTOR above)",
    ),
)  # fmt: skip


async def ensure_demo_people(
    db: Database, demo: DemoData, self_service_org: str, controllers: DataControllers
) -> list[str]:
    """Add the demo people who do not exist yet; return the usernames added."""
    added = []
    async with db.session() as session:
        for p in DEMO_PEOPLE:
            if await find_person(session, p.username) is not None:
                continue
            worker_id = demo.sex_worker_ids[p.worker_index] if p.sex_worker else None
            name = p.name
            if worker_id is not None:
                worker = (
                    await session.execute(select(SexWorker).where(col(SexWorker.id) == worker_id))
                ).scalar_one()
                name = worker.working_name
            org = (
                self_service_org
                if p.organisation == "self_service"
                else demo.organisation_ids[p.organisation]
            )
            await add_person(
                session,
                username=p.username,
                display_name=name,
                organisation_id=org,
                roles=p.roles,
                purposes=p.purposes,
                password=p.password,
                controllers=controllers,
                sex_worker_id=worker_id,
                locale=p.locale,
            )
            added.append(p.username)
    return added
