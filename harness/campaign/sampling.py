"""Which (document, label) pairs a campaign attacks (docs/method.md, "Sampling by label
frequency").

Labels are grouped into frequency bins that each hold at least ``labels_per_bin`` labels
with a correctly predicted test pair; the same number of pairs is drawn from every bin,
seeded, so head and tail labels weigh alike. The plan is a pure function of its inputs:
re-running it gives the same trials in the same order, which is what resume relies on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from harness.errors import ConfigError


@dataclass(frozen=True)
class Bin:
    """Consecutive training frequencies merged into one bin."""

    index: int
    freq_low: int
    freq_high: int
    labels: tuple[int, ...]

    def as_dict(self) -> dict[str, int]:
        return {
            "index": self.index,
            "freq_low": self.freq_low,
            "freq_high": self.freq_high,
            "n_labels": len(self.labels),
        }


@dataclass(frozen=True)
class Draw:
    """One pair drawn to attack: test document row, target labels (primary first), its bin.
    :mod:`harness.campaign.plan` turns each into a :class:`PlannedTrial` with its words."""

    trial_index: int
    doc_row: int
    """Row of the document in the test split."""
    targets: tuple[int, ...]
    label_freq: int
    """Training frequency of the primary target."""
    bin_index: int


def topk_matrix(topk: np.ndarray, n_labels: int) -> sp.csr_matrix:
    """Binary (docs x labels) matrix of each document's predicted top-k labels."""
    n, k = topk.shape
    data = np.ones(n * k, dtype=np.float32)
    return sp.csr_matrix((data, topk.ravel(), np.arange(0, n * k + 1, k)), shape=(n, n_labels))


def positive_pool(Y: sp.csr_matrix, topks: Sequence[np.ndarray]) -> sp.csr_matrix:
    """Pairs (d, l) with l a true label of d inside the top-k of *every* model given."""
    pool = Y.astype(bool).astype(np.float32).tocsr()
    for topk in topks:
        pool = pool.multiply(topk_matrix(topk, Y.shape[1])).tocsr()
    pool.eliminate_zeros()
    pool.sort_indices()
    return pool


