"""Statistics behind the report: Wilson intervals for success rates, McNemar for pairs,
and a paired bootstrap for differences of ranking metrics.

Every success rate gets a 95% Wilson interval (docs/method.md, "Metrics"); comparisons of two
models or losses on the same (paired) trials use McNemar's exact test on the discordant pairs.
Two models' test metrics (PSP@5 of bce against PW-cb) are compared on the same documents by
resampling documents.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.special import bdtr, ndtri


def wilson_interval(
    successes: int | np.ndarray, n: int | np.ndarray, confidence: float = 0.95
) -> tuple[float | np.ndarray, float | np.ndarray]:
    """Wilson score interval ``(low, high)`` for a binomial proportion; NaN where ``n == 0``.

    Written in closed form rather than through ``scipy.stats.binomtest(...).proportion_ci``
    because that is scalar-only and a report computes one interval per bin and condition.
    Scalars in give floats out; arrays broadcast.
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    x = np.asarray(successes, dtype=np.float64)
    m = np.asarray(n, dtype=np.float64)
    if np.any(m < 0) or np.any(x < 0) or np.any(x > m):
        raise ValueError("need 0 <= successes <= n")
    z = -ndtri((1.0 - confidence) / 2.0)  # the normal quantile, as scipy.stats.norm.isf
    with np.errstate(divide="ignore", invalid="ignore"):
        denom = m + z * z
        centre = (x + z * z / 2.0) / denom
        half = z / denom * np.sqrt(x * (m - x) / m + z * z / 4.0)
        low = np.where(m > 0, np.clip(centre - half, 0.0, 1.0), np.nan)
        high = np.where(m > 0, np.clip(centre + half, 0.0, 1.0), np.nan)
    if low.ndim == 0:
        return float(low), float(high)
    return low, high


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value: ``b`` of the ``b + c`` discordant pairs vs. p = 1/2.

    ``b`` counts pairs where only the first condition succeeded, ``c`` only the second. With
    no discordant pairs there is no evidence of a difference, so the p-value is 1. The
    binomial at p = 1/2 is symmetric, so the two-sided p-value is twice the smaller tail
    (capped at 1): ``scipy.special.bdtr``, the binomial CDF ``scipy.stats.binomtest`` also
    sums, without importing ``scipy.stats`` (a second of ``compare``'s start-up).
    """
    if b < 0 or c < 0:
        raise ValueError(f"discordant counts must be non-negative, got b={b}, c={c}")
    if b + c == 0:
        return 1.0
    return float(min(1.0, 2.0 * bdtr(min(int(b), int(c)), int(b + c), 0.5)))


@dataclass(frozen=True)
class PairedBootstrap:
    """Per statistic: its value on all items, a percentile interval, and the share of
    resamples where it was <= 0 (for a difference B - A: how often B did not beat A)."""

    estimate: np.ndarray
    low: np.ndarray
    high: np.ndarray
    share_not_positive: np.ndarray


def paired_bootstrap(
    statistic: Callable[[np.ndarray], np.ndarray],
    n_items: int,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    on_resample: Callable[[], object] | None = None,
) -> PairedBootstrap:
    """Percentile bootstrap of ``statistic(rows)``, a vector computed from the items at the
    row indices ``rows`` (resampled with replacement, the same rows for both sides of a
    paired difference). Percentile rather than BCa: BCa's jackknife would evaluate the
    statistic once per item, which for thousands of test documents costs far more than the
    resamples themselves. ``on_resample`` is called after each resample (a progress bar)."""
    if n_items < 2:
        raise ValueError(f"need at least 2 items to resample, got {n_items}")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")

    def resampled(rows: np.ndarray) -> np.ndarray:
        value = np.atleast_1d(statistic(rows))
        if on_resample is not None:
            on_resample()
        return value

    from scipy import stats

    res = stats.bootstrap(
        (np.arange(n_items),),
        resampled,
        vectorized=False,
        n_resamples=n_resamples,
        confidence_level=confidence,
        method="percentile",
        random_state=np.random.default_rng(seed),
    )
    dist = np.atleast_2d(res.bootstrap_distribution)
    return PairedBootstrap(
        estimate=np.atleast_1d(statistic(np.arange(n_items))).astype(np.float64),
        low=np.atleast_1d(res.confidence_interval.low),
        high=np.atleast_1d(res.confidence_interval.high),
        share_not_positive=(dist <= 0).mean(axis=-1),
    )
