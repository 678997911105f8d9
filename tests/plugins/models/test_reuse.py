"""Exact reuse of work between related queries: the BiLSTM re-encoded from kept states
(flat and label-tree AttentionXML, one and two layers) and linear TF-IDF scores updated
from a kept text's, each against a full recomputation, on random edits at the start,
middle and end of documents and at the truncation boundary (max_words)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from plugins.models.reuse import ReusePlanner, shared_lengths
from plugins.models.text_encoder import CHECKPOINT_EVERY, Reused, WordEncoder
from tests.helpers.models import random_tfidf, synthetic, train

MAX_WORDS = 40


def edited(doc: list[str], pos: int, word: str) -> list[str]:
    return [*doc[:pos], word, *doc[pos + 1 :]]


def edit_positions(n: int, rng: np.random.Generator) -> list[int]:
    """Start, middle and end of an ``n``-word text, the last word the model reads and the
    first it does not, and a few random positions."""
    fixed = [0, 1, n // 2, n - 1, MAX_WORDS - 1, MAX_WORDS]
    return sorted({p for p in fixed + rng.integers(0, n, 6).tolist() if 0 <= p < n})


# -- the encoder alone ----------------------------------------------------------------------
@pytest.mark.parametrize("layers", [1, 2])
def test_reused_bilstm_equals_a_full_encoding(layers: int) -> None:
    torch.manual_seed(layers)
    enc = WordEncoder(500, 12, 10, layers, 0.3, 0.3).eval()
    rng = np.random.default_rng(layers)
    base = rng.integers(2, 500, 70).tolist()
    texts = []
    for p in edit_positions(len(base), rng):
        texts.append(base[:p] + [int(rng.integers(2, 500))] + base[p + 1 :])  # substitution
        texts.append(base[:p] + base[p + 1 :])  # deletion
        texts.append(base[:p] + [int(rng.integers(2, 500))] + base[p:])  # insertion
    texts.append(base)
    with torch.no_grad():
        ids = torch.tensor([base])
        h_base, states = enc.encode_base(ids, torch.tensor([len(base)]))
        np.testing.assert_allclose(
            h_base.numpy(), enc.encode(ids, torch.tensor([len(base)])).numpy(), atol=1e-6
        )
        y = np.asarray(base)
        reuses = []
        for t in texts:
            f, b = shared_lengths(np.asarray([t]), y)
            reuses.append(Reused(states[0], int(f[0]), int(b[0]), CHECKPOINT_EVERY))
        lens = torch.tensor([len(t) for t in texts])
        padded = torch.zeros(len(texts), int(lens.max()), dtype=torch.long)
        for i, t in enumerate(texts):
            padded[i, : len(t)] = torch.tensor(t)
        got = enc.encode_reusing(padded, lens, reuses)
        want = enc.encode(padded, lens)
    assert sum(r.forward_steps + r.backward_steps for r in reuses) > len(texts) * len(base) / 2
    np.testing.assert_allclose(got.numpy(), want.numpy(), atol=1e-5)
    # Claiming more shared words than there are gives other outputs: the check can fail.
    wrong_text = base[:20] + [1] + base[21:]
    wrong = Reused(states[0], 32, 0)
    with torch.no_grad():
        t = torch.tensor([wrong_text])
        n = torch.tensor([len(wrong_text)])
        assert not np.allclose(
            enc.encode_reusing(t, n, [wrong]).numpy(), enc.encode(t, n).numpy(), atol=1e-5
        )


def test_shared_lengths_and_the_kept_states_they_reach() -> None:
    y = np.arange(100)
    f, b = shared_lengths(np.stack([y, np.r_[y[:37], [-1], y[38:]]]), y)
    assert f.tolist() == [100, 37] and b.tolist() == [100, 62]
    f, b = shared_lengths(np.r_[y[:5], y[6:]][None], y)  # a deletion
    assert f.tolist() == [5] and b.tolist() == [94]
    r = Reused(None, 37, 62, 16)  # type: ignore[arg-type]
    assert (r.forward_steps, r.backward_steps) == (32, 48)


def test_planner_keeps_a_lone_text_and_the_consensus_of_a_drifted_batch() -> None:
    planner = ReusePlanner(every=4)
    doc = np.arange(10, 50)
    first = planner.plan([doc])
    assert first.equal == {0: 0} and len(first.new_texts) == 1
    planner.keep(doc, [])
    masked = [np.r_[doc[:i], [1], doc[i + 1 :]] for i in range(len(doc))]
    plan = planner.plan(masked)
    assert not plan.new_texts and all(s is not None for s in plan.source)
    # Candidates for position 5 after words 30 and 36 were changed: far from the kept
    # text, one word from each other; their consensus is kept first.
    current = doc.copy()
    current[[30, 36]] = 7
    cands = [np.r_[current[:5], [w], current[6:]] for w in range(100, 112)]
    plan = planner.plan(cands)
    assert len(plan.new_texts) == 1 and plan.equal == {0: 0}
    assert all(s == 0 for i, s in enumerate(plan.source) if i not in plan.equal)


# -- whole models ---------------------------------------------------------------------------
def queries(model, corpus, seed: int) -> tuple[list[list[str]], list[list[list[str]]]]:
    """An attack's queries on one long document: masked copies, then candidate batches at
    random positions of a text that drifts (the accepted candidate becomes the current)."""
    rng = np.random.default_rng(seed)
    doc = list(max((d.words for d in corpus.test[:50]), key=len))
    doc = (doc * 3)[: MAX_WORDS + 15]  # longer than max_words
    vocab = sorted({w for d in corpus.train[:200] for w in d.words})
    mask = model.mask_token
    calls = [[edited(doc, p, mask) for p in range(len(doc))]]
    current = list(doc)
    for p in edit_positions(len(doc), rng):
        words = [vocab[int(i)] for i in rng.integers(0, len(vocab), 9)]
        cands = [edited(current, p, w) for w in words]
        cands.append([*current[:p], *current[p + 1 :]])  # a deletion, for good measure
        calls.append(cands)
        current = cands[int(rng.integers(0, 9))]
    calls.append([list(doc), doc[: len(doc) - 3], doc[3:]])  # the kept text itself, cut short
    return doc, calls


def scored_both_ways(model, doc, calls) -> tuple[np.ndarray, np.ndarray]:
    model.reuse_states = False
    try:
        want = [model.predict_proba([doc])] + [model.predict_proba(c) for c in calls]
    finally:
        model.reuse_states = True
    got = [model.predict_proba([doc])] + [model.predict_proba(c) for c in calls]
    return np.concatenate(got), np.concatenate(want)


AXML = {
    "epochs": 1,
    "batch_size": 16,
    "hidden": 12,
    "fc_size": 16,
    "max_words": MAX_WORDS,
}


@pytest.mark.parametrize(
    "options",
    [
        {"lstm_layers": 1, "tree": "off"},
        {"lstm_layers": 2, "tree": "off"},
        {"lstm_layers": 1, "tree": "on", "beam": 3, "cluster_size": 5},
        {"lstm_layers": 2, "tree": "on", "beam": 3, "cluster_size": 5, "tree_depth": 3},
    ],
    ids=["flat-1", "flat-2", "tree-1", "tree-2-deep"],
)
def test_attentionxml_reusing_states_scores_as_a_full_pass(options: dict) -> None:
    corpus = synthetic()
    model = train("attentionxml", corpus, {**AXML, **options})
    assert model.is_tree == (options["tree"] == "on")
    doc, calls = queries(model, corpus, seed=len(options))
    got, want = scored_both_ways(model, doc, calls)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)
    st = model.reuse_stats
    assert st.reused > 0.8 * sum(len(c) for c in calls)
    assert st.steps_read < 0.7 * st.steps_full
    top_got = model.predict_topk(calls[1], 3, [0, 5])
    model.reuse_states = False
    top_want = model.predict_topk(calls[1], 3, [0, 5])
    model.reuse_states = True
    np.testing.assert_allclose(top_got.scores, top_want.scores, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(top_got.label_scores, top_want.label_scores, rtol=1e-4, atol=1e-6)


def test_attentionxml_pad_to_turns_reuse_off() -> None:
    corpus = synthetic()
    model = train("attentionxml", corpus, AXML)
    doc = corpus.test[0].words
    model.pad_to = model.max_words
    try:
        model.predict_proba([doc])
        model.predict_proba([edited(doc, 3, "<unk>")])
    finally:
        model.pad_to = None
    assert model.reuse_stats.reused == 0 and model.reuse_stats.full == 0


@pytest.mark.parametrize("ngram_max", [1, 2])
def test_linear_scores_from_a_kept_text_equal_a_full_pass(ngram_max: int) -> None:
    corpus = synthetic()
    options = {"max_iter": 15, "max_words": MAX_WORDS, "ngram_max": ngram_max}
    model = train("linear", corpus, options)
    doc, calls = queries(model, corpus, seed=ngram_max)
    # Upper-case variants and unknown words as well: the features are lowercased.
    calls.append([edited(doc, p, w) for p, w in [(2, doc[2].upper()), (5, "zzqqx"), (0, "Oil")]])
    got, want = scored_both_ways(model, doc, calls)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    delta = model._delta()
    assert delta.reused > 0.8 * sum(len(c) for c in calls)


@pytest.mark.parametrize("layout", ["dense", "csr", "csc", "torch"])
def test_tfidf_delta_takes_any_weight_layout(layout: str) -> None:
    """The delta scorer on its own, with the weight matrix as a future linear model may
    keep it (dense, sparse by feature or by label, a torch tensor)."""
    from plugins.models.tfidf_delta import TfidfDelta

    rng, vec, docs = random_tfidf(0, 60, 40)
    W = rng.normal(size=(len(vec.vocabulary_), 7)) * (rng.random((len(vec.vocabulary_), 7)) > 0.5)
    bias = rng.normal(size=7)
    weights = {
        "dense": W,
        "csr": sp.csr_matrix(W),
        "csc": sp.csc_matrix(W),
        "torch": torch.from_numpy(W),
    }[layout]
    delta = TfidfDelta(vec.build_analyzer(), vec.vocabulary_, vec.idf_, weights, bias)

    def full(texts):
        return (vec.transform(texts) @ W) + bias

    base = docs[0]
    texts = [edited(base, p, w) for p in (0, 14, 29) for w in ("w3", "W7", "unseen", base[p])]
    texts.append([base[0]] * 30)  # far from it: scored in full
    delta.logits([base], lambda rows: full([base]))
    got = delta.logits(texts, lambda rows: full([texts[i] for i in rows]))
    np.testing.assert_allclose(got, full(texts), rtol=1e-5, atol=1e-6)
    assert delta.reused == len(texts) - 1
    # One text at a time (the n-gram path) agrees with the batched one.
    row = delta.kept_row(base)
    ids = delta.word_ids(texts[5])
    one = delta.edited(row, texts[5], ids, np.flatnonzero(ids != row.ids).tolist())
    np.testing.assert_allclose(one, got[5], rtol=1e-9, atol=1e-9)


class _NoChecks:
    """No constraint beyond a change budget."""

    def __init__(self, budget: int):
        self.budget = budget

    def check(self, texts, n_changed) -> np.ndarray:
        return np.ones(len(texts), dtype=bool)

    def max_changes(self) -> int | None:
        return self.budget


@pytest.mark.parametrize("name", ["attentionxml", "attentionxml-tree", "linear"])
def test_attacks_with_kept_states_match_attacks_without(name: str) -> None:
    """Algorithm 1 through the engine, kept states on and off: the same trials."""
    from harness.attack.engine import QueryEngine
    from harness.attack.goals import Goal
    from harness.attack.search import GreedySearch
    from harness.ranking import top_k
    from harness.registry import load_registry

    corpus = synthetic()
    options = {
        "attentionxml": AXML,
        "attentionxml-tree": {**AXML, "tree": "on", "beam": 3, "cluster_size": 5},
        "linear": {"max_iter": 15, "max_words": MAX_WORDS},
    }[name]
    model = train(name.removesuffix("-tree"), corpus, options)
    reg = load_registry()
    search = GreedySearch(
        reg.build("importance", "mask"), reg.build("substituter", "glove", {"k": "12"})
    )
    results = {}
    for reuse in (True, False):
        model.reuse_states = reuse
        engine = QueryEngine(model)
        out = []
        for d in corpus.test[:6]:
            words = list(d.words[:MAX_WORDS])
            target = int(top_k(model.predict_proba([words])[0], 1)[0])
            engine.clear()
            r = search.attack(words, Goal("positive", (target,), 3), engine, [_NoChecks(6)], None)
            out.append(
                (r.outcome, r.adversarial, [s.position for s in r.substitutions], r.rank_after)
            )
            engine.clear()
        results[reuse] = out
    model.reuse_states = True
    assert results[True] == results[False]
    assert any(o[2] for o in results[True])  # the searches accepted swaps: candidate batches
    stats = model.reuse_stats
    assert (stats.reused if hasattr(stats, "reused") else stats["reused"]) > 0


def test_the_engine_makes_the_model_forget_between_trials() -> None:
    from harness.attack.engine import QueryEngine

    corpus = synthetic()
    model = train("attentionxml", corpus, AXML)
    engine = QueryEngine(model)
    doc = corpus.test[0].words
    engine.probs([doc])
    engine.probs([edited(doc, 2, "<unk>"), edited(doc, 4, "<unk>")])
    assert len(model._planner) == 1 and model.reuse_stats.reused == 2
    engine.clear()
    assert len(model._planner) == 0


def test_inexact_inference_is_opt_in_and_switches_back() -> None:
    from harness.errors import UsageError

    corpus = synthetic()
    model = train("attentionxml", corpus, AXML)
    docs = [d.words for d in corpus.test[:20]]
    exact = model.predict_proba(docs)
    assert model.inference == "exact"
    model.set_inference("int8")
    quantised = model.predict_proba(docs)
    assert not np.array_equal(quantised, exact)  # int8 LSTMs: other scores
    np.testing.assert_allclose(quantised, exact, atol=0.05)  # but close
    model.set_inference("exact")
    np.testing.assert_allclose(model.predict_proba(docs), exact, rtol=1e-5, atol=1e-7)
    with pytest.raises(UsageError, match="not one of"):
        model.set_inference("fp16")
    tree = train("attentionxml", corpus, {**AXML, "tree": "on", "beam": 3, "cluster_size": 5})
    with pytest.raises(UsageError, match="flat model only"):
        tree.set_inference("compile")
    tree.set_inference("int8")
    assert tree.predict_topk(docs, 3).indices.shape == (20, 3)
