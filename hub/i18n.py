"""The languages of the hub's pages: Dutch, French and English.

Messages are marked in Python with `_()` (or `N_()` where the translation happens later)
and in templates with `{{ _("...") }}`; English is the source text. The catalogues are
gettext .po files under hub/locales/<locale>/LC_MESSAGES/<domain>.po, one domain per area
of the pages (common, auth, console, me, graphiql), read and merged per locale when first needed:
there is no compile step, and a catalogue for another language is one more directory
(add it to LOCALES). tests/test_i18n.py fails when a marked message has no Dutch or French
translation.

Warnings from templates (hub/models/enums.py WarningTemplate) are shown in more languages
than the pages: WARNING_LOCALES adds Romanian, Bulgarian, Spanish, Portuguese and Hungarian,
whose catalogues hold the `warning` domain only (hub/locales/<locale>/LC_MESSAGES/
warning.po). Those translations were written for the hub and need review by native
speakers before they are relied on (docs/consoles.md).

Templates are rendered by one Jinja2 environment per (locale, template directories), with
autoescape on and the i18n extension's new-style gettext (placeholders by name, escaped),
plus `date`, `datetime` and `number` filters that format for the locale with Babel.
"""

from __future__ import annotations

from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_datetime
from babel.messages.pofile import read_po
from babel.numbers import format_currency, format_decimal
from babel.support import Translations

LOCALES: tuple[str, ...] = ("nl", "fr", "en")
DEFAULT_LOCALE = "nl"
LANGUAGE_NAMES = {"nl": "Nederlands", "fr": "Français", "en": "English"}
LOCALE_DIR = Path(__file__).parent / "locales"
SHARED_TEMPLATES = Path(__file__).parent / "templates"
# Dates on the pages are Belgian local time.
ZONE = ZoneInfo("Europe/Brussels")


def N_(message: str) -> str:  # noqa: N802 (the gettext convention)
    """Mark a message for the catalogue where it is translated later (at render time)."""
    return message


# The languages a warning template is shown in: the pages' own, and the languages many
# sex workers in Belgium read best. The extra ones have the `warning` domain only.
WARNING_LOCALES: tuple[str, ...] = (*LOCALES, "ro", "bg", "es", "pt", "hu")

# The text of each warning template (English: the source; the `warning` domain).
WARNING_TEMPLATES: dict[str, str] = {
    "dangerous_client": N_(
        "Warning: a dangerous client. A client was violent towards a sex worker. Be careful "
        "and let someone you trust know where you are."
    ),
    "robbery": N_(
        "Warning: robberies. There have been robberies at workplaces. Keep little cash with "
        "you and lock your door."
    ),
    "police_checks": N_(
        "Information: police checks. The police are checking workplaces in this area. You "
        "have the right to know the reason for a check, and an NGO can help you."
    ),
    "fake_police": N_(
        "Warning: fake police officers. People are posing as police to get money or "
        "services. Real police officers show their police card: ask to see it."
    ),
    "health_alert": N_(
        "Health alert: an infection is going round. Your NGO offers free and anonymous testing."
    ),
    "scam": N_(
        "Warning: scams. Fake bookings and fake payment messages are going round. Never "
        "send money or codes to anyone in advance."
    ),
}


def warning_locale(languages: list[str], fallback: str) -> str:
    """The first of a worker's languages (ISO 639-1, as the worker gave them) that warnings
    are shown in, else `fallback` (the page's locale)."""
    for code in languages:
        if isinstance(code, str):
            language = code.strip().lower().replace("_", "-").split("-")[0]
            if language in WARNING_LOCALES:
                return language
    return fallback


@cache
def _warning_catalogue(locale: str) -> dict[str, str]:
    path = LOCALE_DIR / locale / "LC_MESSAGES" / "warning.po"
    if not path.exists():
        return {}
    with path.open("rb") as f:
        catalog = read_po(f, locale=locale, domain="warning")
    return {
        str(m.id): m.string
        for m in catalog
        if m.id and not m.fuzzy and isinstance(m.string, str) and m.string
    }


