"""Text analytics: VADER sentiment (English only, said plainly), themes under a seed, mismatch flags."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cxcore.analysis import mismatches, sentiment, themes
from cxcore.analysis.text import Comments, MismatchKind, Sentiments
from cxcore.definitions import load_definitions
from cxcore.errors import CxError
from cxcore.model.response import Response

ROOT = Path(__file__).parent.parent


class TestSentiment:
    @pytest.mark.parametrize(
        ("comment", "label"),
        [
            ("The staff were lovely and the checkout was quick. Great service!", "positive"),
            ("Excellent store, I love the new layout :)", "positive"),
            ("Very helpful manager, thank you so much", "positive"),
            ("Billing took forever and the cashier was rude.", "negative"),
            ("Terrible experience, never coming back!!!", "negative"),
            ("The AC was broken and the store was dirty, awful.", "negative"),
            ("Not good at all, the product was damaged", "negative"),
            ("Not bad, actually pretty decent", "positive"),
            ("I bought a shirt on Tuesday.", "neutral"),
            ("The store opens at 10 am.", "neutral"),
            ("😀", "positive"),
        ],
    )
    def test_vader_sign_on_fixed_comments(self, comment, label):
        (s,) = sentiment([comment])
        assert s.label == label, s
        assert s.scored
        assert s.reason is None
        assert s.compound is not None
        if label == "positive":
            assert s.compound >= 0.05
        elif label == "negative":
            assert s.compound <= -0.05
        else:
            assert -0.05 < s.compound < 0.05

    @pytest.mark.parametrize(
        ("comment", "reason"),
        [
            ("बिलिंग में बहुत समय लगा, स्टाफ अच्छा था", "written in Devanagari script"),
            ("சேவை மிகவும் நன்றாக இருந்தது", "written in Tamil script"),
            ("খুব ভালো পরিষেবা", "written in Bengali script"),
            ("bahut accha tha, staff bhi helpful hai", "reads as romanised Hindi, not English"),
            ("billing mein bahut time laga yaar", "reads as romanised Hindi, not English"),
            ("el servicio fue muy malo y lento", "reads as Spanish, not English"),
            ("le service était très lent", "reads as French, not English"),
            ("pelayanan sangat lambat sekali kasir", "no English words recognised"),
        ],
    )
    def test_other_languages_get_no_sentiment_and_say_why(self, comment, reason):
        (s,) = sentiment([comment])
        assert (s.compound, s.label, s.positive, s.negative) == (None, None, None, None)
        assert not s.scored
        assert s.reason is not None
        assert s.reason.startswith(reason)
        assert s.reason.endswith("VADER scores English only")

    def test_an_english_comment_with_one_hindi_word_is_scored(self):
        (s,) = sentiment(["The staff were very rude to my mother, not acceptable yaar"])
        assert s.label == "negative"

    def test_declared_language(self):
        s = sentiment(
            ["Great service", "Great service", "Great service"], languages=["hi", "en-IN", None]
        )
        assert [x.label for x in s] == [None, "positive", "positive"]
        assert s[0].reason == "the comment's language is 'hi'; VADER scores English only"

    def test_empty_comments_have_no_sentiment(self):
        s = sentiment([None, "", "   "])
        assert [x.reason for x in s] == ["no comment"] * 3

    def test_the_table_of_sentiments(self):
        s = sentiment(["Great!", "बहुत अच्छा", None, "Awful queue", "Great!"])
        assert s[0] is s[4]  # one comment, scored once
        compound = s.compound
        assert np.isnan(compound[[1, 2]]).all()
        assert compound[0] > 0 > compound[3]
        assert s.counts() == {"positive": 2, "neutral": 0, "negative": 1, "not scored": 2}
        df = s.to_pandas()
        assert list(df.columns) == [
            "text",
            "compound",
            "positive",
            "neutral",
            "negative",
            "label",
            "script",
            "reason",
        ]
        assert df["reason"].tolist()[1] == "written in Devanagari script; VADER scores English only"

    def test_shows_itself(self):
        s = sentiment(["<script>alert('x')</script> great", "बहुत अच्छा"])
        assert "not scored 1" in str(s)
        assert repr(s) == str(s)
        html = s._repr_html_()
        ET.fromstring(html)  # noqa: S314 - our own output, parsed to check it is well-formed
        assert "<script>" not in html

    def test_bad_input(self):
        with pytest.raises(CxError, match="comment 3 is not text"):
            sentiment(["fine", 3])  # type: ignore[list-item]
        with pytest.raises(CxError, match="languages: 1 given for 2 comments"):
            sentiment(["a", "b"], languages=["en"])


class TestMismatches:
    def test_flags_high_angry_and_low_happy(self):
        scores = [10, 9, 0, 3, 10, 2, 8, 9]
        comments = [
            "Terrible service, the cashier was rude and I hate waiting.",  # promoter, angry
            "Great!",
            "Wonderful staff, I love this store, thank you!",  # detractor, happy
            "Awful.",
            "बहुत बुरा अनुभव",  # not English: never flagged
            None,
            "Horrible, worst visit ever",  # a passive: neither high nor low
            "ok",
        ]
        flags = mismatches(scores, comments, ids=[f"r{i}" for i in range(8)])
        assert [(f.index, f.id, f.kind, f.bucket, f.score) for f in flags] == [
            (0, "r0", MismatchKind.HIGH_SCORE_ANGRY_COMMENT, "promoter", 10),
            (2, "r2", MismatchKind.LOW_SCORE_HAPPY_COMMENT, "detractor", 0),
        ]
        assert flags[0].compound <= -0.5
        assert flags[1].compound >= 0.5

    def test_csat_with_numpy_scores_and_sentiments_given(self):
        comments = ["I hate it, horrible", "Love it, fantastic", "Love it, fantastic"]
        found = sentiment(comments)
        flags = mismatches(np.array([5, 1, 4]), found, metric="csat")
        assert [(f.index, f.bucket) for f in flags] == [(0, "top2"), (1, "bottom2")]

    def test_thresholds_can_be_changed(self):
        flags = mismatches([10], ["It was a bit slow, sadly"], upset=-0.1)
        assert [f.kind for f in flags] == [MismatchKind.HIGH_SCORE_ANGRY_COMMENT]
        assert mismatches([10], ["It was a bit slow, sadly"]) == []

    def test_bad_input_is_named(self):
        with pytest.raises(
            CxError, match=r"scores: \[1\] 11, \[2\] 'x' not on nps's scale \(0 to 10\)"
        ):
            mismatches([10, 11, "x"], ["a", "b", "c"])  # type: ignore[list-item]
        with pytest.raises(CxError, match="got 2 scores, 1 comments"):
            mismatches([10, 9], ["a"])
        with pytest.raises(CxError, match="got 1 scores, 1 comments, 2 ids"):
            mismatches([10], ["a"], ids=["a", "b"])


def planted_comments(n: int, seed: int) -> tuple[list[str], list[int]]:
    """Comments from three topics with their own words, plus shared filler words."""
    topics = [
        ["billing", "queue", "counter", "cashier", "wait", "payment", "line"],
        ["staff", "friendly", "helpful", "polite", "manager", "smile", "assist"],
        ["delivery", "parcel", "courier", "late", "tracking", "package", "address"],
    ]
    filler = ["store", "today", "visit", "really", "quite", "experience"]
    rng = np.random.default_rng(seed)
    comments, truth = [], []
    for _ in range(n):
        k = int(rng.integers(0, 3))
        words = list(rng.choice(topics[k], size=4)) + list(rng.choice(filler, size=2))
        rng.shuffle(words)
        comments.append(" ".join(words))
        truth.append(k)
    return comments, truth


class TestThemes:
    def test_stable_under_the_same_seed(self):
        comments, _ = planted_comments(600, seed=1)
        a = themes(comments, 4, seed=3)
        b = themes(comments, 4, seed=3)
        assert [t.label for t in a] == [t.label for t in b]
        assert [t.terms for t in a] == [t.terms for t in b]
        assert [t.weights for t in a] == [t.weights for t in b]
        assert [t.examples for t in a] == [t.examples for t in b]
        assert np.array_equal(a.assignment, b.assignment)
        assert np.array_equal(a.strength, b.strength)

    def test_finds_planted_topics(self):
        """Each theme's comments come, almost all, from one planted topic, and its terms too."""
        comments, truth = planted_comments(900, seed=2)
        found = themes(comments, 3, seed=0)
        assert sorted(t.size for t in found) == sorted(np.bincount(found.assignment).tolist())
        purity = 0
        for k in range(3):
            members = np.asarray(truth)[found.assignment == k]
            purity += np.bincount(members, minlength=3).max()
        assert purity / len(comments) > 0.95
        assert sum(t.share for t in found) == pytest.approx(1.0)
        assert [t.size for t in found] == sorted((t.size for t in found), reverse=True)
        for t in found:
            assert len(t.terms) == 8
            assert len(t.examples) == 3
            assert len(t.label.split(" / ")) == 3
            assert all(found.of(comments.index(e)) == t for e in t.examples)

    def test_an_unconverged_model_says_so_and_warns_nothing(self):
        """NMF stopping at max_iter is reported on the themes, not as a stray warning."""
        comments, _ = planted_comments(300, seed=1)
        rough = themes(comments, 6, max_iter=2)  # warnings are errors in this suite
        assert not rough.converged
        assert "NMF stopped before converging" in str(rough)
        assert themes(comments, 3).converged

    def test_comments_without_terms_have_no_theme(self):
        comments, _ = planted_comments(60, seed=3)
        comments += [None, "", "the and of"]  # type: ignore[list-item]
        found = themes(comments, 3)
        assert found.assignment[-3:].tolist() == [-1, -1, -1]
        assert found.of(len(comments) - 1) is None
        assert "3 comments have no theme" in str(found)

    def test_exports_and_display(self):
        comments, _ = planted_comments(90, seed=4)
        found = themes([*comments, "<script>billing queue</script>"], 3)
        records = found.to_records()
        assert [r["theme"] for r in records] == [0, 1, 2]
        assert list(found.to_pandas().columns) == [
            "theme",
            "label",
            "terms",
            "size",
            "share",
            "examples",
        ]
        html = found._repr_html_()
        ET.fromstring(html)  # noqa: S314 - our own output, parsed to check it is well-formed
        assert repr(found) == str(found)

    def test_bad_input_is_named(self):
        with pytest.raises(CxError, match="2 comments with text are too few for 3 themes"):
            themes(["billing queue", "staff friendly", None], 3)
        with pytest.raises(CxError, match="n_themes: 0 is not a whole number"):
            themes(["a b"] * 5, 0)
        with pytest.raises(CxError, match=r"comments\[1\]: 7 is not text"):
            themes(["a b", 7], 1)  # type: ignore[list-item]
        with pytest.raises(CxError, match="no terms left to find themes in"):
            themes(["the", "and", "of"], 1, min_df=1)


