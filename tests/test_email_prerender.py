"""The pre-rendering cache of SurveyRenderer: the same output as rendering, escaped, invalidated."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import pytest

from cxcore import Invitation, LocalizedText, Survey
from cxcore.testing import sample_invitation, sample_surveys
from cxcore_channels.email import (
    EmailChannel,
    EmailTemplates,
    Mailbox,
    SurveyRenderer,
    build_message,
)
from cxcore_channels.email import render as render_module
from cxcore_channels.email.links import SurveyLinks
from cxcore_channels.email.render import substitutable

LINKS = SurveyLinks("https://cx.example.in/r")
HOSTILE_NAMES = [
    None,
    "   ",
    "Asha",
    "<script>alert(1)</script>",
    "Asha\r\nBcc: victim@example.com",
    "{{x}} }} {{#message}}",
    "\ue000cxN00\ue001 cxPH",
    'O\'Brien & "co"',
    "नमस्ते 👍🏽",
]


class _FullRenderer(SurveyRenderer):
    """Renders every invitation in full: a subclass's own context turns the cache off."""

    def context(self, invitation: Invitation, survey: Survey) -> dict[str, Any]:
        return super().context(invitation, survey)


def _survey(survey_id: str = "sample_rating") -> Survey:
    return next(s for s in sample_surveys() if s.id == survey_id)


def _invitation(survey: Survey, **kwargs: Any) -> Invitation:
    return sample_invitation(survey, channel="email", **kwargs)


def test_cached_rendering_is_the_full_rendering_for_every_survey_locale_and_name() -> None:
    fast, full = SurveyRenderer(None, LINKS), _FullRenderer(None, LINKS)
    for survey, locale, name in itertools.product(sample_surveys(), ["en", "hi"], HOSTILE_NAMES):
        invitation = _invitation(survey, locale=locale, name=name, token="t ok/é+1")
        bare = attrs.evolve(invitation, unsubscribe_token=None, amp_token=None)
        for inv in (invitation, bare):
            assert fast.render(inv, survey) == full.render(inv, survey), (survey.id, locale, name)
    info = fast.cache_info()
    assert info["entries"] > 0
    assert info["substitutable"] == info["entries"]  # the cache was used, not bypassed
    assert full.cache_info()["entries"] == 0


def test_hostile_names_are_escaped_per_invitation_from_one_cache_entry() -> None:
    survey, renderer = _survey(), SurveyRenderer(None, LINKS)
    script = renderer.render(_invitation(survey, name="<script>x()</script>"), survey)
    braces = renderer.render(_invitation(survey, name="{{x}}", token="tok.2"), survey)
    assert renderer.cache_info() == {"entries": 1, "substitutable": 1}
    assert "<script>" not in script.parts["text/html"]
    assert "&lt;script&gt;x()&lt;/script&gt;" in script.parts["text/html"]
    assert "&lt;script&gt;" in script.parts["text/x-amp-html"]
    assert "<script>x()</script>" in script.parts["text/plain"]  # text is not markup
    assert "{{x}}" not in braces.parts["text/x-amp-html"]
    assert "{\u200b{x}\u200b}" in braces.parts["text/x-amp-html"]
    # Nothing of one invitation leaks into the other.
    assert "script" not in braces.parts["text/html"]
    assert "tok.2" not in "".join(script.parts.values())
    assert "/s/tok.2?q." in braces.parts["text/html"]
    for part in (*script.parts.values(), *braces.parts.values()):
        assert "\ue000" not in part
        assert "cxPH" not in part


