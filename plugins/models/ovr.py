"""One-vs-rest linear training at any label count: scikit-learn's liblinear per label, label
chunks in parallel worker processes, each label's weights pruned to sparse as it finishes.

Each label is its own binary problem over every training document, solved to its regularised
optimum by liblinear's dual coordinate descent through :class:`~sklearn.svm.LinearSVC`
(``squared-hinge``) or :class:`~sklearn.linear_model.LogisticRegression` (``bce``): the
per-label objective ``½‖w‖² + C Σ_i s_i ℓ(y_i, w·x_i + b)``, with ``s_i`` the label's PW / PW-cb
weight on its positives and 1 on its negatives, and the bias a regularised feature of value 1
(liblinear's convention). This is DiSMEC (Babbar & Schölkopf, 2017): weights whose magnitude
is below ``prune`` are then dropped, so the model is stored and scored as a sparse matrix.

Memory does not grow with the label count beyond the pruned weights themselves: a worker
holds one label's dense weight vector at a time, and ``chunk_labels`` scores of a fixed
sample of training documents (the before/after-pruning check). The feature matrix is shared
with the workers read-only (joblib memory-maps it). Each worker's BLAS/OpenMP threads are set
to its share of the CPUs.

Liblinear was preferred to a joint solver over a chunk of labels (L-BFGS, as the ``lbfgs``
solver does for the whole label set): dual coordinate descent touches each non-zero of the
features about ten times per label, whereas one gradient of a chunk costs a full sparse
product per label and L-BFGS needs hundreds, i.e. tens of times the work on text data.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.optimize import minimize_scalar

LOSSES = ("squared-hinge", "bce")
SAMPLE_DOCS = 1000
"""Training documents scored before and after pruning, to report what pruning changed."""
SAMPLE_K = 5


@dataclass(frozen=True)
class OVRSettings:
    """What decides the weights (loss, C, tolerance, iterations, pruning) and how the work is
    split (labels per chunk, worker processes)."""

    loss: str
    C: float
    tol: float = 0.1
    max_iter: int = 1000
    prune: float = 0.01
    chunk_labels: int = 512
    n_jobs: int = 0
    seed: int = 0


@dataclass
class OVRResult:
    """Weights (features x labels, CSC), biases, and what pruning did."""

    W: sp.csc_matrix
    bias: np.ndarray
    stats: dict[str, float]


def cpu_count() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _estimator(s: OVRSettings):
    if s.loss == "squared-hinge":
        from sklearn.svm import LinearSVC

        return LinearSVC(C=s.C, dual=True, tol=s.tol, max_iter=s.max_iter, random_state=s.seed)
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(
        C=s.C,
        solver="liblinear",
        dual=True,
        tol=s.tol,
        max_iter=s.max_iter,
        random_state=s.seed,
    )


@lru_cache(maxsize=64)
def _constant_bias(loss: str, C: float, n_pos: float, n_neg: float) -> float:
    """The optimal bias of a label whose training documents are all of one class (w = 0):
    ``argmin ½b² + C (n_pos ℓ+(b) + n_neg ℓ-(b))``, which liblinear cannot fit."""

    def objective(b: float) -> float:
        if loss == "squared-hinge":
            pos, neg = max(0.0, 1.0 - b) ** 2, max(0.0, 1.0 + b) ** 2
        else:
            pos, neg = np.logaddexp(0.0, -b), np.logaddexp(0.0, b)
        return 0.5 * b * b + C * (n_pos * pos + n_neg * neg)

    return float(minimize_scalar(objective, bounds=(-50.0, 50.0), method="bounded").x)


def _topk_rows(scores: np.ndarray, offset: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-k (scores, label indices + offset) per row, ties to the lower index."""
    from harness.ranking import top_k

    idx = top_k(scores, k)
    return np.take_along_axis(scores, idx, axis=1), idx + offset


def liblinear_loss(loss: Any) -> str | None:
    """The liblinear problem (a key of ``LOSSES``) that trains ``loss``, from the standard
    form it declares; None when liblinear has none for it."""
    form = getattr(loss, "standard_form", None)
    return {"logistic": "bce", "squared-hinge": "squared-hinge"}.get(form or "")


