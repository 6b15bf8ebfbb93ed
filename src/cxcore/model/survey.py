"""Surveys: versioned sets of questions, with texts per locale and display logic as data."""

from __future__ import annotations

import enum
import functools
import operator
from collections.abc import Callable, Iterator, Mapping
from typing import Any, ClassVar, TypeAlias, cast

import attrs

from cxcore.errors import Problem, ValidationError
from cxcore.model._checks import Checks, as_tuple, building, member_or_value, not_utf8
from cxcore.model.text import LocalizedText

__all__ = [
    "AnswerValue",
    "CesQuestion",
    "ChoiceQuestion",
    "Condition",
    "CsatQuestion",
    "Direction",
    "Display",
    "NpsQuestion",
    "Op",
    "Option",
    "Question",
    "RatingQuestion",
    "RepeatPolicy",
    "ScaleQuestion",
    "ScoredQuestion",
    "Survey",
    "SurveyKind",
    "TextQuestion",
]

AnswerValue: TypeAlias = int | str | tuple[str, ...]
"""One answer: an int for scales, an option id or text for single choice and
text, a tuple of option ids for multiple choice."""


class Direction(enum.StrEnum):
    """Which end of a scale is good.

    .. versionadded:: 0.1.0
    """

    HIGHER_IS_BETTER = "higher_is_better"
    LOWER_IS_BETTER = "lower_is_better"


class Display(enum.StrEnum):
    """How a rating scale is shown to the customer. Responses always store the level.

    .. versionadded:: 0.1.0
    """

    NUMBERS = "numbers"
    STARS = "stars"
    EMOJI = "emoji"


class SurveyKind(enum.StrEnum):
    """Whether a survey follows one interaction or is sent periodically.

    .. versionadded:: 0.1.0
    """

    TRANSACTIONAL = "transactional"
    """Asked right after an interaction (CSAT after a support call)."""
    RELATIONSHIP = "relationship"
    """Asked periodically about the whole relationship (a quarterly NPS)."""


class RepeatPolicy(enum.StrEnum):
    """What happens when the same respondent answers the same survey invitation twice.

    .. versionadded:: 0.1.0
    """

    FIRST_WINS = "first_wins"
    LAST_WINS = "last_wins"
    KEEP_ALL = "keep_all"


class Op(enum.StrEnum):
    """Comparison used by a display :class:`Condition`.

    .. versionadded:: 0.1.0
    """

    EQ = "eq"
    NE = "ne"
    LT = "lt"
    LE = "le"
    GT = "gt"
    GE = "ge"
    IN = "in"
    NOT_IN = "not_in"
    ANSWERED = "answered"
    NOT_ANSWERED = "not_answered"


_ORDER_OPS: dict[Op, Callable[[Any, Any], bool]] = {
    Op.LT: operator.lt,
    Op.LE: operator.le,
    Op.GT: operator.gt,
    Op.GE: operator.ge,
}

ConditionValue: TypeAlias = int | str | tuple[int | str, ...] | None


def _condition_value(value: object) -> ConditionValue:
    if isinstance(value, list):
        return tuple(value)
    return value  # type: ignore[return-value]  # anything else is reported by the checks


def _op(value: Op | str) -> Op:
    return member_or_value(Op, value)


def _display(value: Display | str) -> Display:
    return member_or_value(Display, value)


def _direction(value: Direction | str) -> Direction:
    return member_or_value(Direction, value)


def _survey_kind(value: SurveyKind | str) -> SurveyKind:
    return member_or_value(SurveyKind, value)


def _repeat_policy(value: RepeatPolicy | str) -> RepeatPolicy:
    return member_or_value(RepeatPolicy, value)


