"""Tests for cxcore.scoring.drivers: Johnson's relative weights with bootstrap intervals."""

from __future__ import annotations

import numpy as np
import pytest

from cxcore.errors import CxError
from cxcore.scoring import ResponseFrame, driver_analysis, relative_weights


def data(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    x[:, 1] += 0.5 * x[:, 0]  # correlated drivers
    y = 3 * x[:, 0] + 1 * x[:, 1] + 0 * x[:, 2] + rng.normal(size=n)
    return x, y


class TestRelativeWeights:
    def test_sum_to_r_squared(self) -> None:
        """The weights sum to the R² of the full regression."""
        x, y = data(500)
        result = relative_weights(x, y, ["a", "b", "c"], resamples=100)
        design = np.column_stack([np.ones(len(y)), x])
        fitted = design @ np.linalg.lstsq(design, y, rcond=None)[0]
        r2 = 1 - ((y - fitted) ** 2).sum() / ((y - y.mean()) ** 2).sum()
        assert result.r_squared == pytest.approx(r2)
        assert sum(d.weight for d in result.drivers) == pytest.approx(r2)
        assert sum(d.share for d in result.drivers) == pytest.approx(100.0)

    def test_order_and_intervals(self) -> None:
        """The strongest driver comes first; each bootstrap interval contains its weight."""
        x, y = data(500)
        result = relative_weights(x, y, ["a", "b", "c"], resamples=200, seed=4)
        assert [d.name for d in result.drivers] == ["a", "b", "c"]
        for d in result.drivers:
            assert d.low is not None
            assert d.high is not None
            assert d.low <= d.weight <= d.high
        assert result == relative_weights(x, y, ["a", "b", "c"], resamples=200, seed=4)

    def test_uncorrelated_drivers_are_squared_correlations(self) -> None:
        """With orthogonal drivers, each weight is its squared correlation with the outcome."""
        x = np.array([[1, 1], [1, -1], [-1, 1], [-1, -1]] * 10, dtype=float)
        y = 2 * x[:, 0] + x[:, 1] + np.tile([0.1, -0.1, -0.1, 0.1], 10)
        result = relative_weights(x, y, ["a", "b"], resamples=0, min_per_driver=1)
        for d, col in zip(sorted(result.drivers, key=lambda d: d.name), x.T, strict=True):
            assert d.weight == pytest.approx(np.corrcoef(col, y)[0, 1] ** 2)

    def test_suppressed_below_ten_per_driver(self) -> None:
        """With n < 10 x drivers, nothing is shown and the reason says why."""
        x, y = data(29)
        result = relative_weights(x, y)
        assert result.suppressed
        assert result.drivers == ()
        assert result.r_squared is None
        assert "at least 30" in (result.reason or "")
        assert not relative_weights(*data(30), resamples=0).suppressed

    def test_bad_input(self) -> None:
        """Shapes, names, non-finite values and constant drivers are clear errors."""
        x, y = data(50)
        with pytest.raises(CxError, match="do not fit"):
            relative_weights(x, y[:-1])
        with pytest.raises(CxError, match="names"):
            relative_weights(x, y, ["a"])
        x[0, 0] = np.nan
        with pytest.raises(CxError, match="finite"):
            relative_weights(x, y)
        x[:, 0] = 1.0
        with pytest.raises(CxError, match="'x0'"):
            relative_weights(x, y, resamples=0)


class TestDriverAnalysis:
    def _frame(self, n: int) -> ResponseFrame:
        rng = np.random.default_rng(7)
        delivery = rng.integers(1, 6, size=n)
        app = rng.integers(1, 6, size=n)
        ltr = np.clip(np.round(2 * delivery + 0.3 * app - 2 + rng.normal(size=n)), 0, 10).astype(
            int
        )
        metric, score, question, resp = [], [], [], []
        for i in range(n):
            for q, m, v in (
                ("ltr", "nps", ltr[i]),
                ("delivery", "csat", delivery[i]),
                ("app", "csat", app[i]),
            ):
                metric.append(m)
                score.append(int(v))
                question.append(q)
                resp.append(f"R{i}")
        return ResponseFrame.from_columns(
            {"metric": metric, "score": score, "question": question, "response": resp}
        )

    def test_touchpoints_drive_nps(self) -> None:
        """Delivery drives likelihood to recommend more than the app does."""
        result = driver_analysis(
            self._frame(300), outcome="ltr", drivers=["delivery", "app"], resamples=100
        )
        assert result.n == 300
        assert [d.name for d in result.drivers] == ["delivery", "app"]
        promoter = driver_analysis(
            self._frame(300),
            outcome="ltr",
            drivers=["delivery", "app"],
            target="promoter",
            resamples=0,
        )
        assert promoter.drivers[0].name == "delivery"
        assert 0 < (promoter.r_squared or 0) < 1

    def test_missing_pieces(self) -> None:
        """A frame without the pivot dimensions, or without the outcome, is an error."""
        frame = ResponseFrame.from_columns({"metric": ["nps"], "score": [1]})
        with pytest.raises(CxError, match="no dimension 'question'"):
            driver_analysis(frame, outcome="ltr", drivers=["a"])
        with pytest.raises(CxError, match="no answers have question = 'nope'"):
            driver_analysis(self._frame(20), outcome="nope", drivers=["app"])
