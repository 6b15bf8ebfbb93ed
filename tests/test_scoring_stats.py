"""Tests for cxcore.scoring.stats: intervals, tests, quantiles and Kish's effective n."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cxcore.errors import CxError
from cxcore.scoring.stats import (
    IntervalMethod,
    kish_effective_n,
    mean_difference_test,
    nps_difference_test,
    nps_interval,
    proportion_difference_test,
    proportion_interval,
    t_cdf,
    t_interval,
    t_quantile,
    wilson_interval,
    z_value,
)


@st.composite
def nps_counts(draw: st.DrawFn) -> tuple[int, int, int]:
    n = draw(st.integers(1, 5000))
    p = draw(st.integers(0, n))
    d = draw(st.integers(0, n - p))
    return p, d, n


class TestReferenceValues:
    def test_nps_wald(self) -> None:
        """P=50, D=20, n=100 gives the Wald interval [14.69, 45.31]."""
        low, high = nps_interval(50, 20, 100, method="wald")  # type: ignore[misc]
        assert (round(low, 2), round(high, 2)) == (14.69, 45.31)

    def test_nps_adjusted_wald(self) -> None:
        """P=50, D=20, n=100 gives the adjusted-Wald interval [14.05, 44.20]."""
        low, high = nps_interval(50, 20, 100)  # type: ignore[misc]
        assert (round(low, 2), round(high, 2)) == (14.05, 44.20)

    def test_wilson(self) -> None:
        """Wilson for 45 of 50 is [0.7864, 0.9565]."""
        low, high = wilson_interval(45, 50)
        assert (round(low, 4), round(high, 4)) == (0.7864, 0.9565)

    def test_two_nps(self) -> None:
        """(50, 20, 100) against (120, 60, 300): z = 1.058, p = 0.290."""
        result = nps_difference_test((50, 20, 100), (120, 60, 300))
        assert round(result.statistic, 3) == 1.058
        assert round(result.p_value, 3) == 0.290
        assert result.difference == pytest.approx(10.0)

    def test_kish(self) -> None:
        """Kish's n_eff for weights [1, 1, 2, 2, 4] is 3.846."""
        assert round(kish_effective_n([1, 1, 2, 2, 4]), 3) == 3.846

    def test_z_for_95(self) -> None:
        """The 95 % normal quantile is 1.96 to two decimals."""
        assert round(z_value(0.95), 2) == 1.96


class TestCoverage:
    @staticmethod
    def _exact_coverage(method: str, n: int, p: float, d: float) -> float:
        truth = 100 * (p - d)
        covered = 0.0
        for k_p in range(n + 1):
            for k_d in range(n - k_p + 1):
                prob = (
                    math.comb(n, k_p)
                    * math.comb(n - k_p, k_d)
                    * p**k_p
                    * d**k_d
                    * (1 - p - d) ** (n - k_p - k_d)
                )
                low, high = nps_interval(k_p, k_d, n, method=method)  # type: ignore[misc]
                if low <= truth <= high:
                    covered += prob
        return covered

    def test_adjusted_wald_covers_at_n_10_by_simulation(self) -> None:
        """Simulated: at n=10, p=0.5, d=0.2 adjusted-Wald covers >= 93 %, Wald only about 90 %."""
        rng = np.random.default_rng(2016)
        draws = rng.multinomial(10, [0.5, 0.3, 0.2], size=20_000)
        hits = {"adjusted-wald": 0, "wald": 0}
        for k_p, _, k_d in draws.tolist():
            for method in hits:
                low, high = nps_interval(k_p, k_d, 10, method=method)  # type: ignore[misc]
                hits[method] += low <= 30.0 <= high
        adjusted = hits["adjusted-wald"] / len(draws)
        wald = hits["wald"] / len(draws)
        assert adjusted >= 0.93
        assert 0.87 <= wald <= 0.92
        assert adjusted > wald

    def test_exact_coverage_agrees(self) -> None:
        """Enumerating every outcome at n=10 gives the same picture without sampling error."""
        assert self._exact_coverage("adjusted-wald", 10, 0.5, 0.2) >= 0.93
        assert self._exact_coverage("wald", 10, 0.5, 0.2) < 0.92