@attrs.frozen
class Condition:
    """Show a question only when an earlier answer meets this condition.

    >>> c = Condition("ltr", "le", 6)
    >>> c.holds({"ltr": 3}), c.holds({"ltr": 9}), c.holds({})
    (True, False, False)

    Args:
        question: The id of an earlier question.
        op: The comparison.
        value: What to compare with: a number or option id; a list for ``in``
            and ``not_in``; nothing for ``answered`` and ``not_answered``.

    .. versionadded:: 0.1.0
    """

    question: str
    op: Op = attrs.field(converter=_op)
    value: ConditionValue = attrs.field(default=None, converter=_condition_value)

    def __attrs_post_init__(self) -> None:
        checks = Checks()
        checks.identifier("question", self.question)
        if checks.member("op", self.op, Op, "a comparison"):
            self._check_value(checks)
        checks.raise_if_any("Condition")

    def _check_value(self, checks: Checks) -> None:
        scalar = (int, str)
        if self.op in (Op.ANSWERED, Op.NOT_ANSWERED):
            if self.value is not None:
                checks.add("value", f"{self.value!r} is not allowed with op {self.op.value!r}")
        elif self.op in (Op.IN, Op.NOT_IN):
            if not isinstance(self.value, tuple) or not self.value:
                checks.add(
                    "value", f"{self.value!r} is not a non-empty list (op {self.op.value!r})"
                )
            else:
                for i, v in enumerate(self.value):
                    checks.is_a(f"value[{i}]", v, scalar, "a number or option id")
        elif self.op in _ORDER_OPS:
            checks.is_a("value", self.value, int, f"a number (op {self.op.value!r})")
        else:
            checks.is_a("value", self.value, scalar, "a number or option id")

    def holds(self, answers: Mapping[str, AnswerValue]) -> bool:
        """Whether the condition is met by *answers*.

        An unanswered question meets no condition but ``not_answered``.
        """
        if self.question not in answers:
            return self.op is Op.NOT_ANSWERED
        answer = answers[self.question]
        picked = answer if isinstance(answer, tuple) else (answer,)
        match self.op:
            case Op.ANSWERED:
                return True
            case Op.NOT_ANSWERED:
                return False
            case Op.EQ:
                return self.value in picked
            case Op.NE:
                return self.value not in picked
            case Op.IN:
                assert isinstance(self.value, tuple)  # noqa: S101 - checked on construction
                return any(v in self.value for v in picked)
            case Op.NOT_IN:
                assert isinstance(self.value, tuple)  # noqa: S101 - checked on construction
                return not any(v in self.value for v in picked)
            case _:
                if not isinstance(answer, int) or isinstance(answer, bool):
                    return False
                return _ORDER_OPS[self.op](answer, self.value)


def _make_text(value: LocalizedText | Mapping[str, str]) -> LocalizedText:
    if isinstance(value, LocalizedText):
        return value
    if isinstance(value, Mapping):
        return LocalizedText(value)
    return value  # type: ignore[unreachable]  # reported by the checks


_build_text = building(_make_text)


def _text(value: LocalizedText | Mapping[str, str]) -> LocalizedText:
    return _build_text(value)


def _optional_text(value: LocalizedText | Mapping[str, str] | None) -> LocalizedText | None:
    return None if value is None else _text(value)


@attrs.frozen(kw_only=True)
class _QuestionBase:
    """What every question has."""

    kind: ClassVar[str]

    id: str
    text: LocalizedText = attrs.field(converter=_text)
    required: bool = False
    show_if: tuple[Condition, ...] = attrs.field(default=(), converter=as_tuple)
    help: LocalizedText | None = attrs.field(default=None, converter=_optional_text)

    def __attrs_post_init__(self) -> None:
        checks = Checks()
        checks.identifier("id", self.id)
        checks.is_a("text", self.text, LocalizedText, "a text per locale")
        checks.is_a("required", self.required, bool, "True or False")
        checks.items("show_if", self.show_if, Condition, "conditions")
        if self.help is not None:
            checks.is_a("help", self.help, LocalizedText, "a text per locale")
        self._check(checks)
        checks.raise_if_any(f"{type(self).__name__} {self.id!r}")

    def _check(self, checks: Checks) -> None:
        """Check the fields of a particular kind of question."""

    def texts(self) -> Iterator[tuple[str, LocalizedText]]:
        """Yield every text of the question with its path, for translation checks."""
        yield "text", self.text
        if self.help is not None:
            yield "help", self.help


