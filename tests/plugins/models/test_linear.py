"""The TF-IDF linear model: it learns, and its saliency and checkpoints behave."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from tests.helpers.models import (
    check_common_contract,
    p_at_1,
    prior_p1,
    reuters_slice,
    synthetic,
    train,
)

FAST = {"epochs": 4, "batch_size": 64, "lr": 0.1, "max_iter": 60}
ADAM = {**FAST, "solver": "adam"}


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
    model = train("linear", sub, {"C": 2.0, "max_iter": 500, "chunk_elements": 301})
    X = model.features([d.words for d in sub.train])
    Y = sub.label_matrix("train").toarray()
    W = model.net.weight.weight.detach().numpy()
    b = model.net.bias.detach().numpy()
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
