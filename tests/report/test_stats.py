"""Wilson intervals and exact McNemar against statsmodels' implementations; the paired
bootstrap against the normal theory of a mean and against pairing."""

from __future__ import annotations

import math

import numpy as np
import pytest
from statsmodels.stats import contingency_tables as contingency
from statsmodels.stats import proportion

from harness.report.stats import mcnemar_exact, paired_bootstrap, wilson_interval


@pytest.mark.parametrize("confidence", [0.95, 0.9, 0.99])
def test_wilson_matches_statsmodels(confidence: float) -> None:
    for n in (1, 2, 7, 30, 1000):
        for x in sorted({0, 1, n // 3, n // 2, n - 1, n}):
            want = proportion.proportion_confint(x, n, alpha=1 - confidence, method="wilson")
            got = wilson_interval(x, n, confidence)
            assert isinstance(got[0], float)
            assert got == pytest.approx(want, abs=1e-12)


def test_wilson_vectorised_and_empty() -> None:
    x = np.array([0, 3, 10, 0])
    n = np.array([10, 10, 10, 0])
    low, high = wilson_interval(x, n)
    want_low, want_high = proportion.proportion_confint(x[:3], n[:3], method="wilson")
    np.testing.assert_allclose(low[:3], want_low, atol=1e-12)
    np.testing.assert_allclose(high[:3], want_high, atol=1e-12)
    assert math.isnan(low[3]) and math.isnan(high[3])
    assert all(math.isnan(v) for v in wilson_interval(0, 0))
    with pytest.raises(ValueError):
        wilson_interval(5, 4)


@pytest.mark.parametrize("b,c", [(0, 1), (1, 0), (3, 9), (9, 3), (5, 5), (0, 25), (40, 61)])
def test_mcnemar_matches_statsmodels(b: int, c: int) -> None:
    table = np.array([[17, b], [c, 4]])
    want = contingency.mcnemar(table, exact=True).pvalue
    assert mcnemar_exact(b, c) == pytest.approx(want, rel=1e-9)


def test_mcnemar_equals_scipy_binomtest_over_a_grid() -> None:
    from scipy.stats import binomtest

    for n in (1, 2, 3, 10, 51, 200, 1500):
        for b in sorted({0, 1, n // 4, n // 2, (n + 1) // 2, n - 1, n}):
            want = binomtest(b, n, 0.5, alternative="two-sided").pvalue
            assert mcnemar_exact(b, n - b) == pytest.approx(want, rel=1e-10, abs=1e-300)


def test_mcnemar_no_discordant_pairs_and_bad_input() -> None:
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(0, 12) < 0.001
    with pytest.raises(ValueError):
        mcnemar_exact(-1, 2)


def test_paired_bootstrap_of_a_mean_matches_normal_theory() -> None:
    x = np.random.default_rng(3).normal(0.3, 1.0, size=2000)
    calls: list[int] = []
    got = paired_bootstrap(
        lambda rows: x[rows].mean(), len(x), 2000, seed=1, on_resample=lambda: calls.append(1)
    )
    assert len(calls) == 2000
    half = 1.959964 * x.std() / math.sqrt(len(x))
    assert got.estimate[0] == pytest.approx(x.mean())
    assert got.low[0] == pytest.approx(x.mean() - half, abs=0.2 * half)
    assert got.high[0] == pytest.approx(x.mean() + half, abs=0.2 * half)
    assert got.share_not_positive[0] == 0.0


def test_paired_bootstrap_resamples_both_sides_together() -> None:
    """B is A plus 0.05 on every item: huge spread between items, none between the pairs.
    Resampled as pairs the difference never moves; a second statistic (A alone) does."""
    a = np.random.default_rng(4).uniform(0, 10, size=500)
    b = a + 0.05
    got = paired_bootstrap(
        lambda rows: np.array([b[rows].mean() - a[rows].mean(), a[rows].mean()]), len(a), 500
    )
    assert got.low[0] == pytest.approx(0.05) and got.high[0] == pytest.approx(0.05)
    assert got.high[1] - got.low[1] > 0.3
    assert list(got.share_not_positive) == [0.0, 0.0]
    same = paired_bootstrap(lambda rows: b[rows].mean() - b[rows].mean(), len(a), 50)
    assert same.estimate[0] == 0.0 and same.share_not_positive[0] == 1.0
    with pytest.raises(ValueError, match="2 items"):
        paired_bootstrap(lambda rows: a[rows].mean(), 1)