def test_cache_entries_change_with_survey_version_locale_and_content() -> None:
    survey, renderer = _survey(), SurveyRenderer(None, LINKS)
    english = renderer.render(_invitation(survey), survey)
    hindi = renderer.render(_invitation(survey, locale="hi"), survey)
    assert english.parts["text/html"] != hindi.parts["text/html"]
    assert 'lang="hi"' in hindi.parts["text/html"]
    assert renderer.cache_info()["entries"] == 2

    title = LocalizedText({"en": "A new title", "hi": "नया शीर्षक"})
    newer = attrs.evolve(survey, version=survey.version + 1, title=title)
    message = renderer.render(_invitation(newer), newer)
    assert message.subject == "A new title"
    assert "A new title" in message.parts["text/html"]
    assert renderer.cache_info()["entries"] == 3

    # The same id and version, but other content: rebuilt, never served stale.
    edited = attrs.evolve(survey, title=title)
    assert renderer.render(_invitation(edited), edited).subject == "A new title"
    assert renderer.render(_invitation(survey), survey) == english


def test_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(render_module, "PRERENDER_CACHE_SIZE", 2)
    survey, renderer = _survey(), SurveyRenderer(None, LINKS)
    for version in range(1, 5):
        newer = attrs.evolve(survey, version=version)
        renderer.render(_invitation(newer), newer)
    assert renderer.cache_info()["entries"] == 2


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ("{{ name|upper }}", "ASHA"),
        ('{% if name == "Asha" %}vip{% endif %}', "vip"),
        ("{% set who = name %}{{ who }}", "Asha"),
        ("{{ links.survey|length }}", str(len(LINKS.survey("tok.sample.0001")))),
        ("{{ name ~ '!' }}", "Asha!"),
        ("{{ name[0] }}", "A"),
        ("{% autoescape false %}{{ name }}{% endautoescape %}", "<b>Asha</b>"),
    ],
)
def test_templates_that_transform_per_invitation_values_are_rendered_in_full(
    html: str, expected: str
) -> None:
    templates = attrs.evolve(EmailTemplates.default(), html=html)
    env = render_module._environments()["html"]
    assert not substitutable(env, html)
    survey = _survey()
    renderer = SurveyRenderer(templates, LINKS)
    name = "<b>Asha</b>" if "autoescape" in html else "Asha"
    message = renderer.render(_invitation(survey, name=name), survey)
    assert message.parts["text/html"] == expected
    assert renderer.cache_info()["entries"] == 0


def test_templates_that_print_whole_objects_give_the_full_rendering() -> None:
    html = "{% for q in questions %}{{ q }}{% endfor %}{{ links.survey }}{{ name }}"
    templates = attrs.evolve(EmailTemplates.default(), html=html)
    survey = _survey()
    fast, full = SurveyRenderer(templates, LINKS), _FullRenderer(templates, LINKS)
    for name in HOSTILE_NAMES:
        invitation = _invitation(survey, name=name)
        assert fast.render(invitation, survey) == full.render(invitation, survey)


def test_default_templates_are_substitutable() -> None:
    envs = render_module._environments()
    templates = EmailTemplates.default()
    for name in ("subject", "text", "html", "amp"):
        source = getattr(templates, name)
        assert source is not None
        assert substitutable(envs[name], source), name


def test_date_header_follows_the_clock() -> None:
    """The Date header is cached per second: a later second, or another zone, is not stale."""
    survey = _survey()
    channel = EmailChannel(base_url="https://cx.example.in/r", sender="s@example.in", tls="none")
    message = channel.render(_invitation(survey), survey)
    sender = Mailbox("s@example.in")
    first = datetime(2026, 1, 2, 3, 4, 5, 600, tzinfo=UTC)
    dates = [first, first + timedelta(seconds=1)]
    headers = [
        next(
            line
            for line in build_message(message, sender=sender, date=d).split(b"\r\n")
            if line.startswith(b"Date:")
        )
        for d in dates
    ]
    assert headers == [
        b"Date: Fri, 02 Jan 2026 03:04:05 GMT",
        b"Date: Fri, 02 Jan 2026 03:04:06 GMT",
    ]
    ist = first.astimezone(ZoneInfo("Asia/Kolkata"))
    assert build_message(message, sender=sender, date=ist) == build_message(
        message, sender=sender, date=first
    )
