"""Label clustering for negative-targeted sampling, Parabel / AttentionXML style
(docs/method.md, "Label clusters").

Each label is the normalised sum of the L2-normalised TF-IDF rows of its training documents;
labels are split recursively by balanced spherical 2-means until a node has at most
``max_leaf`` labels. scikit-learn has no *balanced* spherical k-means, so the split is
written here (a few lines of sparse algebra); TF-IDF comes from scikit-learn.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from harness.campaign.cache_files import cache_path, read_json, write_json
from harness.data import Corpus

MIN_CLUSTER = 3
"""Clusters with fewer labels are not used for sampling (the paper: size at least 3)."""


LABEL_VECTOR_ENTRIES = 50_000_000
"""Most entries the label vectors keep (about 600 MB as float64 values and int32 indices).
A head label's documents use most of the vocabulary, so at a benchmark's scale the labels x
vocabulary matrix can grow far past this; a corpus whose label vectors would hold more keeps
each label's largest weights up to one common cap chosen to fit (:func:`feature_cap`),
re-normalised. Corpora below it (Reuters-21578, the synthetic shapes up to AmazonCat-13K at
20%) are clustered exactly as before the cap existed."""

CHUNK_WORK = 10_000_000
"""Products of label rows x document rows summed per chunk of labels: bounds the transient
memory of one chunk's sparse product."""


def _normalize(M, norm: str = "l2", axis: int = 1):  # type: ignore[no-untyped-def]
    """scikit-learn's ``normalize``, imported when first used (scikit-learn takes about a
    second to import, which commands that never cluster should not pay)."""
    from sklearn.preprocessing import normalize as sk_normalize

    return sk_normalize(M, norm=norm, axis=axis)


def _chunks(work: np.ndarray, limit: int) -> list[tuple[int, int]]:
    """Consecutive label ranges whose summed ``work`` stays under ``limit`` (a label above
    it alone is a chunk of its own)."""
    out, start, total = [], 0, 0.0
    for i, w in enumerate(work.tolist()):
        if i > start and total + w > limit:
            out.append((start, i))
            start, total = i, 0.0
        total += w
    if start < len(work):
        out.append((start, len(work)))
    return out


def feature_cap(row_entries: np.ndarray, budget: int) -> int | None:
    """The largest per-row cap ``m`` with Σ min(entries, m) <= ``budget`` (None when every
    row fits uncapped)."""
    row_entries = np.asarray(row_entries, dtype=np.int64)
    if row_entries.sum() <= budget:
        return None
    lo, hi = 1, int(row_entries.max())  # the sum is monotone in m: bisect
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if np.minimum(row_entries, mid).sum() <= budget:
            lo = mid
        else:
            hi = mid - 1
    return lo


def keep_largest(Z: sp.csr_matrix, cap: int) -> sp.csr_matrix:
    """Each row's ``cap`` largest entries (ties to the lower column), columns in order."""
    counts = np.diff(Z.indptr)
    keep = np.ones(Z.nnz, dtype=bool)
    for r in np.flatnonzero(counts > cap):
        lo, hi = Z.indptr[r], Z.indptr[r + 1]
        order = np.lexsort((Z.indices[lo:hi], -Z.data[lo:hi]))
        keep[lo + order[cap:]] = False
    rows = np.repeat(np.arange(Z.shape[0]), counts)[keep]
    out = sp.csr_matrix((Z.data[keep], (rows, Z.indices[keep])), shape=Z.shape)
    out.sort_indices()
    return out


