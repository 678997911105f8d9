"""The TF-IDF linear model: it learns, and its saliency and checkpoints behave."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from tests.helpers.models import (
    check_common_contract,
    p_at_1,
    prior_p1,
    registry,
    reuters_slice,
    synthetic,
    train,
)

FAST = {"epochs": 4, "batch_size": 64, "lr": 0.1, "max_iter": 60}
ADAM = {**FAST, "solver": "adam"}
LBFGS = {**FAST, "solver": "lbfgs"}


@pytest.fixture(scope="module")
def reuters_linear():
    corpus = reuters_slice()
    return corpus, train("linear", corpus, FAST)


def test_linear_beats_prior_on_reuters(reuters_linear) -> None:
    corpus, model = reuters_linear
    assert p_at_1(model, corpus) > prior_p1(corpus) + 0.1
    check_common_contract(model, corpus)


def test_linear_beats_prior_on_synthetic() -> None:
    corpus = synthetic()
    model = train("linear", corpus, FAST)
    assert p_at_1(model, corpus) > prior_p1(corpus) + 0.1


def test_linear_adam_solver_beats_prior_on_synthetic() -> None:
    corpus = synthetic()
    model = train("linear", corpus, ADAM)
    assert p_at_1(model, corpus) > prior_p1(corpus) + 0.1


def test_lbfgs_reaches_scikit_learns_logistic_regression_optimum() -> None:
    """With bce, no weighting and the same C, the lbfgs solver minimises exactly the
    per-label objective of scikit-learn's LogisticRegression: same weights, same scores."""
    from sklearn.linear_model import LogisticRegression

    corpus = synthetic()
    labels = [int(j) for j in np.argsort(-corpus.label_counts)[:3]]
    sub = replace(
        corpus,
        label_names=[corpus.label_names[j] for j in labels],
        train=[
            replace(d, labels=tuple(labels.index(j) for j in d.labels if j in labels))
            for d in corpus.train
        ],
        test=[
            replace(d, labels=tuple(labels.index(j) for j in d.labels if j in labels))
            for d in corpus.test
        ],
    )
    model = train(
        "linear", sub, {"solver": "lbfgs", "C": 2.0, "max_iter": 500, "chunk_elements": 301}
    )
    X = model.features([d.words for d in sub.train])
    Y = sub.label_matrix("train").toarray()
    W, b = model.W, model.bias
    for j in range(3):
        ref = LogisticRegression(C=2.0, tol=1e-10, max_iter=5000).fit(X, Y[:, j])
        np.testing.assert_allclose(W[:, j], ref.coef_[0], atol=2e-3)
        assert b[j] == pytest.approx(ref.intercept_[0], abs=2e-3)


def test_linear_saliency_is_gradient_times_input(reuters_linear) -> None:
    corpus, model = reuters_linear
    words = corpus.test[0].words
    top = int(np.argmax(model.predict_proba([words])[0]))
    sal = model.word_saliency(words, [top], 1.0)
    # Occluding the most salient word moves the label; occluding a word the model does not
    # know (saliency 0) changes nothing at all.
    base = model.predict_proba([words])[0, top]
    i = int(np.argmax(sal))
    occluded = [*words[:i], model.mask_token, *words[i + 1 :]]
    assert abs(base - model.predict_proba([occluded])[0, top]) > 1e-4
    unknown = [*words, "qqqzzzunknown"]
    assert model.word_saliency(unknown, [top], 1.0)[-1] == 0.0
    assert model.predict_proba([unknown])[0, top] == pytest.approx(base, abs=1e-6)
    # The sign of the objective does not change the magnitudes.
    np.testing.assert_allclose(model.word_saliency(words, [top], -1.0), sal, rtol=1e-5)


def test_linear_mask_token_is_out_of_vocabulary(reuters_linear) -> None:
    _, model = reuters_linear
    assert model.mask_token not in model.vectorizer.vocabulary_
    assert model.cache_key(["<unk>", "oil"]) == model.cache_key(["qqqzzz", "oil"])


