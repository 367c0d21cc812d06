"""The demo's API clients: one per role, so every role can be tried with a ready token."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlmodel import col

from hub.auth.clients import register_client
from hub.auth.controllers import DataControllers
from hub.db import Database
from hub.demo import DemoData
from hub.models import ApiClient, Organisation
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
        "demo-utsopi", "utsopi", ("worker_representative",), ("policy_administration",),
        "{ me { roles purposes } }", "policy_administration",
    ),
)  # fmt: skip


async def ensure_demo_clients(
    db: Database, demo: DemoData, controllers: DataControllers | None = None
) -> dict[str, str | None]:
    """Register the demo clients that do not exist yet; return their new secrets (or None).
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
    return secrets