class TestNpsInterval:
    @given(nps_counts(), st.sampled_from(["adjusted-wald", "wald"]))
    def test_within_scale(self, counts: tuple[int, int, int], method: str) -> None:
        """Both ends stay within -100..100, low before high."""
        p, d, n = counts
        interval = nps_interval(p, d, n, method=method)
        assert interval is not None
        low, high = interval
        assert -100.0 <= low <= high <= 100.0

    @given(nps_counts())
    def test_wald_contains_point_estimate(self, counts: tuple[int, int, int]) -> None:
        """The Wald interval is centred on the raw NPS, so contains it."""
        p, d, n = counts
        low, high = nps_interval(p, d, n, method="wald")  # type: ignore[misc]
        raw = 100.0 * (p - d) / n
        assert low - 1e-9 <= raw <= high + 1e-9

    @given(nps_counts())
    def test_adjusted_contains_adjusted_estimate(self, counts: tuple[int, int, int]) -> None:
        """Adjusted-Wald is centred on the adjusted estimate (it may exclude an extreme raw NPS)."""
        p, d, n = counts
        low, high = nps_interval(p, d, n)  # type: ignore[misc]
        adjusted = 100.0 * ((p + 0.75) - (d + 0.75)) / (n + 3)
        assert low - 1e-9 <= adjusted <= high + 1e-9

    def test_extreme_raw_score_can_fall_outside(self) -> None:
        """One promoter: NPS 100, yet the adjusted interval stops short of 100 (as Rocks 2016 defines it)."""
        low, high = nps_interval(1, 0, 1)  # type: ignore[misc]
        assert high < 100.0
        assert low < 0.0

    def test_no_answers(self) -> None:
        """n = 0 gives no interval, not a ZeroDivisionError."""
        assert nps_interval(0, 0, 0) is None

    def test_counts_must_fit(self) -> None:
        """More promoters and detractors than answers is an error."""
        with pytest.raises(CxError, match="do not fit"):
            nps_interval(8, 5, 10)

    def test_wilson_is_not_for_nps(self) -> None:
        """Wilson is for shares: asking it of a net score is an error naming the options."""
        with pytest.raises(CxError, match="adjusted-wald, wald"):
            nps_interval(5, 2, 10, method=IntervalMethod.WILSON)

    def test_narrower_with_more_answers(self) -> None:
        """Ten times the answers at the same shares gives a narrower interval."""
        small = nps_interval(5, 2, 10)
        large = nps_interval(50, 20, 100)
        assert small is not None
        assert large is not None
        assert large[1] - large[0] < small[1] - small[0]