@attrs.frozen(kw_only=True)
class ScoredQuestion(_QuestionBase):
    """A question answered on a numeric scale that feeds a metric.

    ``scale`` is the top of the scale; the bottom is 0 for NPS and 1 otherwise.
    """

    scale_bottom: ClassVar[int] = 1
    allowed_scales: ClassVar[tuple[int, ...]] = ()

    scale: int = 5
    low_label: LocalizedText | None = attrs.field(default=None, converter=_optional_text)
    high_label: LocalizedText | None = attrs.field(default=None, converter=_optional_text)

    @property
    def bounds(self) -> tuple[int, int]:
        """The lowest and highest answer, inclusive."""
        return (self.scale_bottom, self.scale)

    @property
    def metric_name(self) -> str:
        """The name of the metric in the registry this question's answers feed."""
        return self.kind

    @property
    def direction(self) -> Direction:
        """Which end of the scale, as shown, is good."""
        return Direction.HIGHER_IS_BETTER

    def canonical(self, value: int) -> int:
        """Return *value* as the metric reads it: higher is better.

        Only scales shown with the good end low (a CES with
        ``lower_is_better``) change: 1 becomes 7, 7 becomes 1.
        """
        if self.direction is Direction.LOWER_IS_BETTER:
            low, high = self.bounds
            return low + high - value
        return value

    def _check(self, checks: Checks) -> None:
        if checks.is_a("scale", self.scale, int, "a whole number") and (
            self.allowed_scales and self.scale not in self.allowed_scales
        ):
            expected = " or ".join(str(s) for s in self.allowed_scales)
            checks.add(
                "scale",
                f"{self.scale} is not a valid {self._scale_name} scale (expected {expected})",
            )
        for name in ("low_label", "high_label"):
            value = getattr(self, name)
            if value is not None:
                checks.is_a(name, value, LocalizedText, "a text per locale")

    @property
    def _scale_name(self) -> str:
        return self.kind.upper()

    def texts(self) -> Iterator[tuple[str, LocalizedText]]:  # noqa: D102 - inherited
        yield from super().texts()
        for name in ("low_label", "high_label"):
            value = getattr(self, name)
            if value is not None:
                yield name, value

    def check_answer(self, value: object) -> str | None:
        """Return why *value* is not a valid answer, or ``None`` if it is."""
        low, high = self.bounds
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            return f"{value!r} is not a whole number from {low} to {high}"
        return None


@attrs.frozen(kw_only=True)
class NpsQuestion(ScoredQuestion):
    """Net Promoter Score: "How likely are you to recommend us?", 0 to 10.

    .. versionadded:: 0.1.0
    """

    kind: ClassVar[str] = "nps"
    scale_bottom: ClassVar[int] = 0
    allowed_scales: ClassVar[tuple[int, ...]] = (10,)

    scale: int = 10


@attrs.frozen(kw_only=True)
class CsatQuestion(ScoredQuestion):
    """Customer satisfaction, 1 to 5, shown as numbers, stars or emoji.

    .. versionadded:: 0.1.0
    """

    kind: ClassVar[str] = "csat"
    allowed_scales: ClassVar[tuple[int, ...]] = (5,)

    scale: int = 5
    display: Display = attrs.field(default=Display.NUMBERS, converter=_display)

    def _check(self, checks: Checks) -> None:
        super()._check(checks)
        checks.member("display", self.display, Display, "a display")


@attrs.frozen(kw_only=True)
class CesQuestion(ScoredQuestion):
    """Customer Effort Score: agreement with "they made it easy", on 7 points.

    The direction is always explicit. With ``higher_is_better`` (the usual
    form) 7 is "strongly agree that it was easy"; with ``lower_is_better`` the
    scale is shown inverted, and :meth:`~ScoredQuestion.canonical` turns answers
    back so every CES is scored the same way.

    .. versionadded:: 0.1.0
    """

    kind: ClassVar[str] = "ces"
    allowed_scales: ClassVar[tuple[int, ...]] = (7,)

    scale: int = 7
    direction: Direction = attrs.field(converter=_direction)

    def _check(self, checks: Checks) -> None:
        super()._check(checks)
        checks.member("direction", self.direction, Direction, "a direction")


