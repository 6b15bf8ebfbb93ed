"""Rendering survey emails from Jinja2 templates, in a sandbox.

Survey templates are written by users, so every template runs in Jinja2's
:class:`~jinja2.sandbox.ImmutableSandboxedEnvironment`, with limits on what a
template may build, and sees plain data only (strings, numbers, lists and
dicts: never a model object). Three environments keep the contexts apart:

* HTML, autoescaped;
* AMP, autoescaped, where values are also kept from ever forming an
  amp-mustache tag: a ``{{`` or ``}}`` in data is broken by a zero-width
  space. amp-mustache tags written in the template itself are literal text to
  Jinja and go inside ``{% raw %}`` blocks;
* text and subjects, not escaped (they are not markup). Subjects are
  then made one line: CR, LF and other control characters become spaces.

Anything a template does wrong raises :class:`EmailTemplateError`.
"""

from __future__ import annotations

import functools
import logging
import unicodedata
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from importlib.resources import files
from types import SimpleNamespace
from typing import Any, Final
from urllib.parse import quote

import attrs
from jinja2 import StrictUndefined, Template
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup

from cxcore import (
    ChoiceQuestion,
    CxError,
    Display,
    Invitation,
    ScoredQuestion,
    Survey,
    TextQuestion,
    get_metric,
)
from cxcore_channels.email.errors import EmailTemplateError
from cxcore_channels.email.links import SurveyLinks
from cxcore_channels.email.strings import ui_strings

__all__ = [
    "AMP_MAX_BYTES",
    "EmailTemplates",
    "RenderedEmail",
    "SurveyRenderer",
    "one_line",
    "survey_context",
]

log = logging.getLogger("cxcore.channels.email")

AMP_MAX_BYTES: Final = 102_400
"""The largest AMP part mail clients accept; a larger one is left out."""

MAX_RANGE: Final = 1_000
"""The longest ``range`` a template may build."""

MAX_RANGE_TOTAL: Final = 10_000
"""The most items all the ``range`` calls of one rendering may build (nested loops)."""

MAX_OUTPUT: Final = 1_000_000
"""The most characters one template may produce."""

_MAX_SEQUENCE: Final = 10_000
_MAX_EXPONENT: Final = 64

_CONTROL = dict.fromkeys(range(32), " ") | {0x7F: " ", 0x2028: " ", 0x2029: " ", 0x85: " "}


def one_line(value: str) -> str:
    r"""Return *value* on one line: control characters become spaces, runs of spaces one.

    >>> one_line("Asha\r\nBcc: victim@example.com")
    'Asha Bcc: victim@example.com'
    """
    return " ".join(value.translate(_CONTROL).split())


def _clean_name(value: str | None) -> str | None:
    if value is None:
        return None
    # Line breaks and tabs become spaces; invisible format characters (such as
    # a right-to-left override) go, except the joiner that builds emoji.
    cleaned = "".join(
        c for c in one_line(value) if unicodedata.category(c) != "Cf" or c == "\u200d"
    )
    return cleaned.strip() or None


# -- the sandbox ------------------------------------------------------------------


_range_left: ContextVar[int] = ContextVar("cxcore_email_range_left", default=MAX_RANGE_TOTAL)


def _bounded_range(*args: int) -> range:
    rng = range(*args)
    left = _range_left.get() - len(rng)
    if len(rng) > MAX_RANGE:
        msg = f"range of {len(rng)} items is over the limit of {MAX_RANGE}"
        raise SecurityError(msg)
    if left < 0:
        msg = f"ranges of this rendering add up to over {MAX_RANGE_TOTAL} items"
        raise SecurityError(msg)
    _range_left.set(left)
    return rng