class TestProportionInterval:
    @given(st.integers(1, 10_000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
    def test_wilson_contains_share(self, kn: tuple[int, int]) -> None:
        """The Wilson interval always contains the observed share and stays in 0..100."""
        k, n = kn
        low, high = proportion_interval(k, n)  # type: ignore[misc]
        assert 0.0 <= low <= 100.0 * k / n + 1e-9
        assert 100.0 * k / n - 1e-9 <= high <= 100.0

    def test_methods(self) -> None:
        """Agresti-Coull is wider than Wald at small n; both give percentages."""
        wald = proportion_interval(9, 10, method="wald")
        ac = proportion_interval(9, 10, method="adjusted-wald")
        assert wald is not None
        assert ac is not None
        assert ac[1] - ac[0] > wald[1] - wald[0]

    def test_t_is_not_for_shares(self) -> None:
        """The t method does not apply to a share."""
        with pytest.raises(CxError, match="does not apply to a share"):
            proportion_interval(1, 2, method="t")

    def test_empty(self) -> None:
        """n = 0 gives no interval."""
        assert proportion_interval(0, 0) is None


class TestStudentT:
    def test_against_scipy(self) -> None:
        """Quantiles and the CDF agree with scipy to 1e-7 across df and p."""
        scipy_stats = pytest.importorskip("scipy.stats")
        for df in (1, 2, 2.5, 3, 5, 9.3, 29, 99, 150, 199, 200, 1000, 1e6):
            for p in (0.001, 0.025, 0.1, 0.6, 0.9, 0.975, 0.995, 0.9995):
                expected = float(scipy_stats.t.ppf(p, df))
                assert t_quantile(p, df) == pytest.approx(expected, rel=1e-7, abs=1e-7)
                assert t_cdf(expected, df) == pytest.approx(p, abs=1e-9)

    def test_known_value(self) -> None:
        """t(0.975, 9) = 2.262157 (textbook table)."""
        assert round(t_quantile(0.975, 9), 6) == 2.262157

    def test_interval(self) -> None:
        """Mean 4, sd 1, n 10: 4 ± 2.262157 / sqrt(10)."""
        low, high = t_interval(4.0, 1.0, 10)  # type: ignore[misc]
        half = 2.2621571627 / math.sqrt(10)
        assert low == pytest.approx(4 - half)
        assert high == pytest.approx(4 + half)

    def test_interval_clipped_and_small_n(self) -> None:
        """The interval is clipped to the scale; one answer gives none."""
        low, high = t_interval(4.9, 1.0, 3, bounds=(1.0, 5.0))  # type: ignore[misc]
        assert high == 5.0
        assert low < 4.9
        assert t_interval(3.0, 0.0, 1) is None

    def test_bad_arguments(self) -> None:
        """Probabilities outside (0, 1) and non-positive df are errors."""
        with pytest.raises(CxError, match="between 0 and 1"):
            t_quantile(1.0, 5)
        with pytest.raises(CxError, match="degrees of freedom"):
            t_cdf(1.0, 0)
        with pytest.raises(CxError, match="confidence"):
            z_value(1.5)


class TestDifferences:
    def test_proportions_match_textbook(self) -> None:
        """Two-proportion z-test: 45/50 against 35/50 gives z = 2.5, p = 0.0124."""
        result = proportion_difference_test((45, 50), (35, 50))
        assert result.difference == pytest.approx(20.0)
        assert round(result.statistic, 2) == 2.5
        assert round(result.p_value, 4) == 0.0124
        assert result.low < 20.0 < result.high
        assert result.significant is True

    def test_means_match_scipy(self) -> None:
        """Welch's t-test from summaries agrees with scipy."""
        scipy_stats = pytest.importorskip("scipy.stats")
        result = mean_difference_test((4.0, 1.0, 20), (3.5, 1.2, 25))
        expected = scipy_stats.ttest_ind_from_stats(4.0, 1.0, 20, 3.5, 1.2, 25, equal_var=False)
        assert result.statistic == pytest.approx(float(expected.statistic))
        assert result.p_value == pytest.approx(float(expected.pvalue), rel=1e-9)

    def test_identical_groups(self) -> None:
        """Identical groups differ by 0 with p = 1."""
        result = nps_difference_test((10, 5, 30), (10, 5, 30))
        assert result.difference == 0.0
        assert result.p_value == pytest.approx(1.0)
        assert result.significant is False

    @pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
    def test_significant_is_a_plain_bool_at_the_chosen_level(self, confidence: float) -> None:
        """`significant` is a bool that agrees with p < alpha, on both sides of alpha."""
        seen = set()
        for successes in range(40, 71):
            result = proportion_difference_test((successes, 100), (50, 100), confidence=confidence)
            assert type(result.significant) is bool
            assert result.alpha == pytest.approx(1 - confidence)
            assert result.significant is (result.p_value < result.alpha)
            assert bool(result.significant) is (result.p_value < 1 - confidence)
            seen.add(result.significant)
        assert seen == {True, False}  # both sides of alpha were met

    def test_p_0085_is_not_significant_at_95(self) -> None:
        """p = 0.085 at 95% confidence: `if d.significant:` does not pass."""
        result = proportion_difference_test((62, 100), (50, 100))
        assert 0.05 < result.p_value < 0.1
        assert not result.significant
        assert proportion_difference_test((62, 100), (50, 100), confidence=0.9).significant

    def test_empty_group(self) -> None:
        """A group without answers cannot be compared."""
        with pytest.raises(CxError, match="group B has no answers"):
            nps_difference_test((1, 0, 2), (0, 0, 0))
        with pytest.raises(CxError, match="at least 2"):
            mean_difference_test((1.0, 0.0, 1), (1.0, 1.0, 5))

    def test_degenerate_means(self) -> None:
        """Two groups without spread: equal means give p = 1, different ones p = 0."""
        assert mean_difference_test((3.0, 0.0, 5), (3.0, 0.0, 5)).p_value == 1.0
        assert mean_difference_test((4.0, 0.0, 5), (3.0, 0.0, 5)).p_value == 0.0


class TestKish:
    @given(st.lists(st.floats(0.01, 100), min_size=1, max_size=200))
    def test_between_one_and_n(self, weights: list[float]) -> None:
        """Kish's n_eff lies between 1 and n, and equals n for equal weights."""
        n_eff = kish_effective_n(weights)
        assert 1.0 - 1e-9 <= n_eff <= len(weights) + 1e-9
        assert kish_effective_n([weights[0]] * len(weights)) == pytest.approx(len(weights))

    def test_rejects_negative(self) -> None:
        """A negative weight is an error naming its position."""
        with pytest.raises(CxError, match=r"weight \[1\]"):
            kish_effective_n([1.0, -1.0])

    def test_empty(self) -> None:
        """No weights give an effective n of 0."""
        assert kish_effective_n([]) == 0.0