class TestOptional:
    def run(self, code: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=False,
            cwd=ROOT,
            timeout=120,
        )

    def test_importing_loads_neither_vader_nor_sklearn(self):
        run = self.run(
            "import sys, cxcore.analysis, cxcore.analysis.text\n"
            "print(sorted(m for m in ('sklearn', 'vaderSentiment', 'numpy') if m in sys.modules))"
        )
        assert run.returncode == 0, run.stderr
        assert run.stdout.strip() == "[]"

    def test_a_missing_extra_says_how_to_install_it(self):
        run = self.run(
            "import sys\n"
            "sys.modules.update(dict.fromkeys(['vaderSentiment', 'sklearn']))\n"
            "from cxcore.analysis import sentiment, themes\n"
            "for call in (lambda: sentiment(['hi']), lambda: themes(['a b'] * 9, 2)):\n"
            "    try:\n"
            "        call()\n"
            "    except ImportError as exc:\n"
            "        print(type(exc).__name__, exc)\n"
        )
        assert run.returncode == 0, run.stderr
        lines = run.stdout.splitlines()
        assert lines[0].startswith("MissingDependencyError sentiment of comments needs")
        assert lines[1].startswith("MissingDependencyError themes of comments needs")
        assert all("pip install 'cxcore[text]'" in line for line in lines)


