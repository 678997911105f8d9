"""Linear scores from a kept text (:mod:`plugins.models.tfidf_delta`) against a full
recomputation, for the weights each solver keeps (liblinear: sparse CSC, pruned; lbfgs:
dense), on random edits at the start, middle and end of documents and at the truncation
boundary, over every label at once and in label blocks (``predict_topk`` above
``LABEL_BLOCK`` labels)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import plugins.models.linear as linear_mod
from harness.ranking import TopK
from plugins.models.tfidf_delta import TfidfDelta
from tests.helpers.models import random_tfidf, synthetic, train

MAX_WORDS = 40
SOLVERS = {
    "liblinear": {"max_iter": 20, "max_words": MAX_WORDS, "prune": 0.01},
    "lbfgs": {"solver": "lbfgs", "max_iter": 15, "max_words": MAX_WORDS},
}


@pytest.fixture(scope="module", params=sorted(SOLVERS))
def model(request):
    return train("linear", synthetic(), SOLVERS[request.param])


def edited(doc: list[str], changes: dict[int, str]) -> list[str]:
    return [changes.get(i, w) for i, w in enumerate(doc)]


def calls_of_an_attack(model, seed: int) -> tuple[list[str], list[list[list[str]]]]:
    """A long document (past max_words), its masked copies, then batches of random edits
    of one to four words at the start, middle and end and around the truncation
    boundary, of a text that drifts (one edit accepted per batch); some edits repeat a
    word of the text (a count goes up), some drop one of a repeated word, some use words
    the model never saw or another case."""
    corpus = synthetic()
    rng = np.random.default_rng(seed)
    doc = list(max((d.words for d in corpus.test[:50]), key=len))
    doc = (doc * 3)[: MAX_WORDS + 15]
    vocab = sorted({w for d in corpus.train[:200] for w in d.words})
    extra = ["zzqqx", "Qqzzx", doc[3].upper(), doc[0], model.mask_token]
    calls = [[edited(doc, {p: model.mask_token}) for p in range(len(doc))]]
    current = list(doc)
    fixed = [0, 1, len(doc) // 2, MAX_WORDS - 2, MAX_WORDS - 1, MAX_WORDS, len(doc) - 1]
    for p in fixed + rng.integers(0, len(doc), 4).tolist():
        batch = []
        for _ in range(10):
            n_more = int(rng.integers(0, 4))
            others = rng.integers(max(0, p - 6), min(len(doc), p + 7), n_more).tolist()
            pool = vocab if rng.random() < 0.7 else extra + current[:MAX_WORDS]
            words = [pool[int(i)] for i in rng.integers(0, len(pool), 1 + n_more)]
            batch.append(edited(current, dict(zip([p, *others], words, strict=True))))
        batch.append([*current[:p], *current[p + 1 :]])  # a deletion: scored in full
        calls.append(batch)
        current = batch[int(rng.integers(0, 10))]
    calls.append([list(doc), doc[:-3], doc[3:]])  # the first text again, and cut short
    return doc, calls


def same_ranking_up_to_near_ties(got: TopK, want: TopK, full: np.ndarray) -> None:
    """``got`` (scores from kept texts) ranks as ``want`` (a full pass, whose dense rows are
    ``full``) except between labels whose full-pass scores lie within float rounding of
    each other (the kept path's last bit may order two such labels either way)."""
    tol = 1e-6 + 1e-5 * np.abs(full).max()
    listed = np.take_along_axis(full, got.indices, axis=1)
    # the list holds labels whose full-pass scores are the top-k's: it differs only by near-ties
    np.testing.assert_allclose(listed, want.scores, rtol=0, atol=tol)
    asked = full[:, list(want.labels)]
    lo = 1 + (full[:, None, :] > asked[:, :, None] + tol).sum(axis=2)
    hi = (full[:, None, :] >= asked[:, :, None] - tol).sum(axis=2)
    ranks = got.label_ranks
    assert ((lo <= ranks) & (ranks <= hi)).all(), np.argwhere((ranks < lo) | (ranks > hi))
    if (ranks != want.label_ranks).any():  # only where a near-tie allows either order
        assert (hi - lo)[ranks != want.label_ranks].min() >= 1


def both_ways(model, run) -> tuple[list, list]:
    """``run()`` with kept states on (after the engine's forgetting), then off."""
    model.forget_kept_states()
    got = run()
    model.reuse_states = False
    try:
        want = run()
    finally:
        model.reuse_states = True
    return got, want


def test_probabilities_from_kept_texts_equal_a_full_pass(model) -> None:
    doc, calls = calls_of_an_attack(model, seed=1)
    before = model.reuse_stats

    def run():
        return [model.predict_proba([doc])] + [model.predict_proba(c) for c in calls]

    got, want = both_ways(model, run)
    np.testing.assert_allclose(np.concatenate(got), np.concatenate(want), rtol=1e-5, atol=1e-6)
    reused = model.reuse_stats["reused"] - before["reused"]
    assert reused > 0.8 * sum(len(c) for c in calls)  # the check is about the delta path
    weights = model.W
    assert sp.issparse(weights) == (model.options["solver"] == "liblinear")


def test_topk_from_kept_texts_equals_a_full_pass_in_label_blocks(model, monkeypatch) -> None:
    """Label blocks of 7 over 100 labels: the plan is made once per call and each block
    reads its own columns; the targets (inside and across blocks) get the same scores and
    ranks as a full pass ranked by the one rule."""
    doc, calls = calls_of_an_attack(model, seed=2)
    labels = (3, 0, 99, 50)
    monkeypatch.setattr(linear_mod, "LABEL_BLOCK", 7)
    before = model.reuse_stats["reused"]

    def run():
        return [model.predict_topk([doc], 5, labels)] + [
            model.predict_topk(c, 5, labels) for c in calls
        ]

    got, want = both_ways(model, run)
    assert model.reuse_stats["reused"] - before > 0.8 * sum(len(c) for c in calls)
    got, want = TopK.concat(got), TopK.concat(want)
    np.testing.assert_allclose(got.scores, want.scores, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got.label_scores, want.label_scores, rtol=1e-5, atol=1e-6)
    model.reuse_states = False
    try:
        texts = [t for c in calls for t in c]
        full = model.predict_proba([doc, *texts])
        dense = TopK.from_dense(full[1:], 5, labels)
        blocked = model.predict_topk(texts, 5, labels)
    finally:
        model.reuse_states = True
    same_ranking_up_to_near_ties(got, want, full)
    # and reuse off in blocks is the dense answer of the full pass
    np.testing.assert_array_equal(blocked.indices, dense.indices)
    np.testing.assert_array_equal(blocked.label_ranks, dense.label_ranks)


@pytest.mark.parametrize("solver", sorted(SOLVERS))
def test_bigrams_from_kept_texts_equal_a_full_pass(solver: str) -> None:
    model = train("linear", synthetic(), {**SOLVERS[solver], "ngram_max": 2})
    doc, calls = calls_of_an_attack(model, seed=3)

    def run():
        return [model.predict_proba([doc])] + [model.predict_proba(c) for c in calls]

    got, want = both_ways(model, run)
    np.testing.assert_allclose(np.concatenate(got), np.concatenate(want), rtol=1e-5, atol=1e-6)
    assert model.reuse_stats["reused"] > 0.8 * sum(len(c) for c in calls)


def test_fit_and_load_state_forget_kept_texts(model) -> None:
    """Kept raw scores belong to the weights they came from: a refit or a loaded state
    drops them (else a text near a kept one would get the old model's scores)."""
    corpus = synthetic()
    doc = list(corpus.test[0].words[:MAX_WORDS])
    near = [edited(doc, {2: model.mask_token}), edited(doc, {5: model.mask_token})]
    other = train("linear", corpus, {**SOLVERS[model.options["solver"]], "C": 0.05})
    model.forget_kept_states()
    model.predict_proba([doc])  # kept under this model's weights
    tensors, extra = other.state()
    fresh = train("linear", corpus, SOLVERS[model.options["solver"]])
    fresh.predict_proba([doc])
    fresh.load_state(tensors, extra)
    other.reuse_states = False
    want = other.predict_proba(near)
    other.reuse_states = True
    np.testing.assert_allclose(fresh.predict_proba(near), want, rtol=1e-5, atol=1e-6)
    assert fresh.reuse_stats["reused"] == 2  # from a text kept after the load
    fresh.predict_proba([doc])
    fresh.fit(
        [d.words for d in corpus.train],
        corpus.label_matrix("train"),
        _bce(corpus),
        label_names=corpus.label_names,
        progress=False,
    )
    assert fresh.reuse_stats == {"reused": 0, "full": 0}


def _bce(corpus):
    from tests.helpers.models import bound_loss

    return bound_loss(corpus)


@pytest.mark.parametrize("layout", ["csc", "dense"])
def test_blocks_of_a_plan_equal_the_full_logits(layout: str) -> None:
    """The delta scorer alone: any block of labels, or label indices, of any planned text
    equals those columns of ``X W + b``; a text left without a known term gets the bias."""
    rng, vec, docs = random_tfidf(4, 80, 50)
    n_feat, n_labels = len(vec.vocabulary_), 23
    W = rng.normal(size=(n_feat, n_labels)) * (rng.random((n_feat, n_labels)) > 0.7)
    bias = rng.normal(size=n_labels)
    weights = sp.csc_matrix(W.astype(np.float32)) if layout == "csc" else W.astype(np.float32)
    delta = TfidfDelta(vec.build_analyzer(), vec.vocabulary_, vec.idf_, weights, bias)
    W32 = W.astype(np.float32).astype(np.float64)

    def full(texts):
        return np.asarray(vec.transform(texts) @ W32) + bias

    base = docs[0]
    texts = []
    for p in (0, 1, 15, 28, 29):
        for pick in rng.integers(0, 80, 3):
            others = rng.integers(0, 30, int(rng.integers(0, 4))).tolist()
            texts.append(edited(base, {p: f"w{pick}", **{o: base[p] for o in others}}))
    texts.append(edited(base, {3: "unseen", 7: base[3].upper()}))
    texts.append([base[0]] * 30)  # far from it: left to the model
    delta.plan([base])
    plan = delta.plan(texts)
    assert plan.full.tolist() == [len(texts) - 1]
    rows = plan.reused
    want = full([texts[i] for i in rows])
    for labels in (slice(None), slice(0, 7), slice(7, 14), slice(21, 28), np.array([22, 0, 5])):
        np.testing.assert_allclose(
            delta.block(plan, rows, labels), want[:, labels], rtol=1e-6, atol=1e-6
        )
    np.testing.assert_allclose(
        delta.block(plan, rows[::-3], slice(3, 9)), want[::-3, 3:9], rtol=1e-6, atol=1e-6
    )
    with pytest.raises(ValueError, match="kept texts only"):
        delta.block(plan, plan.full, slice(None))
    # A kept text of three words, then all three replaced by words the model never saw.
    short = base[:3]
    delta.plan([short])
    gone = delta.plan([["unseen", "unknown", "nope"], ["unseen", *short[1:]]])
    out = delta.block(gone, gone.reused, slice(None))
    np.testing.assert_array_equal(out[0], bias)
    np.testing.assert_allclose(out[1], full([["unseen", *short[1:]]])[0], rtol=1e-6, atol=1e-6)