@attrs.frozen(kw_only=True)
class RatingQuestion(ScoredQuestion):
    """A 3- or 5-level star or emoji rating: very unhappy ... very happy.

    The response stores the level (1 to 3, or 1 to 5), never the glyph.

    .. versionadded:: 0.1.0
    """

    kind: ClassVar[str] = "rating"
    allowed_scales: ClassVar[tuple[int, ...]] = (3, 5)

    scale: int = 5
    display: Display = attrs.field(default=Display.EMOJI, converter=_display)

    @property
    def metric_name(self) -> str:  # noqa: D102 - inherited
        return "rating" if self.scale == 5 else "rating3"

    @property
    def _scale_name(self) -> str:
        return "rating"

    def _check(self, checks: Checks) -> None:
        super()._check(checks)
        if checks.member("display", self.display, Display, "a display") and (
            self.display is Display.NUMBERS
        ):
            checks.add("display", "'numbers' is not a rating display (expected 'stars' or 'emoji')")


@attrs.frozen(kw_only=True)
class ScaleQuestion(ScoredQuestion):
    """A question on the scale of a metric you registered yourself.

    ``low`` and ``scale`` (the top) repeat the metric's scale so that answers can be
    checked without the registry; loading a definition file checks that they
    match it.

    .. versionadded:: 0.1.0
    """

    kind: ClassVar[str] = "scale"

    metric: str
    low: int = 1
    scale: int = 5
    display: Display = attrs.field(default=Display.NUMBERS, converter=_display)

    @property
    def metric_name(self) -> str:  # noqa: D102 - inherited
        return self.metric

    @property
    def bounds(self) -> tuple[int, int]:  # noqa: D102 - inherited
        return (self.low, self.scale)

    def _check(self, checks: Checks) -> None:
        for name in ("low_label", "high_label"):
            value = getattr(self, name)
            if value is not None:
                checks.is_a(name, value, LocalizedText, "a text per locale")
        checks.identifier("metric", self.metric)
        if (
            checks.is_a("low", self.low, int, "a whole number")
            and checks.is_a("scale", self.scale, int, "a whole number")
            and self.low >= self.scale
        ):
            checks.add("scale", f"{self.scale} is not above low ({self.low})")
        checks.member("display", self.display, Display, "a display")


@attrs.frozen
class Option:
    """One option of a choice question.

    .. versionadded:: 0.1.0
    """

    id: str
    text: LocalizedText = attrs.field(converter=_text)

    def __attrs_post_init__(self) -> None:
        checks = Checks()
        checks.identifier("id", self.id)
        checks.is_a("text", self.text, LocalizedText, "a text per locale")
        checks.raise_if_any(f"Option {self.id!r}")


@attrs.frozen(kw_only=True)
class ChoiceQuestion(_QuestionBase):
    """Pick one option, or several when ``multiple`` is set.

    .. versionadded:: 0.1.0
    """

    kind: ClassVar[str] = "choice"

    options: tuple[Option, ...] = attrs.field(converter=as_tuple)
    multiple: bool = False
    max_choices: int | None = None

    def _check(self, checks: Checks) -> None:
        options = checks.items("options", self.options, Option, "options")
        if len(self.options) < 2:
            checks.add("options", f"has {len(self.options)} option(s) (expected at least 2)")
        checks.unique("options", options, key=lambda o: o.id)
        checks.is_a("multiple", self.multiple, bool, "True or False")
        if self.max_choices is not None:
            if not self.multiple:
                checks.add("max_choices", "is only allowed with multiple = true")
            elif checks.is_a("max_choices", self.max_choices, int, "a whole number") and not (
                1 <= self.max_choices <= len(self.options)
            ):
                checks.add(
                    "max_choices",
                    f"{self.max_choices} is not from 1 to the number of options "
                    f"({len(self.options)})",
                )

    @property
    def option_ids(self) -> tuple[str, ...]:
        """The ids of the options, in order."""
        return tuple(o.id for o in self.options)

    def texts(self) -> Iterator[tuple[str, LocalizedText]]:  # noqa: D102 - inherited
        yield from super().texts()
        for i, option in enumerate(self.options):
            yield f"options[{i}].text", option.text

    def check_answer(self, value: object) -> str | None:
        """Return why *value* is not a valid answer, or ``None`` if it is."""
        ids = self.option_ids
        if not self.multiple:
            if not isinstance(value, str) or value not in ids:
                return f"{value!r} is not one of the options ({', '.join(ids)})"
            return None
        if not isinstance(value, tuple) or not value:
            return f"{value!r} is not a non-empty list of options"
        unknown = [v for v in value if v not in ids]
        if unknown:
            return f"{unknown!r} are not among the options ({', '.join(ids)})"
        if len(set(value)) != len(value):
            return f"{value!r} names an option twice"
        if self.max_choices is not None and len(value) > self.max_choices:
            return f"{len(value)} options are chosen (at most {self.max_choices} allowed)"
        return None


