"""AttentionXML's label tree: tiny real trees trained on Reuters and synthetic data; exact
path products, beam search, saliency through the tree, checkpoints, and the tree itself."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from harness.checkpoint import CheckpointMismatch, load_checkpoint, save_checkpoint
from harness.errors import UsageError
from harness.metrics import evaluate
from harness.ranking import top_k
from plugins.models.attentionxml import TREE_AUTO_LABELS
from plugins.models.label_tree import (
    LabelTree,
    balanced_cluster_size,
    best_first,
    build_label_tree,
    path_log_probs,
    training_candidates,
)
from plugins.models.text_encoder import length_mask
from tests.helpers.models import (
    check_common_contract,
    prior_p1,
    registry,
    reuters_slice,
    synthetic,
    train,
)

TINY_TREE = {
    "epochs": 10,
    "batch_size": 16,
    "lr": 1e-2,
    "hidden": 16,
    "fc_size": 32,
    "max_words": 40,
    "emb_dropout": 0.1,
    "dropout": 0.2,
    "tree": "on",
    "beam": 4,
}


def beam_p_at_1(model, corpus) -> float:
    """P@1 of the model's own beam search (what a tree predicts)."""
    top = model.predict_topk([d.words for d in corpus.test], 1, ()).indices
    Y = corpus.label_matrix("test")
    return float(np.mean([Y[i, top[i, 0]] for i in range(len(corpus.test))]))


@pytest.fixture(scope="module")
def deep_tree():
    """A three-level tree on synthetic data, briefly trained: for exactness, not quality."""
    corpus = synthetic()
    options = {**TINY_TREE, "epochs": 2, "tree_depth": 3, "cluster_size": 5, "beam": 2}
    return corpus, train("attentionxml", corpus, options), options


def test_tree_beats_prior_on_reuters_slice() -> None:
    corpus = reuters_slice()
    model = train("attentionxml", corpus, TINY_TREE)
    assert model.is_tree and model.tree_model.tree.sizes == (32, 429)  # beam 4: clusters of ≤ 14
    assert beam_p_at_1(model, corpus) > prior_p1(corpus) + 0.05
    check_common_contract(model, corpus)


def test_tree_beats_prior_on_synthetic() -> None:
    corpus = synthetic()
    model = train("attentionxml", corpus, TINY_TREE)
    assert model.is_tree
    assert beam_p_at_1(model, corpus) > prior_p1(corpus) + 0.05
    scores = model.predict_proba([d.words for d in corpus.test])
    dense_p1 = evaluate(scores, corpus.label_matrix("test"), None, ks=(1,))["P@1"]
    assert dense_p1 > prior_p1(corpus) + 0.05


def direct_probabilities(model, words: list[str]) -> np.ndarray:
    """Every label's path product computed the plain way: each level's network run by
    hand over all of its nodes, then the probabilities multiplied along each label's path
    by walking up the parent arrays."""
    tree = model.tree_model.tree
    ids = torch.tensor([model.ids(words)])
    lengths = torch.tensor([ids.shape[1]])
    level_probs = []
    with torch.no_grad():
        for net in model.tree_model.nets:
            h = net.encode(ids, lengths)[0]  # (T, 2h)
            weights = torch.softmax(h @ net.nodes.weight.T, dim=0)  # (T, nodes)
            context = weights.T @ h  # (nodes, 2h)
            level_probs.append(torch.sigmoid(net.out(net.fc(context)).squeeze(-1)).double())
    out = np.empty(tree.n_labels)
    for j in range(tree.n_labels):
        p, node = 1.0, j
        for d in range(tree.depth - 1, -1, -1):
            p *= float(level_probs[d][node])
            if d:
                node = int(tree.parents[d - 1][node])
        out[j] = p
    return out


def test_path_product_of_every_label_equals_a_direct_computation(deep_tree) -> None:
    corpus, model, _ = deep_tree
    assert model.tree_model.tree.depth == 3
    docs = [d.words for d in corpus.test[:4]]
    dense = model.predict_proba(docs)
    labels = list(range(corpus.n_labels))
    asked = model.predict_topk(docs, 3, labels).label_scores
    for i, words in enumerate(docs):
        direct = direct_probabilities(model, words)
        np.testing.assert_allclose(dense[i], direct, rtol=2e-5, atol=1e-9)
        np.testing.assert_allclose(asked[i], direct, rtol=2e-5, atol=1e-9)


