"""The domain model: values are checked on construction and report every problem."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest

from cxcore import (
    CesQuestion,
    ChoiceQuestion,
    Condition,
    Consent,
    CsatQuestion,
    Customer,
    Direction,
    Display,
    FrozenDict,
    Interaction,
    Invitation,
    Journey,
    LocalizedText,
    NpsQuestion,
    Option,
    Problem,
    Purpose,
    RatingQuestion,
    RespondentKind,
    Response,
    ResponseStatus,
    ScaleQuestion,
    Stage,
    Survey,
    TextQuestion,
    Touchpoint,
    ValidationError,
)
from cxcore.model import AddressKind, AnswerValue

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
EN = {"en": "Text"}


def problems_of(exc: pytest.ExceptionInfo[ValidationError]) -> dict[str, str]:
    return {p.path: p.message for p in exc.value.problems}


class TestFrozenDict:
    def test_is_an_immutable_hashable_mapping(self):
        """It reads like a dict, compares equal to one, hashes, and cannot be changed."""
        d: FrozenDict[str, int] = FrozenDict({"a": 1, "b": 2})
        assert d == {"a": 1, "b": 2}
        assert hash(d) == hash(FrozenDict(b=2, a=1))
        assert list(d) == ["a", "b"]
        with pytest.raises(TypeError):
            d["c"] = 3  # type: ignore[index]

    def test_get_and_in_answer_like_a_dict(self):
        """get() and `in` give what a dict gives, for keys that are there and keys that are not."""
        d: FrozenDict[str, int | None] = FrozenDict(a=1, n=None)
        plain = {"a": 1, "n": None}
        for key in ("a", "n", "missing"):
            assert d.get(key) == plain.get(key)
            assert d.get(key, 7) == plain.get(key, 7)
            assert (key in d) is (key in plain)
        unhashable: Any = []
        with pytest.raises(TypeError):
            d.get(unhashable)
        with pytest.raises(TypeError):
            _ = unhashable in d

    def test_set_returns_a_copy(self):
        """set() leaves the original alone."""
        d: FrozenDict[str, int] = FrozenDict(a=1)
        assert d.set("a", 2) == {"a": 2}
        assert d == {"a": 1}


class TestLocalizedText:
    def test_falls_back_from_region_to_language_to_fallback(self):
        """en-IN falls back to en; an unknown locale to the fallback; then to any text."""
        text = LocalizedText({"en": "Hello", "hi": "नमस्ते"})
        assert text.get("en-IN") == "Hello"
        assert text.get("ta", fallback="hi") == "नमस्ते"
        assert LocalizedText({"hi": "नमस्ते"}).get("fr") == "नमस्ते"

    def test_rejects_empty_and_malformed(self):
        """No translation, a bad locale tag and an empty text are all reported."""
        with pytest.raises(ValidationError, match="no translation"):
            LocalizedText({})
        with pytest.raises(ValidationError) as exc:
            LocalizedText({"EN": "x", "hi": " "})
        assert problems_of(exc).keys() == {"['EN']", "hi"}


class TestJourney:
    def journey(self, *stages: Stage) -> Journey:
        return Journey(id="retail", name="Retail", stages=list(stages))

    def test_finds_touchpoints_and_their_stage(self):
        """Touchpoints are found by id, in journey order, with their stage."""
        j = self.journey(
            Stage(
                "purchase", "Purchase", [Touchpoint("billing", "Billing", "store_manager", ["sms"])]
            ),
            Stage("support", "Support", [Touchpoint("call", "Call", "support_lead")]),
        )
        assert [tp.id for tp in j.touchpoints()] == ["billing", "call"]
        assert j.stage_of("call").id == "support"
        assert j.touchpoint("billing").channels == ("sms",)

    def test_unknown_touchpoint_names_the_known_ones(self):
        """Looking up a missing touchpoint lists those that exist."""
        j = self.journey(Stage("s", "S", [Touchpoint("billing", "Billing", "owner")]))
        with pytest.raises(KeyError, match="it has: billing"):
            j.touchpoint("exit")
        with pytest.raises(KeyError, match="billing"):
            j.stage_of("exit")

    def test_touchpoint_ids_are_unique_across_stages(self):
        """The same touchpoint id in two stages is reported with both places."""
        with pytest.raises(ValidationError) as exc:
            self.journey(
                Stage("a", "A", [Touchpoint("t", "T", "o")]),
                Stage("b", "B", [Touchpoint("t", "T", "o")]),
            )
        assert problems_of(exc) == {
            "stages[1].touchpoints[0].id": "'t' is already used by stages[0].touchpoints[0]"
        }

    def test_reports_every_bad_field_of_a_touchpoint(self):
        """All faults of one touchpoint come in one error."""
        with pytest.raises(ValidationError) as exc:
            Touchpoint("bad id", "", "store manager", ["sms", "sms", "bad channel"])
        assert set(problems_of(exc)) == {"id", "name", "owner", "channels[2]", "channels[1]"}

    def test_empty_journey_is_rejected(self):
        """A journey needs at least one stage."""
        with pytest.raises(ValidationError, match="stages: is empty"):
            Journey(id="j", name="J", stages=[])


class TestCustomer:
    def test_valid_customer_and_addresses(self):
        """Contact points are returned by address kind."""
        c = Customer(
            id="C-1", email="asha@example.in", phone="+919812345678", timezone="Asia/Kolkata"
        )
        assert c.address(AddressKind.EMAIL) == "asha@example.in"
        assert c.address(AddressKind.PHONE) == "+919812345678"
        assert c.address(AddressKind.APP_USER) is None
        assert c.address(AddressKind.NONE) is None

    def test_reports_every_bad_contact_field(self):
        """Bad email, non-E.164 phone, unknown zone, locale and country are all named."""
        with pytest.raises(ValidationError) as exc:
            Customer(
                id="C-1",
                email="asha@",
                phone="09812345678",
                timezone="Asia/Bangalore",
                locale="Hindi",
                country="India",
            )
        found = problems_of(exc)
        assert set(found) == {"email", "phone", "timezone", "locale", "country"}
        assert "'09812345678' is not an E.164 phone number" in found["phone"]
        assert "'Asia/Bangalore' is not an IANA time zone" in found["timezone"]

    def test_email_with_line_break_is_rejected(self):
        """An address that could inject a header is not an email address."""
        with pytest.raises(ValidationError, match="email"):
            Customer(id="C-1", email="a@example.in\r\nBcc: b@example.in")

    def test_latest_consent_wins_and_star_applies_to_all_channels(self):
        """The newest entry for a channel and purpose decides; '*' covers every channel."""
        granted = Consent(
            "sms", Purpose.SURVEY, granted=True, source="signup_form", recorded_at=NOW
        )
        stop = Consent(
            "sms", "survey", granted=False, source="sms_stop", recorded_at=NOW + timedelta(days=1)
        )
        everything = Consent(
            "*", "survey", granted=True, source="kiosk_opt_in", recorded_at=NOW + timedelta(days=2)
        )
        c = Customer(id="C-1", consents=[granted, stop])
        consent = c.consent("sms", Purpose.SURVEY)
        assert consent is not None
        assert consent.granted is False
        assert c.consent("email", Purpose.SURVEY) is None
        later = attrs.evolve(c, consents=[granted, stop, everything])
        latest = later.consent("sms", Purpose.SURVEY)
        assert latest is not None
        assert latest.source == "kiosk_opt_in"

    def test_consent_needs_an_aware_time_and_a_known_purpose(self):
        """A naive time and an unknown purpose are both reported."""
        with pytest.raises(ValidationError) as exc:
            Consent("sms", "spam", granted=True, source="form", recorded_at=datetime(2026, 1, 1))  # noqa: DTZ001
        assert set(problems_of(exc)) == {"purpose", "recorded_at"}


class TestInteraction:
    def test_context_holds_set_dimensions_then_attributes(self):
        """Only the dimensions that are set appear, in a fixed order, then free attributes."""
        i = Interaction(
            id="I-1",
            touchpoint="billing",
            occurred_at=NOW,
            store="BLR-01",
            agent="A-7",
            attributes={"amount": 1499.0, "upi": True},
        )
        assert list(i.context().items()) == [
            ("touchpoint", "billing"),
            ("store", "BLR-01"),
            ("agent", "A-7"),
            ("amount", 1499.0),
            ("upi", True),
        ]
        assert i.anonymous

    def test_attributes_cannot_shadow_dimensions_or_be_odd_values(self):
        """An attribute named like a dimension, or holding a list or NaN, is rejected."""
        with pytest.raises(ValidationError) as exc:
            Interaction(
                id="I-1",
                touchpoint="billing",
                occurred_at=NOW,
                attributes={"store": "x", "items": [1, 2], "ratio": float("nan")},
            )
        assert set(problems_of(exc)) == {"attributes.store", "attributes.items", "attributes.ratio"}

    def test_naive_time_is_rejected(self):
        """Times must carry their zone."""
        with pytest.raises(ValidationError, match="no time zone"):
            Interaction(id="I-1", touchpoint="t", occurred_at=datetime(2026, 1, 1))  # noqa: DTZ001

    def test_values_no_store_can_keep_are_rejected(self):
        """Infinity (not JSON) and NUL (not in PostgreSQL's JSON) are refused, each by name."""
        with pytest.raises(ValidationError) as exc:
            Interaction(
                id="I-1",
                touchpoint="billing",
                occurred_at=NOW,
                attributes={"big": float("inf"), "small": -float("inf"), "note": "a\x00b"},
            )
        assert problems_of(exc) == {
            "attributes.big": "inf is not a finite number",
            "attributes.small": "-inf is not a finite number",
            "attributes.note": "'a\\x00b' contains a NUL character (\\x00)",
        }
        with pytest.raises(ValidationError) as exc:
            Interaction(
                id="I-\ud83d", touchpoint="billing", occurred_at=NOW, attributes={"n": "\udc80"}
            )
        assert problems_of(exc) == {
            "id": "contains a lone surrogate ('\\ud83d'), which is not UTF-8 text",
            "attributes.n": "contains a lone surrogate ('\\udc80'), which is not UTF-8 text",
        }
        ok = Interaction(
            id="I-2",
            touchpoint="billing",
            occurred_at=NOW,
            attributes={"x": 1e308, "y": "a\tb", "z": "नमस्ते 🙏"},
        )
        assert ok.attributes["x"] == 1e308


class TestQuestions:
    def test_fixed_scales_are_enforced(self):
        """NPS is 0-10, CSAT 1-5, CES 1-7, ratings 3 or 5 levels."""
        with pytest.raises(ValidationError, match="11 is not a valid NPS scale"):
            NpsQuestion(id="q", text=EN, scale=11)
        with pytest.raises(ValidationError, match="not a valid CSAT scale"):
            CsatQuestion(id="q", text=EN, scale=7)
        with pytest.raises(ValidationError, match="not a valid rating scale"):
            RatingQuestion(id="q", text=EN, scale=4)
        assert NpsQuestion(id="q", text=EN).bounds == (0, 10)
        assert CesQuestion(id="q", text=EN, direction="higher_is_better").bounds == (1, 7)

    def test_ces_direction_is_explicit_and_canonicalises(self):
        """An inverted CES is turned back so 7 always means easiest."""
        inverted = CesQuestion(id="q", text=EN, direction=Direction.LOWER_IS_BETTER)
        assert [inverted.canonical(v) for v in (1, 4, 7)] == [7, 4, 1]
        normal = CesQuestion(id="q", text=EN, direction="higher_is_better")
        assert normal.canonical(2) == 2
        with pytest.raises(ValidationError, match="direction"):
            CesQuestion(id="q", text=EN, direction="up")

    def test_rating_metric_follows_levels_and_never_shows_numbers(self):
        """A 3-level rating feeds rating3; 'numbers' is not a rating display."""
        assert RatingQuestion(id="q", text=EN, scale=3).metric_name == "rating3"
        assert RatingQuestion(id="q", text=EN).metric_name == "rating"
        with pytest.raises(ValidationError, match="not a rating display"):
            RatingQuestion(id="q", text=EN, display=Display.NUMBERS)

    def test_scale_question_checks_its_bounds(self):
        """A custom scale needs low below the top."""
        q = ScaleQuestion(id="q", text=EN, metric="effort10", low=1, scale=10)
        assert (q.metric_name, q.bounds) == ("effort10", (1, 10))
        with pytest.raises(ValidationError, match="not above low"):
            ScaleQuestion(id="q", text=EN, metric="m", low=5, scale=5)

    @pytest.mark.parametrize(
        ("question", "good", "bad"),
        [
            (NpsQuestion(id="q", text=EN), [0, 10], [11, -1, "9", 9.0, True]),
            (CsatQuestion(id="q", text=EN), [1, 5], [0, 6]),
            (TextQuestion(id="q", text=EN, max_length=5), ["", "hello"], ["toolong", 5]),
            (
                ChoiceQuestion(id="q", text=EN, options=[Option("a", EN), Option("b", EN)]),
                ["a", "b"],
                ["c", ("a",), 1],
            ),
            (
                ChoiceQuestion(
                    id="q",
                    text=EN,
                    multiple=True,
                    max_choices=2,
                    options=[Option("a", EN), Option("b", EN), Option("c", EN)],
                ),
                [("a",), ("a", "c")],
                [("a", "a"), ("a", "b", "c"), (), "a", ("z",)],
            ),
        ],
    )
    def test_check_answer(self, question, good, bad):
        """Each kind accepts exactly its valid answers and explains the rest."""
        for value in good:
            assert question.check_answer(value) is None, value
        for value in bad:
            assert question.check_answer(value), value

    def test_choice_needs_two_distinct_options(self):
        """One option, repeated option ids, and max_choices without multiple are rejected."""
        with pytest.raises(ValidationError) as exc:
            ChoiceQuestion(id="q", text=EN, options=[Option("a", EN)], max_choices=1)
        assert set(problems_of(exc)) == {"options", "max_choices"}
        with pytest.raises(ValidationError, match="already used"):
            ChoiceQuestion(id="q", text=EN, options=[Option("a", EN), Option("a", EN)])


class TestCondition:
    def test_ops(self):
        """Every op evaluates as its name says; unanswered meets only not_answered."""
        answers: dict[str, AnswerValue] = {"ltr": 6, "pick": ("a", "b"), "why": "slow"}
        cases = [
            (Condition("ltr", "le", 6), True),
            (Condition("ltr", "lt", 6), False),
            (Condition("ltr", "ge", 7), False),
            (Condition("ltr", "gt", 5), True),
            (Condition("ltr", "eq", 6), True),
            (Condition("ltr", "ne", 6), False),
            (Condition("pick", "in", ["b", "z"]), True),
            (Condition("pick", "not_in", ["b"]), False),
            (Condition("pick", "eq", "a"), True),
            (Condition("why", "answered"), True),
            (Condition("why", "gt", 3), False),
            (Condition("other", "not_answered"), True),
            (Condition("other", "eq", 1), False),
        ]
        for condition, expected in cases:
            assert condition.holds(answers) is expected, condition

    def test_value_must_fit_the_op(self):
        """Order ops need a number; in needs a list; answered takes nothing."""
        with pytest.raises(ValidationError, match="not a number"):
            Condition("q", "lt", "6")
        with pytest.raises(ValidationError, match="non-empty list"):
            Condition("q", "in", 6)
        with pytest.raises(ValidationError, match="not allowed"):
            Condition("q", "answered", 1)
        with pytest.raises(ValidationError, match="not a comparison"):
            Condition("q", "approx", 1)


def nps_survey(**overrides: object) -> Survey:
    fields: dict[str, object] = {
        "id": "nps",
        "title": {"en": "How are we doing?", "hi": "हम कैसा कर रहे हैं?"},
        "questions": [
            NpsQuestion(id="ltr", text={"en": "Recommend?", "hi": "सुझाएँगे?"}, required=True),
            TextQuestion(
                id="why",
                text={"en": "Why?", "hi": "क्यों?"},
                required=True,
                show_if=[Condition("ltr", "le", 6)],
            ),
            ChoiceQuestion(
                id="topics",
                multiple=True,
                text={"en": "Topics", "hi": "विषय"},
                options=[
                    Option("price", {"en": "Price", "hi": "दाम"}),
                    Option("staff", {"en": "Staff", "hi": "कर्मचारी"}),
                ],
            ),
        ],
    }
    fields.update(overrides)
    return Survey(**fields)  # type: ignore[arg-type]


class TestSurvey:
    def test_locales_are_those_every_text_has(self):
        """A survey is available in the locales all of its texts share."""
        assert nps_survey().locales == {"en", "hi"}
        partial = nps_survey(title={"en": "Only English"})
        assert partial.locales == {"en"}

    def test_display_logic_controls_visibility_and_requirements(self):
        """A hidden required question is not required; a shown one is."""
        s = nps_survey()
        assert [q.id for q in s.visible({"ltr": 9})] == ["ltr", "topics"]
        assert s.check_answers({"ltr": 9}, complete=True) == []
        assert s.check_answers({"ltr": 3}, complete=True) == [
            Problem("answers.why", "is required but missing")
        ]
        assert s.check_answers({"ltr": 3}, complete=False) == []

    def test_answers_are_checked_and_all_problems_listed(self):
        """Unknown questions and bad values are each reported, then nothing else."""
        problems = nps_survey().check_answers(
            {"ltr": 11, "nope": 1, "topics": ("cost",)}, complete=True
        )
        assert {p.path for p in problems} == {"answers.ltr", "answers.nope", "answers.topics"}

    def test_answer_to_a_hidden_question_is_rejected(self):
        """Answering a question the logic hides is an error, not silently kept."""
        problems = nps_survey().check_answers({"ltr": 10, "why": "great"}, complete=False)
        assert problems == [Problem("answers.why", "answers a question the display logic hides")]

    def test_validate_answers_raises_with_every_problem(self):
        """validate_answers raises one ValidationError."""
        with pytest.raises(ValidationError) as exc:
            nps_survey().validate_answers({"ltr": -1, "x": 1}, complete=True)
        assert len(exc.value.problems) == 2

    def test_structure_problems_are_all_reported(self):
        """Repeated ids, missing default-locale text, forward and bad logic: one error."""
        with pytest.raises(ValidationError) as exc:
            Survey(
                id="s",
                version=0,
                title={"hi": "शीर्षक"},
                questions=[
                    TextQuestion(id="a", text=EN, show_if=[Condition("b", "answered")]),
                    NpsQuestion(id="b", text=EN),
                    NpsQuestion(id="b", text=EN),
                    TextQuestion(
                        id="c",
                        text=EN,
                        show_if=[Condition("b", "le", 11), Condition("zz", "answered")],
                    ),
                ],
            )
        found = problems_of(exc)
        assert found == {
            "version": "0 is not 1 or more",
            "questions[2]": "'b' is already used by questions[1]",
            "title": "has no 'en' text (the survey's default locale)",
            "questions[0].show_if[0].question": "'b' is not an earlier question (display logic may only look back)",
            "questions[3].show_if[0].value": "11 is not on the scale of 'b' (0 to 10)",
            "questions[3].show_if[1].question": "'zz' is not an earlier question",
        }

    def test_choice_conditions_must_name_options(self):
        """A condition on a choice question must use its option ids."""
        with pytest.raises(ValidationError, match="not an option of 'topics'"):
            nps_survey(
                questions=[
                    *nps_survey().questions,
                    TextQuestion(
                        id="more", text=EN, show_if=[Condition("topics", "in", ["delivery"])]
                    ),
                ],
                title=EN,
            )

    def test_normalize_answers(self):
        """Lists become tuples; one option id for a multiple choice becomes a tuple of one."""
        s = nps_survey()
        assert s.normalize_answers({"ltr": 9, "topics": "price"}) == {
            "ltr": 9,
            "topics": ("price",),
        }
        assert s.normalize_answers({"topics": ["price", "staff"]}) == {"topics": ("price", "staff")}
        assert s.normalize_answers({"ltr": "9"}) == {
            "ltr": "9"
        }  # values are judged by check_answers

    def test_question_lookup(self):
        """Questions are found by id; a missing one names those that exist."""
        s = nps_survey()
        assert s.question("why").kind == "text"
        assert [q.id for q in s.scored_questions()] == ["ltr"]
        with pytest.raises(KeyError, match="ltr, why, topics"):
            s.question("nope")

    def test_nested_problems_come_with_the_rest(self):
        """A broken text inside a question is reported together with other fields."""
        with pytest.raises(ValidationError) as exc:
            NpsQuestion(id="bad id", text={"en": ""}, scale=11)
        assert set(problems_of(exc)) == {"id", "text.en", "scale"}


def response(**overrides: object) -> Response:
    fields: dict[str, object] = {
        "id": "r-1",
        "survey_id": "nps",
        "survey_version": 1,
        "answers": {"ltr": 9, "topics": ["price"]},
        "status": "partial",
        "respondent": "customer",
        "customer_id": "C-1",
        "channel": "email",
        "idempotency_key": "inv-1:1",
        "started_at": NOW,
        "updated_at": NOW,
    }
    fields.update(overrides)
    return Response(**fields)  # type: ignore[arg-type]


class TestResponse:
    def test_lists_become_tuples_and_status_is_typed(self):
        """Answers are frozen; strings become enum members."""
        r = response()
        assert r.answers == {"ltr": 9, "topics": ("price",)}
        assert r.status is ResponseStatus.PARTIAL
        assert r.respondent is RespondentKind.CUSTOMER
        assert not r.is_complete
        assert not r.is_agent_reported
        hash(r)

    def test_completion_time_follows_status(self):
        """Complete needs completed_at within the response's times; partial forbids it."""
        done = response(status="complete", completed_at=NOW, updated_at=NOW + timedelta(minutes=1))
        assert done.is_complete
        with pytest.raises(ValidationError, match="completed_at: is missing"):
            response(status="complete")
        with pytest.raises(ValidationError, match="is set, but the response is partial"):
            response(completed_at=NOW)
        with pytest.raises(ValidationError, match="not between"):
            response(status="complete", completed_at=NOW + timedelta(days=1))

    def test_respondent_fields_fit_the_kind(self):
        """Agent reports name the agent; anonymous responses name nobody."""
        agent = response(respondent="agent", agent_id="A-7")
        assert agent.is_agent_reported
        with pytest.raises(ValidationError, match="agent_id: is missing"):
            response(respondent="agent")
        with pytest.raises(ValidationError) as exc:
            response(respondent="anonymous", agent_id="A-7")
        assert set(problems_of(exc)) == {"customer_id", "agent_id"}
        with pytest.raises(ValidationError, match="use respondent 'agent'"):
            response(agent_id="A-7")

    def test_idempotency_keys_are_at_most_255_characters(self):
        """A key any store can index: 255 characters pass, 256 are refused with the length."""
        assert len(response(idempotency_key="k" * 255).idempotency_key) == 255
        with pytest.raises(ValidationError) as exc:
            response(idempotency_key="k" * 256)
        assert problems_of(exc) == {"idempotency_key": "is 256 characters long (at most 255)"}

    def test_bad_answers_and_times(self):
        """Odd answer values and time order are reported."""
        with pytest.raises(ValidationError) as exc:
            response(answers={"ltr": True, "x": [1]}, updated_at=NOW - timedelta(seconds=1))
        assert set(problems_of(exc)) == {"answers.ltr", "answers.x", "updated_at"}


class TestInvitation:
    def test_repr_hides_address_and_token(self):
        """Personal data and secrets stay out of logs."""
        inv = Invitation(
            id="inv-1",
            survey_id="nps",
            survey_version=1,
            channel="email",
            address="asha@example.in",
            token="secret-token",
            created_at=NOW,
        )
        assert "asha" not in repr(inv)
        assert "secret" not in repr(inv)

    def test_expiry_after_creation(self):
        """An invitation cannot expire before it was created."""
        with pytest.raises(ValidationError, match="not after created_at"):
            Invitation(
                id="inv-1",
                survey_id="nps",
                survey_version=1,
                channel="email",
                address=None,
                token="t",
                created_at=NOW,
                expires_at=NOW,
            )
