"""The closed vocabularies of roles, purposes and principal variables (docs/policy.md)."""

from __future__ import annotations

ROLES: frozenset[str] = frozenset(
    {
        "police_officer",
        "police_investigator",
        "city_officer",
        "city_enforcement",
        "city_analyst",
        "ngo_worker",
        "operator",
        "sex_worker",
        "privacy_officer",
        "worker_representative",
        "labour_inspector",
    }
)

PURPOSES: frozenset[str] = frozenset(
    {
        "identity_validation",
        "inspection",
        "investigation",
        "licensing",
        "enforcement",
        "care",
        "safety_alerting",
        "statistics",
        "self_service",
        "policy_administration",
        "labour_inspection",
    }
)

# Which organisation kinds (OrganisationKind values) may hold each role. A client, a token
# from the embedded issuer and a token from an external provider are all refused when one
# of their roles is not allowed at their organisation's kind: an NGO holds no police role,
# an operator no privacy officer. Roles missing here are allowed nowhere.
ROLE_ORGANISATION_KINDS: dict[str, frozenset[str]] = {
    "police_officer": frozenset({"police"}),
    "police_investigator": frozenset({"police"}),
    "city_officer": frozenset({"city"}),
    "city_enforcement": frozenset({"city"}),
    "city_analyst": frozenset({"city"}),
    # The union's helpdesk works as an NGO for its own requests.
    "ngo_worker": frozenset({"ngo", "union"}),
    # Recognised employers (erkende werkgevers, labour law of 2024) register shifts like
    # operators, and record their employees' employment.
    "operator": frozenset({"operator", "employer"}),
    # A worker's own client sits at the city's self-service platform (HookUp zelfbediening).
    "sex_worker": frozenset({"city"}),
    # The DPO of a city or police zone, and only at an organisation that
    # policies/controllers.yaml names as data controller (DATA_CONTROLLER_ROLES).
    "privacy_officer": frozenset({"city", "police"}),
    "worker_representative": frozenset({"union"}),
    # The federal labour inspection (FOD WASO - Toezicht op de Sociale Wetten) decides on
    # employers' recognition and checks employment; never identities (guardrail).
    "labour_inspector": frozenset({"labour_inspection"}),
}

# Roles that also need the organisation to be a data controller named in policy.
DATA_CONTROLLER_ROLES: frozenset[str] = frozenset({"privacy_officer"})

# Organisation kinds the table may name before OrganisationKind has them (none today).
PLANNED_ORGANISATION_KINDS: frozenset[str] = frozenset()

# Files of the policy directory that are not resource policy documents.
POLICY_DATA_FILES: frozenset[str] = frozenset({"partners.yaml", "controllers.yaml"})


def role_binding_errors(
    roles: frozenset[str] | set[str] | list[str], org_kind: str, *, data_controller: bool
) -> list[str]:
    """Why these roles may not be held at an organisation of this kind (empty: they may)."""
    errors = []
    for role in sorted(set(roles)):
        kinds = ROLE_ORGANISATION_KINDS.get(role, frozenset())
        if org_kind not in kinds:
            errors.append(f"role {role} is not held at organisations of kind {org_kind or '?'}")
        elif role in DATA_CONTROLLER_ROLES and not data_controller:
            errors.append(f"role {role} is held only at an organisation named as data controller")
    return errors
