"""The substitution regime on a small real model: the documents it makes are misranked by the
model it attacked, within the change budget and the similarity threshold; target rules;
determinism; in-loop refreshes and rounds."""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp

from harness.regimes.cost import TrainingCost
from harness.regimes.spec import resolve_regime
from harness.regimes.substitution import SubstitutionAdversary, frequency_bins
from harness.regimes.train import fit_with_regime
from tests.helpers.models import bound_loss, registry, reuters_slice, synthetic
from tests.regimes.conftest import TINY


def _adversary(corpus, seed=0, **options):
    opts = resolve_regime("substitution", {"trials": 12, **options})
    docs = [d.words for d in corpus.train]
    return SubstitutionAdversary(
        registry(), opts, docs, corpus.label_matrix("train"), seed=seed, cost=TrainingCost("s")
    )


def test_adversarial_documents_are_misranked_within_budget_and_similarity(tiny_reuters):
    corpus, model = tiny_reuters
    adversary = _adversary(corpus)
    record = adversary.refresh(model)
    assert record["trials"] > 0 and record["successes"] == len(adversary.pool) > 0
    similarity = registry().build("similarity", "use", {"threshold": 0.8})
    for row, doc in adversary.pool.items():
        original = list(corpus.train[row].words[: model.max_words])
        assert corpus.label_matrix("train")[row, doc.label] == 1  # a true label was targeted
        top = model.predict_topk([doc.words], 5, [doc.label])
        assert doc.label not in top.indices[0]  # the model now misranks it
        changed = sum(a != b for a, b in zip(original, doc.words, strict=True))
        assert 1 <= changed == doc.n_changed <= math.floor(0.10 * len(original) + 1e-9)
        sim = float(similarity.start(original).similarity([doc.words])[0])
        assert sim >= 0.8 and abs(sim - doc.similarity) < 1e-5
    cost = adversary.cost.as_dict()["attack"]
    assert cost["trials"] == record["trials"] and cost["logical_queries"] > 0
    assert cost["backward_passes"] > 0  # gradient importance


def test_refresh_is_deterministic_under_a_seed(tiny_reuters):
    corpus, model = tiny_reuters
    first, again = _adversary(corpus), _adversary(corpus)
    first.refresh(model)
    again.refresh(model)
    assert {r: d.words for r, d in first.pool.items()} == {
        r: d.words for r, d in again.pool.items()
    }
    other = _adversary(corpus, seed=5)
    rng_a, rng_b = np.random.default_rng([0, 17, 0]), np.random.default_rng([5, 17, 0])
    labels = first.bins[0]
    assert first.draw(rng_a, labels, 20) != other.draw(rng_b, labels, 20)


def test_target_rules_split_the_trials():
    counts = np.array([0, 1, 1, 2, 3, 5, 8, 20, 50, 400, 1000])
    bins = frequency_bins(counts, 3)
    assert sorted(np.concatenate(bins).tolist()) == list(range(1, 11))
    assert [counts[b].max() for b in bins] == sorted(counts[b].max() for b in bins)
    Y = sp.csr_matrix(np.eye(11)[:, :11])
    Y = sp.vstack([Y] * 3).tocsr()
    docs = [["w"]] * Y.shape[0]
    opts = resolve_regime("substitution", {"trials": 10, "targets": "vulnerable", "bins": 3})
    adv = SubstitutionAdversary(registry(), opts, docs, Y, seed=0)
    adv.bins = bins
    assert adv.quotas() == [4, 3, 3]  # equal before any refresh (largest remainders)
    adv.options["trials"] = 100
    adv.bin_success = [0.9, 0.4, 0.0]
    q = adv.quotas()
    assert sum(q) == 100 and q[0] > q[1] > q[2] >= 1  # where the attack succeeds, and a floor
    uniform = SubstitutionAdversary(
        registry(), resolve_regime("substitution", {"trials": 10}), docs, Y, seed=0
    )
    assert len(uniform.bins) == 1 and uniform.quotas() == [10]


def test_in_loop_training_refreshes_and_is_deterministic():
    corpus = reuters_slice()
    docs, Y = [d.words for d in corpus.train], corpus.label_matrix("train")

    def fit(epochs: int, refresh: int):
        model = registry().build("model", "attentionxml", {**TINY, "epochs": epochs})
        training = resolve_regime(
            "substitution", {"trials": 16, "refresh": refresh, "targets": "bins", "bins": 3}
        )
        return fit_with_regime(
            registry(), training, model, lambda: None, docs, Y, bound_loss(corpus),
            label_names=corpus.label_names, seed=0, progress=False,
        )  # fmt: skip

    a, cost = fit(3, 2)
    # no state the model kept for reuse during a refresh (epoch 2's weights) answers after
    # epoch 3: scores are the same with nothing kept
    attacked = [list(d[: a.max_words]) for d in docs]
    after = a.predict_proba(attacked)
    a.forget_kept_states()
    np.testing.assert_allclose(after, a.predict_proba(attacked), rtol=0, atol=1e-6)
    b, _ = fit(3, 2)
    ta, tb = a.state()[0], b.state()[0]
    assert all(np.array_equal(ta[k], tb[k]) for k in ta)
    assert cost["attack"]["refreshes"] == 1  # after epoch 2, never after the last
    pool = cost["attack"]["adversarial_documents"]
    assert pool > 0 and cost["attack"]["successes"] == pool
    assert cost["documents_forward"] == {"clean": 3 * len(docs), "extra": pool}  # epoch 3
    assert cost["rounds"] == 0 and len(cost["seconds"]["per_epoch"]) == 3
    _, twice = fit(3, 1)
    assert twice["attack"]["refreshes"] == 2


def test_rounds_for_a_model_trained_to_an_optimum():
    corpus = synthetic()
    opts = {"solver": "liblinear"}
    model = registry().build("model", "linear", opts)
    training = resolve_regime("substitution", {"trials": 20, "importance": "mask"})
    docs = [d.words for d in corpus.train]
    trained, cost = fit_with_regime(
        registry(),
        training,
        model,
        lambda: registry().build("model", "linear", opts),
        docs,
        corpus.label_matrix("train"),
        bound_loss(corpus),
        label_names=corpus.label_names,
        seed=0,
        progress=False,
    )
    assert trained is not model and cost["rounds"] == 1 and cost["attack"]["refreshes"] == 1
    pool = cost["attack"]["adversarial_documents"]
    assert cost["documents_forward"] == {"clean": len(docs), "extra": len(docs) + pool}
    assert cost["seconds_vs_plain"] > 1.0