def test_beam_topk_is_exact_when_the_beam_covers_every_node(deep_tree) -> None:
    corpus, model, _ = deep_tree
    docs = [d.words for d in corpus.test[:40]]
    exact = model.predict_proba(docs)
    narrow = model.predict_topk(docs, 5, ())
    model.tree_model.beam = max(model.tree_model.tree.sizes[:-1])
    try:
        wide = model.predict_topk(docs, 5, ())
        top, scores = wide.indices, wide.scores
    finally:
        model.tree_model.beam = 2
    np.testing.assert_array_equal(top, top_k(exact, 5))
    np.testing.assert_allclose(scores, np.take_along_axis(exact, top, axis=1), rtol=1e-5)
    # A narrow beam returns exact path products of what it finds, never better than exact.
    np.testing.assert_allclose(
        narrow.scores, np.take_along_axis(exact, narrow.indices, axis=1), rtol=1e-5, atol=1e-9
    )
    assert np.all(narrow.scores[:, 0] <= exact.max(axis=1) * (1 + 1e-5))
    assert np.all(np.diff(narrow.scores, axis=1) <= 1e-7)  # best first


def test_topk_ties_go_to_the_lower_label_index() -> None:
    logp = torch.tensor([[-1.0, -0.5, -1.0, -0.5, float("-inf")]])
    nodes = torch.tensor([[7, 9, 3, 2, 1]])
    best, values = best_first(logp, nodes, 4)
    assert best.tolist() == [[2, 9, 3, 7]] and values[0, 0] == -0.5


def test_saliency_goes_through_the_tree(deep_tree) -> None:
    corpus, model, _ = deep_tree
    words = corpus.test[0].words + ["oil"] * 100
    top = model.predict_topk([words], 1, ()).indices
    label = int(top[0, 0])
    sal = model.word_saliency(words, [label], 1.0)
    n = model.max_words
    assert sal.shape == (len(words),) and np.all(sal[n:] == 0) and sal[:n].max() > 0
    # Finite differences: moving the most salient word's vectors (at every level together)
    # by eps in a unit direction changes the path product by at most eps x its saliency.
    i = int(np.argmax(sal))
    nets = model.tree_model.nets
    ids, lengths = torch.tensor([model.ids(words)]), torch.tensor([n])
    torch.manual_seed(0)
    direction = [torch.randn(net.embedding.embedding_dim) for net in nets]
    norm = torch.sqrt(sum(v.pow(2).sum() for v in direction))
    eps = 1e-2

    def probability(offset: float) -> float:
        def scorer(level: int, nodes: torch.Tensor | None) -> torch.Tensor:
            net = nets[level]
            emb = net.embedding(ids)
            emb[0, i] += offset * direction[level] / norm
            h = net.encode_embedded(emb, lengths)
            return net.node_logits(h, length_mask(lengths, h.shape[1], h.device), nodes)

        with torch.no_grad():
            return float(torch.exp(path_log_probs(model.tree_model.tree, scorer, [label]))[0, 0])

    assert abs(probability(eps) - probability(0.0)) / eps <= sal[i] * 1.05 + 1e-6


