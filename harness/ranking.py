"""The one ranking rule: labels by descending score, ties to the lower label index.

Metrics, goals, the attack's top-k lists, the test-split predictions and the default sparse
query of a model all rank through these functions, so "is label j in the top-k" has one
answer everywhere (docs/method.md, "Ranking and ties"). :class:`TopK` is the sparse answer a
model gives the attack: its top-k list and the scores and ranks of a few labels.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

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


UNKNOWN_RANK = -1
"""A rank a sparse model does not know: the label is outside the list it returned."""


@dataclass(frozen=True)
class TopK:
    """A model's answer to a sparse query, for a batch of documents: its top-k list and the
    scores (and ranks) of a few labels asked about by name.

    This is all an attack needs (is each target in the top-k, how do the targets' scores
    move, where does the primary target rank), so a model that cannot afford a dense
    ``(batch, L)`` row at every query (a label tree over 10^5 labels) answers this instead.

    * ``indices``, ``scores``: ``(B, k)``, best first, ties to the lower label index;
    * ``label_scores``: ``(B, len(labels))``, the score of each asked label;
    * ``label_ranks``: ``(B, len(labels))``, each asked label's exact 1-based rank, or
      :data:`UNKNOWN_RANK` where the model does not know it (the label is outside the
      list it ranked; its rank is then greater than ``k``). The harness stores an unknown
      rank as NULL.
    """

    indices: np.ndarray
    scores: np.ndarray
    labels: tuple[int, ...]
    label_scores: np.ndarray
    label_ranks: np.ndarray

    @classmethod
    def from_dense(cls, scores: np.ndarray, k: int, labels: Iterable[int]) -> TopK:
        """The sparse answer read off dense scores ``(B, L)`` (every rank known)."""
        scores = np.atleast_2d(scores)
        labels = tuple(int(j) for j in labels)
        idx = top_k(scores, k)
        return cls(
            indices=idx,
            scores=np.take_along_axis(scores, idx, axis=1),
            labels=labels,
            label_scores=scores[:, list(labels)],
            label_ranks=ranks(scores, labels),
        )

    def __len__(self) -> int:
        return int(self.indices.shape[0])

    def rows(self, index: int | slice | np.ndarray) -> TopK:
        """The answer for some of the documents (``rows(3)`` keeps a batch of one)."""
        if isinstance(index, int | np.integer):
            index = slice(int(index), int(index) + 1)
        return TopK(
            self.indices[index],
            self.scores[index],
            self.labels,
            self.label_scores[index],
            self.label_ranks[index],
        )

    @classmethod
    def concat(cls, parts: Sequence[TopK]) -> TopK:
        """Batches of answers to one question, one after the other."""
        return cls(
            np.concatenate([p.indices for p in parts]),
            np.concatenate([p.scores for p in parts]),
            parts[0].labels,
            np.concatenate([p.label_scores for p in parts]),
            np.concatenate([p.label_ranks for p in parts]),
        )

    def in_top(self, k: int) -> np.ndarray:
        """``(B, len(labels))``: is each asked label among the first ``k`` of the list?"""
        head = self.indices[:, :k]
        return (head[:, :, None] == np.asarray(self.labels)[None, None, :]).any(axis=1)

    def rank_of(self, column: int, row: int = 0) -> int | None:
        """The asked label's 1-based rank in one document, or None when unknown."""
        r = int(self.label_ranks[row, column])
        return None if r == UNKNOWN_RANK else r
