"""The closed vocabularies of roles, purposes and principal variables (DESIGN.md)."""

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
    }
)
