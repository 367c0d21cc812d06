"""The partner directory as a document of the policy store: `policies/partners.yaml`, whose
first key is `resource: PartnerDirectory`, is versioned and approved like a policy. This
module only recognises it; hub/events/partners.py validates it (it knows the event types)."""

from __future__ import annotations

PARTNERS_RESOURCE = "PartnerDirectory"
PARTNERS_FILE = "partners.yaml"


def is_partner_document(text: str) -> bool:
    """Whether a text is the partner directory (cheap: its first key)."""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            return stripped.replace(" ", "") == f"resource:{PARTNERS_RESOURCE}"
    return False
