"""Three plugins that each break one rule of their contract, for the conformance suite's own
test: it must fail on each, naming the rule.

* ``batch-softmax`` (model): normalises scores over the batch, so a document's scores
  depend on the others in its batch (``model.batch_invariance``);
* ``echo`` (substituter): proposes the word it should replace (``substituter.filtered``);
* ``picky`` (similarity): rejects the unchanged original (``constraint.original_passes``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from harness import hookimpl
from harness.components import Component
from harness.testing.fixtures import KeywordModel


class BatchSoftmax(KeywordModel):
    """The keyword model, its probabilities then divided by the batch's column maximum."""

    def predict_proba(self, docs: Sequence[Sequence[str]]) -> np.ndarray:
        probs = super().predict_proba(docs)
        if len(probs) == 0:
            return probs
        return (probs / probs.max(axis=0, keepdims=True)).astype(np.float32)


class Echo:
    """Offers the current word itself, then a few real words."""

    def start(self, original: list[str]) -> Echo:
        return self

    def candidates(self, current: list[str], position: int) -> list[str]:
        return [current[position], "river", "mountain"]


class PickyCheck:
    def check(self, texts: Sequence[list[str]], n_changed: Sequence[int]) -> np.ndarray:
        return np.asarray(n_changed, dtype=np.int64).reshape(-1) > 0

    def max_changes(self) -> int | None:
        return None


class Picky:
    """Accepts only texts that changed something, so the original itself fails."""

    name = "picky"

    def start(self, original: list[str]) -> PickyCheck:
        return PickyCheck()


@hookimpl
def xmtc_register_models() -> list[Component]:
    return [Component("model", "batch-softmax", "broken: batch-dependent", BatchSoftmax)]


@hookimpl
def xmtc_register_substituters() -> list[Component]:
    return [Component("substituter", "echo", "broken: proposes the word itself", Echo)]


@hookimpl
def xmtc_register_similarity_constraints() -> list[Component]:
    return [Component("similarity", "picky", "broken: rejects the original", Picky)]
