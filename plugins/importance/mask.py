"""``mask`` importance (default): the paper's scorer, word i replaced by the mask token."""

from __future__ import annotations

from harness import hookimpl
from harness.components import Component
from plugins.importance._occlusion import OcclusionScorer, mask_word


def build() -> OcclusionScorer:
    return OcclusionScorer(mask_word)


@hookimpl
def xmtc_register_importance_scorers() -> list[Component]:
    return [
        Component(
            kind="importance",
            name="mask",
            description=(
                "Paper's importance (default): Σ_Γ change of g when word i is replaced by the "
                "model's mask token; n masked copies scored in one batch (n queries)."
            ),
            factory=build,
        )
    ]
