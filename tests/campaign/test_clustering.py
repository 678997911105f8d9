"""Label vectors for clustering, computed in label chunks and capped only past a budget."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import norm
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize

from harness.campaign import clustering
from harness.campaign.clustering import feature_cap, keep_largest, label_vectors
from harness.registry import load_registry


def _corpus():
    opts = {"n_docs": 600, "n_labels": 120, "doc_length": 40}
    return load_registry().build("dataset", "synthetic", opts).load()


def _one_product(corpus) -> sp.csr_matrix:
    """The label vectors as one whole sparse product (the formula of the method)."""
    tfidf = TfidfVectorizer(
        tokenizer=str.split, token_pattern=None, lowercase=True, sublinear_tf=True, min_df=2
    )
    X = normalize(tfidf.fit_transform(" ".join(d.words) for d in corpus.train), axis=1)
    return normalize((corpus.label_matrix("train").T @ X).tocsr(), axis=1)


def test_chunked_label_vectors_equal_the_whole_product_bit_for_bit(monkeypatch) -> None:
    corpus = _corpus()
    whole = _one_product(corpus)
    monkeypatch.setattr(clustering, "CHUNK_WORK", 2_000)  # many chunks
    got = label_vectors(corpus)
    assert len(clustering._chunks(np.full(120, 500.0), 2_000)) == 30
    assert np.array_equal(got.indptr, whole.indptr)
    assert np.array_equal(got.indices, whole.indices)
    assert np.array_equal(got.data, whole.data)


def test_feature_cap_is_the_largest_that_fits() -> None:
    entries = np.array([1, 5, 9, 40, 100])
    assert feature_cap(entries, 1000) is None
    m = feature_cap(entries, 60)
    assert np.minimum(entries, m).sum() <= 60 < np.minimum(entries, m + 1).sum()


def test_capped_label_vectors_keep_each_labels_largest_weights() -> None:
    corpus = _corpus()
    whole = _one_product(corpus)
    budget = whole.nnz // 3
    got = label_vectors(corpus, max_entries=budget)
    assert got.nnz <= budget
    cap = feature_cap(np.diff(whole.indptr), budget)
    assert cap is not None and np.diff(got.indptr).max() == cap
    assert np.allclose(norm(got, axis=1)[np.diff(got.indptr) > 0], 1.0)
    for r in np.flatnonzero(np.diff(whole.indptr) > cap)[:20]:
        row = whole.getrow(r)
        kept = got.getrow(r).indices
        order = np.lexsort((row.indices, -row.data))
        assert sorted(kept.tolist()) == sorted(row.indices[order[:cap]].tolist())
    small = sp.csr_matrix(np.array([[0.5, 0.1, 0.5, 0.3], [0.0, 0.2, 0.0, 0.0]]))
    assert keep_largest(small, 2).toarray().tolist() == [[0.5, 0, 0.5, 0], [0, 0.2, 0, 0]]
