"""``gradient`` importance: white-box saliency from one forward and one backward pass.

The model's ``word_saliency`` returns, per word, the L2 norm (or a model's own reduction) of
the gradient of ``sign · Σ_Γ g_j`` with respect to that word's embedding; it is unsigned, so
it ranks words by how sensitive the goal is to them rather than by the direction of change.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from harness import hookimpl
from harness.attack.engine import QueryEngine
from harness.attack.goals import Answer, Goal
from harness.components import Component
from harness.errors import UsageError


class GradientScorer:
    """Per-position saliency taken from the model's embedding gradients."""

    needs_gradients = True
    """The attack builder refuses a model without gradients, once, naming the option."""

    def scores(
        self,
        words: list[str],
        positions: Sequence[int],
        engine: QueryEngine,
        goal: Goal,
        base: Answer,
    ) -> np.ndarray:
        if not engine.supports_gradients:
            raise UsageError(
                "importance:gradient",
                f"needs a white-box model; {engine.model_name} does not expose embedding "
                "gradients (choose the mask or delete importance)",
            )
        positions = np.asarray(list(positions), dtype=np.int64)
        if positions.size == 0:
            return np.zeros(0, dtype=np.float64)
        gamma = goal.gamma(base)
        if len(gamma) == 0:
            return np.zeros(positions.size, dtype=np.float64)
        sal = engine.saliency(words, [int(j) for j in gamma], goal.sign)
        out = np.zeros(positions.size, dtype=np.float64)
        inside = positions < sal.shape[0]  # beyond the model's max_words: no influence
        out[inside] = sal[positions[inside]]
        return out


def build() -> GradientScorer:
    return GradientScorer()


@hookimpl
def xmtc_register_importance_scorers() -> list[Component]:
    return [
        Component(
            kind="importance",
            name="gradient",
            description=(
                "White-box: L2 norm of the gradient of sign·Σ_Γ g_j w.r.t. each word's "
                "embedding (one forward + backward pass); models with supports_gradients only."
            ),
            factory=build,
        )
    ]
