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
import re
import secrets
import unicodedata
from collections import OrderedDict
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from importlib.resources import files
from types import SimpleNamespace
from typing import Any, Final
from urllib.parse import quote

import attrs
from jinja2 import StrictUndefined, Template, nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup, escape

from cxcore import (
    ChoiceQuestion,
    Invitation,
    ScoredQuestion,
    Survey,
    TextQuestion,
)
from cxcore.rendering import scale_view
from cxcore_channels.email.errors import EmailTemplateError
from cxcore_channels.email.links import SurveyLinks
from cxcore_channels.email.strings import ui_strings

__all__ = [
    "AMP_MAX_BYTES",
    "PRERENDER_CACHE_SIZE",
    "EmailTemplates",
    "RenderedEmail",
    "SurveyRenderer",
    "one_line",
    "substitutable",
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


# -- pre-rendering ----------------------------------------------------------------
#
# Rendering the four templates costs far more than anything else in a send. What
# differs between two invitations to the same survey, in the same locale, is
# only the name and the tokens in the links. So the templates are rendered once
# per (survey, version, locale, shape of the invitation) with placeholders in
# those places, split at the placeholders, and each invitation then only joins
# the pieces with its own values, escaped for the part they go into exactly as
# the template's environment would have escaped them.
#
# That is only the same as rendering if the template uses those values as they
# are: printed (``{{ name }}``, ``{{ level.url }}``) or tested for truth
# (``{% if name %}``), never compared, filtered, sliced or passed on. A
# conservative check of the template's syntax tree decides; a template that
# does anything else (or anything the check does not know) is rendered in full
# for every invitation, as before. Then, when an entry is built, the templates
# are rendered with two different sets of placeholders, and the entry is used
# only if swapping one set for the other gives exactly the second rendering.

_TAINTED_LINKS: Final = frozenset({"survey", "unsubscribe", "amp_action"})
_SAFE_FILTERS: Final = frozenset(
    {
        "e",
        "escape",
        "upper",
        "lower",
        "title",
        "capitalize",
        "trim",
        "length",
        "count",
        "default",
        "d",
        "int",
        "float",
        "round",
        "abs",
    }
)
_SAFE_TESTS: Final = frozenset(
    {"defined", "undefined", "none", "number", "string", "even", "odd", "divisibleby"}
)
_BOOLEAN: Final = (nodes.Not, nodes.And, nodes.Or)


def _tainted(node: nodes.Node) -> bool:
    """Whether *node* reads a per-invitation value (the name, or a link with a token)."""
    if isinstance(node, nodes.Name):
        return node.name == "name"
    if isinstance(node, nodes.Getattr):
        if node.attr == "url":
            return True
        return isinstance(node.node, nodes.Name) and node.node.name == "links"
    return False


def _tainted_ok(node: nodes.Node) -> bool:
    """Whether a per-invitation value, printed or tested, is one this module knows."""
    if isinstance(node, nodes.Getattr):
        if isinstance(node.node, nodes.Name) and node.node.name == "links":
            return node.attr in _TAINTED_LINKS
        return _expr_ok(node.node, sink=False)
    return True  # the name


def _expr_ok(node: nodes.Node, *, sink: bool, test: bool = False) -> bool:
    """Whether expression *node* keeps per-invitation values as they are.

    *sink*: the value is printed as it is, or (*test*) only tested for truth.
    """
    if _tainted(node):
        return sink and _tainted_ok(node)
    if isinstance(node, nodes.Name):
        return node.name != "links"  # only links.<one of its links> is understood
    if isinstance(node, nodes.Const | nodes.TemplateData):
        return True
    if isinstance(node, nodes.Getattr):
        return _expr_ok(node.node, sink=False)
    if isinstance(node, _BOOLEAN):
        # In a test, "not name" and "name and x" only test name's truth.
        children = [node.node] if isinstance(node, nodes.Not) else [node.left, node.right]
        return all(_expr_ok(c, sink=test, test=test) for c in children)
    if isinstance(node, nodes.CondExpr):
        return (
            _expr_ok(node.test, sink=True, test=True)
            and _expr_ok(node.expr1, sink=False)
            and (node.expr2 is None or _expr_ok(node.expr2, sink=False))
        )
    if isinstance(node, nodes.Compare):
        operands = [node.expr, *(o.expr for o in node.ops)]
        return any(isinstance(o, nodes.Const) for o in operands) and all(
            _expr_ok(o, sink=False) for o in operands
        )
    if isinstance(node, nodes.Filter | nodes.Test):
        allowed = _SAFE_FILTERS if isinstance(node, nodes.Filter) else _SAFE_TESTS
        return (
            node.name in allowed
            and node.node is not None
            and not (node.kwargs or node.dyn_args or node.dyn_kwargs)
            and all(_expr_ok(a, sink=False) for a in [node.node, *node.args])
        )
    return False  # calls, subscripts, literals, operators...: not understood here


def _stmts_ok(body: list[nodes.Node]) -> bool:
    for node in body:
        if isinstance(node, nodes.Output):
            if not all(_expr_ok(n, sink=True) for n in node.nodes):
                return False
        elif isinstance(node, nodes.If):
            if not (
                _expr_ok(node.test, sink=True, test=True)
                and _stmts_ok(node.body)
                and _stmts_ok(list(node.elif_))
                and _stmts_ok(node.else_)
            ):
                return False
        elif isinstance(node, nodes.For):
            if (
                node.recursive
                or not isinstance(node.target, nodes.Name)
                or node.target.name in ("name", "links")
                or not _expr_ok(node.iter, sink=False)
                or (node.test is not None and not _expr_ok(node.test, sink=True, test=True))
                or not (_stmts_ok(node.body) and _stmts_ok(node.else_))
            ):
                return False
        else:
            return False  # set, macro, call, filter and autoescape blocks...
    return True


def substitutable(env: _Sandbox, source: str) -> bool:
    """Whether a template uses the name and the links only by printing or testing them.

    Such a template can be rendered once per survey and locale, with the
    invitation's values put in afterwards. False when in doubt.
    """
    try:
        return _stmts_ok(env.parse(source).body)
    except Exception:  # noqa: BLE001 - a syntax error: compile() reports it
        return False


_SLOTS: Final = ("name", "token", "unsubscribe", "amp")


@attrs.frozen
class _Placeholders:
    """Stand-ins for the per-invitation values, which no template or survey can contain.

    The name's holds private-use characters (``repr`` escapes them, so a
    template that prints a whole object is caught); the tokens' are letters and
    digits only, which URL quoting keeps as they are. Both hold a random nonce.
    """

    nonce: str
    name: str
    token: str
    unsubscribe: str
    amp: str

    @classmethod
    def new(cls, nbytes: int) -> _Placeholders:
        nonce = secrets.token_hex(nbytes)
        return cls(
            nonce=nonce,
            name=f"\ue000cxN{nonce}\ue001",
            token=f"cxPH{nonce}Tk",
            unsubscribe=f"cxPH{nonce}Un",
            amp=f"cxPH{nonce}Am",
        )

    def values(self) -> tuple[str, ...]:
        return (self.name, self.token, self.unsubscribe, self.amp)


@attrs.frozen
class _Pieces:
    """A rendered template split at its placeholders: ``statics[0] v statics[1] v ...``."""

    statics: tuple[str, ...]
    slots: tuple[int, ...]

    @classmethod
    def split(cls, output: str, marks: _Placeholders, pattern: re.Pattern[str]) -> _Pieces:
        fields = pattern.split(output)
        slot_of = {v: i for i, v in enumerate(marks.values())}
        return cls(tuple(fields[0::2]), tuple(slot_of[v] for v in fields[1::2]))

    def join(self, values: tuple[str, ...]) -> str:
        statics, slots = self.statics, self.slots
        out = [statics[0]]
        for slot, static in zip(slots, statics[1:], strict=True):
            out.append(values[slot])
            out.append(static)
        return "".join(out)


def _escaper(name: str) -> Callable[[str], str]:
    if name == "amp":
        return lambda v: str(escape(_break_mustache(v)))
    if name == "html":
        return lambda v: str(escape(v))
    return str


_ESCAPERS: Final = {name: _escaper(name) for name in ("subject", "text", "html", "amp")}


@attrs.frozen
class _Prerendered:
    survey: Survey
    parts: dict[str, _Pieces]  # template name -> pieces


PRERENDER_CACHE_SIZE: Final = 256
"""How many (survey, version, locale, invitation shape) renderings a renderer keeps."""


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
        envs = _environments()
        self._substitutable = all(
            substitutable(envs[name], getattr(self.templates, name)) for name in self._compiled
        )
        self._marks = (_Placeholders.new(16), _Placeholders.new(20))
        self._patterns = tuple(
            re.compile("(" + "|".join(map(re.escape, m.values())) + ")") for m in self._marks
        )
        self._cache: OrderedDict[tuple[Any, ...], _Prerendered | None] = OrderedDict()

    def context(self, invitation: Invitation, survey: Survey) -> dict[str, Any]:
        """The data every template sees: plain values only."""
        return survey_context(invitation, survey, self.links)

    def render(self, invitation: Invitation, survey: Survey) -> RenderedEmail:
        """Render the subject and every part for *invitation*.

        Raises:
            EmailTemplateError: If a template fails or leaves its sandbox.
        """
        pre = self._prerendered(invitation, survey)
        if pre is None:
            context = self.context(invitation, survey)
            outputs = _Outputs(self._compiled, context)
        else:
            outputs = _Outputs(self._compiled, None, pre, _values(invitation))
        subject = one_line(outputs.get("subject"))
        if not subject:
            subject = one_line(survey.title.get(invitation.locale, survey.default_locale))
        parts = {"text/plain": outputs.get("text")}
        omitted: str | None = None
        if not self.amp:
            omitted = "AMP is turned off"
        elif invitation.amp_token is None:
            omitted = "the invitation has no amp_token"
        elif not self.links.secure:
            omitted = "AMP forms need an https base_url"
        else:
            amp = outputs.get("amp")
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
        parts["text/html"] = outputs.get("html")
        return RenderedEmail(subject=subject, parts=parts, amp_omitted=omitted)

    def cache_info(self) -> dict[str, int]:
        """How many pre-renderings are kept, and how many of them could be used."""
        kept = sum(1 for entry in self._cache.values() if entry is not None)
        return {"entries": len(self._cache), "substitutable": kept}

    def _prerendered(self, invitation: Invitation, survey: Survey) -> _Prerendered | None:
        """The pre-rendering for *invitation*'s survey, locale and shape, or None (render)."""
        if not self._substitutable or type(self).context is not SurveyRenderer.context:
            return None  # a subclass's own context is used as it is, every time
        key = (
            survey.id,
            survey.version,
            invitation.locale,
            _clean_name(invitation.name) is None,
            _shape(invitation.unsubscribe_token),
            _shape(invitation.amp_token),
        )
        cache = self._cache
        if key in cache:
            entry = cache[key]
            # The same survey object, or an equal one: the same rendering.
            if entry is None or entry.survey is survey or entry.survey == survey:
                cache.move_to_end(key)
                return entry
        built = self._build(invitation, survey)
        cache[key] = built
        cache.move_to_end(key)
        while len(cache) > PRERENDER_CACHE_SIZE:
            cache.popitem(last=False)
        return built

    def _build(self, invitation: Invitation, survey: Survey) -> _Prerendered | None:
        renderings: list[dict[str, str]] = []
        try:
            for marks in self._marks:
                context = _context(
                    survey,
                    invitation.locale,
                    self.links,
                    name=None if _clean_name(invitation.name) is None else marks.name,
                    token=marks.token,
                    unsubscribe_token=marks.unsubscribe if invitation.unsubscribe_token else None,
                    amp_token=marks.amp if invitation.amp_token else None,
                )
                renderings.append(
                    {name: _run(t, name, context) for name, t in self._compiled.items()}
                )
        except EmailTemplateError:
            return None  # rendered in full each time, which raises the error there
        first, second = renderings
        parts: dict[str, _Pieces] = {}
        a, b = self._marks
        for name, output in first.items():
            pieces = _Pieces.split(output, a, self._patterns[0])
            stray = any(
                "\ue000" in s or "\ue001" in s or "cxPH" in s or a.nonce in s
                for s in pieces.statics
            )
            if stray or pieces.join(b.values()) != second[name]:
                log.info("template %s is rendered for each invitation (not substitutable)", name)
                return None
            parts[name] = pieces
        return _Prerendered(survey=survey, parts=parts)


def _shape(token: str | None) -> int:
    """None, empty (no link, but not missing) or a token: what a template can tell apart."""
    return 0 if token is None else 1 if token else 2


def _values(invitation: Invitation) -> tuple[str, ...]:
    """The raw values of the slots, in :data:`_SLOTS` order (tokens quoted like links)."""
    return (
        _clean_name(invitation.name) or "",
        quote(invitation.token, safe=""),
        quote(invitation.unsubscribe_token or "", safe=""),
        quote(invitation.amp_token or "", safe=""),
    )


class _Outputs:
    """A template's output, rendered now or joined from its pre-rendering."""

    __slots__ = ("_compiled", "_context", "_pre", "_values")

    def __init__(
        self,
        compiled: dict[str, Template],
        context: Mapping[str, Any] | None,
        pre: _Prerendered | None = None,
        values: tuple[str, ...] = (),
    ) -> None:
        self._compiled = compiled
        self._context = context
        self._pre = pre
        self._values = values

    def get(self, name: str) -> str:
        if self._pre is None:
            assert self._context is not None  # noqa: S101 - one or the other
            return _run(self._compiled[name], name, self._context)
        escape_value = _ESCAPERS[name]
        output = self._pre.parts[name].join(tuple(escape_value(v) for v in self._values))
        if len(output) > MAX_OUTPUT:
            reason = f"output of {len(output)} characters is over the limit of {MAX_OUTPUT}"
            raise EmailTemplateError(name, reason)
        return output


# -- the context ------------------------------------------------------------------


def _scored(q: ScoredQuestion, locale: str, fallback: str, prefix: str) -> dict[str, Any]:
    view = scale_view(q, locale, fallback)
    return {
        "display": view.display,
        "layout": view.layout,
        "levels": [
            SimpleNamespace(
                value=level.value,
                label=level.label,
                glyph=level.glyph,
                url=f"{prefix}{level.value}",
            )
            for level in view.levels
        ],
        "low_label": view.low_label,
        "high_label": view.high_label,
        "metric": view.metric,
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
    return _context(
        survey,
        invitation.locale,
        links,
        name=_clean_name(invitation.name),
        token=invitation.token,
        unsubscribe_token=invitation.unsubscribe_token,
        amp_token=invitation.amp_token,
    )


def _context(
    survey: Survey,
    locale: str,
    links: SurveyLinks,
    *,
    name: str | None,
    token: str,
    unsubscribe_token: str | None,
    amp_token: str | None,
) -> dict[str, Any]:
    fallback = survey.default_locale

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
        "name": name,
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
            unsubscribe=links.unsubscribe(unsubscribe_token) if unsubscribe_token else None,
            amp_action=links.amp_action(amp_token) if amp_token else None,
        ),
        "t": SimpleNamespace(**ui_strings(locale)),
    }
