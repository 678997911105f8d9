"""The sparse sampling (bins, positive and negative draws, with and without clusters and
extra targets) gives exactly the draws of the plain implementation it replaced
(``reference_sampling``) on random corpora: small label spaces, ties in frequency, labels
no document can take, clusters too small to use."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.campaign import sampling
from harness.data import labels_to_csr
from harness.ranking import top_k
from tests.campaign import reference_sampling as reference


def _case(seed: int, n_docs: int, n_labels: int, k: int):
    rng = np.random.default_rng(seed)
    Y = labels_to_csr(
        [rng.choice(n_labels, size=rng.integers(1, 4), replace=False) for _ in range(n_docs)],
        n_labels,
    )
    topks = []
    for _ in range(2):
        scores = rng.random((n_docs, n_labels)) + Y.toarray() * rng.random((n_docs, 1))
        topks.append(top_k(scores, k))
    freq = rng.zipf(1.5, size=n_labels).clip(max=50)  # many ties
    clusters = rng.integers(-1, max(1, n_labels // 5), size=n_labels)
    return Y, topks, freq, clusters


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n_docs=st.integers(5, 80),
    n_labels=st.integers(4, 40),
    k=st.integers(1, 4),
    per_bin=st.integers(1, 8),
    samples=st.integers(1, 12),
    n_targets=st.integers(1, 3),
    paired=st.booleans(),
)
def test_sparse_sampling_matches_the_reference(
    seed, n_docs, n_labels, k, per_bin, samples, n_targets, paired
) -> None:
    Y, topks, freq, clusters = _case(seed, n_docs, n_labels, k)
    topks = topks if paired else topks[:1]
    pool = sampling.positive_pool(Y, topks)
    if pool.nnz == 0:
        return
    bins = sampling.make_bins(freq, pool, per_bin)
    assert bins == reference.make_bins(freq, pool, per_bin)
    got = sampling.plan_positive(pool, bins, freq, samples, seed, n_targets)
    assert got == reference.plan_positive(pool, bins, freq, samples, seed, n_targets)
    for ids in (None, clusters):
        got = sampling.plan_negative(Y, topks, bins, freq, samples, seed, ids, n_targets)
        want = reference.plan_negative(Y, topks, bins, freq, samples, seed, ids, n_targets)
        assert got == want
