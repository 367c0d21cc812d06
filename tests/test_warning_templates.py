"""Warnings from templates: common kinds of warning with a text in Dutch, French, English,
Romanian, Bulgarian, Spanish, Portuguese and Hungarian, with optional free text; the
worker's /me/warnings shows them in the worker's language."""

from __future__ import annotations

import html
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from babel.messages.pofile import read_po

from hub.i18n import (
    LOCALE_DIR,
    WARNING_LOCALES,
    WARNING_TEMPLATES,
    warning_locale,
    warning_text,
)
from hub.models import SexWorker
from hub.models.enums import WarningTemplate
from tests.consoles import session_client

POLICE = "demo-police-antwerp"
WORKER = "demo-worker"
ISSUE = """mutation($input: AlertInput!) {
  issueAlert(input: $input) { id template textNl textEn severity } }"""
FREE_TEXT = "Near the station, a grey van."


def test_every_template_has_a_text_in_every_warning_language():
    assert set(WARNING_TEMPLATES) == {t.value for t in WarningTemplate}
    assert WARNING_LOCALES == ("nl", "fr", "en", "ro", "bg", "es", "pt", "hu")
    for locale in WARNING_LOCALES:
        path = LOCALE_DIR / locale / "LC_MESSAGES" / "warning.po"
        with path.open("rb") as f:
            ids = {m.id for m in read_po(f, locale=locale) if m.id}
        assert ids == set(WARNING_TEMPLATES.values()), locale  # nothing stale or missing
        texts = {warning_text(t, locale) for t in WARNING_TEMPLATES}
        assert len(texts) == len(WARNING_TEMPLATES), locale  # no two alike
        for template, source in WARNING_TEMPLATES.items():
            text = warning_text(template, locale)
            assert text and "%(" not in text
            assert (text == source) == (locale == "en"), (locale, template)
    with pytest.raises(ValueError):
        warning_text("dangerous_client", "de")
    with pytest.raises(ValueError):
        warning_text("invented", "nl")


@pytest.mark.parametrize(
    "languages, page, expected",
    [
        (["ro", "en"], "nl", "ro"),
        (["de", "pt-BR"], "nl", "pt"),
        (["BG"], "fr", "bg"),
        (["de", "ar"], "fr", "fr"),
        ([], "en", "en"),
    ],
)
def test_the_warning_language_is_the_first_of_the_workers_that_warnings_have(
    languages: list[str], page: str, expected: str
) -> None:
    assert warning_locale(languages, page) == expected


def _issue(hub: Any, **fields: Any) -> dict[str, Any]:
    until = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    variables = {"input": {"audience": "SEX_WORKERS", "severity": "DANGER", "validUntil": until}}
    variables["input"].update(fields)
    return hub.gql(ISSUE, variables, as_=POLICE, purpose="safety_alerting")


def test_a_warning_needs_a_template_or_a_dutch_text(demo_hub):
    body = _issue(demo_hub)
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "a template or a text in Dutch" in body["errors"][0]["message"]
    body = _issue(demo_hub, template="SCAM", textEn="Only English")
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "in Dutch first" in body["errors"][0]["message"]
    body = _issue(demo_hub, template="ROBBERY")
    assert "errors" not in body, body
    done = body["data"]["issueAlert"]
    assert done["template"] == "ROBBERY" and done["textNl"] is None


def _set_languages(hub: Any, worker_id: str, languages: list[str]) -> None:
    async def go() -> None:
        async with hub.db.session() as s:
            worker = await s.get(SexWorker, worker_id)
            assert worker is not None
            worker.languages = languages
            await s.commit()

    hub.run(go())


@pytest.fixture(scope="module")
def issued(demo_hub: Any) -> str:
    body = _issue(demo_hub, template="FAKE_POLICE", textNl="Bij het station.", textEn=FREE_TEXT)
    assert "errors" not in body, body
    return str(body["data"]["issueAlert"]["id"])


@pytest.mark.parametrize("locale", ["nl", "fr", "en", "ro", "bg", "es", "pt", "hu"])
def test_the_workers_warnings_page_shows_a_template_in_the_workers_language(
    demo_hub, issued, locale
):
    _set_languages(demo_hub, demo_hub.demo.sex_worker_ids[0], [locale])
    page = html.unescape(session_client(demo_hub, WORKER).get("/me/warnings").text)
    assert f'<p lang="{locale}">{warning_text("fake_police", locale)}</p>' in page
    others = [other for other in WARNING_LOCALES if other != locale]
    assert not any(warning_text("fake_police", other) in page for other in others)
    # The free text: Dutch for Dutch and French (as before), English for the others.
    assert ("Bij het station." if locale in ("nl", "fr") else FREE_TEXT) in page


def test_the_alert_table_matches_its_model(demo_hub):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlmodel import SQLModel

    async def diffs() -> list[Any]:
        async with demo_hub.db.engine.connect() as conn:
            return await conn.run_sync(  # type: ignore[no-any-return]
                lambda c: compare_metadata(
                    MigrationContext.configure(c, opts={"compare_type": True}), SQLModel.metadata
                )
            )

    assert [d for d in demo_hub.run(diffs()) if "'alert'" in repr(d) or "alert." in repr(d)] == []