@attrs.frozen(kw_only=True)
class TextQuestion(_QuestionBase):
    """An open text answer.

    .. versionadded:: 0.1.0
    """

    kind: ClassVar[str] = "text"

    max_length: int = 2000

    def _check(self, checks: Checks) -> None:
        if checks.is_a("max_length", self.max_length, int, "a whole number") and not (
            1 <= self.max_length <= 100_000
        ):
            checks.add("max_length", f"{self.max_length} is not from 1 to 100000")

    def check_answer(self, value: object) -> str | None:
        """Return why *value* is not a valid answer, or ``None`` if it is."""
        if not isinstance(value, str):
            return f"{value!r} is not text"
        if len(value) > self.max_length:
            return f"is {len(value)} characters long (at most {self.max_length} allowed)"
        return not_utf8(value)


Question: TypeAlias = (
    NpsQuestion
    | CsatQuestion
    | CesQuestion
    | RatingQuestion
    | ScaleQuestion
    | ChoiceQuestion
    | TextQuestion
)
"""Any question kind."""

QUESTION_KINDS: dict[str, type[Question]] = {
    cls.kind: cls
    for cls in (
        NpsQuestion,
        CsatQuestion,
        CesQuestion,
        RatingQuestion,
        ScaleQuestion,
        ChoiceQuestion,
        TextQuestion,
    )
}