def test_sentiments_is_a_sequence():
    s = sentiment(["good", "bad"])
    assert isinstance(s, Sentiments)
    assert len(s) == 2
    assert [x.text for x in s] == ["good", "bad"]


def response(i: int, answers: dict[str, Any], **fields) -> Response:
    at = datetime(2026, 3, 2, 10, tzinfo=UTC)
    base: dict[str, Any] = {
        "id": f"r{i}",
        "survey_id": "after_billing",
        "survey_version": 1,
        "answers": answers,
        "status": "complete",
        "respondent": "customer",
        "customer_id": f"c{i}",
        "channel": "sms",
        "idempotency_key": f"k{i}",
        "started_at": at,
        "updated_at": at,
        "completed_at": at,
    }
    base.update(fields)
    return Response(**base)


class TestComments:
    @pytest.fixture
    def survey(self):
        return load_definitions(ROOT / "examples" / "retail" / "surveys.toml").survey(
            "after_billing"
        )

    def test_from_responses_with_scores_and_flags(self, survey):
        responses = [
            response(1, {"billing_sat": 5, "billing_comment": "Rude cashier, I hate this queue!"}),
            response(2, {"billing_sat": 1, "billing_comment": "Lovely staff, wonderful, thanks!"}),
            response(3, {"billing_sat": 4}),  # no comment
            response(4, {"billing_comment": "Great billing, super quick"}),  # no score
            response(5, {"billing_sat": 2, "billing_comment": "बहुत धीमा"}, locale="hi"),
            response(
                6,
                {"billing_sat": 5, "billing_comment": "Awful, terrible"},
                respondent="agent",
                agent_id="a1",
            ),
            response(7, {"score": 9, "comment": "x"}, survey_id="store_exit"),
        ]
        comments = Comments.from_responses(
            responses, survey, text="billing_comment", score="billing_sat"
        )
        assert comments.ids == ("r1", "r2", "r4", "r5")
        assert comments.scores == (5, 1, None, 2)
        assert comments.metric == "csat"
        assert comments.locales == ("en", "en", "en", "hi")
        assert comments.skipped == {"no comment": 1, "agent-reported": 1, "another survey": 1}
        assert [s.label for s in comments.sentiment()] == ["negative", "positive", "positive", None]
        flags = comments.mismatches()
        assert [(f.index, f.id, f.kind) for f in flags] == [
            (0, "r1", MismatchKind.HIGH_SCORE_ANGRY_COMMENT),
            (1, "r2", MismatchKind.LOW_SCORE_HAPPY_COMMENT),
        ]
        with_agents = Comments.from_responses(
            responses, survey, text="billing_comment", include_agents=True
        )
        assert len(with_agents) == 5
        with pytest.raises(CxError, match="no scored question was named"):
            with_agents.mismatches()

    def test_questions_are_checked(self, survey):
        with pytest.raises(CxError, match=r"text: question 'billing_sat' .* is a csat question"):
            Comments.from_responses([], survey, text="billing_sat")
        with pytest.raises(
            CxError, match=r"score: question 'billing_issue' .* is a choice question"
        ):
            Comments.from_responses([], survey, text="billing_comment", score="billing_issue")
        with pytest.raises(CxError, match="has no question 'nope'"):
            Comments.from_responses([], survey, text="nope")


