"""Occlusion importance shared by ``mask`` and ``delete`` (docs/method.md, "Word importance").

I(w_i) = progress(S_\\i, Γ) − progress(S, Γ) with Γ = goal.gamma(g(S)); since
``progress = sign · Σ_Γ g_j`` this is the paper's Σ_Γ[g(S) − g(S_\\i)] for positive and
non-targeted attacks and Σ_Γ[g(S_\\i) − g(S)] for negative ones. All n occluded copies go to
the engine in one call, so it batches, deduplicates and counts them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from harness.attack.engine import QueryEngine
from harness.attack.goals import Answer, Goal

Occlude = Callable[[list[str], int, QueryEngine], list[str]]


class OcclusionScorer:
    """Scores each position by how much occluding its word moves the goal's progress."""

    def __init__(self, occlude: Occlude):
        self._occlude = occlude

    def scores(
        self,
        words: list[str],
        positions: Sequence[int],
        engine: QueryEngine,
        goal: Goal,
        base: Answer,
    ) -> np.ndarray:
        positions = list(positions)
        if not positions:
            return np.zeros(0, dtype=np.float64)
        gamma = goal.gamma(base)
        if len(gamma) == 0:
            return np.zeros(len(positions), dtype=np.float64)
        copies = [self._occlude(words, i, engine) for i in positions]
        answers = engine.scores(copies, goal.k, goal.targets)
        return goal.progress(answers, gamma) - goal.progress(base, gamma)[0]


def mask_word(words: list[str], i: int, engine: QueryEngine) -> list[str]:
    """``words`` with word i replaced by the model's mask/unknown token."""
    return [*words[:i], engine.mask_token, *words[i + 1 :]]


def delete_word(words: list[str], i: int, engine: QueryEngine) -> list[str]:
    """``words`` without word i."""
    return [*words[:i], *words[i + 1 :]]
