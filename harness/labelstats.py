"""Label statistics shared by losses and metrics: propensities and rebalancing weights.

Both the propensity-scored metrics and the PW / PW-cb losses
(docs/method.md, "Metrics" and "Rebalanced losses") must use the
same propensity model, so it lives here in the core rather than in any one plugin.
"""

from __future__ import annotations

import numpy as np

from harness.vocab import Normalisation, Weighting, values

WEIGHTINGS = values(Weighting)
NORMALISATIONS = values(Normalisation)


def _counts(label_counts: np.ndarray) -> np.ndarray:
    counts = np.asarray(label_counts, dtype=np.float64).ravel()
    if counts.size and (not np.all(np.isfinite(counts)) or counts.min() < 0):
        raise ValueError("label_counts must be finite and non-negative")
    return counts


def propensities(
    label_counts: np.ndarray, n_docs: int, a: float = 0.55, b: float = 1.5
) -> np.ndarray:
    """Jain et al. (2016) propensities ``p_j = 1 / (1 + C (n_j + B)^(-A))``.

    ``C = (ln N - 1)(B + 1)^A`` with ``N = n_docs`` training documents. The model only makes
    sense when ``ln N > 1`` (otherwise ``C <= 0`` and ``p`` leaves (0, 1]), so ``N < 3`` is
    rejected rather than silently giving propensities above one or negative.
    """
    counts = _counts(label_counts)
    if n_docs < 3:
        raise ValueError(
            f"propensities need at least 3 training documents (ln N > 1); got {n_docs}"
        )
    c = (np.log(n_docs) - 1.0) * (b + 1.0) ** a
    return 1.0 / (1.0 + c * np.power(counts + b, -a))


def label_weights(
    label_counts: np.ndarray,
    n_docs: int,
    weighting: str = "none",
    beta: float = 0.9,
    a: float = 0.55,
    b: float = 1.5,
    normalise: str = "labels",
) -> np.ndarray:
    """Per-label weights ``w_j`` for the positive part of a rebalanced loss (docs/method.md,
    "Rebalanced losses").

    ``none``: 1; ``pw``: ``2/p_j - 1`` (unbiased under missing labels); ``pw-cb``:
    ``C_j (2/p_j - 1)`` with the class-balancing factor ``C_j = (1 - β)/(1 - β^{n_j})`` and
    ``n_j`` raised to 1 for labels with no training example (β^0 = 1 would divide by zero).
    ``normalise="labels"`` (the paper's) scales the weights to mean one over the labels
    (``w <- L w / Σ w``), so the loss scale, and hence the learning rate, does not depend on
    the weighting. ``"positives"`` scales them so the training positives weigh as much in
    total as unweighted (``Σ_j w_j n_j = Σ_j n_j``): the same ranking at the optimum (one
    factor for every label), but positives keep their share of the loss against negatives
    when the frequent labels, which hold most positives, get the smallest weights.
    """
    if normalise not in NORMALISATIONS:
        raise ValueError(f"unknown normalise {normalise!r}; expected one of {NORMALISATIONS}")
    if weighting not in WEIGHTINGS:
        raise ValueError(f"unknown weighting {weighting!r}; expected one of {WEIGHTINGS}")
    counts = _counts(label_counts)
    if weighting == "none":
        return np.ones_like(counts)
    w = 2.0 / propensities(counts, n_docs, a=a, b=b) - 1.0
    if weighting == "pw-cb":
        if not 0.0 < beta < 1.0:
            raise ValueError(f"beta must be in (0, 1), got {beta}")
        n = np.maximum(counts, 1.0)
        # -expm1(n log β) = 1 - β^n, accurate when β^n is close to 1.
        w = w * (1.0 - beta) / -np.expm1(n * np.log(beta))
    if normalise == "positives" and (counts * w).sum() > 0:
        return w * counts.sum() / (counts * w).sum()
    return counts.size * w / w.sum()
