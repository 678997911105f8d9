"""The TF-IDF linear model: it learns, and its saliency and checkpoints behave."""

from __future__ import annotations

import numpy as np
import pytest
from test_models_common import (
    check_common_contract,
    p_at_1,
    prior_p1,
    reuters_slice,
    synthetic,
    train,
)

FAST = {"epochs": 4, "batch_size": 64, "lr": 0.1}


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
