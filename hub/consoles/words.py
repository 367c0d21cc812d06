"""The hub's vocabulary in plain words, for people: roles and purposes as the pages name
them (translated by the catalogues like any other message)."""

from __future__ import annotations

from hub.i18n import N_

ROLE_NAMES: dict[str, str] = {
    "police_officer": N_("police officer"),
    "police_investigator": N_("police investigator"),
    "city_officer": N_("city licensing officer"),
    "city_enforcement": N_("city enforcement officer"),
    "city_analyst": N_("city analyst"),
    "ngo_worker": N_("NGO worker"),
    "operator": N_("operator of premises"),
    "sex_worker": N_("sex worker"),
    "privacy_officer": N_("privacy officer"),
    "worker_representative": N_("workers' representative"),
    "labour_inspector": N_("labour inspector"),
}

PURPOSE_NAMES: dict[str, str] = {
    "identity_validation": N_("identity check during a shift"),
    "inspection": N_("inspection of premises"),
    "investigation": N_("criminal investigation"),
    "licensing": N_("licensing of premises"),
    "enforcement": N_("administrative enforcement"),
    "care": N_("care and support"),
    "safety_alerting": N_("safety warnings"),
    "statistics": N_("statistics"),
    "self_service": N_("your own use"),
    "policy_administration": N_("policy administration"),
    "labour_inspection": N_("labour inspection"),
}
