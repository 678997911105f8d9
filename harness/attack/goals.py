"""Attack goals (METHOD.md §2) for any k: what a trial is trying to do and when it is done.

Every goal is expressed through one number, :meth:`Goal.progress`, that grows as the
attack gets closer to its goal. Importance is then ``progress(S_\\i) - progress(S)`` and
the gain of a candidate is ``progress(S^(c)) - progress(S_{t-1})`` for every goal alike,
which is exactly the paper's equations with their signs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

ATTACKS = ("positive", "negative", "non-targeted")


def ranks(probs: np.ndarray, labels: Iterable[int]) -> np.ndarray:
    """1-based rank of each label in each row of ``probs`` (B, L) -> (B, len(labels)).

    Ties are broken by label index (lower index ranks first), the same order as a stable
    descending sort, so membership in the top-k is deterministic.
    """
    probs = np.atleast_2d(probs)
    labels = list(labels)
    out = np.empty((probs.shape[0], len(labels)), dtype=np.int64)
    for c, j in enumerate(labels):
        pj = probs[:, j : j + 1]
        out[:, c] = 1 + (probs > pj).sum(axis=1) + (probs[:, :j] == pj).sum(axis=1)
    return out


def top_k(probs: np.ndarray, k: int) -> np.ndarray:
    """Indices of the top-k labels of a 1-D score vector, best first (ties by index)."""
    order = np.argsort(-probs, kind="stable")
    return order[:k]


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
        if self.kind not in ATTACKS:
            raise ValueError(f"unknown attack {self.kind!r}; expected one of {ATTACKS}")
        if self.k < 1:
            raise ValueError("k must be >= 1")
        if not self.targets:
            raise ValueError("a goal needs at least one target label")

    @property
    def sign(self) -> float:
        """+1 when the attack raises its labels' scores (negative), -1 when it lowers them."""
        return 1.0 if self.kind == "negative" else -1.0

    def in_top_k(self, probs: np.ndarray) -> np.ndarray:
        """(B, |targets|) booleans: is each target in the top-k of each row?"""
        return ranks(probs, self.targets) <= self.k

    def gamma(self, probs: np.ndarray) -> np.ndarray:
        """Γ_t for the current text: the targets still standing between it and the goal."""
        inside = self.in_top_k(probs)[0]
        t = np.asarray(self.targets, dtype=np.int64)
        return t[~inside] if self.kind == "negative" else t[inside]

    def progress(self, probs: np.ndarray, gamma: np.ndarray) -> np.ndarray:
        """(B,) sign * Σ_{j∈Γ} g_j: higher is closer to the goal."""
        probs = np.atleast_2d(probs)
        if len(gamma) == 0:
            return np.zeros(probs.shape[0], dtype=np.float64)
        return self.sign * probs[:, gamma].astype(np.float64).sum(axis=1)

    def is_met(self, probs: np.ndarray) -> np.ndarray:
        """(B,) booleans: does each row satisfy the goal?"""
        inside = self.in_top_k(probs)
        if self.kind == "positive":
            return ~inside.any(axis=1)
        if self.kind == "negative":
            return inside.all(axis=1)
        return (~inside).any(axis=1)

    def attackable(self, probs: np.ndarray) -> bool:
        """Whether the original document is a valid starting point (goal not already met)."""
        return not bool(self.is_met(probs)[0])
