"""Every message of the pages is in Dutch and French (and the catalogues hold nothing
stale): messages are extracted with Babel from hub/**.py (`_`, `N_`, `ngettext`, `lazy`)
and every template (`_()`, `ngettext()`), as `pybabel extract` would.

To add what is missing to one domain's catalogues (then translate the empty entries):
    .venv/bin/python -m tests.test_i18n <domain>      # common, auth, console, me
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

from hub.i18n import LOCALE_DIR, LOCALES, environment, negotiate, translations

HUB = Path(__file__).resolve().parent.parent / "hub"
KEYWORDS = {"_": None, "N_": None, "ngettext": (1, 2)}
METHODS = [
    ("**/vendor/**", "ignore"),
    ("**.py", "python"),
    ("**/templates/**.html", "jinja2.ext:babel_extract"),
]
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


def extracted() -> dict[str, tuple[str, ...] | str]:
    """msgid -> (singular, plural) or the msgid, with the first place it is used."""
    found: dict[str, tuple[str, ...] | str] = {}
    for filename, _lineno, message, _comments, _context in extract_from_dir(
        HUB, METHODS, keywords=KEYWORDS, options_map={"**/templates/**.html": {"trimmed": "1"}}
    ):
        if filename.startswith(("locales", "migrations")):
            continue
        key = message[0] if isinstance(message, tuple) else message
        if key:
            found.setdefault(key, message)
    return found


def catalogue(locale: str) -> dict[str, object]:
    out: dict[str, object] = {}
    for po in sorted((LOCALE_DIR / locale / "LC_MESSAGES").glob("*.po")):
        with po.open("rb") as f:
            for m in read_po(f, locale=locale):
                if m.id:
                    out[m.id[0] if isinstance(m.id, tuple) else m.id] = m.string
    return out


def _missing(locale: str) -> Iterator[str]:
    have = catalogue(locale)
    for msgid in extracted():
        string = have.get(msgid)
        if not string or (isinstance(string, tuple) and not all(string)):
            yield msgid


@pytest.mark.parametrize("locale", ["nl", "fr"])
def test_every_message_is_translated(locale: str) -> None:
    missing = sorted(_missing(locale))
    assert not missing, (
        f"{len(missing)} messages lack a {locale} translation (run "
        f"`python -m tests.test_i18n <domain>` and translate): {missing[:15]}"
    )


@pytest.mark.parametrize("locale", ["nl", "fr"])
def test_translations_keep_their_placeholders(locale: str) -> None:
    wrong = []
    for msgid, string in catalogue(locale).items():
        strings = string if isinstance(string, tuple) else (string,)
        for s in strings:
            if s and set(PLACEHOLDER.findall(str(s))) != set(PLACEHOLDER.findall(msgid)):
                wrong.append(msgid)
    assert not wrong, f"placeholders differ in {locale}: {wrong[:10]}"


def test_no_stale_messages_in_the_catalogues() -> None:
    used = set(extracted())
    for locale in LOCALES:
        stale = sorted(set(catalogue(locale)) - used)
        assert not stale, f"{locale} catalogues hold messages no page uses: {stale[:10]}"


def test_a_page_renders_in_each_language() -> None:
    seen = set()
    for locale in LOCALES:
        env = environment(locale)
        html = env.from_string('{% extends "base.html" %}').render(page=None, nav=[], path="/")
        assert f'<html lang="{locale}">' in html
        seen.add(re.search(r'class="skip"[^>]*>([^<]+)<', html).group(1))  # type: ignore[union-attr]
    assert len(seen) == 3, seen  # three different words for "Skip to content"


def test_french_counts_zero_as_singular() -> None:
    assert translations("fr").plural(0) == 0
    assert translations("nl").plural(0) == 1


@pytest.mark.parametrize(
    "header, chosen, expected",
    [
        ("fr-BE,fr;q=0.9,en;q=0.8", None, "fr"),
        ("de, en;q=0.5", None, "en"),
        ("en;q=0, fr;q=0.1", None, "fr"),
        (None, None, "nl"),
        ("xx;q=abc, fr", None, "fr"),
        ("fr", "en", "en"),
        ("fr", "de", "fr"),
    ],
)
def test_the_language_is_negotiated(header: str | None, chosen: str | None, expected: str) -> None:
    assert negotiate(header, chosen) == expected


def update(domain: str) -> None:
    """Add every extracted message that no catalogue of the locale has to `domain`'s."""
    for locale in LOCALES:
        path = LOCALE_DIR / locale / "LC_MESSAGES" / f"{domain}.po"
        if path.exists():
            with path.open("rb") as f:
                cat = read_po(f, locale=locale, domain=domain)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            cat = Catalog(locale=locale, domain=domain, project="hub")
        have = catalogue(locale)
        added = 0
        for msgid, message in extracted().items():
            if msgid not in have and msgid not in cat:
                cat.add(message, string=("", "") if isinstance(message, tuple) else "")
                added += 1
        with path.open("wb") as f:
            write_po(f, cat, width=100, omit_header=False, sort_output=False)
        print(f"{path.relative_to(HUB.parent)}: {added} added")


if __name__ == "__main__":
    update(sys.argv[1] if len(sys.argv) > 1 else "common")
