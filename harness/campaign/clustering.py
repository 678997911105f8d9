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
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize

from harness.data import Corpus
from harness.provenance import config_hash

MIN_CLUSTER = 3
"""Clusters with fewer labels are not used for sampling (the paper: size at least 3)."""


def label_vectors(corpus: Corpus) -> sp.csr_matrix:
    """z_l = normalise(Σ_{i: y_il = 1} x_i) over training documents, shape (L, V)."""
    tfidf = TfidfVectorizer(
        tokenizer=str.split, token_pattern=None, lowercase=True, sublinear_tf=True, min_df=2
    )
    X = tfidf.fit_transform(" ".join(d.words) for d in corpus.train)
    X = normalize(X, norm="l2", axis=1)
    Y = corpus.label_matrix("train")
    Z = (Y.T @ X).tocsr()
    return normalize(Z, norm="l2", axis=1)


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
        centres = normalize(centres, norm="l2", axis=1)
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
