"""The prompt: an invitation to a survey, as the JSON the in-app widget shows. Pure.

The widget never sees a survey definition: it sees this, in one language,
with every scale's levels, labels and glyphs already decided by
:func:`cxcore.rendering.scale_view` (the same as the survey page and emails),
the display conditions of follow-up questions, and the widget's own words.
Every string is data, shown with ``textContent``: nothing here is markup.
"""

from __future__ import annotations

import json
from typing import Any

from cxcore import (
    ChoiceQuestion,
    Invitation,
    LocalizedText,
    Question,
    ScoredQuestion,
    Survey,
    TextQuestion,
)
from cxcore.rendering import scale_view
from cxcore_channels.inapp.strings import ui_strings

__all__ = ["PROMPT_VERSION", "prompt", "prompt_json"]

PROMPT_VERSION = 1
"""The version of the prompt's shape; the widget refuses a shape it does not know."""


def _text(text: LocalizedText | None, locale: str, fallback: str) -> str | None:
    return None if text is None else text.get(locale, fallback)


def _question(q: Question, locale: str, fallback: str) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": q.id,
        "kind": q.kind,
        "text": q.text.get(locale, fallback),
        "required": q.required,
    }
    help_text = _text(q.help, locale, fallback)
    if help_text:
        item["help"] = help_text
    if q.show_if:
        item["show_if"] = [
            {
                "q": c.question,
                "op": c.op.value,
                "value": list(c.value) if isinstance(c.value, tuple) else c.value,
            }
            for c in q.show_if
        ]
    if isinstance(q, ScoredQuestion):
        view = scale_view(q, locale, fallback)
        item["scale"] = {
            "display": view.display,
            "layout": view.layout,
            "low": view.low_label,
            "high": view.high_label,
            "levels": [
                {"value": lv.value, "label": lv.label, "glyph": lv.glyph} for lv in view.levels
            ],
        }
    elif isinstance(q, ChoiceQuestion):
        item["multiple"] = q.multiple
        item["max"] = q.max_choices
        item["options"] = [{"id": o.id, "text": o.text.get(locale, fallback)} for o in q.options]
    elif isinstance(q, TextQuestion):
        item["max_length"] = q.max_length
    return item


def prompt(invitation: Invitation, survey: Survey) -> dict[str, Any]:
    """The prompt of *invitation* to *survey*, in the invitation's locale, as JSON values.

    >>> from cxcore.testing import sample_invitation, sample_surveys
    >>> survey = sample_surveys()[0]
    >>> p = prompt(sample_invitation(survey, channel="inapp", locale="hi"), survey)
    >>> p["locale"], p["questions"][0]["kind"], p["strings"]["send"]
    ('hi', 'nps', 'भेजें')

    .. versionadded:: 0.1.0
    """
    locale = invitation.locale
    fallback = survey.default_locale
    return {
        "v": PROMPT_VERSION,
        "invitation": invitation.id,
        "token": invitation.token,
        "survey": survey.id,
        "version": survey.version,
        "locale": locale,
        "name": invitation.name,
        "title": survey.title.get(locale, fallback),
        "intro": _text(survey.intro, locale, fallback),
        "thanks": _text(survey.thanks, locale, fallback),
        "questions": [_question(q, locale, fallback) for q in survey.questions],
        "strings": dict(ui_strings(locale)),
    }


def prompt_json(invitation: Invitation, survey: Survey) -> str:
    """:func:`prompt` as compact JSON text, the same bytes for the same input.

    .. versionadded:: 0.1.0
    """
    return json.dumps(
        prompt(invitation, survey), ensure_ascii=False, sort_keys=True, separators=(",", ":")
    )
