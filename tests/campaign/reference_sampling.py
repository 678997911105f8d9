"""The sampling functions as they were before the sparse rewrite (issue 14), kept as the
oracle the rewrite is checked against on random inputs: plain Python over every label and
every frequency, a list of every pool pair, an eligibility mask per label."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from harness.campaign.sampling import Bin, Draw, topk_matrix
from harness.errors import ConfigError


def make_bins(label_freq: np.ndarray, pool: sp.csr_matrix, labels_per_bin: int) -> list[Bin]:
    """Walk distinct training frequencies upwards, closing a bin once it holds
    ``labels_per_bin`` labels that have a pair in the pool; a short last bin joins the one
    before it."""
    if labels_per_bin < 1:
        raise ConfigError("sampling.labels_per_bin", "must be >= 1")
    has_pair = np.asarray(pool.sum(axis=0)).ravel() > 0
    eligible = np.flatnonzero(has_pair)
    if len(eligible) == 0:
        raise ConfigError("data.name/model.name", "the model predicts no test label correctly")
    groups: list[list[int]] = []
    current: list[int] = []
    for f in np.unique(label_freq[eligible]):
        current.extend(int(i) for i in eligible[label_freq[eligible] == f])
        if len(current) >= labels_per_bin:
            groups.append(current)
            current = []
    if current:
        if groups:
            groups[-1].extend(current)
        else:
            groups.append(current)
    bins = []
    for i, labels in enumerate(groups):
        freqs = label_freq[labels]
        bins.append(Bin(i, int(freqs.min()), int(freqs.max()), tuple(sorted(labels))))
    return bins


def _extra_targets(
    rng: np.random.Generator, candidates: np.ndarray, primary: int, n_targets: int
) -> tuple[int, ...]:
    """The primary target plus up to ``n_targets - 1`` others drawn from ``candidates``."""
    others = np.asarray(candidates, dtype=np.int64)
    others = others[others != primary]
    take = min(n_targets - 1, len(others))
    extra = rng.choice(others, size=take, replace=False) if take > 0 else []
    return (primary, *sorted(int(x) for x in extra))


def plan_positive(
    pool: sp.csr_matrix,
    bins: list[Bin],
    label_freq: np.ndarray,
    samples_per_bin: int,
    seed: int,
    n_targets: int = 1,
) -> list[Draw]:
    """Draw ``samples_per_bin`` pool pairs per bin (all of them where fewer exist)."""
    rng = np.random.default_rng(seed)
    pool_csc = pool.tocsc()
    pool_csc.sort_indices()
    out: list[Draw] = []
    for b in bins:
        pairs = [
            (int(d), lab)
            for lab in b.labels
            for d in pool_csc.indices[pool_csc.indptr[lab] : pool_csc.indptr[lab + 1]]
        ]
        pairs.sort()
        take = min(samples_per_bin, len(pairs))
        for j in rng.choice(len(pairs), size=take, replace=False):
            d, lab = pairs[int(j)]
            targets: tuple[int, ...] = (lab,)
            if n_targets > 1:
                row_labels = pool.indices[pool.indptr[d] : pool.indptr[d + 1]]
                targets = _extra_targets(rng, row_labels, lab, n_targets)
            out.append(Draw(len(out), d, targets, int(label_freq[lab]), b.index))
    return out


def plan_negative(
    Y: sp.csr_matrix,
    topks: Sequence[np.ndarray],
    bins: list[Bin],
    label_freq: np.ndarray,
    samples_per_bin: int,
    seed: int,
    cluster_ids: np.ndarray | None = None,
    n_targets: int = 1,
) -> list[Draw]:
    """Negative pairs: l not a true label of d and outside every model's top-k for d.

    Without clustering, the label is drawn at random from the bin and then the document;
    with clustering (``cluster_ids``, -1 = unusable), d must also have a true label in l's
    cluster.
    """
    rng = np.random.default_rng(seed)
    n_docs, n_labels = Y.shape
    Yb = Y.astype(bool).tocsc()
    blocked = Y.astype(bool).astype(np.int8)
    for topk in topks:
        blocked = blocked + topk_matrix(topk, n_labels).astype(np.int8)
    blocked = (blocked > 0).tocsc()
    near_cache: dict[int, np.ndarray] = {}

    def eligible_docs(lab: int) -> np.ndarray:
        ok = np.ones(n_docs, dtype=bool)
        ok[blocked.indices[blocked.indptr[lab] : blocked.indptr[lab + 1]]] = False
        if cluster_ids is not None:
            cid = int(cluster_ids[lab])
            if cid < 0:
                return np.empty(0, dtype=np.int64)
            if cid not in near_cache:
                near = np.zeros(n_docs, dtype=bool)
                for m in np.flatnonzero(cluster_ids == cid):
                    near[Yb.indices[Yb.indptr[m] : Yb.indptr[m + 1]]] = True
                near_cache[cid] = near
            ok &= near_cache[cid]
        return np.flatnonzero(ok)

    out: list[Draw] = []
    for b in bins:
        docs_of = {lab: eligible_docs(lab) for lab in b.labels}
        labels = np.asarray([lab for lab in b.labels if len(docs_of[lab])], dtype=np.int64)
        if len(labels) == 0:
            continue
        capacity = sum(len(docs_of[int(lab)]) for lab in labels)
        seen: set[tuple[int, int]] = set()
        attempts = 0
        while len(seen) < min(samples_per_bin, capacity) and attempts < 50 * samples_per_bin:
            attempts += 1
            lab = int(labels[rng.integers(len(labels))])
            d = int(docs_of[lab][rng.integers(len(docs_of[lab]))])
            if (d, lab) in seen:
                continue
            seen.add((d, lab))
            targets: tuple[int, ...] = (lab,)
            if n_targets > 1:
                same_bin = [int(x) for x in labels if x != lab and np.isin(d, docs_of[int(x)])]
                targets = _extra_targets(rng, np.asarray(same_bin), lab, n_targets)
            out.append(Draw(len(out), d, targets, int(label_freq[lab]), b.index))
    return out