def label_vectors(corpus: Corpus, max_entries: int = LABEL_VECTOR_ENTRIES) -> sp.csr_matrix:
    """z_l = normalise(Σ_{i: y_il = 1} x_i) over training documents, shape (L, V).

    Computed in chunks of labels (each chunk's rows exactly as one whole product gives them);
    when the label vectors would hold more than ``max_entries`` entries, each keeps its
    largest weights up to a common cap (:data:`LABEL_VECTOR_ENTRIES`)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    tfidf = TfidfVectorizer(
        tokenizer=str.split, token_pattern=None, lowercase=True, sublinear_tf=True, min_df=2
    )
    X = tfidf.fit_transform(" ".join(d.words) for d in corpus.train)
    X = _normalize(X, norm="l2", axis=1)
    Yt = corpus.label_matrix("train").T.tocsr()
    Yt.sort_indices()
    work = Yt @ np.diff(X.indptr).astype(np.float64)  # entries each label row sums
    chunks = _chunks(work, CHUNK_WORK)
    cap = None
    if work.sum() > max_entries:  # an upper bound; count the entries exactly
        Xb, Yb = X.astype(bool), Yt.astype(bool)
        entries = np.concatenate([(Yb[a:b] @ Xb).getnnz(axis=1) for a, b in chunks])
        cap = feature_cap(entries, max_entries)
    parts = []
    for a, b in chunks:
        part = (Yt[a:b] @ X).tocsr()
        part.sort_indices()  # the whole product's order: norms summed alike, bit for bit
        part = _normalize(part, norm="l2", axis=1)
        if cap is not None:
            part = _normalize(keep_largest(part, cap), norm="l2", axis=1)
        parts.append(part)
    return sp.vstack(parts, format="csr")


def _split(Z: sp.csr_matrix, idx: np.ndarray, rng: np.random.Generator, tol: float):
    """Balanced spherical 2-means on the rows ``idx`` of Z: two halves of the labels."""
    sub = Z[idx]
    n = len(idx)
    first, second = rng.choice(n, size=2, replace=False)
    centres = np.vstack([sub[first].toarray(), sub[second].toarray()])
    half = (n + 1) // 2
    old = -np.inf
    left = np.arange(half)
    order = np.arange(n)
    for _ in range(100):
        sims = np.asarray(sub @ centres.T)  # (n, 2)
        order = np.argsort(-(sims[:, 0] - sims[:, 1]), kind="stable")
        left, right = order[:half], order[half:]
        objective = (sims[left, 0].sum() + sims[right, 1].sum()) / n
        if objective - old < tol:
            break
        old = objective
        centres = np.vstack([np.asarray(sub[left].sum(axis=0)), np.asarray(sub[right].sum(axis=0))])
        centres = _normalize(centres, norm="l2", axis=1)
    return idx[order[:half]], idx[order[half:]]


def cluster_labels(
    Z: sp.csr_matrix, max_leaf: int = 8, seed: int = 0, tol: float = 1e-4
) -> list[list[int]]:
    """Leaves of the balanced hierarchical 2-means tree, each a sorted list of label indices."""
    if max_leaf < 2:
        raise ValueError("max_leaf must be >= 2")
    rng = np.random.default_rng(seed)
    leaves: list[list[int]] = []
    stack = [np.arange(Z.shape[0])]
    while stack:
        idx = stack.pop()
        if len(idx) <= max_leaf:
            leaves.append(sorted(int(i) for i in idx))
            continue
        a, b = _split(Z, idx, rng, tol)
        stack.extend([b, a])
    return sorted(leaves)


def clusters_problem(clusters: Any, n_labels: int, max_leaf: int) -> str | None:
    """Why ``clusters`` is not a partition of the ``n_labels`` labels into sorted leaves of
    1..``max_leaf`` label indices (a damaged or edited cache); None when it is."""
    if not isinstance(clusters, list) or not all(isinstance(c, list) for c in clusters):
        return "not a list of lists"
    seen = np.zeros(n_labels, dtype=bool)
    for c in clusters:
        if not 1 <= len(c) <= max_leaf:
            return f"a cluster of {len(c)} labels (at most {max_leaf})"
        if not all(type(i) is int and 0 <= i < n_labels for i in c) or c != sorted(c):
            return "a label index out of range, or not sorted"
        if seen[c].any():
            return "a label in two clusters"
        seen[c] = True
    return None if seen.all() else "labels missing from every cluster"


def label_clusters(
    corpus: Corpus, max_leaf: int = 8, seed: int = 0, cache_dir: Path | None = None
) -> list[list[int]]:
    """Clusters for a dataset, cached as JSON per (dataset fingerprint, training documents,
    max_leaf, seed) with their content hash (:mod:`harness.campaign.cache_files`); a cache
    that does not partition the labels as a clustering must is recomputed."""
    source = {
        "dataset": corpus.fingerprint(),
        "n_train": len(corpus.train),
        "max_leaf": max_leaf,
        "seed": seed,
        "max_entries": LABEL_VECTOR_ENTRIES,
        "v": 2,
    }
    path = None
    if cache_dir is not None:
        path = cache_path(cache_dir, "clusters", source, corpus.name).with_suffix(".json")
        cached = read_json(path, source, max_bytes=24 * corpus.n_labels + 4096)
        if cached is not None and clusters_problem(cached, corpus.n_labels, max_leaf) is None:
            return cached
    leaves = cluster_labels(label_vectors(corpus), max_leaf=max_leaf, seed=seed)
    if path is not None:
        write_json(path, leaves, source)
    return leaves


def cluster_of(clusters: list[list[int]], n_labels: int) -> np.ndarray:
    """Cluster id per label (-1 for labels in clusters smaller than MIN_CLUSTER)."""
    out = np.full(n_labels, -1, dtype=np.int64)
    for cid, members in enumerate(clusters):
        if len(members) >= MIN_CLUSTER:
            out[members] = cid
    return out