def test_lbfgs_solver_still_beats_prior_on_synthetic() -> None:
    corpus = synthetic()
    model = train("linear", corpus, LBFGS)
    assert isinstance(model.W, np.ndarray)  # dense, as before
    assert p_at_1(model, corpus) > prior_p1(corpus) + 0.1


def _objective(w, b, X, y, s, C, loss):
    """½(‖w‖² + b²) + C Σ s_i ℓ(y_i, w·x_i + b): liblinear's per-label problem, written out."""
    z = X @ w + b
    if loss == "squared-hinge":
        per = np.where(y > 0, np.maximum(0, 1 - z) ** 2, np.maximum(0, 1 + z) ** 2)
    else:
        per = np.where(y > 0, np.logaddexp(0, -z), np.logaddexp(0, z))
    return 0.5 * (w @ w + b * b) + C * (s * per).sum()


@pytest.mark.parametrize("loss", ["squared-hinge", "bce"])
def test_liblinear_solves_each_weighted_label_problem(loss) -> None:
    """Without pruning, each label's weights minimise its own objective with the PW-cb weight
    on its positives: scipy's L-BFGS started there finds nothing better."""
    from scipy.optimize import minimize

    corpus = synthetic()
    bound = (
        registry()
        .build("loss", loss, {"weighting": "pw-cb"})
        .bind(corpus.label_counts, len(corpus.train), corpus.propensity_a, corpus.propensity_b)
    )
    C = 2.0
    model = train("linear", corpus, {"C": C, "prune": 0.0, "tol": 1e-6}, loss=bound)
    X = model.features([d.words for d in corpus.train]).astype(np.float64).toarray()
    Y = corpus.label_matrix("train").toarray()
    weights = bound.weights.numpy()
    W = model.W.toarray()
    for j in [int(i) for i in np.argsort(-corpus.label_counts)[[0, 5, 40]]]:
        s = np.where(Y[:, j] > 0, weights[j], 1.0)
        assert weights[j] != 1.0
        theta = np.r_[W[:, j], model.bias[j]]

        def f(t, j=j, s=s):
            return _objective(t[:-1], t[-1], X, Y[:, j], s, C, loss)

        best = minimize(f, theta, method="L-BFGS-B", options={"maxiter": 2000, "ftol": 1e-14})
        assert f(theta) <= best.fun * (1 + 1e-4) + 1e-8
        # and the solution is far from trivial: it separates the label's documents
        z = X @ theta[:-1] + theta[-1]
        assert z[Y[:, j] > 0].mean() > z[Y[:, j] == 0].mean() + 0.5


def test_liblinear_prunes_small_weights_and_reports_it() -> None:
    corpus = synthetic()
    full = train("linear", corpus, {"prune": 0.0})
    pruned = train("linear", corpus, {"prune": 0.05})
    assert np.abs(pruned.W.data).min() >= 0.05
    assert pruned.W.nnz < full.W.nnz
    # the kept weights are exactly the unpruned model's large ones
    big = full.W.multiply(abs(full.W) >= 0.05).tocsc()
    big.eliminate_zeros()
    np.testing.assert_array_equal(big.toarray(), pruned.W.toarray())
    r = pruned.report
    assert r["weights_before_pruning"] == full.W.nnz
    assert r["weights_kept"] == pruned.W.nnz
    assert r["pruned_share"] == pytest.approx(1 - pruned.W.nnz / full.W.nnz)
    assert full.report["pruned_share"] == 0.0
    assert 0 <= r["sample_top5_unchanged"] <= 1
    assert {"train_sample_P@1_before_pruning", "train_sample_P@1_after_pruning"} <= set(r)
    assert p_at_1(pruned, corpus) > prior_p1(corpus) + 0.1


