"""The metric registry: one definition per score, read by everything."""

from __future__ import annotations

import threading

import pytest

from cxcore import (
    Bucket,
    CxError,
    Direction,
    Headline,
    Metric,
    UnknownMetricError,
    ValidationError,
    default_metrics,
    get_metric,
    metric_registry,
)


def effort10(**overrides: object) -> Metric:
    fields: dict[str, object] = {
        "name": "effort10",
        "title": "Effort",
        "low": 1,
        "high": 10,
        "direction": Direction.LOWER_IS_BETTER,
        "buckets": [Bucket("easy", 1, 3), Bucket("hard", 8, 10)],
        "headline": Headline.TOP_BOX,
        "positive": "easy",
        "negative": "hard",
    }
    fields.update(overrides)
    return Metric(**fields)  # type: ignore[arg-type]


class TestBuiltins:
    def test_nps_buckets_match_the_definition(self):
        """Detractors 0-6, passives 7-8, promoters 9-10."""
        nps = get_metric("nps")
        assert [nps.bucket_of(v).name for v in range(11)] == (  # type: ignore[union-attr]
            ["detractor"] * 7 + ["passive"] * 2 + ["promoter"] * 2
        )
        assert nps.bucket_table() == (0,) * 7 + (1,) * 2 + (2,) * 2
        assert nps.score_range == (-100.0, 100.0)

    def test_headlines(self):
        """NPS is %P - %D; CSAT is top-2-box %; CES is % agree; ratings are the mean."""
        registry = default_metrics()
        assert registry["nps"].score({"promoter": 50, "detractor": 20}, n=100, total=0) == 30.0
        assert registry["csat"].score({"top2": 45}, n=50, total=0) == 90.0
        assert registry["ces"].bucket_of(5).name == "agree"  # type: ignore[union-attr]
        assert registry["ces"].bucket_of(4).name == "neutral"  # type: ignore[union-attr]
        assert registry["rating"].score({}, n=4, total=14) == 3.5
        assert registry["rating3"].levels == range(1, 4)

    def test_no_answers_give_no_score(self):
        """n = 0 gives None, never a ZeroDivisionError."""
        for metric in default_metrics():
            assert metric.score({}, n=0, total=0) is None

    def test_labels_come_in_english_and_hindi(self):
        """Level labels have both languages, and fall back to English."""
        csat = get_metric("csat")
        assert csat.label(5) == "Very satisfied"
        assert csat.label(5, "hi") == "बहुत संतुष्ट"
        assert csat.label(5, "ta") == "Very satisfied"
        assert get_metric("nps").label(5) is None

    def test_ratings_store_levels_and_show_glyphs(self):
        """Glyphs are display data keyed by level."""
        assert get_metric("rating").symbols[1] == "😞"
        assert set(get_metric("rating3").symbols) == {1, 2, 3}


class TestMetric:
    def test_every_inconsistency_is_reported(self):
        """Scale, buckets, positive/negative names and labels are all checked at once."""
        with pytest.raises(ValidationError) as exc:
            effort10(
                low=5,
                high=4,
                buckets=[Bucket("easy", 1, 3), Bucket("easy", 2, 2)],
                positive="great",
                negative=None,
                headline="net",
                labels={11: {"en": "x"}},
            )
        paths = {p.path for p in exc.value.problems}
        assert paths == {"high", "buckets[0]", "buckets[1]", "positive", "negative", "labels[11]"}

    def test_overlapping_buckets(self):
        """A level may belong to one bucket only."""
        with pytest.raises(ValidationError, match="3 is already in bucket 'easy'"):
            effort10(buckets=[Bucket("easy", 1, 3), Bucket("hard", 3, 10)])

    def test_levels_outside_buckets_have_no_bucket(self):
        """A level in no bucket maps to -1 in the table."""
        m = effort10()
        assert m.bucket_of(5) is None
        assert m.bucket_table()[4] == -1


class TestRegistry:
    def test_register_refuses_silent_override(self):
        """A taken name needs replace=True."""
        registry = default_metrics()
        with pytest.raises(CxError, match="already registered"):
            registry.register(effort10(name="nps"))
        registry.register(effort10(name="nps"), replace=True)
        assert registry["nps"].title == "Effort"
        assert get_metric("nps").title == "Net Promoter Score"  # the process-wide one is untouched

    def test_unknown_metric_lists_the_known_ones(self):
        """The error names every registered metric."""
        with pytest.raises(UnknownMetricError, match="ces, csat, nps, rating, rating3"):
            default_metrics().get("nsp")

    def test_register_and_unregister(self):
        """Custom metrics come and go; copies are independent."""
        registry = default_metrics()
        copy = registry.copy()
        registry.register(effort10())
        assert "effort10" in registry
        assert "effort10" not in copy
        registry.unregister("effort10")
        assert "effort10" not in registry
        with pytest.raises(UnknownMetricError):
            registry.unregister("effort10")
        with pytest.raises(TypeError):
            registry.register("nps")  # type: ignore[arg-type]

    def test_concurrent_registration_keeps_every_metric(self):
        """Threads registering at once lose nothing."""
        registry = default_metrics()
        threads = [
            threading.Thread(target=registry.register, args=(effort10(name=f"m{i}"),))
            for i in range(50)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(registry) == 55

    def test_process_wide_registry(self):
        """The default registry holds the built-ins."""
        assert metric_registry().names()[:3] == ["ces", "csat", "nps"]