def _column_entries(csc: sp.csc_matrix, columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The (row, column) entries of some columns of a CSC matrix, column by column, gathered
    with array operations (no Python list of pairs)."""
    columns = np.asarray(columns, dtype=np.int64)
    starts = csc.indptr[columns].astype(np.int64)
    counts = csc.indptr[columns + 1].astype(np.int64) - starts
    total = int(counts.sum())
    first = np.cumsum(counts) - counts  # where each column's run starts in the output
    offsets = np.repeat(starts - first, counts) + np.arange(total, dtype=np.int64)
    return csc.indices[offsets].astype(np.int64), np.repeat(columns, counts)


def make_bins(label_freq: np.ndarray, pool: sp.csr_matrix, labels_per_bin: int) -> list[Bin]:
    """Walk distinct training frequencies upwards, closing a bin once it holds
    ``labels_per_bin`` labels that have a pair in the pool; a short last bin joins the one
    before it. One sort of the eligible labels by frequency, then one step per distinct
    frequency (linear in the labels, not labels x frequencies)."""
    if labels_per_bin < 1:
        raise ConfigError("sampling.labels_per_bin", "must be >= 1")
    label_freq = np.asarray(label_freq)
    has_pair = np.bincount(pool.indices[pool.data != 0], minlength=pool.shape[1]) > 0
    eligible = np.flatnonzero(has_pair)
    if len(eligible) == 0:
        raise ConfigError("data.name/model.name", "the model predicts no test label correctly")
    order = np.argsort(label_freq[eligible], kind="stable")  # ties stay in label order
    labels, freqs = eligible[order], label_freq[eligible][order]
    _, starts = np.unique(freqs, return_index=True)
    ends = [*starts[1:].tolist(), len(labels)]
    groups: list[tuple[int, int]] = []  # [start, end) spans of ``labels``
    current = 0
    for end in ends:
        if end - current >= labels_per_bin:
            groups.append((current, end))
            current = end
    if current < len(labels):
        if groups:
            groups[-1] = (groups[-1][0], len(labels))
        else:
            groups.append((current, len(labels)))
    bins = []
    for i, (a, b) in enumerate(groups):
        members = np.sort(labels[a:b])
        bins.append(Bin(i, int(freqs[a:b].min()), int(freqs[a:b].max()), tuple(members.tolist())))
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
    """Draw ``samples_per_bin`` pool pairs per bin (all of them where fewer exist), uniformly
    among the bin's pairs in (document, label) order."""
    rng = np.random.default_rng(seed)
    pool_csc = pool.tocsc()
    pool_csc.sort_indices()
    out: list[Draw] = []
    for b in bins:
        docs, labels = _column_entries(pool_csc, np.asarray(b.labels, dtype=np.int64))
        order = np.lexsort((labels, docs))  # by document, then label
        docs, labels = docs[order], labels[order]
        take = min(samples_per_bin, len(docs))
        for j in rng.choice(len(docs), size=take, replace=False):
            d, lab = int(docs[j]), int(labels[j])
            targets: tuple[int, ...] = (lab,)
            if n_targets > 1:
                row_labels = pool.indices[pool.indptr[d] : pool.indptr[d + 1]]
                targets = _extra_targets(rng, row_labels, lab, n_targets)
            out.append(Draw(len(out), d, targets, int(label_freq[lab]), b.index))
    return out


class _NegativeCandidates:
    """Which test documents each label may be a negative target of, without a documents x
    labels array: a label's candidates are the documents outside its ``blocked`` column
    (documents that carry it or have it in some model's top-k), and, with clustering, inside
    the documents that carry a label of its cluster. Counts are arithmetic on sorted index
    arrays; a clustered label's candidate list is built only when it is drawn."""

    def __init__(
        self, Y: sp.csr_matrix, topks: Sequence[np.ndarray], cluster_ids: np.ndarray | None
    ):
        self.n_docs, n_labels = Y.shape
        blocked = Y.astype(bool).astype(np.int8)
        for topk in topks:
            blocked = blocked + topk_matrix(topk, n_labels).astype(np.int8)
        self.blocked_rows = (blocked > 0).tocsr()
        self.blocked_rows.sort_indices()
        self.blocked = self.blocked_rows.tocsc()
        self.blocked.sort_indices()
        self.Y = Y.astype(bool).tocsr()
        self.true = self.Y.tocsc()
        self.true.sort_indices()
        self.cluster_ids = cluster_ids
        if cluster_ids is not None:
            self.by_cluster = np.argsort(cluster_ids, kind="stable")
            self.sorted_ids = cluster_ids[self.by_cluster]
        self.near_cache: dict[int, np.ndarray] = {}
        self.list_cache: dict[int, np.ndarray] = {}

    def blocked_of(self, lab: int) -> np.ndarray:
        return self.blocked.indices[self.blocked.indptr[lab] : self.blocked.indptr[lab + 1]]

    def near(self, cid: int) -> np.ndarray:
        """Sorted documents with a true label in cluster ``cid``."""
        if cid not in self.near_cache:
            lo, hi = np.searchsorted(self.sorted_ids, [cid, cid + 1])
            docs, _ = _column_entries(self.true, self.by_cluster[lo:hi])
            self.near_cache[cid] = np.unique(docs)
        return self.near_cache[cid]

    def count(self, lab: int) -> int:
        blocked = self.blocked_of(lab)
        if self.cluster_ids is None:
            return self.n_docs - len(blocked)
        cid = int(self.cluster_ids[lab])
        if cid < 0:
            return 0
        near = self.near(cid)
        return len(near) - int(np.count_nonzero(np.isin(blocked, near, assume_unique=True)))

    def nth(self, lab: int, j: int) -> int:
        """The ``j``-th (0-based, ascending) candidate document of ``lab``."""
        blocked = self.blocked_of(lab)
        if self.cluster_ids is None:
            # the free documents before blocked[i] number blocked[i] - i (non-decreasing)
            before = blocked - np.arange(len(blocked))
            return j + int(np.searchsorted(before, j, side="right"))
        if lab not in self.list_cache:
            near = self.near(int(self.cluster_ids[lab]))
            self.list_cache[lab] = near[~np.isin(near, blocked, assume_unique=True)]
        return int(self.list_cache[lab][j])

    def labels_for(self, d: int, labels: np.ndarray) -> np.ndarray:
        """Those of ``labels`` that document ``d`` is a candidate of."""
        row = self.blocked_rows.indices[
            self.blocked_rows.indptr[d] : self.blocked_rows.indptr[d + 1]
        ]
        ok = ~np.isin(labels, row)
        if self.cluster_ids is not None:
            own = self.cluster_ids[self.Y.indices[self.Y.indptr[d] : self.Y.indptr[d + 1]]]
            ok &= np.isin(self.cluster_ids[labels], own[own >= 0])
        return labels[ok]


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
    cand = _NegativeCandidates(Y, topks, cluster_ids)
    out: list[Draw] = []
    for b in bins:
        cand.list_cache.clear()
        members = np.asarray(b.labels, dtype=np.int64)
        counts = np.asarray([cand.count(int(lab)) for lab in members], dtype=np.int64)
        labels, counts = members[counts > 0], counts[counts > 0]
        if len(labels) == 0:
            continue
        capacity = int(counts.sum())
        seen: set[tuple[int, int]] = set()
        attempts = 0
        while len(seen) < min(samples_per_bin, capacity) and attempts < 50 * samples_per_bin:
            attempts += 1
            i = int(rng.integers(len(labels)))
            lab = int(labels[i])
            d = cand.nth(lab, int(rng.integers(int(counts[i]))))
            if (d, lab) in seen:
                continue
            seen.add((d, lab))
            targets: tuple[int, ...] = (lab,)
            if n_targets > 1:
                same_bin = cand.labels_for(d, labels[labels != lab])
                targets = _extra_targets(rng, same_bin, lab, n_targets)
            out.append(Draw(len(out), d, targets, int(label_freq[lab]), b.index))
    return out
