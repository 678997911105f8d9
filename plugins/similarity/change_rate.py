"""``change-rate`` constraint: at most floor(θ·n) changed words, n the original's length."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from harness import hookimpl
from harness.components import Component, Option


def change_budget(theta: float, n: int) -> int:
    """floor(θ·n), robust to float error (0.29·100 must give 29, not 28)."""
    return int(math.floor(theta * n + 1e-9))


class ChangeRateCheck:
    """The change-rate budget for one original document."""

    def __init__(self, theta: float, n: int):
        self.n = n
        self.budget = change_budget(theta, n)

    def check(self, texts: Sequence[list[str]], n_changed: Sequence[int]) -> np.ndarray:
        return np.asarray(n_changed, dtype=np.int64).reshape(-1) <= self.budget

    def max_changes(self) -> int | None:
        return self.budget


class ChangeRate:
    """Caps the changed words at a fraction θ of the document's words (docs/method.md,
    "Constraints and similarity")."""

    name = "change-rate"

    def __init__(self, theta: float = 0.10):
        self.theta = theta

    def start(self, original: list[str]) -> ChangeRateCheck:
        return ChangeRateCheck(self.theta, len(original))


def build(theta: float = 0.10) -> ChangeRate:
    return ChangeRate(theta)


@hookimpl
def xmtc_register_similarity_constraints() -> list[Component]:
    return [
        Component(
            kind="similarity",
            name="change-rate",
            description=(
                "At most floor(θ·n) changed words, n = words of the original document "
                "(default θ = 0.10, the paper's)."
            ),
            factory=build,
            options=(
                Option(
                    "theta",
                    float,
                    0.10,
                    "θ: maximum fraction of changed words",
                    min=0.0,
                    max=1.0,
                    min_inclusive=False,
                ),
            ),
        )
    ]