def test_the_retail_historys_contradicting_comments_are_flagged():
    """The example plants a few comments that contradict their score; exactly those are flagged."""
    import importlib.util  # noqa: PLC0415 - the example is a script, not a package

    path = ROOT / "examples" / "retail" / "history.py"
    spec = importlib.util.spec_from_file_location("bazaar_history_for_text", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # attrs resolves the classes' annotations through it
    spec.loader.exec_module(module)
    history = module.bazaar_history(customers=600, seed=3)
    survey = next(s for s in module.definitions() if s.id == "after_billing")
    comments = Comments.from_responses(
        history.responses, survey, text="billing_comment", score="billing_sat"
    )
    planted = module._CONTRADICTIONS
    flags = comments.mismatches()
    assert flags
    for f in flags:
        expected = "good" if f.kind is MismatchKind.HIGH_SCORE_ANGRY_COMMENT else "bad"
        assert f.text == planted[expected]
    contradicting = {
        i
        for i, (text, score) in enumerate(zip(comments.texts, comments.scores, strict=True))
        if (text == planted["good"] and score in (4, 5))
        or (text == planted["bad"] and score in (1, 2))
    }
    assert {f.index for f in flags} == contradicting
    found = comments.sentiment()
    assert found.counts()["not scored"] > 0  # the comments written in Hindi
