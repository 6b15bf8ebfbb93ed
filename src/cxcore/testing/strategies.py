"""Hypothesis strategies for cxcore's model: valid values of every kind.

>>> from hypothesis import given
>>> from cxcore.testing import strategies as cxst
>>> @given(cxst.surveys())
... def test_survey_has_questions(survey):
...     assert survey.questions
>>> test_survey_has_questions()
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import strategies as st

from cxcore.definitions import Definitions
from cxcore.metrics import Bucket, Headline, Metric
from cxcore.model import (
    CesQuestion,
    ChoiceQuestion,
    Condition,
    Consent,
    CsatQuestion,
    Customer,
    Direction,
    Display,
    Interaction,
    Invitation,
    Journey,
    LocalizedText,
    NpsQuestion,
    Option,
    Purpose,
    Question,
    RatingQuestion,
    RepeatPolicy,
    RespondentKind,
    Response,
    ResponseStatus,
    ScaleQuestion,
    ScoredQuestion,
    Stage,
    Survey,
    SurveyKind,
    TextQuestion,
    Touchpoint,
)
from cxcore.model.survey import AnswerValue

__all__ = [
    "EFFORT10",
    "aware_datetimes",
    "customers",
    "definitions",
    "identifiers",
    "interactions",
    "invitations",
    "journeys",
    "localized_texts",
    "metrics",
    "questions",
    "responses",
    "surveys",
]

TIMEZONES = (
    "UTC",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Europe/London",
    "America/New_York",
    "Asia/Dubai",
)
"""Zones with odd offsets (+05:30, +05:45) and DST changes, to shake out time bugs."""

LOCALES = ("en", "hi", "ta", "en-IN")

identifiers = st.from_regex(r"[a-z][a-z0-9_]{0,11}", fullmatch=True)
"""Ids of the kind used for surveys, questions and touchpoints."""

_names = st.text(
    alphabet=st.characters(codec="utf-8", categories=("L", "N", "Zs", "P")), min_size=1, max_size=30
).filter(lambda s: s.strip() != "")


@st.composite
def aware_datetimes(draw: st.DrawFn) -> datetime:
    """Aware datetimes in several time zones, whole microseconds, 2020-2035."""
    naive = draw(st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1)))  # noqa: DTZ001 - made aware below
    zone = draw(st.sampled_from(TIMEZONES))
    return naive.replace(tzinfo=ZoneInfo(zone))


def localized_texts(default_locale: str = "en") -> st.SearchStrategy[LocalizedText]:
    """Texts that always include *default_locale*, sometimes more locales."""
    others = st.dictionaries(st.sampled_from(LOCALES), _names, max_size=2)
    return st.builds(
        lambda first, rest: LocalizedText({default_locale: first, **rest}), _names, others
    )


def _labels(default_locale: str) -> st.SearchStrategy[LocalizedText | None]:
    return st.none() | localized_texts(default_locale)


def questions(default_locale: str = "en") -> st.SearchStrategy[Question]:
    """Questions of every kind (without display logic)."""
    text = localized_texts(default_locale)
    common = {"id": identifiers, "text": text, "required": st.booleans()}
    scored_extra = {"low_label": _labels(default_locale), "high_label": _labels(default_locale)}
    options = st.lists(
        st.builds(Option, id=identifiers, text=text),
        min_size=2,
        max_size=5,
        unique_by=lambda o: o.id,
    )
    return st.one_of(
        st.builds(NpsQuestion, **common, **scored_extra),
        st.builds(CsatQuestion, **common, **scored_extra, display=st.sampled_from(Display)),
        st.builds(CesQuestion, **common, **scored_extra, direction=st.sampled_from(Direction)),
        st.builds(
            RatingQuestion,
            **common,
            scale=st.sampled_from((3, 5)),
            display=st.sampled_from((Display.STARS, Display.EMOJI)),
        ),
        st.builds(
            ScaleQuestion,
            **common,
            metric=st.just("effort10"),
            low=st.just(1),
            scale=st.just(10),
        ),
        options.flatmap(
            lambda opts: st.builds(
                ChoiceQuestion,
                **common,
                options=st.just(opts),
                multiple=st.booleans(),
            )
        ),
        st.builds(TextQuestion, **common, max_length=st.integers(1, 5000)),
    )


def _condition_for(question: Question) -> st.SearchStrategy[Condition]:
    if isinstance(question, ScoredQuestion):
        low, high = question.bounds
        return st.builds(
            Condition,
            question=st.just(question.id),
            op=st.sampled_from(("eq", "ne", "lt", "le", "gt", "ge")),
            value=st.integers(low, high),
        )
    if isinstance(question, ChoiceQuestion):
        return st.builds(
            Condition,
            question=st.just(question.id),
            op=st.sampled_from(("in", "not_in")),
            value=st.lists(st.sampled_from(question.option_ids), min_size=1, max_size=2).map(tuple),
        )
    return st.builds(
        Condition, question=st.just(question.id), op=st.sampled_from(("answered", "not_answered"))
    )


@st.composite
def surveys(draw: st.DrawFn) -> Survey:
    """Valid surveys: unique question ids, default-locale texts, backward display logic."""
    default_locale = draw(st.sampled_from(("en", "hi")))
    raw = draw(
        st.lists(questions(default_locale), min_size=1, max_size=6, unique_by=lambda q: q.id)
    )
    built: list[Question] = []
    for q in raw:
        if draw(st.booleans()) and built:
            target = draw(st.sampled_from(built))
            condition = draw(_condition_for(target))
            q = _with_show_if(q, condition)  # noqa: PLW2901 - rebuilt with display logic
        built.append(q)
    return Survey(
        id=draw(identifiers),
        version=draw(st.integers(1, 50)),
        title=draw(localized_texts(default_locale)),
        questions=built,
        kind=draw(st.sampled_from(SurveyKind)),
        default_locale=default_locale,
        intro=draw(st.none() | localized_texts(default_locale)),
        thanks=draw(st.none() | localized_texts(default_locale)),
        on_repeat=draw(st.sampled_from(RepeatPolicy)),
        retention_days=draw(st.none() | st.integers(1, 3650)),
    )


def _with_show_if(question: Question, condition: Condition) -> Question:
    import attrs  # noqa: PLC0415 - only here

    return attrs.evolve(question, show_if=(condition,))


def journeys() -> st.SearchStrategy[Journey]:
    """Valid journeys with ids unique across all stages and touchpoints."""
    touchpoint = st.builds(
        Touchpoint,
        id=identifiers,
        name=st.just("Touchpoint"),
        owner=identifiers,
        channels=st.lists(
            st.sampled_from(("email", "sms", "inapp", "kiosk")), unique=True, max_size=3
        ),
    )

    @st.composite
    def build(draw: st.DrawFn) -> Journey:
        tps = draw(st.lists(touchpoint, min_size=1, max_size=8, unique_by=lambda t: t.id))
        cut = draw(st.integers(1, len(tps)))
        stages = [Stage("stage_a", "Stage A", tps[:cut])]
        if tps[cut:]:
            stages.append(Stage("stage_b", "Stage B", tps[cut:]))
        return Journey(id=draw(identifiers), name="Journey", stages=stages)

    return build()


def customers() -> st.SearchStrategy[Customer]:
    """Customers with and without contact points and consent."""
    consent = st.builds(
        Consent,
        channel=st.sampled_from(("email", "sms", "*")),
        purpose=st.sampled_from(Purpose),
        granted=st.booleans(),
        source=st.sampled_from(("sms_stop", "email_link", "kiosk_opt_in", "signup_form")),
        recorded_at=aware_datetimes(),
    )
    return st.builds(
        Customer,
        id=st.from_regex(r"C-[0-9]{1,6}", fullmatch=True),
        email=st.none() | st.from_regex(r"[a-z]{1,8}@example\.(in|com)", fullmatch=True),
        phone=st.none() | st.from_regex(r"\+91[6-9][0-9]{9}", fullmatch=True),
        app_user_id=st.none() | identifiers,
        locale=st.sampled_from(LOCALES),
        timezone=st.none() | st.sampled_from(TIMEZONES),
        country=st.none() | st.sampled_from(("IN", "NP", "GB", "US")),
        consents=st.lists(consent, max_size=3),
    )


_context = st.dictionaries(
    st.sampled_from(("touchpoint", "store", "agent", "product", "order", "amount", "vip")),
    st.one_of(
        identifiers, st.integers(0, 10**6), st.floats(0, 1e6, allow_nan=False), st.booleans()
    ),
    max_size=5,
)


def interactions() -> st.SearchStrategy[Interaction]:
    """Interactions, known or anonymous, with dimensions and free attributes."""
    return st.builds(
        Interaction,
        id=st.from_regex(r"I-[0-9]{1,8}", fullmatch=True),
        touchpoint=identifiers,
        occurred_at=aware_datetimes(),
        customer_id=st.none() | st.from_regex(r"C-[0-9]{1,6}", fullmatch=True),
        store=st.none() | st.sampled_from(("BLR-01", "DEL-02", "MUM-03")),
        agent=st.none() | st.from_regex(r"A-[0-9]{1,3}", fullmatch=True),
        attributes=st.dictionaries(
            st.sampled_from(("amount", "payment", "city")), st.integers(0, 10**5), max_size=2
        ),
    )


def _answer_for(question: Question) -> st.SearchStrategy[AnswerValue]:
    if isinstance(question, ScoredQuestion):
        low, high = question.bounds
        return st.integers(low, high)
    if isinstance(question, ChoiceQuestion):
        if question.multiple:
            limit = question.max_choices or len(question.options)
            return st.lists(
                st.sampled_from(question.option_ids), min_size=1, max_size=limit, unique=True
            ).map(tuple)
        return st.sampled_from(question.option_ids)
    assert isinstance(question, TextQuestion)  # noqa: S101 - the remaining kind
    return st.text(max_size=min(question.max_length, 40))


@st.composite
def responses(draw: st.DrawFn, survey: Survey | None = None) -> Response:
    """Responses whose answers are valid for *survey* (a drawn survey by default)."""
    survey = draw(surveys()) if survey is None else survey
    answers: dict[str, AnswerValue] = {}
    for q in survey.questions:
        if all(c.holds(answers) for c in q.show_if) and draw(st.booleans()):
            answers[q.id] = draw(_answer_for(q))
    respondent = draw(st.sampled_from(RespondentKind))
    started = draw(aware_datetimes())
    updated = started + draw(st.timedeltas(timedelta(0), timedelta(days=3)))
    complete = draw(st.booleans()) and not survey.check_answers(answers, complete=True)
    return Response(
        id=draw(st.uuids()).hex,
        survey_id=survey.id,
        survey_version=survey.version,
        answers=answers,
        status=ResponseStatus.COMPLETE if complete else ResponseStatus.PARTIAL,
        respondent=respondent,
        customer_id="C-1" if respondent is RespondentKind.CUSTOMER else None,
        agent_id="A-7" if respondent is RespondentKind.AGENT else None,
        channel=draw(st.sampled_from(("email", "sms", "inapp", "kiosk"))),
        idempotency_key=draw(st.uuids()).hex,
        started_at=started,
        updated_at=updated,
        completed_at=updated if complete else None,
        interaction_id=draw(st.none() | st.just("I-1")),
        locale=draw(st.sampled_from(LOCALES)),
        context=draw(_context),
    )


def invitations() -> st.SearchStrategy[Invitation]:
    """Invitations on several channels and time zones."""
    return st.builds(
        Invitation,
        id=st.uuids().map(lambda u: u.hex),
        survey_id=identifiers,
        survey_version=st.integers(1, 9),
        channel=st.sampled_from(("email", "sms", "inapp")),
        address=st.none() | st.just("asha@example.in"),
        token=st.from_regex(r"[A-Za-z0-9_.-]{8,40}", fullmatch=True),
        created_at=st.just(datetime(2026, 11, 20, tzinfo=UTC)),
        timezone=st.sampled_from(TIMEZONES),
        context=_context,
    )


def metrics() -> st.SearchStrategy[Metric]:
    """Custom metrics on a 1..N scale with a low and a high bucket."""

    @st.composite
    def build(draw: st.DrawFn) -> Metric:
        high = draw(st.integers(3, 10))
        cut = draw(st.integers(1, high - 1))
        return Metric(
            name=draw(identifiers.map(lambda s: f"m_{s}")),
            title="Custom",
            low=1,
            high=high,
            direction=draw(st.sampled_from(Direction)),
            buckets=[Bucket("low", 1, cut), Bucket("high", cut + 1, high)],
            headline=draw(st.sampled_from(Headline)),
            positive="high",
            negative="low",
            labels={1: {"en": "Worst"}, high: {"en": "Best"}},
        )

    return build()


EFFORT10 = Metric(
    name="effort10",
    title="Effort (1-10)",
    low=1,
    high=10,
    direction=Direction.HIGHER_IS_BETTER,
    buckets=[Bucket("hard", 1, 4), Bucket("neutral", 5, 6), Bucket("easy", 7, 10)],
    headline=Headline.TOP_BOX,
    positive="easy",
    negative="hard",
)
"""The custom metric that generated scale questions feed."""


@st.composite
def definitions(draw: st.DrawFn) -> Definitions:
    """Definition documents: journeys, surveys with unique (id, version), custom metrics.

    They always define :data:`EFFORT10`, which generated scale questions use.
    """
    return Definitions(
        journeys=draw(st.lists(journeys(), max_size=2, unique_by=lambda j: j.id)),
        surveys=draw(st.lists(surveys(), max_size=3, unique_by=lambda s: (s.id, s.version))),
        metrics=[EFFORT10, *draw(st.lists(metrics(), max_size=2, unique_by=lambda m: m.name))],
    )
