"""``delete`` importance: like ``mask`` but the word is removed instead of masked."""

from __future__ import annotations

from harness import hookimpl
from harness.components import Component
from plugins.importance._occlusion import OcclusionScorer, delete_word


def build() -> OcclusionScorer:
    return OcclusionScorer(delete_word)


@hookimpl
def xmtc_register_importance_scorers() -> list[Component]:
    return [
        Component(
            kind="importance",
            name="delete",
            description=(
                "Σ_Γ change of g when word i is deleted from the document; n shortened "
                "copies scored in one batch (n queries)."
            ),
            factory=build,
        )
    ]