def warning_text(template: str, locale: str) -> str:
    """A warning template's text in `locale` (one of WARNING_LOCALES); English when the
    catalogue lacks it. ValueError for an unknown template or locale."""
    if template not in WARNING_TEMPLATES:
        raise ValueError(f"unknown warning template: {template}")
    if locale not in WARNING_LOCALES:
        raise ValueError(f"unknown warning locale: {locale}")
    source = WARNING_TEMPLATES[template]
    return _warning_catalogue(locale).get(source, source)


def negotiate(accept_language: str | None, chosen: str | None = None) -> str:
    """The page's locale: the one the person chose (cookie, form, ui_locales), else the
    best of Accept-Language that the hub has, else Dutch."""
    if chosen in LOCALES:
        return chosen
    if accept_language:
        ranked: list[tuple[float, int, str]] = []
        for index, part in enumerate(accept_language.split(",")[:20]):
            tag, _, params = part.strip().partition(";")
            quality = 1.0
            if params.strip().startswith("q="):
                try:
                    quality = float(params.strip()[2:])
                except ValueError:
                    continue
            ranked.append((-quality, index, tag.strip().lower()))
        for quality, _index, tag in sorted(ranked):
            if quality >= 0:  # q=0 means "not this one"
                continue
            language = tag.split("-")[0]
            if language in LOCALES:
                return language
    return DEFAULT_LOCALE


@cache
def translations(locale: str) -> Translations:
    """Every domain's catalogue for the locale, merged (English: the source text)."""
    if locale not in LOCALES:
        raise ValueError(f"unknown locale: {locale}")
    merged = Translations()
    merged._catalog = {}
    # French counts 0 and 1 as singular; Dutch and English only 1.
    merged.plural = (lambda n: int(n > 1)) if locale == "fr" else (lambda n: int(n != 1))
    for po in sorted((LOCALE_DIR / locale / "LC_MESSAGES").glob("*.po")):
        with po.open("rb") as f:
            catalog = read_po(f, locale=locale, domain=po.stem)
        for message in catalog:
            if not message.id or message.fuzzy or not message.string:
                continue
            if isinstance(message.id, tuple):  # plural: (singular, plural) -> strings
                for i, text in enumerate(message.string):
                    if text:
                        merged._catalog[(message.id[0], i)] = text
            elif isinstance(message.string, str):
                merged._catalog[str(message.id)] = message.string
    return merged


def gettext(locale: str, message: str, **values: Any) -> str:
    """One message in the locale, with `%(name)s` placeholders filled."""
    text = translations(locale).gettext(message)
    return text % values if values else text


@cache
def environment(locale: str, *template_dirs: Path) -> jinja2.Environment:
    """The Jinja2 environment for pages in this locale: the given template directories
    first, then the shared layout (hub/templates)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([*template_dirs, SHARED_TEMPLATES]),
        autoescape=True,
        extensions=["jinja2.ext.i18n"],
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(translations(locale), newstyle=True)  # type: ignore[attr-defined]
    babel_locale = _babel_locale(locale)
    env.filters["date"] = lambda value, fmt="medium": _date(value, fmt, babel_locale)
    env.filters["datetime"] = lambda value, fmt="medium": _datetime(value, fmt, babel_locale)
    env.filters["number"] = lambda value: format_decimal(value, locale=babel_locale)
    env.filters["euros"] = lambda cents: format_currency(cents / 100, "EUR", locale=babel_locale)
    env.globals["locale"] = locale
    env.globals["locales"] = LOCALES
    env.globals["language_names"] = LANGUAGE_NAMES
    return env


def _babel_locale(locale: str) -> Locale:
    try:
        return Locale.parse({"nl": "nl_BE", "fr": "fr_BE", "en": "en_GB"}.get(locale, locale))
    except UnknownLocaleError:  # pragma: no cover (LOCALES are known)
        return Locale.parse("en")


def _parse(value: Any) -> Any:
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return value
    return value


def _date(value: Any, fmt: str, locale: Locale) -> str:
    value = _parse(value)
    if isinstance(value, datetime):
        value = value.astimezone(ZONE).date() if value.tzinfo else value.date()
    if isinstance(value, date):
        return format_date(value, fmt, locale=locale)
    return "" if value is None else str(value)


def _datetime(value: Any, fmt: str, locale: Locale) -> str:
    value = _parse(value)
    if isinstance(value, datetime):
        return format_datetime(value, fmt, tzinfo=ZONE, locale=locale)
    return "" if value is None else str(value)
