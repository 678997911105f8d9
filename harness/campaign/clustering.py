"""Label clustering for negative-targeted sampling, Parabel / AttentionXML style
(docs/method.md, "Label clusters").

Each label is the normalised sum of the L2-normalised TF-IDF rows of its training documents;
labels are split recursively by balanced spherical 2-means until a node has at most
``max_leaf`` labels. scikit-learn has no *balanced* spherical k-means, so the split is
written here (a few lines of sparse algebra); TF-IDF comes from scikit-learn.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from harness.data import Corpus
from harness.provenance import config_hash

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


def label_clusters(
    corpus: Corpus, max_leaf: int = 8, seed: int = 0, cache_dir: Path | None = None
) -> list[list[int]]:
    """Clusters for a dataset, cached as JSON per (dataset fingerprint, max_leaf, seed)."""
    key = config_hash(
        {
            "dataset": corpus.fingerprint(),
            "n_train": len(corpus.train),
            "max_leaf": max_leaf,
            "seed": seed,
            "max_entries": LABEL_VECTOR_ENTRIES,
            "v": 1,
        }
    )
    path = cache_dir / f"clusters-{corpus.name}-{key}.json" if cache_dir else None
    if path is not None and path.exists():
        try:
            data = json.loads(path.read_text())
            if isinstance(data, list) and all(isinstance(c, list) for c in data):
                return [[int(i) for i in c] for c in data]
        except (OSError, ValueError):
            pass  # a damaged cache file is recomputed and rewritten
    leaves = cluster_labels(label_vectors(corpus), max_leaf=max_leaf, seed=seed)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(leaves))
        os.replace(tmp, path)
    return leaves


def cluster_of(clusters: list[list[int]], n_labels: int) -> np.ndarray:
    """Cluster id per label (-1 for labels in clusters smaller than MIN_CLUSTER)."""
    out = np.full(n_labels, -1, dtype=np.int64)
    for cid, members in enumerate(clusters):
        if len(members) >= MIN_CLUSTER:
            out[members] = cid
    return out