@attrs.frozen(kw_only=True)
class Survey:
    """A versioned set of questions, with texts in one or more locales.

    >>> survey = Survey(
    ...     id="post_purchase",
    ...     title={"en": "Your visit"},
    ...     questions=[
    ...         NpsQuestion(id="ltr", text={"en": "How likely are you to recommend us?"},
    ...                     required=True),
    ...         TextQuestion(id="why", text={"en": "What could we do better?"},
    ...                      show_if=[Condition("ltr", "le", 6)]),
    ...     ],
    ... )
    >>> [q.id for q in survey.visible({"ltr": 9})]
    ['ltr']
    >>> survey.check_answers({"ltr": 11}, complete=True)
    [Problem(path='answers.ltr', message='11 is not a whole number from 0 to 10')]

    Args:
        id: A stable id.
        version: Bump it whenever questions change; responses keep the version
            they answered.
        title: The survey's title per locale.
        questions: The questions, in the order they are asked.
        kind: Transactional (after an interaction) or relationship (periodic).
        default_locale: The locale every text must have.
        intro: Optional text shown before the questions.
        thanks: Optional text shown after the last answer.
        on_repeat: What happens when one respondent answers one invitation twice.
        retention_days: Keep personal data in its responses this many days, then
            purge it and keep the anonymous answers; ``None`` keeps it.
        description: Notes for the people who maintain it.

    Raises:
        ValidationError: Listing every problem: repeated ids, a missing
            default-locale text, display logic that refers to a later or
            unknown question...

    .. versionadded:: 0.1.0
    """

    id: str
    version: int = 1
    title: LocalizedText = attrs.field(converter=_text)
    questions: tuple[Question, ...] = attrs.field(converter=as_tuple)
    kind: SurveyKind = attrs.field(default=SurveyKind.TRANSACTIONAL, converter=_survey_kind)
    default_locale: str = "en"
    intro: LocalizedText | None = attrs.field(default=None, converter=_optional_text)
    thanks: LocalizedText | None = attrs.field(default=None, converter=_optional_text)
    on_repeat: RepeatPolicy = attrs.field(default=RepeatPolicy.FIRST_WINS, converter=_repeat_policy)
    retention_days: int | None = None
    description: str | None = None

    def __attrs_post_init__(self) -> None:
        checks = Checks()
        checks.identifier("id", self.id)
        if checks.is_a("version", self.version, int, "a whole number") and self.version < 1:
            checks.add("version", f"{self.version} is not 1 or more")
        checks.member("kind", self.kind, SurveyKind, "a survey kind")
        checks.member("on_repeat", self.on_repeat, RepeatPolicy, "a repeat policy")
        checks.locale("default_locale", self.default_locale)
        if self.retention_days is not None and (
            checks.is_a("retention_days", self.retention_days, int, "a whole number")
            and self.retention_days < 1
        ):
            checks.add("retention_days", f"{self.retention_days} is not 1 or more")
        questions = checks.items(
            "questions", self.questions, tuple(QUESTION_KINDS.values()), "questions"
        )
        if not self.questions:
            checks.add("questions", "is empty (expected at least one question)")
        checks.unique("questions", questions, key=lambda q: q.id)
        for path, text in self._texts():
            translations = getattr(text, "translations", None)  # None where a text was invalid
            if translations is not None and self.default_locale not in translations:
                checks.add(
                    path, f"has no {self.default_locale!r} text (the survey's default locale)"
                )
        self._check_logic(checks, questions)
        checks.raise_if_any(f"Survey {self.id!r} v{self.version}")

    def _texts(self) -> Iterator[tuple[str, LocalizedText]]:
        yield "title", self.title
        if self.intro is not None:
            yield "intro", self.intro
        if self.thanks is not None:
            yield "thanks", self.thanks
        for i, q in enumerate(self.questions):
            if isinstance(q, _QuestionBase):
                for path, text in q.texts():
                    yield f"questions[{i}].{path}", text

    def _check_logic(self, checks: Checks, questions: tuple[Question, ...]) -> None:
        earlier: dict[str, Question] = {}
        for i, q in enumerate(questions):
            for j, cond in enumerate(q.show_if):
                path = f"questions[{i}].show_if[{j}]"
                target = earlier.get(cond.question)
                if target is None:
                    later = any(other.id == cond.question for other in questions[i:])
                    checks.add(
                        f"{path}.question",
                        f"{cond.question!r} is not an earlier question"
                        + (" (display logic may only look back)" if later else ""),
                    )
                    continue
                for k, v in enumerate(_condition_values(cond)):
                    problem = _value_fits(target, v, cond.op)
                    if problem:
                        where = f"{path}.value" + (
                            f"[{k}]" if isinstance(cond.value, tuple) else ""
                        )
                        checks.add(where, problem)
            earlier[q.id] = q

    # -- reading ------------------------------------------------------------

    @property
    def locales(self) -> frozenset[str]:
        """The locales every text of the survey is available in."""
        result: frozenset[str] | None = None
        for _, text in self._texts():
            result = text.locales if result is None else result & text.locales
        return result or frozenset({self.default_locale})

    def question(self, question_id: str) -> Question:
        """Return the question with *question_id*.

        Raises:
            KeyError: If there is none; the message lists the question ids.
        """
        for q in self.questions:
            if q.id == question_id:
                return q
        known = ", ".join(q.id for q in self.questions)
        msg = f"survey {self.id!r} v{self.version} has no question {question_id!r}; it has: {known}"
        raise KeyError(msg)

    def scored_questions(self) -> tuple[ScoredQuestion, ...]:
        """The questions that feed a metric, in order."""
        return tuple(q for q in self.questions if isinstance(q, ScoredQuestion))

    def normalize_answers(self, answers: Mapping[str, object]) -> dict[str, object]:
        """Return *answers* in the form the survey stores them.

        Lists become tuples, and a single option id given for a multiple-choice
        question (what a one-click link carries) becomes a one-item tuple.
        Nothing else changes: :meth:`check_answers` still judges the values.
        """
        multiple = self._multiple
        result: dict[str, object] = {}
        for qid, value in answers.items():
            if isinstance(value, list):
                value = tuple(value)  # noqa: PLW2901 - normalised in place
            if qid in multiple and isinstance(value, str):
                value = (value,)  # noqa: PLW2901 - normalised in place
            result[qid] = value
        return result

    @functools.cached_property
    def _multiple(self) -> frozenset[str]:
        return frozenset(
            q.id for q in self.questions if isinstance(q, ChoiceQuestion) and q.multiple
        )

    @functools.cached_property
    def _by_id(self) -> dict[str, Question]:
        return {q.id: q for q in self.questions}

    @functools.cached_property
    def _has_logic(self) -> bool:
        return any(q.show_if for q in self.questions)

    def visible(self, answers: Mapping[str, AnswerValue]) -> tuple[Question, ...]:
        """The questions shown, given the answers so far."""
        return tuple(q for q in self.questions if all(c.holds(answers) for c in q.show_if))

    def check_answers(
        self, answers: Mapping[str, object], *, complete: bool, logic: bool = True
    ) -> list[Problem]:
        """Return every problem with *answers* (empty when they are fine).

        Args:
            answers: Answers keyed by question id.
            complete: Whether every visible required question must be answered.
            logic: Whether to apply display logic (answers to hidden questions
                are errors). Turn it off to check a part of the answers alone,
                before it is merged with answers given earlier.
        """
        problems: list[Problem] = []
        by_id = self._by_id
        for qid, value in answers.items():
            q = by_id.get(qid)
            if q is None:
                problems.append(
                    Problem(
                        f"answers.{qid}", f"is not a question of survey {self.id!r} v{self.version}"
                    )
                )
                continue
            message = q.check_answer(value)
            if message:
                problems.append(Problem(f"answers.{qid}", message))
        if problems or not logic:
            return problems
        shown = (
            self.visible(cast("Mapping[str, AnswerValue]", answers))  # checked just above
            if self._has_logic
            else self.questions
        )
        shown_ids = {q.id for q in shown}
        problems.extend(
            Problem(f"answers.{qid}", "answers a question the display logic hides")
            for qid in answers
            if qid not in shown_ids
        )
        if complete:
            problems.extend(
                Problem(f"answers.{q.id}", "is required but missing")
                for q in shown
                if q.required and q.id not in answers
            )
        return problems

    def validate_answers(
        self, answers: Mapping[str, object], *, complete: bool, logic: bool = True
    ) -> None:
        """Raise :class:`~cxcore.ValidationError` listing every problem with *answers*.

        The arguments are those of :meth:`check_answers`.
        """
        problems = self.check_answers(answers, complete=complete, logic=logic)
        if problems:
            raise ValidationError(f"Answers to survey {self.id!r} v{self.version}", problems)


def _condition_values(cond: Condition) -> tuple[int | str, ...]:
    if cond.value is None:
        return ()
    return cond.value if isinstance(cond.value, tuple) else (cond.value,)


def _value_fits(question: Question, value: int | str, op: Op) -> str | None:
    if isinstance(question, ScoredQuestion):
        low, high = question.bounds
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            return f"{value!r} is not on the scale of {question.id!r} ({low} to {high})"
    elif isinstance(question, ChoiceQuestion):
        if op in _ORDER_OPS:
            return f"op {op.value!r} cannot compare the choices of {question.id!r}"
        if value not in question.option_ids:
            return (
                f"{value!r} is not an option of {question.id!r} ({', '.join(question.option_ids)})"
            )
    elif op in _ORDER_OPS:
        return f"op {op.value!r} cannot compare the text of {question.id!r}"
    return None
