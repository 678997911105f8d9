"""Regimes in the other models that take them: AttentionXML's label tree (embedding in every
level's loop; substitution in retraining rounds) and APLC (embedding on its word pieces)."""

from __future__ import annotations

import numpy as np

from harness.regimes.spec import resolve_regime
from harness.regimes.train import fit_with_regime, in_loop_regimes
from tests.helpers.models import bound_loss, registry, synthetic
from tests.helpers.tiny_models import tiny_backbone

TREE = {"epochs": 1, "batch_size": 16, "hidden": 8, "fc_size": 8, "max_words": 20,
        "tree": "on", "tree_depth": 2, "cluster_size": 5, "beam": 2}  # fmt: skip


def _fit(name, options, regime, corpus):
    docs = [d.words for d in corpus.train]
    return fit_with_regime(
        registry(), resolve_regime(*regime), registry().build("model", name, options),
        lambda: registry().build("model", name, options), docs, corpus.label_matrix("train"),
        bound_loss(corpus), label_names=corpus.label_names, seed=0, progress=False,
    )  # fmt: skip


def test_label_tree_runs_embedding_in_every_level_and_substitution_in_rounds() -> None:
    corpus = synthetic()
    model = registry().build("model", "attentionxml", TREE)
    assert in_loop_regimes(model, corpus.label_names) == ("embedding",)
    tree, cost = _fit("attentionxml", TREE, ("embedding", {"radius": 1}), corpus)
    levels = len(tree.tree_model.nets)
    per_level = tree.tree_epochs(sum(min(len(d.words), 20) for d in corpus.train))
    assert levels == 2 and cost["epochs"] == levels * per_level  # every level's loop
    assert cost["forward_vs_plain"] == 2.0 and cost["rounds"] == 0
    trained, cost = _fit("attentionxml", TREE, ("substitution", {"trials": 6}), corpus)
    assert cost["rounds"] == 1 and cost["attack"]["refreshes"] == 1
    assert trained.tree_model is not None and cost["attack"]["trials"] > 0
    top = trained.predict_topk([d.words for d in corpus.test[:5]], 3, ())
    assert top.indices.shape == (5, 3)


def test_aplc_trains_with_perturbed_word_pieces(tmp_path) -> None:
    corpus = synthetic()
    backbone = tiny_backbone(tmp_path / "bert", [corpus])
    options = {"backbone": backbone, "epochs": 1, "batch_size": 32, "max_words": 40,
               "max_tokens": 48, "cutoffs": "0.1,0.3"}  # fmt: skip
    a, cost = _fit("aplc", options, ("embedding", {"radius": 0.5}), corpus)
    b, _ = _fit("aplc", options, ("embedding", {"radius": 0.5}), corpus)
    assert cost["forward_vs_plain"] == 2.0 and cost["steps"] > 0
    docs = [d.words for d in corpus.test[:8]]
    np.testing.assert_array_equal(a.predict_proba(docs), b.predict_proba(docs))  # seeded
