"""Training a model under a regime: hand the regime to the model's own training loop when
the model runs it there, or (substitution only) retrain the model in rounds around it.

Plain training never comes here: ``harness.training`` calls ``fit`` exactly as before.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import scipy.sparse as sp

from harness.contracts.model import Words, XMTCModel
from harness.errors import UsageError
from harness.regimes.cost import TrainingCost
from harness.regimes.embedding import EmbeddingAdversary
from harness.regimes.spec import EMBEDDING, FIELD, SUBSTITUTION, regime_name
from harness.regimes.substitution import SubstitutionAdversary


def in_loop_regimes(model: XMTCModel, label_names: Sequence[str]) -> tuple[str, ...]:
    """The regimes ``model`` runs inside its own training loop for this label space (a
    model may answer by its label count: AttentionXML's label tree trains level by
    level)."""
    model.label_names = list(label_names)
    return tuple(model.regimes_in_loop())


def fit_with_regime(
    registry: Any,
    training: Mapping[str, Any],
    model: XMTCModel,
    new_model: Callable[[], XMTCModel],
    docs: Sequence[Words],
    Y: sp.csr_matrix,
    loss: Any,
    *,
    label_names: Sequence[str],
    seed: int,
    progress: bool,
) -> tuple[XMTCModel, dict[str, Any]]:
    """Train ``model`` (or, in rounds, fresh ones from ``new_model``) under ``training``;
    returns the trained model and its cost record (:meth:`TrainingCost.as_dict`)."""
    name = regime_name(training)
    cost = TrainingCost(name)
    supported = in_loop_regimes(model, label_names)

    def fit(m: XMTCModel, d: Sequence[Words], y: sp.csr_matrix, **extra: Any) -> None:
        m.fit(d, y, loss, label_names=label_names, seed=seed, progress=progress, **extra)

    if name == EMBEDDING:
        if EMBEDDING not in supported:
            raise UsageError(
                FIELD,
                f"{type(model).__name__} cannot train with embedding here (it runs in its own "
                f"loop only: {', '.join(supported) or 'none'})",
            )
        fit(model, docs, Y, regime=EmbeddingAdversary(training, cost))
        return model, cost.as_dict()
    if name != SUBSTITUTION:
        raise UsageError(FIELD, f"unknown regime {name!r}")
    adversary = SubstitutionAdversary(registry, training, docs, Y, seed=seed, cost=cost)
    if SUBSTITUTION in supported:
        adversary.bind(model)
        fit(model, docs, Y, regime=adversary)
        return model, cost.as_dict()
    trained = adversary.fit_rounds(model, new_model, fit)
    return trained, cost.as_dict()
