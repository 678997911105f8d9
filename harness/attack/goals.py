"""Attack goals (docs/method.md, "Goals") for any k: what a trial is trying to do and when it
is done.

Every goal is expressed through one number, :meth:`Goal.progress`, that grows as the
attack gets closer to its goal. Importance is then ``progress(S_\\i) - progress(S)`` and
the gain of a candidate is ``progress(S^(c)) - progress(S_{t-1})`` for every goal alike,
which is exactly the paper's equations with their signs.

A goal reads a model's sparse answer (:class:`~harness.ranking.TopK`: the top-k list and
the targets' scores), never a whole score row, so it works the same for a dense model and
for a label tree; dense ``(B, L)`` scores are accepted too and read the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harness.ranking import TopK
from harness.vocab import AttackKind, values

Answer = TopK | np.ndarray
"""A model's answer about a batch of texts: sparse, or dense ``(B, L)`` scores."""


@dataclass(frozen=True)
class Goal:
    """One attack goal.

    ``targets`` is A+ (positive), A- (negative) or, for non-targeted attacks, the set
    Γ = Y ∩ Ŷ_k(S) fixed on the original document.
    """

    kind: str
    targets: tuple[int, ...]
    k: int = 5

    def __post_init__(self) -> None:
        if self.kind not in values(AttackKind):
            raise ValueError(f"unknown attack {self.kind!r}; expected one of {values(AttackKind)}")
        if self.k < 1:
            raise ValueError("k must be >= 1")
        if not self.targets:
            raise ValueError("a goal needs at least one target label")

    @property
    def sign(self) -> float:
        """+1 when the attack raises its labels' scores (negative), -1 when it lowers them."""
        return 1.0 if self.kind == AttackKind.NEGATIVE else -1.0

    def answer(self, scores: Answer) -> TopK:
        """``scores`` as the sparse answer this goal reads (dense rows are converted)."""
        if isinstance(scores, TopK):
            if scores.labels != tuple(self.targets):
                raise ValueError(f"answer about labels {scores.labels}, goal on {self.targets}")
            return scores
        return TopK.from_dense(np.atleast_2d(scores), self.k, self.targets)

    def in_top_k(self, scores: Answer) -> np.ndarray:
        """(B, |targets|) booleans: is each target in the top-k of each row?"""
        return self.answer(scores).in_top(self.k)

    def gamma(self, scores: Answer) -> np.ndarray:
        """Γ_t for the current text: the targets still standing between it and the goal."""
        inside = self.in_top_k(scores)[0]
        t = np.asarray(self.targets, dtype=np.int64)
        return t[~inside] if self.kind == AttackKind.NEGATIVE else t[inside]

    def progress(self, scores: Answer, gamma: np.ndarray) -> np.ndarray:
        """(B,) sign * Σ_{j∈Γ} g_j: higher is closer to the goal."""
        answer = self.answer(scores)
        if len(gamma) == 0:
            return np.zeros(len(answer), dtype=np.float64)
        cols = [self.targets.index(int(j)) for j in gamma]
        return self.sign * answer.label_scores[:, cols].astype(np.float64).sum(axis=1)

    def is_met(self, scores: Answer) -> np.ndarray:
        """(B,) booleans: does each row satisfy the goal?"""
        inside = self.in_top_k(scores)
        if self.kind == AttackKind.POSITIVE:
            return ~inside.any(axis=1)
        if self.kind == AttackKind.NEGATIVE:
            return inside.all(axis=1)
        return (~inside).any(axis=1)

    def attackable(self, scores: Answer) -> bool:
        """Whether the original document is a valid starting point (goal not already met)."""
        return not bool(self.is_met(scores)[0])
