"""Ranking metrics for extreme multilabel classification (docs/method.md, "Metrics").

P@k, nDCG@k and the propensity-scored PSP@k and PSnDCG@k (Jain et al., 2016), computed from a
dense ``(n_docs, L)`` score matrix and a binary CSR label matrix.

Conventions, chosen to match pyxclib (``xclib.evaluation.xc_metrics``):

* Ranking: labels are ordered by descending score; **ties are broken by the lower label
  index**, so results are deterministic and do not depend on ``argpartition``'s internals.
  NaN scores are rejected.
* P@k = mean over documents of ``hits_k / k`` (documents with fewer than k labels are not
  rescaled).
* nDCG@k = mean over documents of ``DCG@k / IDCG@k`` with gains 1 and discount
  ``1/log2(r + 1)``; ``IDCG@k`` places ``min(k, |Y|)`` ones at the top. A document with no
  labels contributes 0 (it still counts in the mean).
* PSP@k is a ratio of means: the mean over documents of ``(1/k) Σ_{r≤k} y_r / p_r`` at the
  predicted ranking, divided by the same mean at the best possible ranking (each document's
  true labels sorted by ``1/p`` descending).
* PSnDCG@k likewise: the mean of ``PSDCG@k / IDCG@k`` (gains ``y/p``, the same ``IDCG@k`` as
  nDCG) at the predicted ranking, divided by that mean at the best ranking.
* A propensity-scored metric whose denominator is zero (no document has a label) is NaN, as
  is every metric over zero documents.

Scores are processed in row chunks (:class:`MetricAccumulator`), so a memory-mapped score
matrix, or scores produced batch by batch, never need to be dense in memory all at once.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from harness.ranking import top_k

DEFAULT_KS: tuple[int, ...] = (1, 3, 5)
CHUNK_ELEMENTS = 1 << 22
"""Score-matrix elements per chunk in :func:`evaluate` (~32 MB of float64)."""


def _binary_csr(y: sp.spmatrix | sp.sparray) -> sp.csr_matrix:
    y = sp.csr_matrix(y, copy=True)
    y.eliminate_zeros()
    y.sum_duplicates()
    y.data = np.ones_like(y.data, dtype=np.float64)
    return y


class MetricAccumulator:
    """Running sums for P@k, nDCG@k, PSP@k and PSnDCG@k over batches of documents.

    ``update(scores, Y)`` takes a batch of rows; ``result()`` gives the metrics over all rows
    seen so far. Models that score in batches can feed it directly.
    """

    def __init__(self, propensities: np.ndarray | None, ks: Sequence[int] = DEFAULT_KS):
        self.ks = tuple(int(k) for k in ks)
        if not self.ks or min(self.ks) < 1:
            raise ValueError(f"ks must be positive integers, got {ks!r}")
        self.kmax = max(self.ks)
        self.inv_p = None if propensities is None else 1.0 / np.asarray(propensities, float)
        disc = 1.0 / np.log2(np.arange(2, self.kmax + 2))
        self._disc = disc
        self._cumdisc = np.cumsum(disc)  # _cumdisc[m - 1]: ideal DCG of m ones
        self.n_docs = 0
        self._sums: dict[str, np.ndarray] = {
            name: np.zeros(self.kmax)
            for name in ("p", "ndcg", "psp_num", "psp_den", "psndcg_num", "psndcg_den")
        }

    def update(self, scores: np.ndarray, y: sp.spmatrix | sp.sparray) -> None:
        """Add a batch: ``scores`` (rows x L, dense) and their binary labels ``y`` (rows x L)."""
        terms = self.document_terms(scores, y)
        self.n_docs += terms["p"].shape[0]
        for name, values in terms.items():
            self._sums[name] += values.sum(axis=0)

    def document_terms(
        self, scores: np.ndarray, y: sp.spmatrix | sp.sparray
    ) -> dict[str, np.ndarray]:
        """Each document's share of every running sum, ``(rows, kmax)`` per sum (column
        ``k - 1`` for @k). Summed over documents, with any multiplicities, they give the
        metrics of that multiset of documents (:meth:`result_of`): what a bootstrap needs."""
        scores = np.asarray(scores)
        if scores.ndim != 2 or scores.shape != y.shape:
            raise ValueError(f"scores {scores.shape} and labels {y.shape} must have one shape")
        if np.isnan(scores).any():
            raise ValueError("scores contain NaN; a ranking needs comparable scores")
        y = _binary_csr(y)
        n, n_labels = scores.shape
        if self.inv_p is not None and self.inv_p.shape != (n_labels,):
            raise ValueError(f"propensities have shape {self.inv_p.shape}, expected ({n_labels},)")
        out = {name: np.zeros((n, self.kmax)) for name in self._sums}
        if n == 0:
            return out
        kk = min(self.kmax, n_labels)
        pred = top_k(scores, kk)
        rows = np.repeat(np.arange(n), kk)
        hits = np.zeros((n, self.kmax))
        hits[:, :kk] = np.asarray(y[rows, pred.ravel()]).reshape(n, kk)
        # IDCG@k with min(k, |Y|) ones, per document and k. A document without labels has
        # DCG 0 everywhere, so any positive normaliser (here one label's) makes it count 0.
        n_true = np.clip(np.diff(y.indptr), 1, self.kmax)
        cum_idcg = np.minimum(self._cumdisc[n_true - 1][:, None], self._cumdisc)
        out["p"] = np.cumsum(hits, axis=1)
        out["ndcg"] = np.cumsum(hits * self._disc, axis=1) / cum_idcg
        if self.inv_p is None:
            return out
        gains = np.zeros((n, self.kmax))
        gains[:, :kk] = hits[:, :kk] * self.inv_p[pred]
        best = self._best_gains(y, n)
        for gain, suffix in ((gains, "num"), (best, "den")):
            out[f"psp_{suffix}"] = np.cumsum(gain, axis=1)
            out[f"psndcg_{suffix}"] = np.cumsum(gain * self._disc, axis=1) / cum_idcg
        return out

    def _best_gains(self, y: sp.csr_matrix, n: int) -> np.ndarray:
        """Per document, its true labels' ``1/p`` sorted descending, padded to ``kmax``."""
        row = np.repeat(np.arange(n), np.diff(y.indptr))
        g = self.inv_p[y.indices]
        order = np.lexsort((-g, row))
        pos = np.arange(len(row)) - y.indptr[row[order]]
        keep = pos < self.kmax
        best = np.zeros((n, self.kmax))
        best[row[order][keep], pos[keep]] = g[order][keep]
        return best

    def result(self) -> dict[str, float]:
        """Metrics over every document seen, keyed ``"P@1"``, ``"nDCG@3"``, ``"PSP@5"``..."""
        return self.result_of(self._sums, self.n_docs)

    def result_of(self, sums: dict[str, np.ndarray], n: float) -> dict[str, float]:
        """Metrics from summed :meth:`document_terms` over ``n`` documents."""
        out: dict[str, float] = {}
        with np.errstate(divide="ignore", invalid="ignore"):
            for k in self.ks:
                i = k - 1
                out[f"P@{k}"] = float(sums["p"][i] / k / n) if n else float("nan")
                out[f"nDCG@{k}"] = float(sums["ndcg"][i] / n) if n else float("nan")
                if self.inv_p is None:
                    continue
                for name, key in (("PSP", "psp"), ("PSnDCG", "psndcg")):
                    den = sums[f"{key}_den"][i]
                    out[f"{name}@{k}"] = float(sums[f"{key}_num"][i] / den) if den else float("nan")
        return out


def evaluate(
    scores: np.ndarray,
    y: sp.spmatrix | sp.sparray,
    propensities: np.ndarray | None,
    ks: Sequence[int] = DEFAULT_KS,
    chunk_rows: int | None = None,
) -> dict[str, float]:
    """P@k, nDCG@k, PSP@k, PSnDCG@k (the PS ones only when ``propensities`` is given).

    ``scores`` may be any row-sliceable array (``np.memmap`` included); it is read
    ``chunk_rows`` rows at a time (by default about :data:`CHUNK_ELEMENTS` elements).
    """
    n, n_labels = scores.shape
    if y.shape != (n, n_labels):
        raise ValueError(f"scores {scores.shape} and labels {y.shape} must have one shape")
    y = sp.csr_matrix(y)
    acc = MetricAccumulator(propensities, ks)
    step = chunk_rows or max(1, CHUNK_ELEMENTS // max(n_labels, 1))
    for start in range(0, n, step):
        acc.update(np.asarray(scores[start : start + step]), y[start : start + step])
    return acc.result()
