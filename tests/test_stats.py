"""Wilson intervals and exact McNemar against statsmodels' implementations."""

from __future__ import annotations

import math

import numpy as np
import pytest
from statsmodels.stats import contingency_tables as contingency
from statsmodels.stats import proportion

from harness.report.stats import mcnemar_exact, wilson_interval


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


def test_mcnemar_no_discordant_pairs_and_bad_input() -> None:
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(0, 12) < 0.001
    with pytest.raises(ValueError):
        mcnemar_exact(-1, 2)