def test_saved_tree_reloads_to_identical_scores(deep_tree, tmp_path) -> None:
    corpus, model, options = deep_tree
    resolved = registry().get("model", "attentionxml").resolve_options(options)
    path = tmp_path / "tree"
    save_checkpoint(
        model,
        path,
        model_name="attentionxml",
        options=resolved,
        dataset=corpus.name,
        fingerprint=corpus.fingerprint(),
    )
    loaded = load_checkpoint(
        path, registry(), label_names=corpus.label_names, fingerprint=corpus.fingerprint()
    )
    assert loaded.is_tree and loaded.tree_model.tree.sizes == model.tree_model.tree.sizes
    model.forget_kept_states()  # texts kept by earlier tests would change the rounding
    docs = [d.words for d in corpus.test[:20]]
    np.testing.assert_array_equal(loaded.predict_proba(docs), model.predict_proba(docs))
    a, b = loaded.predict_topk(docs, 5, [1, 2, 3]), model.predict_topk(docs, 5, [1, 2, 3])
    for field in ("indices", "scores", "label_scores", "label_ranks"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    words = corpus.test[0].words
    np.testing.assert_array_equal(
        loaded.word_saliency(words, [4], -1.0), model.word_saliency(words, [4], -1.0)
    )

    # Another label set is refused, in one line naming the difference: by the checkpoint
    # (names) and by the tree itself (a tree saved for other labels).
    other = [*corpus.label_names[:-1], "synthetic:elsewhere"]
    with pytest.raises(CheckpointMismatch) as err:
        load_checkpoint(path, registry(), label_names=other)
    assert "\n" not in str(err.value) and "synthetic:elsewhere" in str(err.value)
    tensors, extra = model.state()
    fresh = registry().build("model", "attentionxml", resolved)
    fresh.label_names = other
    with pytest.raises(CheckpointMismatch, match="label tree: built for other label names") as err:
        fresh.load_state(tensors, extra)
    assert "\n" not in str(err.value)
    fresh.label_names = corpus.label_names[:-1]
    with pytest.raises(CheckpointMismatch, match="built for 100 labels, but the label set has 99"):
        fresh.load_state(tensors, extra)


def test_a_tree_checkpoint_is_not_loaded_as_flat(deep_tree) -> None:
    corpus, model, options = deep_tree
    tensors, extra = model.state()
    flat = registry().build("model", "attentionxml", {**options, "tree": "off"})
    flat.label_names = corpus.label_names
    with pytest.raises(CheckpointMismatch, match="holds a label tree but tree=off"):
        flat.load_state(tensors, extra)


def test_auto_switches_on_above_the_threshold() -> None:
    model = registry().build("model", "attentionxml", {})
    assert not model.uses_tree(TREE_AUTO_LABELS) and model.uses_tree(TREE_AUTO_LABELS + 1)
    assert registry().build("model", "attentionxml", {"tree": "on"}).uses_tree(10)
    assert not registry().build("model", "attentionxml", {"tree": "off"}).uses_tree(10**6)


def test_flat_checkpoint_keys_are_unchanged() -> None:
    """The flat model's tensors keep the names its checkpoints have always had."""
    from plugins.models.attentionxml import AttentionXMLNet
    from plugins.models.torch_common import module_tensors

    net = AttentionXMLNet(10, 4, 3, 2, 5, 7, 0.1, 0.1, label_bias=True)
    lstm = [
        f"lstm.{side}_layers.{layer}.{w}_l0"
        for side in ("forward", "backward")
        for layer in (0, 1)
        for w in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    ]
    expected = {
        "label_bias",
        "embedding.weight",
        *lstm,
        "attention.weight",
        "fc.0.weight",
        "fc.0.bias",
        "out.weight",
        "out.bias",
    }
    assert set(module_tensors(net)) == expected


def test_tree_memory_guard_is_one_line() -> None:
    corpus = synthetic()
    small = replace(corpus, train=corpus.train[:50])
    options = {**TINY_TREE, "max_activation_mb": 1.0, "beam": 50, "batch_size": 64}
    with pytest.raises(UsageError, match=r"label tree .* scores up to \d+ nodes") as err:
        train("attentionxml", small, options)
    assert "\n" not in str(err.value)


def test_label_bias_is_refused_for_a_tree() -> None:
    corpus = synthetic()
    with pytest.raises(UsageError, match="model.label_bias"):
        train("attentionxml", corpus, {**TINY_TREE, "label_bias": True})


# -- the tree structure --------------------------------------------------------------------
def test_tree_levels_cover_every_label_once() -> None:
    rng = np.random.default_rng(0)
    Z = sp.csr_matrix(rng.random((53, 20)))
    tree = build_label_tree(Z, depth=3, cluster_size=4, seed=0)
    assert tree.depth == 3 and tree.n_labels == 53
    assert tree.sizes[1] == 16 and tree.sizes[0] < tree.sizes[1]  # 53 -> 16 leaves of <= 4
    anc = tree.ancestors
    for j in range(53):
        assert anc[1, j] == tree.parents[1][j] and anc[0, j] == tree.parents[0][anc[1, j]]
    for d in range(2):
        table = tree.child_tables[d]
        kids = table[:-1][table[:-1] >= 0]
        assert sorted(kids.tolist()) == list(range(tree.sizes[d + 1]))
        assert np.all(table[-1] == -1)
        for node in range(tree.sizes[d]):
            row = table[node][table[node] >= 0]
            assert np.all(tree.parents[d][row] == node)
    assert max(np.bincount(tree.parents[1])) <= 4


def test_tree_refuses_nodes_without_children() -> None:
    with pytest.raises(ValueError, match="has no children"):
        LabelTree([3, 4], [np.array([0, 0, 1, 1])])


def test_training_candidates_follow_attentionxml() -> None:
    predicted = np.array([[5, 2, 7, 1], [0, 3, 1, 2], [4, 6, 2, 0]])
    positives = sp.csr_matrix(
        (np.ones(7), ([0, 1, 2, 2, 2, 2, 2], [2, 6, 1, 3, 5, 6, 7])), shape=(3, 8)
    )
    out = training_candidates(predicted, positives, 3)
    assert out[0].tolist() == [2, 5, 7]  # the positive, then the best predicted
    assert out[1].tolist() == [6, 0, 3]
    assert out[2].tolist() == [6, 1, 3]  # five positives: the predicted one, then by index


def test_balanced_cluster_size() -> None:
    assert balanced_cluster_size(429, 10, 2) == 7  # 64 clusters, as --cluster's max_leaf 8
    assert balanced_cluster_size(30_938, 10, 2) == 61  # 512 clusters
    assert balanced_cluster_size(30_938, 10, 3) == 16
