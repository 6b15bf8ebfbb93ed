"""The effect of a change (difference in differences by store) and A/B tests of survey variants."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cxcore.analysis import Initiative, measure_effect, variant_test
from cxcore.errors import CxError
from cxcore.metrics import get_metric
from cxcore.model.invitation import Invitation
from cxcore.scoring import ResponseFrame, proportion_difference_test, score_many, wilson_interval
from cxcore.scoring.cells import headline_scores
from cxcore.scoring.frame import Dimension

START = datetime(2026, 3, 1, tzinfo=UTC)
DAY = np.timedelta64(1, "D")


def simulate(
    rng: np.random.Generator,
    *,
    effect: float = 10.0,
    stores: int = 40,
    treated: int = 10,
    per: int = 60,
    store_sd: float = 0.06,
    shock_sd: float = 0.06,
    names: list[str] | None = None,
) -> ResponseFrame:
    """NPS answers of *stores* stores, *per* a phase each, ten days either side of START.

    Each store has a lasting level and a shock per phase (what makes answers of a
    store move together), clipped to +-0.15; the first *treated* stores gain *effect* NPS points
    after START: effect / 200 of the answers move from detractor to promoter.
    """
    store = np.repeat(np.arange(stores), 2 * per)
    phase = np.tile(np.repeat([0, 1], per), stores)
    u = rng.normal(0, store_sd, stores)[:, None] + rng.normal(0, shock_sd, (stores, 2))
    u = np.clip(u, -0.15, 0.15)  # symmetric, so still centred; keeps every share in (0, 1)
    promoters = 0.45 + u
    detractors = 0.25 - u
    promoters[:treated, 1] += effect / 200
    detractors[:treated, 1] -= effect / 200
    assert (detractors > 0).all()
    assert (promoters + detractors < 1).all()
    p, d = promoters[store, phase], detractors[store, phase]
    r = rng.random(len(store))
    score = np.where(r < p, 10, np.where(r < p + d, 3, 8))
    at = np.datetime64("2026-03-01") + np.where(phase == 1, 10, -10) * DAY
    labels = tuple(names or [f"S{i:02d}" for i in range(stores)])
    order = sorted(range(stores), key=labels.__getitem__)  # a Dimension's values are sorted
    code = np.empty(stores, dtype=np.int32)
    code[order] = np.arange(stores, dtype=np.int32)
    return ResponseFrame(
        metrics=[get_metric("nps")],
        metric_codes=np.zeros(len(store), dtype=np.int16),
        scores=score,
        dimensions={"store": Dimension("store", code[store], tuple(labels[i] for i in order))},
        time=at.astype("datetime64[us]").view(np.int64),
    )


def treated_stores(k: int = 10) -> list[str]:
    return [f"S{i:02d}" for i in range(k)]


def billing(k: int = 10) -> Initiative:
    return Initiative("new billing", START, treated_stores(k))


class TestInitiative:
    def test_one_store_given_as_text_is_one_store(self):
        assert Initiative("pilot", START, "BLR-01").treated == frozenset({"BLR-01"})

    def test_every_problem_is_named(self):
        with pytest.raises(CxError) as info:
            Initiative(" ", datetime(2026, 3, 1), [])  # noqa: DTZ001 - the point of the test
        message = str(info.value)
        assert "name: ' ' is empty" in message
        assert "start: datetime.datetime(2026, 3, 1, 0, 0) is not an aware datetime" in message
        assert "treated: no unit is treated" in message


class TestMeasureEffect:
    def test_recovers_an_injected_effect_in_a_large_study(self):
        """With many stores and answers, the estimate lands near the injected +10 and is significant."""
        rng = np.random.default_rng(7)
        frame = simulate(rng, stores=120, treated=60, per=400)
        est = measure_effect(frame, billing(60), seed=1)
        assert est.effect.estimate == pytest.approx(10.0, abs=3.0)
        assert est.effect.low < 10.0 < est.effect.high
        assert est.effect.significant
        assert not est.control_change.significant or abs(est.control_change.estimate) < 3

    def test_interval_covers_the_true_effect_in_500_studies(self):
        """The 95% cluster interval covers the injected effect in at least 90% of 500 studies.

        The naive interval, which treats answers as independent, covers far less
        often: stores, not answers, were treated. The estimate is unbiased.
        """
        rng = np.random.default_rng(20261207)
        studies = 500
        effect = 10.0
        estimates = np.empty(studies)
        covered = naive = 0
        for i in range(studies):
            est = measure_effect(simulate(rng, effect=effect), billing(), resamples=400, seed=i)
            e = est.effect
            estimates[i] = e.estimate
            covered += e.low <= effect <= e.high
            naive += e.naive_low <= effect <= e.naive_high
        assert covered / studies >= 0.90
        assert naive / studies < 0.88
        spread = estimates.std(ddof=1) / np.sqrt(studies)
        assert abs(estimates.mean() - effect) < 4 * spread

    def test_the_cells_and_the_estimate_are_the_engines_scores(self):
        """Each arm's before/after cell is score_many's cell of those answers; DiD is their arithmetic."""
        rng = np.random.default_rng(3)
        frame = simulate(rng)
        est = measure_effect(frame, billing())
        control = [f"S{i:02d}" for i in range(10, 40)]
        scores: dict[tuple[str, str], float] = {}
        for arm, stores in (("treated", treated_stores()), ("control", control)):
            for phase, start, end in (("before", None, START), ("after", START, None)):
                part = frame.select(where={"store": stores}, start=start, end=end)
                (cell,) = score_many(part, ["nps"])["nps"]
                mine = est.cells[arm, phase]
                assert (mine.n, mine.score, mine.low, mine.high) == (
                    cell.n,
                    cell.score,
                    cell.low,
                    cell.high,
                )
                assert cell.score is not None
                scores[arm, phase] = cell.score
        treated = scores["treated", "after"] - scores["treated", "before"]
        untreated = scores["control", "after"] - scores["control", "before"]
        assert est.treated_change.estimate == pytest.approx(treated, abs=1e-12)
        assert est.control_change.estimate == pytest.approx(untreated, abs=1e-12)
        assert est.effect.estimate == pytest.approx(treated - untreated, abs=1e-12)

    @staticmethod
    def trending(drift: float, seed: int = 0) -> ResponseFrame:
        """30 stores answering daily for 60 days either side of START; the first ten drift.

        Before the start, the promoter share of the treated stores grows by *drift*
        over the 60 days (and detractors shrink as much); nothing changes after.
        """
        rng = np.random.default_rng(seed)
        stores, days, per_day = 30, np.arange(-60, 60), 3
        store = np.repeat(np.arange(stores), len(days) * per_day)
        day = np.tile(np.repeat(days, per_day), stores)
        lift = np.where((store < 10) & (day < 0), drift * (day + 60) / 60, 0.0)
        lift = np.where((store < 10) & (day >= 0), drift, lift)
        r = rng.random(len(store))
        score = np.where(r < 0.4 + lift, 10, np.where(r < 0.7, 3, 8))
        return ResponseFrame.from_columns(
            {
                "metric": np.full(len(store), "nps", dtype=object),
                "score": score,
                "store": np.array([f"S{i:02d}" for i in range(stores)], dtype=object)[store],
                "answered_at": (np.datetime64("2026-03-01") + day * DAY).astype("datetime64[us]"),
            }
        )

    def test_the_placebo_finds_nothing_when_trends_are_parallel(self):
        est = measure_effect(self.trending(0.0), billing())
        assert est.pre_trend is not None
        assert est.pre_trend.low < 0 < est.pre_trend.high
        assert est.pre_trend_split == START - timedelta(days=30)
        assert "placebo" in str(est)

    def test_the_placebo_finds_a_trend_that_began_before_the_change(self):
        """Treated stores already improving before the start: the placebo says so."""
        est = measure_effect(self.trending(0.15), billing())
        assert est.pre_trend is not None
        assert est.pre_trend.significant
        assert est.pre_trend.estimate > 5

    def test_no_placebo_without_answers_in_both_halves(self):
        est = measure_effect(simulate(np.random.default_rng(0)), billing())
        assert est.pre_trend is None
        assert "No placebo" in str(est)

    def test_the_same_seed_gives_the_same_intervals(self):
        frame = simulate(np.random.default_rng(5))
        a = measure_effect(frame, billing(), seed=11)
        b = measure_effect(frame, billing(), seed=11)
        c = measure_effect(frame, billing(), seed=12)
        assert a.effect == b.effect
        assert c.effect.estimate == a.effect.estimate
        assert c.effect.low != a.effect.low

    def test_store_shocks_widen_the_interval_beyond_the_naive_one(self):
        """With strong store x period shocks the design effect is well above 1."""
        frame = simulate(np.random.default_rng(9), shock_sd=0.1, per=200)
        e = measure_effect(frame, billing()).effect
        assert e.design_effect is not None
        assert e.design_effect > 2
        assert e.high - e.low > e.naive_high - e.naive_low

    def test_windows_count_only_answers_inside_them(self):
        frame = simulate(np.random.default_rng(1))
        extra = ResponseFrame.from_columns(
            {
                "metric": ["nps"] * 4,
                "score": [0, 0, 10, 10],
                "store": ["S00", "S20", "S00", "S20"],
                "answered_at": ["2026-01-01T00:00Z", "2026-01-01T00:00Z", "2026-06-01T00:00Z", ""],
            }
        )
        both = ResponseFrame(
            metrics=[get_metric("nps")],
            metric_codes=np.zeros(len(frame) + 4, dtype=np.int16),
            scores=np.concatenate([frame.scores, extra.scores]),
            dimensions={
                "store": Dimension.concat(
                    "store", [frame.dimensions["store"], extra.dimensions["store"]]
                )
            },
            time=np.concatenate([frame.time, extra.time]).view(np.int64),
        )
        narrow = measure_effect(
            both, billing(), before=timedelta(days=30), after=timedelta(days=30)
        )
        wide = measure_effect(both, billing())
        plain = measure_effect(frame, billing())
        assert narrow.effect == plain.effect
        assert narrow.window == (START - timedelta(days=30), START + timedelta(days=30))
        assert wide.cells["treated", "before"].n == plain.cells["treated", "before"].n + 1
        assert wide.cells["control", "after"].n == plain.cells["control", "after"].n
        assert wide.rows_without_time == 1

    def test_an_explicit_control_group_and_missing_treated_stores(self):
        frame = simulate(np.random.default_rng(2))
        initiative = Initiative("pilot", START, [*treated_stores(), "S99"])
        est = measure_effect(frame, initiative, control=["S30", "S31", "S32"])
        assert est.control_units == ("S30", "S31", "S32")
        assert est.missing_units == ("S99",)
        assert est.cells["control", "before"].n == 3 * 60

    @pytest.mark.parametrize("metric", ["csat", "rating"])
    def test_top_box_and_mean_metrics(self, metric):
        """A top-2-box share and a mean are measured the same way, each on its own scale."""
        rng = np.random.default_rng(4)
        spec = get_metric(metric)
        n = 20 * 2 * 50
        store = np.repeat(np.arange(20), 100)
        phase = np.tile(np.repeat([0, 1], 50), 20)
        lift = (store < 5) & (phase == 1)
        score = np.clip(rng.integers(1, 5, n) + lift, spec.low, spec.high)
        frame = ResponseFrame.from_columns(
            {
                "metric": np.full(n, metric, dtype=object),
                "score": score,
                "store": store,
                "answered_at": (np.datetime64("2026-03-01") + np.where(phase, 1, -1) * DAY).astype(
                    "datetime64[us]"
                ),
            }
        )
        est = measure_effect(frame, Initiative("lift", START, range(5)), metric)
        assert est.effect.estimate > 0
        assert est.effect.significant
        assert est.cells["treated", "after"].metric == metric
        before = est.cells["treated", "before"].score
        assert before is not None
        shown = f"{before:.2f}" if metric == "rating" else f"{before:.1f}"  # a mean: 2 decimals
        assert f" {shown} " in str(est)

    def test_bad_input_is_named(self):
        frame = simulate(np.random.default_rng(0))
        cases: list[tuple[dict[str, Any], str]] = [
            ({"initiative": billing(1)}, "the treated arm has 1 store value(s)"),
            (
                {"initiative": Initiative("x", START, ["S00"], unit="agent")},
                "no dimension 'agent'",
            ),
            ({"metric": "csat"}, "no answers to metric 'csat'"),
            ({"resamples": 50}, "resamples: 50 is too few"),
            ({"before": timedelta(0)}, "before: datetime.timedelta(0) is not a positive"),
            ({"control": ["S00", "S20"]}, "control: S00 are also treated"),
            ({"confidence": 1.5}, "confidence"),
            (
                {"initiative": Initiative("x", START + timedelta(days=30), treated_stores())},
                "have no answers to nps after the start",
            ),
        ]
        for kwargs, message in cases:
            options: dict[str, Any] = {"initiative": billing(), **kwargs}
            with pytest.raises(CxError, match=message.replace("(", r"\(").replace(")", r"\)")):
                measure_effect(frame, **options)
        timeless = ResponseFrame.from_columns({"metric": ["nps"], "score": [10], "store": ["S00"]})
        with pytest.raises(CxError, match="no answer times"):
            measure_effect(timeless, billing())

    def test_shows_itself_as_text_and_escaped_html(self):
        names = [f"S{i:02d}" for i in range(40)]
        names[0] = "<script>alert(1)</script>"
        frame = simulate(np.random.default_rng(6), names=names)
        est = measure_effect(frame, Initiative("<b>billing</b>", START, names[:10]))
        text = str(est)
        assert "difference in differences" in text
        assert "design effect" in text
        assert repr(est) == text
        html = est._repr_html_()
        ET.fromstring(html)  # noqa: S314 - our own output: well-formed
        assert "<script>" not in html
        assert "&lt;script&gt;" in html
        assert "<b>billing" not in html
        data = est.to_dict()
        assert data["effect"]["estimate"] == est.effect.estimate
        assert data["cells"]["treated before"]["n"] == 600


class TestHeadlineScores:
    @pytest.mark.parametrize("metric", ["nps", "csat", "ces", "rating"])
    def test_agrees_with_score_many(self, metric):
        rng = np.random.default_rng(0)
        spec = get_metric(metric)
        n = 3000
        store = rng.integers(0, 25, n)
        score = rng.integers(spec.low, spec.high + 1, n)
        frame = ResponseFrame.from_columns(
            {"metric": np.full(n, metric, dtype=object), "score": score, "store": store}
        )
        table = score_many(frame, [metric], by="store")[metric]
        levels = np.zeros((25, len(spec.levels)))
        np.add.at(levels, (store, score - spec.low), 1)
        assert headline_scores(spec, levels) == pytest.approx(table.columns["score"], abs=1e-12)

    def test_rows_without_answers_are_nan_and_shapes_are_checked(self):
        nps = get_metric("nps")
        assert np.isnan(headline_scores(nps, np.zeros((1, 11)))).all()
        with pytest.raises(CxError, match="expected rows of 11 levels"):
            headline_scores(nps, np.zeros((2, 5)))


def invitation(i: int, **context: str) -> Invitation:
    return Invitation(
        id=f"inv-{i}",
        survey_id="nps",
        survey_version=1,
        channel=context.pop("channel", "email"),
        address=f"c{i}@example.com",
        token=f"t{i}",
        created_at=START,
        context=context,
    )


def outcomes(spec: dict[str, tuple[int, int, int]]) -> list[tuple[Invitation, str]]:
    """Per subject: (completed, started, delivered only) invitations."""
    out = []
    i = 0
    for subject, (done, partial, silent) in spec.items():
        for disposition, count in (
            ("completed", done),
            ("started", partial),
            ("delivered", silent),
        ):
            for _ in range(count):
                out.append((invitation(i, subject=subject), disposition))
                i += 1
    return out


class TestVariantTest:
    def test_rates_and_differences_are_the_engines(self):
        test = variant_test(
            outcomes({"a": (30, 10, 160), "b": (50, 5, 145), "c": (33, 0, 167)}),
            variant="subject",
            control="a",
        )
        assert [r.variant for r in test.rates] == ["a", "b", "c"]
        a, _b, _c = test.rates
        assert (a.invited, a.responded, a.rate) == (200, 30, 0.15)
        assert (a.low, a.high) == wilson_interval(30, 200)
        assert a.rates.rr1 == 0.15
        diff_b = proportion_difference_test((50, 200), (30, 200))
        assert test.comparison("b").difference == diff_b
        diff_c = proportion_difference_test((33, 200), (30, 200))
        # Holm: the smaller p is doubled, the larger kept at least as large.
        assert test.comparison("b").p_adjusted == pytest.approx(min(1, 2 * diff_b.p_value))
        assert test.comparison("c").p_adjusted == pytest.approx(
            max(min(1, 2 * diff_b.p_value), diff_c.p_value)
        )
        assert test.comparison("b").significant
        assert not test.comparison("c").significant
        with pytest.raises(KeyError, match="'z' is not a compared variant"):
            test.comparison("z")

    def test_rr2_counts_partials_and_the_last_disposition_wins(self):
        pairs = outcomes({"a": (10, 10, 80), "b": (10, 30, 60)})
        first = pairs[0][0]
        pairs.append((first, "delivered"))  # a later disposition of the same invitation
        test = variant_test(pairs, variant="subject", rate="rr2")
        assert test.control == "a"
        assert [(r.variant, r.responded, r.invited) for r in test.rates] == [
            ("a", 19, 100),
            ("b", 40, 100),
        ]

    def test_channel_is_a_variant_too(self):
        pairs = [(invitation(i, channel="sms"), "completed") for i in range(5)]
        pairs += [(invitation(10 + i, channel="email"), "bounced") for i in range(5)]
        test = variant_test(pairs, variant="channel", control="email")
        assert test.comparison("sms").difference.difference == 100.0

    def test_bad_input_is_named(self):
        pairs = outcomes({"a": (1, 0, 1)})
        with pytest.raises(CxError, match="'subject' has 1 value"):
            variant_test(pairs, variant="subject")
        pairs = outcomes({"a": (1, 0, 1), "b": (1, 0, 1)})
        with pytest.raises(CxError, match="control: 'z' is not a value of 'subject'"):
            variant_test(pairs, variant="subject", control="z")
        with pytest.raises(CxError, match="rate: 'rr3' is not a response rate"):
            variant_test(pairs, variant="subject", rate="rr3")  # type: ignore[arg-type]

    def test_shows_itself(self):
        test = variant_test(
            outcomes({"<i>a</i>": (30, 0, 70), "b": (45, 0, 55)}), variant="subject"
        )
        text = str(test)
        assert "control" in text
        assert "Holm" in text
        html = test._repr_html_()
        ET.fromstring(html)  # noqa: S314 - our own output: well-formed
        assert "<i>a</i>" not in html
        records = test.to_records()
        assert records[1]["difference"] == pytest.approx(15.0)


def _retail_history(customers: int, seed: int) -> Any:
    """The retail example's generated history, whose initiative has a known, true effect."""
    import importlib.util  # noqa: PLC0415 - the example is a script, not a package
    import sys  # noqa: PLC0415

    path = Path(__file__).parent.parent / "examples" / "retail" / "history.py"
    spec = importlib.util.spec_from_file_location("bazaar_history_for_effects", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # attrs resolves the classes' annotations through it
    spec.loader.exec_module(module)
    return module, module.bazaar_history(customers=customers, seed=seed)


def test_the_retail_historys_express_counter_is_found():
    """The example's express billing counter (a true lift, five stores) shows as a CSAT effect."""
    module, history = _retail_history(1000, 7)
    truth = history.initiative
    frame = ResponseFrame.from_responses(history.responses, module.definitions()).select(
        where={"question": truth.question_id}
    )
    initiative = Initiative(
        truth.name, datetime.combine(truth.start, datetime.min.time(), tzinfo=UTC), truth.stores
    )
    est = measure_effect(frame, initiative, "csat")
    assert est.treated_units == tuple(sorted(truth.stores))
    assert len(est.control_units) == 8
    assert est.effect.significant
    assert est.effect.low > 0
    assert not est.control_change.significant
    assert est.pre_trend is not None
    assert not est.pre_trend.significant
