"""The one rule for characters that no text the hub stores or checks may hold."""

from __future__ import annotations

import unicodedata


def hidden(ch: str, allowed: str = "") -> bool:
    """A control character or an invisible format character, unless in `allowed`. The
    format characters include the bidi embeddings, overrides and isolates, which make a
    text read differently from what it holds (CVE-2021-42574, "Trojan Source")."""
    return unicodedata.category(ch) in ("Cc", "Cf") and ch not in allowed
