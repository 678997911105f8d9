"""The sparse query seam: an attack on a model that only answers ``predict_topk`` (as a label
tree over 10^5 labels would) makes the same choices as on its dense twin, and stores the
ranks it cannot know as unknown."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from harness.attack.build import AttackBuilder, AttackSpec
from harness.components import PluginChoice
from harness.ranking import UNKNOWN_RANK, TopK
from harness.registry import load_registry
from harness.testing.fixtures import KeywordModel, tiny_corpus


class SparseOnly(KeywordModel):
    """Ranks only its top list; refuses to give dense scores."""

    def predict_proba(self, docs):  # type: ignore[no-untyped-def]
        raise AssertionError("the attack asked for a dense row")

    def predict_topk(self, docs, k, labels):  # type: ignore[no-untyped-def]
        full = TopK.from_dense(super().predict_proba(docs), k, labels)
        return replace(
            full, label_ranks=np.where(full.label_ranks <= k, full.label_ranks, UNKNOWN_RANK)
        )


def fitted(cls: type[KeywordModel]) -> KeywordModel:
    corpus = tiny_corpus()
    return cls().fit(
        [d.words for d in corpus.train], corpus.label_matrix("train"), None,
        label_names=corpus.label_names,
    )  # fmt: skip


def test_sparse_model_attacked_like_its_dense_twin() -> None:
    corpus = tiny_corpus()
    dense, sparse = fitted(KeywordModel), fitted(SparseOnly)
    reg = load_registry()
    spec = AttackSpec(k=3, max_change=0.4, similarity=PluginChoice("change-rate"))
    neg = replace(spec, kind="negative")
    seen_unknown = 0
    for doc in corpus.test[:12]:
        words = doc.words
        order = np.argsort(-KeywordModel.predict_proba(dense, [words])[0], kind="stable")
        for s, target in ((spec, int(order[0])), (neg, int(order[5]))):
            a = AttackBuilder(reg, s).build(dense).run(words, [target])
            b = AttackBuilder(reg, s).build(sparse).run(words, [target])
            assert (a.outcome, a.adversarial, a.topk_after) == (
                b.outcome,
                b.adversarial,
                b.topk_after,
            )
            for r_dense, r_sparse in ((a.rank_before, b.rank_before), (a.rank_after, b.rank_after)):
                if r_dense <= 3:
                    assert r_sparse == r_dense
                else:  # beyond the list the sparse model ranked: stored as unknown
                    assert r_sparse is None
                    seen_unknown += 1
    assert seen_unknown > 0
