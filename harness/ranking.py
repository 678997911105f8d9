"""The one ranking rule: labels by descending score, ties to the lower label index.

Metrics, goals, the attack's top-k lists, the test-split predictions and the default sparse
query of a model all rank through these two functions, so "is label j in the top-k" has one
answer everywhere (docs/method.md, "Ranking and ties").
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` best labels, best first, ties to the lower label index.

    ``scores`` is one row (``(L,)`` -> ``(k,)``) or a batch (``(B, L)`` -> ``(B, k)``); ``k``
    is clipped to ``L``. ``np.argpartition`` alone picks arbitrarily among labels tied at the
    k-th score, so the k-th largest value ``t`` is found by partition and the selection made
    explicitly: every label above ``t`` plus the lowest-indexed labels equal to ``t``. A
    stable sort of the k survivors (already in index order) by descending score then keeps
    ties in index order. Linear in ``L`` per row, so it suits label spaces of any size.
    """
    scores = np.asarray(scores)
    if scores.ndim == 1:
        return top_k(scores[None, :], k)[0]
    if not np.issubdtype(scores.dtype, np.floating):
        scores = scores.astype(np.float64)  # negating unsigned or bool scores would wrap
    n, n_labels = scores.shape
    k = min(k, n_labels)
    if k <= 0 or n == 0:
        return np.zeros((n, max(k, 0)), dtype=np.int64)
    kth = -np.partition(-scores, k - 1, axis=1)[:, k - 1 : k]
    above = scores > kth
    tied = scores == kth
    room = k - above.sum(axis=1, keepdims=True)
    chosen = above | (tied & (np.cumsum(tied, axis=1) <= room))
    idx = np.nonzero(chosen)[1].reshape(n, k)  # row-major: ascending label index per row
    order = np.argsort(-np.take_along_axis(scores, idx, axis=1), axis=1, kind="stable")
    return np.take_along_axis(idx, order, axis=1).astype(np.int64)


def ranks(scores: np.ndarray, labels: Iterable[int]) -> np.ndarray:
    """1-based rank of each of ``labels`` in each row of ``scores``: ``(B, L)`` ->
    ``(B, len(labels))`` (a single row is treated as a batch of one).

    The rank under :func:`top_k`'s order: one plus the labels scoring higher plus the
    lower-indexed labels scoring the same, so ``rank <= k`` exactly when the label is in
    ``top_k(scores, k)``.
    """
    scores = np.atleast_2d(scores)
    labels = list(labels)
    out = np.empty((scores.shape[0], len(labels)), dtype=np.int64)
    for c, j in enumerate(labels):
        sj = scores[:, j : j + 1]
        out[:, c] = 1 + (scores > sj).sum(axis=1) + (scores[:, :j] == sj).sum(axis=1)
    return out
