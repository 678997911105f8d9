"""synthetic: seeded, Zipf-distributed, real words, learnable, and fast at 100k documents."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import spearmanr
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize

from harness.errors import UsageError
from harness.registry import load_registry
from harness.text import STOPWORDS
from plugins.common.glove import load_glove
from plugins.datasets.synthetic import SyntheticGenerator


def test_deterministic_per_seed() -> None:
    a = SyntheticGenerator(n_labels=100, n_docs=300, seed=3).load()
    b = SyntheticGenerator(n_labels=100, n_docs=300, seed=3).load()
    c = SyntheticGenerator(n_labels=100, n_docs=300, seed=4).load()
    assert a.train == b.train and a.test == b.test and a.label_names == b.label_names
    assert a.train != c.train
    assert a.name == "synthetic" and len(a.train) == 240 and len(a.test) == 60
    assert a.train[0].doc_id == "synthetic-0" and a.test[0].doc_id == "synthetic-240"


def test_labels_are_real_words_and_zipf() -> None:
    corpus = SyntheticGenerator(n_labels=500, n_docs=20_000, seed=1).load()
    glove = set(load_glove().words)
    words = [n.removeprefix("synthetic:") for n in corpus.label_names]
    assert all(n.startswith("synthetic:") for n in corpus.label_names)
    assert len(set(words)) == 500
    assert all(w in glove and w.isalpha() and w not in STOPWORDS for w in words)
    counts = corpus.label_counts
    rho = spearmanr(np.arange(500), counts).statistic
    assert rho < -0.9  # frequency falls with rank
    # Zipf with s = 1: label 1 about twice as frequent as label 2, 10x label 10
    assert 1.6 < counts[0] / counts[1] < 2.4
    assert 7 < counts[0] / counts[9] < 13
    assert counts[-50:].max() < counts[0] / 50
    per_doc = np.array([len(d.labels) for d in corpus.train])
    assert per_doc.min() >= 1 and 2.5 < per_doc.mean() < 3.2
    vocab = {w for d in corpus.train[:200] for w in d.words}
    assert vocab <= glove and "the" in vocab  # common words, stopwords included


def test_text_carries_label_topic_words() -> None:
    corpus = SyntheticGenerator(n_labels=100, n_docs=500, seed=0, topic_share=1.0).load()
    for d in corpus.train[:50]:
        names = {corpus.label_names[i].removeprefix("synthetic:") for i in d.labels}
        assert names & set(d.words) or len(d.words) < 10  # the label's own word appears


def test_model_can_learn_it() -> None:
    """A label-centroid classifier over TF-IDF (a real, if simple, model) gets P@1 far above
    always predicting the most frequent label."""
    corpus = SyntheticGenerator(n_labels=100, n_docs=2000, seed=0, doc_length=60).load()
    vec = TfidfVectorizer()
    x_tr = vec.fit_transform(d.text for d in corpus.train)
    x_te = vec.transform(d.text for d in corpus.test)
    centroids = normalize(corpus.label_matrix("train").T @ x_tr)
    top = np.asarray((x_te @ centroids.T).argmax(axis=1)).ravel()
    p_at_1 = np.mean([t in d.labels for t, d in zip(top, corpus.test, strict=True)])
    head = np.argmax(corpus.label_counts)
    baseline = np.mean([head in d.labels for d in corpus.test])
    assert p_at_1 > 0.8 and p_at_1 > baseline + 0.4


def test_hundred_thousand_documents_quickly() -> None:
    t0 = time.perf_counter()
    corpus = SyntheticGenerator(n_labels=100_000, n_docs=100_000, doc_length=50).load()
    assert time.perf_counter() - t0 < 60  # about 4 s on one free core
    assert len(corpus.train) + len(corpus.test) == 100_000
    assert corpus.n_labels == 100_000


def test_options_validated_through_registry(tmp_path: Path) -> None:
    reg_file = tmp_path / "reg.yaml"
    reg_file.write_text("datasets:\n  - plugins.datasets.synthetic\n")
    reg = load_registry(registry_file=reg_file)
    for bad in ({"n_labels": "99"}, {"n_docs": "100001"}, {"test_fraction": "1"}):
        with pytest.raises(UsageError):
            reg.build("dataset", "synthetic", bad)
    corpus = reg.build(
        "dataset", "synthetic", {"n_labels": "100", "n_docs": "100", "propensity_b": "0.4"}
    ).load()
    assert corpus.propensity_b == 0.4 and corpus.n_labels == 100