def merge_topk(
    parts: Sequence[tuple[np.ndarray, np.ndarray]], k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Merge per-chunk top-k lists (scores, indices) into one: best first, ties to the lower
    label index."""
    scores = np.concatenate([p[0] for p in parts], axis=1)
    idx = np.concatenate([p[1] for p in parts], axis=1)
    order = np.lexsort((idx, -scores), axis=1)[:, :k]
    return np.take_along_axis(scores, order, axis=1), np.take_along_axis(idx, order, axis=1)


def train_chunk(
    X: sp.csr_matrix,
    Y: sp.csc_matrix,
    weights: np.ndarray,
    settings: OVRSettings,
    sample: np.ndarray,
    first_label: int,
) -> dict:
    """Train the labels of one chunk (the columns of ``Y``); returns their pruned weights as
    CSC arrays, biases, counts, and the sample's top-k before and after pruning."""
    from sklearn.exceptions import ConvergenceWarning

    n, n_lab = Y.shape
    n_feat = X.shape[1]
    cols_idx: list[np.ndarray] = []
    cols_val: list[np.ndarray] = []
    bias = np.zeros(n_lab, dtype=np.float32)
    dense_nnz = kept = not_converged = 0
    Xs = X[sample]
    full = np.zeros((len(sample), n_lab), dtype=np.float32)
    pruned = np.zeros_like(full)
    for j in range(n_lab):
        pos = Y.indices[Y.indptr[j] : Y.indptr[j + 1]]
        if len(pos) in (0, n):
            bias[j] = _constant_bias(settings.loss, settings.C, len(pos), n - len(pos))
            full[:, j] = pruned[:, j] = bias[j]
            cols_idx.append(np.empty(0, np.int32))
            cols_val.append(np.empty(0, np.float32))
            continue
        y = np.zeros(n, dtype=np.int8)
        y[pos] = 1
        sw = np.ones(n)
        sw[pos] = weights[j]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            est = _estimator(settings).fit(X, y, sample_weight=sw)
        not_converged += any(issubclass(c.category, ConvergenceWarning) for c in caught)
        w = est.coef_.ravel()
        bias[j] = est.intercept_[0]
        dense_nnz += int(np.count_nonzero(w))
        full[:, j] = Xs @ w + bias[j]
        w[np.abs(w) < settings.prune] = 0.0
        keep = np.flatnonzero(w)
        kept += len(keep)
        cols_idx.append(keep.astype(np.int32))
        cols_val.append(w[keep].astype(np.float32))
        pruned[:, j] = Xs @ w + bias[j]
    indptr = np.concatenate([[0], np.cumsum([len(c) for c in cols_idx])]).astype(np.int64)
    k = min(SAMPLE_K, n_lab)
    return {
        "indptr": indptr,
        "indices": np.concatenate(cols_idx) if cols_idx else np.empty(0, np.int32),
        "data": np.concatenate(cols_val) if cols_val else np.empty(0, np.float32),
        "bias": bias,
        "n_features": n_feat,
        "dense_nnz": dense_nnz,
        "kept": kept,
        "not_converged": not_converged,
        "top_full": _topk_rows(full, first_label, k),
        "top_pruned": _topk_rows(pruned, first_label, k),
    }


def _sample_precision(tops: tuple[np.ndarray, np.ndarray], Y: sp.csr_matrix) -> dict[str, float]:
    idx = tops[1]
    hits = np.asarray(Y[np.arange(idx.shape[0])[:, None], idx].todense()) > 0
    return {
        "P@1": float(hits[:, 0].mean()) if hits.size else float("nan"),
        "P@5": float(hits[:, :5].sum(axis=1).mean() / 5) if hits.size else float("nan"),
    }


def train_ovr(
    X: sp.csr_matrix,
    Y: sp.csr_matrix,
    weights: np.ndarray,
    settings: OVRSettings,
    progress: Callable[[int], None] | None = None,
) -> OVRResult:
    """One-vs-rest weights for every label of ``Y`` (documents x labels) on features ``X``.

    Chunks of ``chunk_labels`` labels run in ``n_jobs`` worker processes (0: one per CPU;
    a single chunk runs in this process). ``progress(n)`` hears of each finished chunk.
    """
    if settings.loss not in LOSSES:
        raise ValueError(f"loss {settings.loss!r} is not one of {LOSSES}")
    X = sp.csr_matrix(X, dtype=np.float64)
    X.sort_indices()
    Yc = sp.csc_matrix(Y)
    Yc.sort_indices()
    n, n_labels = Yc.shape
    sample = np.sort(
        np.random.default_rng(settings.seed).choice(n, size=min(n, SAMPLE_DOCS), replace=False)
    )
    starts = list(range(0, n_labels, settings.chunk_labels))
    jobs = [
        (Yc[:, s : s + settings.chunk_labels], weights[s : s + settings.chunk_labels], s)
        for s in starts
    ]
    cpus = cpu_count()
    n_jobs = min(settings.n_jobs or cpus, len(jobs))
    results: list[dict] = []
    if n_jobs <= 1:
        for Ych, wch, s in jobs:
            results.append(train_chunk(X, Ych, wch, settings, sample, s))
            if progress:
                progress(Ych.shape[1])
    else:
        from joblib import Parallel, delayed, parallel_config

        with parallel_config(backend="loky", inner_max_num_threads=max(1, cpus // n_jobs)):
            run = Parallel(n_jobs=n_jobs, return_as="generator")(
                delayed(train_chunk)(X, Ych, wch, settings, sample, s) for Ych, wch, s in jobs
            )
            for (Ych, _, _), res in zip(jobs, run, strict=True):
                results.append(res)
                if progress:
                    progress(Ych.shape[1])
        # Training is a one-off: release the idle workers' memory now rather than after
        # loky's idle timeout.
        from joblib.externals.loky import get_reusable_executor

        get_reusable_executor().shutdown(wait=True)
    return _assemble(results, n_labels, X.shape[1], Y, sample, settings)


def _stack_columns(results: list[dict], n_features: int, n_labels: int) -> sp.csc_matrix:
    """The chunks' pruned columns side by side as one CSC matrix, written into arrays
    allocated once; each chunk's arrays are released as soon as they are copied, so the
    weights are held about once, not three times as concatenating and converting would
    (at Wiki10-31K's shape the pruned weights alone are 2 GB)."""
    sizes = [int(r["indptr"][-1]) for r in results]
    nnz = sum(sizes)
    index_dtype = np.int32 if max(nnz, n_features) < np.iinfo(np.int32).max else np.int64
    data = np.empty(nnz, dtype=np.float32)
    indices = np.empty(nnz, dtype=index_dtype)
    indptr = np.empty(n_labels + 1, dtype=index_dtype)
    indptr[0] = at = col = 0
    for r, size in zip(results, sizes, strict=True):
        width = len(r["indptr"]) - 1
        data[at : at + size] = r.pop("data")
        indices[at : at + size] = r.pop("indices")
        indptr[col + 1 : col + width + 1] = r.pop("indptr")[1:] + at
        at, col = at + size, col + width
    return sp.csc_matrix((data, indices, indptr), shape=(n_features, n_labels), copy=False)


def _assemble(
    results: list[dict],
    n_labels: int,
    n_features: int,
    Y: sp.csr_matrix,
    sample: np.ndarray,
    settings: OVRSettings,
) -> OVRResult:
    W = _stack_columns(results, n_features, n_labels)
    bias = np.concatenate([r["bias"] for r in results]).astype(np.float32)
    k = min(SAMPLE_K, n_labels)
    Ys = sp.csr_matrix(Y)[sample]
    top_before = merge_topk([r["top_full"] for r in results], k)
    top_after = merge_topk([r["top_pruned"] for r in results], k)
    before = _sample_precision(top_before, Ys)
    after = _sample_precision(top_after, Ys)
    same = np.all(np.sort(top_before[1], axis=1) == np.sort(top_after[1], axis=1), axis=1)
    dense = sum(r["dense_nnz"] for r in results)
    kept = sum(r["kept"] for r in results)
    stats = {
        "prune_threshold": settings.prune,
        "weights_before_pruning": float(dense),
        "weights_kept": float(kept),
        "pruned_share": float(1 - kept / dense) if dense else 0.0,
        "density": float(kept / max(1, n_features * n_labels)),
        "labels_not_converged": float(sum(r["not_converged"] for r in results)),
        "sample_docs": float(len(sample)),
        "sample_top5_unchanged": float(same.mean()) if same.size else 1.0,
        **{f"train_sample_{m}_before_pruning": v for m, v in before.items()},
        **{f"train_sample_{m}_after_pruning": v for m, v in after.items()},
    }
    return OVRResult(W=W, bias=bias, stats=stats)
