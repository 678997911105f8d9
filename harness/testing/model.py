"""``check_model``: a model plugin trains, scores, batches, truncates and round-trips as the
harness relies on."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np
from safetensors.numpy import load as load_tensors
from safetensors.numpy import save as save_tensors

from harness.contracts.model import XMTCModel
from harness.data import Corpus
from harness.ranking import UNKNOWN_RANK, TopK
from harness.testing.fixtures import bound_bce, tiny_corpus
from harness.testing.rules import Checker

ATOL = 2e-5
"""Tolerance for scores that must agree (batched against one by one, reloaded against
trained): float32 kernels may sum in a different order for another batch shape."""


def _fit(c: Checker, rule: str, model: XMTCModel, corpus: Corpus, seed: int) -> XMTCModel:
    fitted = c.call(
        rule,
        model.fit,
        [d.words for d in corpus.train],
        corpus.label_matrix("train"),
        bound_bce(corpus),
        label_names=corpus.label_names,
        seed=seed,
        progress=False,
    )
    c.expect("model.fit_returns_self", fitted is model, "fit() must return self")
    return model


def _close(a: np.ndarray, b: np.ndarray, atol: float = ATOL) -> bool:
    return a.shape == b.shape and bool(np.allclose(a, b, atol=atol))


def check_model(
    make_model: Callable[[], object],
    corpus: Corpus | None = None,
    *,
    name: str = "model",
    seed: int = 0,
) -> list[str]:
    """Check a model against :class:`harness.contracts.model.XMTCModel`.

    :param make_model: builds an untrained model (called three times: a model to check,
        one to fit again with the same seed, one to load the first one's state into).
    :param corpus: what to train on; default a tiny keyword corpus
        (:func:`harness.testing.fixtures.tiny_corpus`).
    :returns: the rules passed; the first broken one raises
        :class:`~harness.testing.ConformanceError`.
    """
    c = Checker(name)
    corpus = corpus or tiny_corpus()
    model = c.call("model.build", make_model)
    c.expect("model.contract", isinstance(model, XMTCModel), "not an XMTCModel subclass")
    assert isinstance(model, XMTCModel)
    c.expect(
        "model.attributes",
        isinstance(model.max_words, int)
        and model.max_words > 0
        and isinstance(model.mask_token, str)
        and bool(model.mask_token)
        and isinstance(model.supports_gradients, bool),
        "max_words must be a positive int, mask_token a non-empty str, supports_gradients a bool",
    )
    _fit(c, "model.fit", model, corpus, seed)
    L = corpus.n_labels
    c.expect(
        "model.label_names",
        list(model.label_names) == corpus.label_names and model.n_labels == L,
        "after fit, label_names must be the corpus's",
    )
    docs = [d.words for d in corpus.test[:7]]
    probs = c.call("model.predict", model.predict_proba, docs)
    probs = np.asarray(probs)
    c.expect(
        "model.shape",
        probs.shape == (len(docs), L) and probs.dtype == np.float32,
        f"predict_proba gave {probs.shape} {probs.dtype}, expected ({len(docs)}, {L}) float32",
    )
    c.expect(
        "model.range",
        bool(np.isfinite(probs).all() and (probs >= 0).all() and (probs <= 1).all()),
        "probabilities must be finite and in [0, 1]",
    )
    one_by_one = np.vstack([model.predict_proba([d]) for d in docs])
    c.expect(
        "model.batch_invariance",
        _close(one_by_one, probs),
        "a document's scores depend on the other documents of its batch (padding leaks?)",
    )
    reverse = np.asarray(model.predict_proba(docs[::-1]))
    c.expect(
        "model.order_invariance",
        _close(reverse[::-1], probs),
        "scores change with the order of the documents in a batch",
    )
    words = list(docs[0])
    long = (words * (model.max_words // max(1, len(words)) + 2))[: model.max_words + 7]
    cut, full = model.predict_proba([long[: model.max_words], long])
    c.expect(
        "model.truncation",
        _close(cut, full, 1e-6),
        f"words past max_words={model.max_words} changed the scores",
    )
    masked = [model.mask_token, *words[1:]]
    row = np.asarray(c.call("model.mask_token", model.predict_proba, [masked]))
    c.expect(
        "model.mask_token",
        row.shape == (1, L) and bool(np.isfinite(row).all()),
        "a document holding mask_token does not score",
    )
    key = c.call("model.cache_key", model.cache_key, words)
    c.expect(
        "model.cache_key",
        isinstance(key, bytes) and key == model.cache_key(list(words)),
        "cache_key must be bytes, equal for equal word lists",
    )
    variants = [masked, long, *([*words[:i], model.mask_token, *words[i + 1 :]] for i in (1, 2))]
    base = probs[0]
    for v in variants:
        if model.cache_key(v) == key:
            c.expect(
                "model.cache_key",
                _close(np.asarray(model.predict_proba([v]))[0], base, 1e-6),
                "two word lists share a cache key but score differently",
            )
    _check_topk(c, model, docs, probs)
    _check_gradients(c, model, words, probs[0])
    again = _fit(c, "model.deterministic", c.call("model.build", make_model), corpus, seed)
    c.expect(
        "model.deterministic",
        _close(np.asarray(again.predict_proba(docs)), probs, 1e-5),
        "two fits with one seed gave different models",
    )
    _check_state(c, model, make_model, docs, probs)
    return c.passed


def _check_topk(c: Checker, model: XMTCModel, docs: list[list[str]], probs: np.ndarray) -> None:
    """The sparse query agrees with the dense scores: the same top-k (ties to the lower
    index), the asked labels' scores, and their ranks wherever the model knows them."""
    k = min(3, probs.shape[1])
    labels = (probs.shape[1] - 1, 0)
    got = c.call("model.predict_topk", model.predict_topk, docs, k, labels)
    want = TopK.from_dense(probs, k, labels)
    c.expect(
        "model.predict_topk",
        got.indices.shape == want.indices.shape and got.labels == labels,
        f"predict_topk gave indices {got.indices.shape}, expected {want.indices.shape}",
    )
    c.expect(
        "model.predict_topk",
        np.array_equal(got.indices, want.indices)
        and _close(np.asarray(got.label_scores), want.label_scores)
        and _close(np.asarray(got.scores), want.scores),
        "predict_topk disagrees with predict_proba's ranking or scores",
    )
    known = got.label_ranks != UNKNOWN_RANK
    c.expect(
        "model.predict_topk",
        np.array_equal(got.label_ranks[known], want.label_ranks[known])
        and bool((want.label_ranks[~known] > k).all()),
        "predict_topk's ranks disagree with predict_proba's",
    )


def _check_gradients(c: Checker, model: XMTCModel, words: list[str], row: np.ndarray) -> None:
    if not model.supports_gradients:
        refused, _ = c.raised(
            "model.gradients", lambda: model.word_saliency(words, [0], 1.0), NotImplementedError
        )
        c.expect("model.gradients", refused, "supports_gradients is False but saliency works")
        return
    top = int(np.argmax(row))
    sal = np.asarray(c.call("model.gradients", model.word_saliency, words, [top], 1.0))
    c.expect(
        "model.gradients",
        sal.shape == (len(words),) and bool(np.isfinite(sal).all() and (sal >= 0).all()),
        f"saliency must be one finite non-negative value per word, got shape {sal.shape}",
    )
    c.expect("model.gradients", float(sal.max()) > 0, "saliency is zero for every word")


def _check_state(
    c: Checker,
    model: XMTCModel,
    make_model: Callable[[], object],
    docs: list[list[str]],
    probs: np.ndarray,
) -> None:
    tensors, extra = c.call("model.state", model.state)
    c.expect(
        "model.state",
        isinstance(tensors, dict) and all(isinstance(v, np.ndarray) for v in tensors.values()),
        "state() must return ({name: numpy array}, extras)",
    )
    try:
        extra_json: Any = json.loads(json.dumps(extra))
    except (TypeError, ValueError) as exc:
        c.expect("model.state", False, f"state() extras are not JSON: {exc}")
    arrays = {k: np.ascontiguousarray(v) for k, v in tensors.items()}
    restored_tensors = c.call("model.state", lambda: load_tensors(save_tensors(arrays)))
    fresh = c.call("model.build", make_model)
    assert isinstance(fresh, XMTCModel)
    fresh.label_names = list(model.label_names)
    c.call("model.load_state", fresh.load_state, restored_tensors, extra_json)
    again = np.asarray(c.call("model.load_state", fresh.predict_proba, docs))
    c.expect(
        "model.load_state",
        _close(again, probs, 1e-6),
        "a model restored from state() (safetensors + JSON) scores differently",
    )
