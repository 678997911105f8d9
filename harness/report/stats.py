"""Statistics behind the report: Wilson intervals for success rates, McNemar for pairs.

METHOD.md §9 asks for a 95% Wilson interval on every success rate; comparisons of two
models or losses on the same (paired) trials use McNemar's exact test on the discordant pairs.
"""

from __future__ import annotations

import numpy as np
from scipy import stats


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
    z = stats.norm.isf((1.0 - confidence) / 2.0)
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
    no discordant pairs there is no evidence of a difference, so the p-value is 1.
    """
    if b < 0 or c < 0:
        raise ValueError(f"discordant counts must be non-negative, got b={b}, c={c}")
    if b + c == 0:
        return 1.0
    return float(stats.binomtest(int(b), int(b + c), 0.5, alternative="two-sided").pvalue)