def test_liblinear_parallel_chunks_give_the_same_model() -> None:
    corpus = synthetic()
    one = train("linear", corpus, {"n_jobs": 1, "chunk_labels": 1000})
    two = train("linear", corpus, {"n_jobs": 2, "chunk_labels": 17})
    # Stacked straight into the stored form: CSC, float32 values, int32 indices.
    assert two.W.format == "csc" and two.W.has_sorted_indices
    assert (two.W.data.dtype, two.W.indices.dtype) == (np.float32, np.int32)
    assert (one.W != two.W).nnz == 0
    np.testing.assert_array_equal(one.bias, two.bias)
    assert one.report == two.report


def test_liblinear_refuses_a_loss_it_cannot_solve() -> None:
    from harness.contracts.loss import Loss
    from harness.errors import UsageError

    class Cubic(Loss):
        name = "cubic"

        def positive(self, z):
            return (1 - z).clamp(min=0) ** 3

        def negative(self, z):
            return (1 + z).clamp(min=0) ** 3

    corpus = synthetic()
    bound = Cubic().bind(corpus.label_counts, len(corpus.train))
    with pytest.raises(UsageError, match="solver=lbfgs"):
        train("linear", corpus, {}, loss=bound)


@pytest.mark.parametrize("options", [{}, LBFGS])
def test_predict_topk_matches_predict_proba(options, monkeypatch) -> None:
    import plugins.models.linear as linear_mod
    from harness.ranking import ranks, top_k

    corpus = synthetic()
    model = train("linear", corpus, options)
    docs = [d.words for d in corpus.test[:40]] + [["qqqzzz"]]  # the last one: all ties
    probs = model.predict_proba(docs)
    monkeypatch.setattr(linear_mod, "LABEL_BLOCK", 7)  # merge across many label blocks
    labels = [3, 0, 99, 3]
    answer = model.predict_topk(docs, 5, labels)
    idx, scores, lab = answer.indices, answer.scores, answer.label_scores
    assert idx.dtype == np.int64 and scores.dtype == np.float32 and lab.dtype == np.float32
    np.testing.assert_array_equal(idx, top_k(probs, 5))
    np.testing.assert_array_equal(scores, np.take_along_axis(probs, idx, axis=1))
    np.testing.assert_array_equal(lab, probs[:, labels])
    np.testing.assert_array_equal(answer.label_ranks, ranks(probs, labels))


def test_a_checkpoint_of_the_previous_linear_loads(tmp_path) -> None:
    """Before the liblinear solver, linear saved dense weights (``weight.weight``) with the
    options of its time (no tol, prune, chunk_labels, n_jobs): such a checkpoint still loads
    and scores as it did."""
    from harness.checkpoint import load_checkpoint, save_checkpoint

    corpus = synthetic()
    model = train("linear", corpus, LBFGS)
    tensors, _ = model.state()
    assert set(tensors) == {"weight.weight", "bias", "idf"}
    options = registry().get("model", "linear").resolve_options(LBFGS)
    for new in ("tol", "prune", "chunk_labels", "n_jobs"):
        options.pop(new)
    save_checkpoint(
        model,
        tmp_path / "old",
        model_name="linear",
        options=options,
        dataset=corpus.name,
        fingerprint=corpus.fingerprint(),
    )
    loaded = load_checkpoint(tmp_path / "old", registry(), label_names=corpus.label_names)
    docs = [d.words for d in corpus.test]
    np.testing.assert_array_equal(loaded.predict_proba(docs), model.predict_proba(docs))


def test_reuters_squared_hinge_at_c1_keeps_its_precision() -> None:
    """The linear-SVM baseline on the full Lewis split: P@1 at least 0.91, as the L-BFGS
    solver reached before (0.9159)."""
    from harness.training import evaluate_model

    full = reuters_slice.__wrapped__(n_train=10**6, n_test=10**6)
    bound = (
        registry()
        .build("loss", "squared-hinge", {})
        .bind(full.label_counts, len(full.train), full.propensity_a, full.propensity_b)
    )
    model = train("linear", full, {"C": 1.0}, loss=bound)
    assert evaluate_model(model, full)["P@1"] >= 0.91
