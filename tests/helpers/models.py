"""Shared pieces of the model tests: small real corpora, the prior baseline, training with a
loss plugin, and what every trained model promises (shape, batching, cache keys, saliency)."""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache
from pathlib import Path

import numpy as np

from harness.data import Corpus
from harness.metrics import evaluate
from harness.registry import Registry, load_registry
from tests.conftest import DATA_ROOT

REUTERS = DATA_ROOT / "reuters21578"


@lru_cache(maxsize=1)
def registry() -> Registry:
    return load_registry()


@lru_cache(maxsize=1)
def reuters_slice(n_train: int = 1500, n_test: int = 500) -> Corpus:
    """The first documents of the Lewis split, full label space (labels keep their ids)."""
    import os

    root = Path(os.environ.get("XMTC_DATA_DIR", REUTERS.parent)) / "reuters21578"
    full = registry().build("dataset", "reuters21578", {"data_dir": str(root)}).load()
    return replace(full, train=full.train[:n_train], test=full.test[:n_test])


@lru_cache(maxsize=1)
def synthetic() -> Corpus:
    opts = {"n_labels": 100, "n_docs": 600, "seed": 1, "doc_length": 60}
    return registry().build("dataset", "synthetic", opts).load()


def prior_p1(corpus: Corpus) -> float:
    """P@1 of always ranking labels by training frequency."""
    counts = np.asarray(corpus.label_matrix("train").sum(axis=0)).ravel()
    scores = np.tile(counts.astype(np.float64), (len(corpus.test), 1))
    return evaluate(scores, corpus.label_matrix("test"), None, ks=(1,))["P@1"]


def bound_loss(corpus: Corpus, **loss_options: str):
    """The bce loss plugin with these options, bound to the corpus's training labels."""
    return (
        registry()
        .build("loss", "bce", loss_options)
        .bind(corpus.label_counts, len(corpus.train), corpus.propensity_a, corpus.propensity_b)
    )


def train(name: str, corpus: Corpus, options: dict, weighting: str = "none", loss=None):
    """A model plugin fitted on the corpus's training split (with ``loss``, a bound loss,
    or else bce with ``weighting``)."""
    model = registry().build("model", name, options)
    model.fit(
        [d.words for d in corpus.train],
        corpus.label_matrix("train"),
        loss if loss is not None else bound_loss(corpus, weighting=weighting),
        label_names=corpus.label_names,
        seed=0,
        progress=False,
    )
    return model


def weighting_seen_in_training(name: str, corpus: Corpus, options: dict) -> list[bool]:
    """Train with PW-cb deferred to the second half of training and return, call by call,
    whether the loss applied the weights (read by a forward pre-hook on the real loss)."""
    loss = bound_loss(corpus, weighting="pw-cb", defer="0.5")
    seen: list[bool] = []
    loss.register_forward_pre_hook(lambda module, args: seen.append(module.weighted))
    train(name, corpus, options, loss=loss)
    return seen


def assert_deferred(seen: list[bool]) -> None:
    """Plain first, weighted after, and both phases of real length."""
    assert seen == sorted(seen), "the weighting switched back off"
    assert seen.count(False) >= 2 and seen.count(True) >= 2, seen


def p_at_1(model, corpus: Corpus) -> float:
    scores = model.predict_proba([d.words for d in corpus.test])
    return evaluate(scores, corpus.label_matrix("test"), None, ks=(1,))["P@1"]


def check_common_contract(model, corpus: Corpus) -> None:
    """Shape, range, batching-independence, cache keys and saliency of a trained model."""
    docs = [d.words for d in corpus.test[:7]]
    probs = model.predict_proba(docs)
    assert probs.shape == (7, corpus.n_labels) and probs.dtype == np.float32
    assert np.all((probs >= 0) & (probs <= 1))
    one_by_one = np.vstack([model.predict_proba([d]) for d in docs])
    np.testing.assert_allclose(one_by_one, probs, atol=2e-5)  # padding must not leak
    words = list(docs[0])
    assert model.cache_key(words) == model.cache_key(list(words))
    # The cache contract: equal keys must mean equal predictions (so different predictions
    # mean different keys), for masked and truncated variants alike.
    variants = [[model.mask_token, *words[1:]], [*words, *(["oil"] * model.max_words)]]
    variants += [[*words[:i], model.mask_token, *words[i + 1 :]] for i in range(1, 6)]
    base = model.predict_proba([words])[0]
    for v in variants:
        same = np.allclose(model.predict_proba([v])[0], base, atol=1e-6)
        if model.cache_key(v) == model.cache_key(words):
            assert same
    if model.supports_gradients:
        top = int(np.argmax(probs[0]))
        sal = model.word_saliency(words, [top], 1.0)
        assert sal.shape == (len(words),) and np.all(sal >= 0) and sal.max() > 0


def random_tfidf(seed: int, n_words: int, n_docs: int, doc_len: int = 30):
    """A TF-IDF vectoriser (sublinear, as ``linear`` fits it) over random documents of
    ``w0..w{n_words-1}``: the generator, the fitted vectoriser and the documents."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(n_words)]
    docs = [[words[j] for j in rng.integers(0, n_words, doc_len)] for _ in range(n_docs)]
    vec = TfidfVectorizer(
        analyzer=lambda d: [w.lower() for w in d], sublinear_tf=True, dtype=np.float32
    )
    vec.fit(docs)
    return rng, vec, docs
