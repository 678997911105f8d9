"""xr-linear: PECOS XR-Linear learns, queries by beam with exact target scores, round-trips
through safetensors + JSON, and refuses what it cannot train in one line."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from harness.checkpoint import load_checkpoint, save_checkpoint
from harness.errors import UsageError
from harness.ranking import UNKNOWN_RANK, top_k
from tests.helpers.cli import SYNTH, main_captured
from tests.helpers.models import check_common_contract, p_at_1, prior_p1, registry, synthetic

SMALL_TREE = {"nr_splits": 4, "max_leaf_size": 8, "n_jobs": 1}


def fit(corpus, options: dict, loss: str = "squared-hinge", **loss_options):
    bound = (
        registry()
        .build("loss", loss, loss_options)
        .bind(corpus.label_counts, len(corpus.train), corpus.propensity_a, corpus.propensity_b)
    )
    model = registry().build("model", "xr-linear", options)
    model.fit(
        [d.words for d in corpus.train],
        corpus.label_matrix("train"),
        bound,
        label_names=corpus.label_names,
        seed=0,
        progress=False,
    )
    return model


@pytest.fixture(scope="module")
def xr():
    corpus = synthetic()
    return corpus, fit(corpus, SMALL_TREE)


def test_xr_linear_learns_and_keeps_the_model_contract(xr) -> None:
    corpus, model = xr
    assert len(model.model.model.model_chain) >= 3  # a real tree, not one flat level
    assert p_at_1(model, corpus) > prior_p1(corpus) + 0.3
    check_common_contract(model, corpus)


@pytest.mark.parametrize("loss", ["squared-hinge", "bce"])
def test_both_plain_losses_train(loss) -> None:
    corpus = synthetic()
    model = fit(corpus, SMALL_TREE, loss)
    assert p_at_1(model, corpus) > prior_p1(corpus) + 0.3


def test_topk_is_the_beam_and_target_scores_are_exact(xr) -> None:
    corpus, model = xr
    docs = [d.words for d in corpus.test[:30]]
    probs = model.predict_proba(docs)
    labels = [5, 0, 5, corpus.n_labels - 1]
    answer = model.predict_topk(docs, 5, labels)
    idx, scores, lab = answer.indices, answer.scores, answer.label_scores
    assert idx.shape == scores.shape == (30, 5) and lab.shape == (30, 4)
    assert idx.dtype == np.int64 and scores.dtype == lab.dtype == np.float32
    np.testing.assert_array_equal(lab, probs[:, labels])  # exact, beam or not
    np.testing.assert_allclose(scores, np.take_along_axis(probs, idx, axis=1), rtol=1e-6)
    assert np.all(np.diff(scores, axis=1) <= 0)
    # A rank is the place in the beam's list, known only for labels the list holds.
    for r in range(len(docs)):
        for c, j in enumerate(labels):
            inside = np.flatnonzero(idx[r] == j)
            expected = inside[0] + 1 if inside.size else UNKNOWN_RANK
            assert answer.label_ranks[r, c] == expected
    # A beam of one cluster per level: the top-k can only come from that cluster, yet every
    # label still has its exact path score.
    narrow = registry().build("model", "xr-linear", {**SMALL_TREE, "beam_size": 1})
    narrow.label_names, narrow.vectorizer = model.label_names, model.vectorizer
    narrow.model, narrow.post_processor = model.model, model.post_processor
    n_answer = narrow.predict_topk(docs, 5, labels)
    n_idx, n_lab = n_answer.indices, n_answer.label_scores
    np.testing.assert_array_equal(n_lab, lab)
    assert (n_idx != top_k(probs, 5)).any()  # the narrow beam misses some of the best labels
    wide = registry().build("model", "xr-linear", {**SMALL_TREE, "beam_size": 1000})
    wide.label_names, wide.vectorizer = model.label_names, model.vectorizer
    wide.model, wide.post_processor = model.model, model.post_processor
    np.testing.assert_array_equal(wide.predict_topk(docs, 5, ()).indices, top_k(probs, 5))


def test_path_score_is_the_product_of_node_sigmoids() -> None:
    """The exported tree (the checkpoint's arrays) recomputes PECOS's scores by hand."""
    corpus = synthetic()
    model = fit(corpus, {**SMALL_TREE, "post_processor": "sigmoid"})
    tensors, extra = model.state()
    docs = [d.words for d in corpus.test[:5]]
    X = model.features(docs).toarray()
    score = np.ones((len(docs), 1))
    for d, layer in enumerate(extra["layers"]):
        W = _dense(tensors, f"layer{d}.W", layer["W_shape"])
        C = _dense(tensors, f"layer{d}.C", layer["C_shape"])
        Xb = np.hstack([X, np.full((len(docs), 1), layer["bias"])])
        node = 1 / (1 + np.exp(-(Xb @ W)))
        score = node * (score @ C.T)  # each node times its parent's path score
    np.testing.assert_allclose(score, model.predict_proba(docs), rtol=2e-5, atol=1e-6)


def _dense(tensors, prefix, shape):
    import scipy.sparse as sp

    m = sp.csc_matrix(
        (tensors[f"{prefix}.data"], tensors[f"{prefix}.indices"], tensors[f"{prefix}.indptr"]),
        shape=tuple(shape),
    )
    return m.toarray().astype(np.float64)


def test_checkpoint_round_trip_is_exact_and_pickle_free(xr, tmp_path) -> None:
    corpus, model = xr
    opts = registry().get("model", "xr-linear").resolve_options(SMALL_TREE)
    save_checkpoint(
        model,
        tmp_path / "ck",
        model_name="xr-linear",
        options=opts,
        dataset=corpus.name,
        fingerprint=corpus.fingerprint(),
    )
    assert sorted(p.name for p in (tmp_path / "ck").iterdir()) == [
        "config.json",
        "model.safetensors",
    ]
    loaded = load_checkpoint(
        tmp_path / "ck", registry(), label_names=corpus.label_names, fingerprint=None
    )
    docs = [d.words for d in corpus.test[:20]]
    np.testing.assert_array_equal(loaded.predict_proba(docs), model.predict_proba(docs))
    again, before = loaded.predict_topk(docs, 3, [1, 2]), model.predict_topk(docs, 3, [1, 2])
    for field in ("indices", "scores", "label_scores", "label_ranks"):
        np.testing.assert_array_equal(getattr(again, field), getattr(before, field))


def test_weighted_loss_is_refused_in_one_line() -> None:
    corpus = synthetic()
    with pytest.raises(UsageError, match="plain loss only") as info:
        fit(corpus, SMALL_TREE, weighting="pw-cb")
    assert "\n" not in str(info.value) and "weighting" in str(info.value)


def test_missing_libpecos_names_the_extra(monkeypatch, capsys, tmp_path) -> None:
    for mod in [m for m in list(sys.modules) if m == "pecos" or m.startswith("pecos.")]:
        monkeypatch.setitem(sys.modules, mod, None)
    monkeypatch.setitem(sys.modules, "pecos", None)
    with pytest.raises(UsageError, match=r"xmtc-harness\[pecos\]"):
        registry().build("model", "xr-linear", {})
    argv = ["--db", str(tmp_path / "r.db"), "eval", *SYNTH, "--model", "xr-linear"]
    code, _, err = main_captured([*argv, "--no-progress"])
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2 and len(lines) == 1, err
    assert "pip install 'xmtc-harness[pecos]'" in lines[0] and "Traceback" not in err
