"""The collector's pages, rendered on the server by Jinja2 (autoescaped)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import jinja2

from cxcore.collector.strings import LANGUAGES, words
from cxcore.errors import Problem
from cxcore.model.survey import (
    AnswerValue,
    ChoiceQuestion,
    Question,
    ScoredQuestion,
    Survey,
    TextQuestion,
)
from cxcore.rendering import scale_view

__all__ = ["Pages"]


class Pages:
    """Renders survey pages and message pages.

    Pages link to their stylesheet by a path relative to themselves, so the
    collector works wherever it is mounted.
    """

    def __init__(self) -> None:
        self.env = jinja2.Environment(
            loader=jinja2.PackageLoader("cxcore.collector", "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )

    def render(self, template: str, **context: Any) -> str:  # noqa: ANN401 - template values
        """Render *template* with *context*."""
        return self.env.get_template(template).render(**context)

    def message(
        self,
        locale: str,
        key: str,
        *,
        static: str,
        form: Mapping[str, Any] | None = None,
    ) -> str:
        """A page with a title and a sentence (``<key>_title``, ``<key>_body``), maybe a button."""
        lang = locale if locale.split("-", 1)[0] in LANGUAGES else "en"
        t = words(lang)
        return self.render(
            "message.html.j2",
            lang=lang,
            title=t[f"{key}_title"],
            body=t[f"{key}_body"],
            static=static,
            form=form,
            t=t,
        )

    def survey(
        self,
        survey: Survey,
        *,
        locale: str,
        action: str,
        static: str,
        answers: Mapping[str, AnswerValue],
        notice: str | None = None,
        problems: Sequence[Problem] = (),
    ) -> str:
        """The survey's questions shown given *answers*, filled in with them.

        Args:
            survey: The survey version.
            locale: The language to show it in.
            action: Where the form posts.
            static: The path to the stylesheet's folder.
            answers: The answers so far (stored, or just posted).
            notice: A line to show above the questions (an answer was saved).
            problems: What was wrong with the answers just posted.
        """
        form = self.form(survey, locale=locale, answers=answers, problems=problems)
        lang = form["lang"]
        return self.render(
            "survey.html.j2",
            title=survey.title.get(lang, survey.default_locale),
            static=static,
            survey={
                "title": survey.title.get(lang, survey.default_locale),
                "intro": survey.intro.get(lang, survey.default_locale) if survey.intro else None,
            },
            notice=notice,
            action=action,
            **form,
        )

    def form(
        self,
        survey: Survey,
        *,
        locale: str,
        answers: Mapping[str, AnswerValue],
        problems: Sequence[Problem] = (),
    ) -> dict[str, Any]:
        """What a form of *survey*'s questions needs: ``lang``, ``t``, ``questions``, ``errors``...

        The questions are those shown given *answers*, filled in with them, each
        with its problem from *problems* in plain words of the page's language:
        the survey's own locale closest to *locale*.
        """
        fallback = survey.default_locale
        base = locale.split("-", 1)[0]
        lang = locale if locale in survey.locales or base in survey.locales else fallback
        t = words(lang)
        errors: dict[str, str] = {}
        for problem in problems:
            question = problem.path.removeprefix("answers.").split(".", 1)[0]
            if question not in errors:
                missing = "required" in problem.message and "missing" in problem.message
                errors[question] = t["error_required"] if missing else t["error_invalid"]
        shown = survey.visible(answers)
        return {
            "lang": lang,
            "t": t,
            "questions": [
                _question(q, lang, fallback, answers.get(q.id), errors.get(q.id), t) for q in shown
            ],
            "errors": [
                {"question": q, "anchor": f"q-{q}", "text": text} for q, text in errors.items()
            ],
            "shown": ",".join(q.id for q in shown),
        }


def _question(  # noqa: PLR0917 - one question's parts, in reading order
    q: Question,
    locale: str,
    fallback: str,
    value: AnswerValue | None,
    error: str | None,
    t: Mapping[str, str],
) -> dict[str, Any]:
    described = [f"help-{q.id}"] if q.help else []
    if error:
        described.append(f"err-{q.id}")
    view: dict[str, Any] = {
        "id": q.id,
        "kind": q.kind,
        "text": q.text.get(locale, fallback),
        "help": q.help.get(locale, fallback) if q.help else None,
        "required": q.required,
        "error": error,
        "described": " ".join(described),
        "levels": [],
        "options": [],
        "multiple": False,
        "display": "numbers",
        "layout": "row",
        "low_label": None,
        "high_label": None,
        "value": value if isinstance(value, str) else None,
        "max_length": getattr(q, "max_length", None),
    }
    if isinstance(q, ScoredQuestion):
        scale = scale_view(q, locale, fallback)
        view.update(
            display=scale.display,
            layout=scale.layout,
            low_label=scale.low_label,
            high_label=scale.high_label,
            levels=[
                _level(level.value, level.label, level.glyph, scale.display, scale.layout, value, t)
                for level in scale.levels
            ],
        )
    elif isinstance(q, ChoiceQuestion):
        chosen = set(value) if isinstance(value, tuple) else {value}
        view.update(
            multiple=q.multiple,
            options=[
                {"id": o.id, "text": o.text.get(locale, fallback), "checked": o.id in chosen}
                for o in q.options
            ],
        )
    elif isinstance(q, TextQuestion):
        view["max_length"] = q.max_length
    return view


def _level(  # noqa: PLR0917 - one level's parts, in reading order
    value: int,
    label: str | None,
    glyph: str,
    display: str,
    layout: str,
    chosen: AnswerValue | None,
    t: Mapping[str, str],
) -> dict[str, Any]:
    """A level's button: its glyph (hidden from screen readers) and its spoken or shown name."""
    if display == "emoji":
        name, quiet = label or str(value), False
    elif display == "stars":
        count = glyph.count("\u2605")
        name = f"{count} {t['star'] if count == 1 else t['stars']}"
        name, quiet = (f"{name}: {label}" if label else name), True
    elif layout == "column" and label:
        name, quiet = label, False
    else:
        name, quiet = (f"{value}: {label}" if label else str(value)), True
    return {
        "value": value,
        "glyph": glyph,
        "name": name,
        "quiet": quiet,
        "checked": chosen == value,
    }
