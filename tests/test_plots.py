"""Plots: each draws on the given Axes, follows the registry, saves, and matches its reference."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.testing import (  # noqa: E402
    set_font_settings_for_testing,
    set_reproducibility_for_testing,
)
from matplotlib.testing.compare import compare_images  # noqa: E402

from cxcore import plots  # noqa: E402
from cxcore.errors import CxError  # noqa: E402
from cxcore.metrics import Bucket, Metric, MetricRegistry  # noqa: E402
from cxcore.scoring import (  # noqa: E402
    LiveScoreboard,
    ResponseFrame,
    Segmentation,
    compare,
    compare_with_rest,
    score,
)

REFERENCES = Path(__file__).parent / "data" / "plots"
UPDATE = os.environ.get("CXCORE_UPDATE_PLOTS") == "1"
TOLERANCE = 6.0  # RMS difference per pixel on a 0-255 scale: text may shift a pixel


def stores_frame(n: int = 3000, seed: int = 3) -> ResponseFrame:
    """Six stores of known quality over eight weeks; the last store has few answers."""
    rng = np.random.default_rng(seed)
    names = [f"S{i}" for i in range(6)]
    store = rng.choice(names, n, p=[0.2, 0.2, 0.2, 0.2, 0.17, 0.03])
    quality = {name: (i - 2.5) / 1.5 for i, name in enumerate(names)}
    base = rng.normal(7.5, 2.2, n) + np.array([quality[s] for s in store])
    start = datetime(2026, 9, 7, tzinfo=UTC)
    days = rng.uniform(0, 56, n)
    return ResponseFrame.from_columns(
        {
            "metric": ["nps"] * n,
            "score": np.clip(np.round(base), 0, 10).astype(int),
            "store": store,
            "answered_at": [start + timedelta(days=float(d)) for d in days],
        }
    )


@pytest.fixture
def frame() -> ResponseFrame:
    return stores_frame()


@pytest.fixture(autouse=True)
def fixed_style() -> Iterator[None]:
    with matplotlib.rc_context():
        matplotlib.style.use("default")
        set_font_settings_for_testing()
        set_reproducibility_for_testing()
        yield
    plt.close("all")


def new_axes() -> tuple[Any, Any]:
    fig, ax = plt.subplots(figsize=(5, 3.5), dpi=60)
    return fig, ax


def check_reference(fig, name: str, tmp_path: Path) -> None:
    expected = REFERENCES / f"{name}.png"
    actual = tmp_path / f"{name}.png"
    fig.savefig(actual, bbox_inches="tight")
    if UPDATE or not expected.exists():
        assert UPDATE, f"no reference image {expected}; run with CXCORE_UPDATE_PLOTS=1"
        expected.parent.mkdir(parents=True, exist_ok=True)
        expected.write_bytes(actual.read_bytes())
    assert compare_images(str(expected), str(actual), tol=TOLERANCE) is None


def saves(fig) -> None:
    png, svg = io.BytesIO(), io.BytesIO()
    fig.savefig(png, format="png")
    fig.savefig(svg, format="svg")
    assert png.getvalue().startswith(b"\x89PNG\r\n\x1a\n")
    root = ET.fromstring(svg.getvalue())  # noqa: S314 - matplotlib's own output
    assert root.tag.endswith("svg")


class TestTrend:
    def test_draws_on_the_given_axes_a_line_and_a_band_per_group(self, frame):
        fig, ax = new_axes()
        table = score(frame, "nps", by="store", every="week")
        got = plots.trend(table, ax=ax, groups=["S0", "S5"])
        assert got is ax
        # S0: line and band; S5 (3% of answers): line, band and a line of hollow low-n markers.
        assert len(ax.collections) == 2
        assert len(ax.lines) == 3
        assert [t.get_text() for t in ax.get_legend().get_texts()] == ["S0", "S5"]
        assert "Net Promoter Score" in ax.get_ylabel()
        assert "higher is better" in ax.get_ylabel()
        saves(fig)

    def test_many_groups_put_the_legend_beside_the_plot(self, frame):
        """Past three groups the legend sits outside the axes, where it covers no line."""
        fig, ax = new_axes()
        table = score(frame, "nps", by="store", every="week")
        few = plots.trend(table, ax=ax, groups=["S0", "S1"]).get_legend()
        fig.canvas.draw()
        inside = few.get_window_extent()
        assert ax.get_window_extent().contains(inside.x0, inside.y0)
        fig, ax = new_axes()
        many = plots.trend(table, ax=ax, groups=["S0", "S1", "S2", "S3"]).get_legend()
        fig.canvas.draw()
        assert many.get_window_extent().x0 > ax.get_window_extent().x1  # right of the axes
        saves(fig)

    def test_the_band_is_the_interval_of_each_period(self, frame):
        _, ax = new_axes()
        table = score(frame, "nps", every="week")
        plots.trend(table, ax=ax)
        (line,) = ax.lines
        assert list(line.get_ydata()) == [c.score for c in table]
        (band,) = ax.collections
        lows = band.get_paths()[0].vertices[:, 1]
        assert min(lows) == pytest.approx(min(c.low for c in table if c.low is not None))

    def test_reference_image(self, frame, tmp_path):
        fig, ax = new_axes()
        plots.trend(score(frame, "nps", every="week"), ax=ax)
        check_reference(fig, "trend", tmp_path)

    def test_refuses_a_table_without_periods_and_too_many_groups(self, frame):
        with pytest.raises(CxError, match="a trend needs a table by period"):
            plots.trend(score(frame, "nps", by="store"))
        many = stores_frame(n=4000)
        with pytest.raises(CxError, match="groups \\[\\('nowhere',\\)\\] are not in the table"):
            plots.trend(score(many, "nps", by="store", every="week"), groups=["nowhere"])
        plots.MAX_TREND_GROUPS, old = 3, plots.MAX_TREND_GROUPS
        try:
            with pytest.raises(CxError, match="the table has 6 groups by store"):
                plots.trend(score(many, "nps", by="store", every="week"))
        finally:
            plots.MAX_TREND_GROUPS = old


class TestSegmentRanking:
    def test_an_error_bar_per_segment_coloured_by_the_test_against_the_rest(self, frame):
        fig, ax = new_axes()
        table = score(frame, "nps", by="store")
        got = plots.segment_ranking(table, ax=ax)
        assert got is ax
        assert len(ax.containers) == 6
        assert len(ax.patches) == 1  # the overall interval
        result = compare_with_rest(table)
        sides = {s.cell.key[0]: s.side for s in result.segments}
        labels = [t.get_text() for t in ax.get_yticklabels()]
        # Best at the top: tick 0 is the bottom of the axes.
        scores = {c.key[0]: c.score or 0.0 for c in table}
        assert labels == sorted(scores, key=lambda k: scores[k])
        for container, label in zip(ax.containers, labels[::-1], strict=True):
            colour = container.lines[0].get_color()
            assert colour == plots.COLORS[sides[label] or "same"]
        saves(fig)

    def test_the_low_n_segment_is_hollow(self, frame):
        _, ax = new_axes()
        table = score(frame, "nps", by="store", min_n=200)
        plots.segment_ranking(table, ax=ax)
        hollow = [c.lines[0].get_markerfacecolor() == "white" for c in ax.containers]
        assert sum(hollow) == sum(c.low_n for c in table) == 1

    def test_reference_image(self, frame, tmp_path):
        fig, ax = new_axes()
        plots.segment_ranking(score(frame, "nps", by="store"), ax=ax)
        check_reference(fig, "segment_ranking", tmp_path)

    def test_a_lower_is_better_metric_reverses_the_axis(self):
        effort = Metric(
            name="effort",
            title="Effort",
            low=1,
            high=5,
            direction="lower_is_better",
            buckets=[Bucket("easy", 1, 2), Bucket("so_so", 3, 3), Bucket("hard", 4, 5)],
            headline="mean",
            positive="easy",
            negative="hard",
        )
        registry = MetricRegistry([effort])
        rng = np.random.default_rng(0)
        store = rng.choice(["A", "B", "C"], 600)
        shift = {"A": 0, "B": 1, "C": 2}
        answers = np.clip(rng.integers(1, 4, 600) + [shift[s] for s in store], 1, 5)
        frame = ResponseFrame.from_columns(
            {"metric": ["effort"] * 600, "score": answers, "store": store}, registry=registry
        )
        _, ax = new_axes()
        plots.segment_ranking(score(frame, "effort", by="store"), ax=ax)
        assert ax.xaxis_inverted()
        # The best (lowest effort) store is at the top.
        assert [t.get_text() for t in ax.get_yticklabels()][-1] == "A"
        assert "lower is better" in ax.get_xlabel()


class TestBucketBars:
    def test_a_patch_per_cell_and_bucket_in_the_registry_colours(self, frame):
        fig, ax = new_axes()
        table = score(frame, "nps", by="store")
        got = plots.bucket_bars(table, ax=ax)
        assert got is ax
        assert len(ax.patches) == 6 * 3
        legend = [t.get_text() for t in ax.get_legend().get_texts()]
        assert legend == ["detractor (0-6)", "passive (7-8)", "promoter (9-10)"]
        first = ax.patches[0]  # the first store's detractors
        assert first.get_width() == pytest.approx(table[0].shares["detractor"])
        assert matplotlib.colors.to_hex(first.get_facecolor()) == plots.COLORS["negative"]
        saves(fig)

    def test_reference_image(self, frame, tmp_path):
        fig, ax = new_axes()
        plots.bucket_bars(score(frame, "nps", by="store"), ax=ax)
        check_reference(fig, "bucket_bars", tmp_path)

    def test_cells_of_a_live_scoreboard(self, frame):
        board = LiveScoreboard([Segmentation("store", ("store",))], metrics=["nps", "csat"])
        board.add_frame(frame)
        _, ax = new_axes()
        plots.bucket_bars(sorted(board.snapshot("store"), key=lambda c: str(c.key)), ax=ax)
        assert len(ax.patches) == 18
        table = score(frame, "nps", by="store")
        widths = [p.get_width() for p in ax.patches]
        assert widths[:6] == pytest.approx([c.shares["detractor"] for c in table])
        with pytest.raises(CxError, match="cells of one metric are needed"):
            plots.bucket_bars([*board.snapshot("store"), *board.snapshot("store", "csat")])

    def test_without_ax_a_new_figure(self, frame):
        ax = plots.bucket_bars(score(frame, "nps"))
        assert len(ax.patches) == 3
        assert ax.figure is not None


class TestCompareWithRest:
    def test_each_segment_against_the_rest_scored_on_its_own(self, frame):
        """The test of a store against the rest is compare() of it and the other stores' answers."""
        table = score(frame, "nps", by="store")
        result = compare_with_rest(table, adjust="none")
        store = frame.dimensions["store"]
        for segment in result.segments:
            (name,) = segment.cell.key
            code = store.values.index(name)
            rest = score(frame.take(store.codes != code), "nps")[0]
            expected = compare(segment.cell, rest)
            assert segment.difference is not None
            assert segment.difference.p_value == pytest.approx(expected.p_value, rel=1e-12)
            assert segment.difference.difference == pytest.approx(expected.difference, rel=1e-12)
        assert result.overall.score == pytest.approx(score(frame, "nps")[0].score, rel=1e-12)
        assert result.overall.low == pytest.approx(score(frame, "nps")[0].low, rel=1e-12)

    def test_holm_never_finds_more_than_unadjusted(self, frame):
        table = score(frame, "nps", by="store")
        holm = compare_with_rest(table)
        raw = compare_with_rest(table, adjust="none")
        for h, r in zip(holm.segments, raw.segments, strict=True):
            assert h.p_adjusted is not None
            assert r.p_adjusted is not None
            assert h.p_adjusted >= r.p_adjusted
            assert r.significant or not h.significant

    def test_means_pool_exactly(self):
        rng = np.random.default_rng(5)
        store = rng.choice(["A", "B", "C"], 500)
        frame = ResponseFrame.from_columns(
            {"metric": ["rating"] * 500, "score": rng.integers(1, 6, 500), "store": store}
        )
        table = score(frame, "rating", by="store")
        result = compare_with_rest(table, adjust="none")
        codes = frame.dimensions["store"]
        for segment in result.segments:
            rest = score(
                frame.take(codes.codes != codes.values.index(segment.cell.key[0])), "rating"
            )[0]
            assert segment.difference is not None
            assert segment.difference.p_value == pytest.approx(
                compare(segment.cell, rest).p_value, rel=1e-9
            )

    def test_weighted_tables_pool_the_weighted_shares(self, frame):
        """Weighted: the overall score is the weighted score; each store is still tested."""
        weights = np.random.default_rng(1).uniform(0.5, 2.0, len(frame))
        weighted = frame.with_weights(weights)
        result = compare_with_rest(score(weighted, "nps", by="store", weighted=True))
        overall = score(weighted, "nps", weighted=True)[0]
        assert result.overall.score == pytest.approx(overall.score, rel=1e-9)
        assert result.overall.n_eff == pytest.approx(
            sum(c.n_eff for c in score(weighted, "nps", by="store", weighted=True)), rel=1e-12
        )
        assert all(s.difference is not None for s in result.segments)
        assert {s.side for s in result.segments} >= {"above", "below"}

    def test_refuses_a_table_by_period_and_unknown_adjustments(self, frame):
        with pytest.raises(CxError, match="the table is by week"):
            compare_with_rest(score(frame, "nps", by="store", every="week"))
        with pytest.raises(CxError, match="adjust 'bonferroni' is not a known adjustment"):
            compare_with_rest(score(frame, "nps", by="store"), adjust="bonferroni")  # type: ignore[arg-type]


def test_importing_plots_and_display_loads_neither_matplotlib_nor_numpy():
    """matplotlib is imported on the first plot, not with the module."""
    code = (
        "import sys, cxcore.display, cxcore.plots; "
        "print(sorted(m for m in ('matplotlib', 'numpy', 'pandas') if m in sys.modules))"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "[]"