class _Sandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, with limits on repetition and powers."""

    intercepted_binops = frozenset({"*", "**"})

    def getattr(self, obj: Any, attribute: str) -> Any:  # noqa: ANN401 - Jinja's signature
        # The context is built of SimpleNamespace views holding plain data only:
        # reading one of their public fields needs none of the sandbox's checks,
        # which cost most of the rendering time. Everything else is checked.
        if type(obj) is SimpleNamespace and not attribute.startswith("_"):
            try:
                return obj.__dict__[attribute]
            except KeyError:
                return self.undefined(obj=obj, name=attribute)
        return super().getattr(obj, attribute)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:  # noqa: ANN401 - Jinja's signature
        if operator == "**" and isinstance(right, int) and abs(right) > _MAX_EXPONENT:
            msg = f"power {right} is over the limit of {_MAX_EXPONENT}"
            raise SecurityError(msg)
        if operator == "*":
            for seq, count in ((left, right), (right, left)):
                if (
                    isinstance(seq, str | list | tuple)
                    and isinstance(count, int)
                    and len(seq) * count > _MAX_SEQUENCE
                ):
                    msg = f"repeating {len(seq)} items {count} times is over the limit"
                    raise SecurityError(msg)
        return super().call_binop(context, operator, left, right)


def _break_mustache(value: object) -> object:
    """Keep a value from forming an amp-mustache tag (``{{`` or ``}}``)."""
    if isinstance(value, str) and ("{{" in value or "}}" in value):
        broken = value.replace("{{", "{\u200b{").replace("}}", "}\u200b}")
        # A value that was already Markup stays Markup: only the braces changed.
        return Markup(broken) if isinstance(value, Markup) else broken  # noqa: S704
    return value


def _environment(*, markup: bool, amp: bool = False) -> _Sandbox:
    env = _Sandbox(
        autoescape=markup,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        finalize=_break_mustache if amp else None,
    )
    env.globals["range"] = _bounded_range
    return env


@functools.cache
def _environments() -> dict[str, _Sandbox]:
    text = _environment(markup=False)
    return {
        "subject": text,
        "text": text,
        "html": _environment(markup=True),
        "amp": _environment(markup=True, amp=True),
    }


# -- templates --------------------------------------------------------------------


def _default(name: str) -> str:
    return (files(__package__) / "templates" / name).read_text(encoding="utf-8")


@attrs.frozen
class EmailTemplates:
    """The four templates of a survey email: Jinja2 source text.

    Start from :meth:`default` and replace what you need with
    :func:`attrs.evolve`. Set ``amp`` to ``None`` to send without an AMP part.

    Args:
        subject: The subject line (rendered as text, then made one line).
        text: The ``text/plain`` part.
        html: The ``text/html`` part (autoescaped).
        amp: The ``text/x-amp-html`` part (autoescaped; amp-mustache tags in
            ``{% raw %}`` blocks), or ``None``.

    .. versionadded:: 0.1.0
    """

    subject: str
    text: str
    html: str
    amp: str | None

    @classmethod
    def default(cls) -> EmailTemplates:
        """The built-in templates, in English and Hindi, for every question kind."""
        return cls(
            subject=_default("subject.txt.j2"),
            text=_default("body.txt.j2"),
            html=_default("body.html.j2"),
            amp=_default("body.amp.j2"),
        )

    def compile(self) -> dict[str, Template]:
        """Compile every template in its environment.

        Raises:
            EmailTemplateError: Naming the template and the line of a syntax error.
        """
        envs = _environments()
        compiled: dict[str, Template] = {}
        for name in ("subject", "text", "html", "amp"):
            source = getattr(self, name)
            if source is None:
                continue
            try:
                compiled[name] = envs[name].from_string(source)
            except Exception as exc:
                raise EmailTemplateError(name, f"{type(exc).__name__}: {exc}") from exc
        return compiled


@attrs.frozen
class RenderedEmail:
    """What the templates produced for one invitation.

    Attributes:
        subject: One line.
        parts: Media type to content, in MIME order: ``text/plain``,
            ``text/x-amp-html`` (when there is one), ``text/html``.
        amp_omitted: Why the AMP part was left out, if it was.

    .. versionadded:: 0.1.0
    """

    subject: str
    parts: dict[str, str]
    amp_omitted: str | None = None


def _run(template: Template, name: str, context: Mapping[str, Any]) -> str:
    budget = _range_left.set(MAX_RANGE_TOTAL)
    try:
        output = template.render(context)
    except SecurityError as exc:
        raise EmailTemplateError(name, f"refused by the sandbox: {exc}") from exc
    except Exception as exc:
        raise EmailTemplateError(name, f"{type(exc).__name__}: {exc}") from exc
    finally:
        _range_left.reset(budget)
    if len(output) > MAX_OUTPUT:
        reason = f"output of {len(output)} characters is over the limit of {MAX_OUTPUT}"
        raise EmailTemplateError(name, reason)
    return output


class SurveyRenderer:
    """Renders invitations with one set of templates and one collector's links.

    Args:
        templates: The templates (default: :meth:`EmailTemplates.default`).
        links: The collector's URL scheme.
        amp: Whether to render the AMP part (it needs ``https`` links and an
            invitation with an ``amp_token``).

    Raises:
        EmailTemplateError: If a template does not compile.

    .. versionadded:: 0.1.0
    """

    def __init__(
        self, templates: EmailTemplates | None, links: SurveyLinks, *, amp: bool = True
    ) -> None:
        self.templates = templates or EmailTemplates.default()
        self.links = links
        self.amp = amp and self.templates.amp is not None
        self._compiled = self.templates.compile()

    def context(self, invitation: Invitation, survey: Survey) -> dict[str, Any]:
        """The data every template sees: plain values only."""
        return survey_context(invitation, survey, self.links)

    def render(self, invitation: Invitation, survey: Survey) -> RenderedEmail:
        """Render the subject and every part for *invitation*.

        Raises:
            EmailTemplateError: If a template fails or leaves its sandbox.
        """
        context = self.context(invitation, survey)
        subject = one_line(_run(self._compiled["subject"], "subject", context))
        if not subject:
            subject = one_line(context["survey"].title)
        parts = {"text/plain": _run(self._compiled["text"], "text", context)}
        omitted: str | None = None
        if not self.amp:
            omitted = "AMP is turned off"
        elif invitation.amp_token is None:
            omitted = "the invitation has no amp_token"
        elif not self.links.secure:
            omitted = "AMP forms need an https base_url"
        else:
            amp = _run(self._compiled["amp"], "amp", context)
            size = len(amp.encode("utf-8"))
            if size > AMP_MAX_BYTES:
                omitted = f"the AMP part is {size} bytes (over the limit of {AMP_MAX_BYTES})"
                log.warning(
                    "invitation %s: AMP part left out: %s; sending text and HTML only",
                    invitation.id,
                    omitted,
                )
            else:
                parts["text/x-amp-html"] = amp
        parts["text/html"] = _run(self._compiled["html"], "html", context)
        return RenderedEmail(subject=subject, parts=parts, amp_omitted=omitted)


# -- the context ------------------------------------------------------------------


def _glyph(display: Display | None, level: int, low: int, symbols: Mapping[int, str]) -> str:
    if display is Display.EMOJI and level in symbols:
        return symbols[level]
    if display is Display.STARS:
        return "\u2605" * (level - low + 1)
    return str(level)


def _metric_parts(
    q: ScoredQuestion,
) -> tuple[Callable[[int, str], str | None], Mapping[int, str]]:
    try:
        metric = get_metric(q.metric_name)
    except CxError:  # a custom metric not registered here: numbers without labels
        return (lambda _level, _locale: None), {}
    return metric.label, metric.symbols


def _scored(q: ScoredQuestion, locale: str, fallback: str, prefix: str) -> dict[str, Any]:
    low, high = q.bounds
    label, symbols = _metric_parts(q)
    display: Display | None = getattr(q, "display", None)
    low_label = (
        q.low_label.get(locale, fallback) if q.low_label else label(q.canonical(low), locale)
    )
    high_label = (
        q.high_label.get(locale, fallback) if q.high_label else label(q.canonical(high), locale)
    )
    levels = []
    for value in range(low, high + 1):
        text = label(q.canonical(value), locale)
        if value == low and q.low_label:
            text = low_label
        elif value == high and q.high_label:
            text = high_label
        levels.append(
            SimpleNamespace(
                value=value,
                label=text,
                glyph=_glyph(display, value, low, symbols),
                url=f"{prefix}{value}",
            )
        )
    return {
        "display": (display or Display.NUMBERS).value,
        "layout": "column" if q.kind == "ces" else "row",
        "levels": levels,
        "low_label": low_label,
        "high_label": high_label,
        "metric": q.metric_name,
    }


def survey_context(invitation: Invitation, survey: Survey, links: SurveyLinks) -> dict[str, Any]:
    """The data the templates of *invitation* to *survey* see (read with attribute access).

    Keys: ``name`` (cleaned, one line, or ``None``), ``locale``, ``lang``,
    ``survey`` (``id``, ``title``, ``intro``, ``thanks``), ``questions``,
    ``more_questions``, ``links`` (``survey``, ``unsubscribe``, ``amp_action``)
    and ``t`` (the words of the default templates in the invitation's locale).

    Each question has ``id``, ``kind``, ``text``, ``help``, ``required``, and
    either ``levels`` (``value``, ``label``, ``glyph``, ``url``: one one-click
    link per score), ``options`` (``id``, ``text``, ``url``) and ``multiple``,
    or ``max_length`` for text. Only the questions shown before any answer are
    included; ``more_questions`` says whether display logic hides others.

    .. versionadded:: 0.1.0
    """
    locale = invitation.locale
    fallback = survey.default_locale
    token = invitation.token

    def text(value: Any) -> str | None:  # noqa: ANN401 - LocalizedText or None
        return None if value is None else value.get(locale, fallback)

    visible = survey.visible({})
    questions: list[SimpleNamespace] = []
    for q in visible:
        view: dict[str, Any] = {
            "id": q.id,
            "kind": q.kind,
            "text": text(q.text),
            "help": text(q.help),
            "required": q.required,
            "levels": [],
            "options": [],
            "multiple": False,
            "display": "numbers",
            "layout": "row",
        }
        if isinstance(q, ScoredQuestion):
            view.update(_scored(q, locale, fallback, links.answer_prefix(token, q.id)))
        elif isinstance(q, ChoiceQuestion):
            view["multiple"] = q.multiple
            prefix = links.answer_prefix(token, q.id)
            view["options"] = [
                SimpleNamespace(id=o.id, text=text(o.text), url=prefix + quote(o.id, safe=""))
                for o in q.options
            ]
        elif isinstance(q, TextQuestion):
            view["max_length"] = q.max_length
        questions.append(SimpleNamespace(**view))
    return {
        "name": _clean_name(invitation.name),
        "locale": locale,
        "lang": locale,
        "survey": SimpleNamespace(
            id=survey.id,
            title=survey.title.get(locale, fallback),
            intro=text(survey.intro),
            thanks=text(survey.thanks),
        ),
        "questions": questions,
        "more_questions": len(visible) < len(survey.questions),
        "links": SimpleNamespace(
            survey=links.survey(token),
            unsubscribe=(
                links.unsubscribe(invitation.unsubscribe_token)
                if invitation.unsubscribe_token
                else None
            ),
            amp_action=links.amp_action(invitation.amp_token) if invitation.amp_token else None,
        ),
        "t": SimpleNamespace(**ui_strings(locale)),
    }
