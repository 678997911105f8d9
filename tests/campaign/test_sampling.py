"""Sampling by label frequency (docs/method.md, "Sampling by label frequency"): bins, pools,
draws and label clusters."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from harness.campaign.clustering import MIN_CLUSTER, cluster_labels, cluster_of
from harness.campaign.sampling import (
    make_bins,
    plan_negative,
    plan_positive,
    positive_pool,
    topk_matrix,
)
from harness.data import labels_to_csr
from harness.errors import ConfigError


def _fixture(seed: int = 0, n_docs: int = 300, n_labels: int = 40, k: int = 3):
    rng = np.random.default_rng(seed)
    labels = [
        tuple(rng.choice(n_labels, size=rng.integers(1, 4), replace=False)) for _ in range(n_docs)
    ]
    Y = labels_to_csr(labels, n_labels)
    scores = rng.random((n_docs, n_labels)) + Y.toarray() * rng.random((n_docs, 1))
    topk = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    freq = rng.zipf(1.6, size=n_labels).clip(max=500)
    return Y, topk, freq


def test_positive_pool_is_true_and_predicted_by_every_model() -> None:
    Y, topk, _ = _fixture()
    _, topk2, _ = _fixture(seed=1)
    pool = positive_pool(Y, [topk, topk2])
    dense = pool.toarray().astype(bool)
    expected = Y.toarray().astype(bool) & topk_matrix(topk, Y.shape[1]).toarray().astype(bool)
    expected &= topk_matrix(topk2, Y.shape[1]).toarray().astype(bool)
    assert (dense == expected).all()


def test_bins_cover_ascending_frequencies_with_enough_labels() -> None:
    Y, topk, freq = _fixture()
    pool = positive_pool(Y, [topk])
    bins = make_bins(freq, pool, labels_per_bin=6)
    with_pair = set(np.flatnonzero(np.asarray(pool.sum(axis=0)).ravel() > 0).tolist())
    seen = [lab for b in bins for lab in b.labels]
    assert sorted(seen) == sorted(with_pair)  # every eligible label in exactly one bin
    assert all(len(b.labels) >= 6 for b in bins)
    for a, b in zip(bins, bins[1:], strict=False):
        assert a.freq_high < b.freq_low  # frequencies never straddle two bins
    for b in bins:
        assert set(freq[list(b.labels)]) <= set(range(b.freq_low, b.freq_high + 1))
    with pytest.raises(ConfigError, match="sampling.labels_per_bin"):
        make_bins(freq, pool, 0)


def test_short_last_bin_joins_the_one_before() -> None:
    freq = np.array([1, 1, 2, 2, 3, 9])
    pool = sp.csr_matrix(np.ones((1, 6)))
    bins = make_bins(freq, pool, labels_per_bin=2)
    assert [b.labels for b in bins] == [(0, 1), (2, 3), (4, 5)]
    bins = make_bins(freq, pool, labels_per_bin=4)
    assert [b.labels for b in bins] == [(0, 1, 2, 3, 4, 5)]


def test_positive_plan_is_seeded_balanced_and_valid() -> None:
    Y, topk, freq = _fixture()
    pool = positive_pool(Y, [topk])
    bins = make_bins(freq, pool, labels_per_bin=8)
    plan = plan_positive(pool, bins, freq, samples_per_bin=10, seed=3)
    assert plan == plan_positive(pool, bins, freq, samples_per_bin=10, seed=3)
    assert plan != plan_positive(pool, bins, freq, samples_per_bin=10, seed=4)
    counts = np.bincount([p.bin_index for p in plan], minlength=len(bins))
    assert (counts == 10).all()
    for p in plan:
        assert pool[p.doc_row, p.targets[0]] == 1
        assert p.targets[0] in bins[p.bin_index].labels
        assert p.label_freq == freq[p.targets[0]]
    assert [p.trial_index for p in plan] == list(range(len(plan)))
    multi = plan_positive(pool, bins, freq, samples_per_bin=5, seed=3, n_targets=2)
    for p in multi:
        assert all(pool[p.doc_row, t] == 1 for t in p.targets)


def test_negative_plan_respects_truth_predictions_and_clusters() -> None:
    Y, topk, freq = _fixture()
    pool = positive_pool(Y, [topk])
    bins = make_bins(freq, pool, labels_per_bin=8)
    plan = plan_negative(Y, [topk], bins, freq, samples_per_bin=15, seed=0)
    pred = topk_matrix(topk, Y.shape[1]).toarray().astype(bool)
    for p in plan:
        lab = p.targets[0]
        assert Y[p.doc_row, lab] == 0 and not pred[p.doc_row, lab]
    clusters = [list(range(i, min(i + 4, 40))) for i in range(0, 40, 4)]
    ids = cluster_of(clusters, 40)
    planc = plan_negative(Y, [topk], bins, freq, samples_per_bin=15, seed=0, cluster_ids=ids)
    assert planc
    for p in planc:
        lab = p.targets[0]
        members = clusters[ids[lab]]
        assert Y[p.doc_row, members].sum() > 0  # d has a true label in l's cluster
        assert Y[p.doc_row, lab] == 0


def test_balanced_spherical_two_means_clusters_similar_labels() -> None:
    rng = np.random.default_rng(0)
    # four well-separated groups of 6 labels each in a 40-d space
    centres = np.eye(40)[[0, 10, 20, 30]]
    Z = np.vstack([c + 0.05 * rng.random((6, 40)) for c in centres])
    Z /= np.linalg.norm(Z, axis=1, keepdims=True)
    leaves = cluster_labels(sp.csr_matrix(Z), max_leaf=6, seed=0)
    assert sorted(len(x) for x in leaves) == [6, 6, 6, 6]
    assert sorted(tuple(x) for x in leaves) == [tuple(range(i, i + 6)) for i in (0, 6, 12, 18)]
    ids = cluster_of([[0, 1], [2, 3, 4]], 5)
    assert ids.tolist() == [-1, -1, 1, 1, 1] and MIN_CLUSTER == 3
