"""A probabilistic label tree (PLT) for any model that scores tree nodes: its structure, how
it is built from balanced label clustering, exact path-product scores, beam search, and the
training candidates of each level.

A label's score is the product of the node probabilities on its path, ``p(j) = Π_d
σ(z_d(a_d(j)))`` over its ancestors ``a_d(j)`` at every level (the label itself at the
last), as in Parabel's and AttentionXML's trees. The functions here take the model as a
*level scorer*, ``scorer(level, nodes) -> logits``, and never see its weights, so a model
only has to say how it scores a set of nodes of one level for a batch of documents.

* :func:`path_log_probs` is exact for any labels and costs one scorer call per level on at
  most ``len(labels)`` nodes: it does not grow with the number of labels L.
* :func:`beam_search` is the model's own top-k (level 0 scored whole, then only the
  children of the ``beam`` best nodes of the level above): it grows with the beam.
* :func:`dense_log_probs` scores every node of every level: exact and dense, for small L
  and for tests.

The tree is built from the harness's balanced 2-means label clustering
(:func:`harness.campaign.clustering.cluster_labels`, the clusters ``--cluster`` samples from):
its leaves are the deepest clusters (at most ``cluster_size`` labels each), and further
levels above them cluster those clusters again, each level grouped the same way. Node
numbering within a level follows that function's (sorted) order, so a tree repeats for a
given seed.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Sequence
from functools import cached_property

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize

from harness.campaign.clustering import cluster_labels
from harness.checkpoint import CheckpointMismatch

LevelScorer = Callable[[int, "torch.Tensor | None"], torch.Tensor]
"""``scorer(level, nodes)``: logits of ``nodes`` of ``level`` for every document of a batch.

``nodes`` is a LongTensor (B, C) (one node set per document), (C,) (the same nodes for
every document) or None (every node of the level); the result is (B, C) or (B, n_level).
"""


class LabelTree:
    """Levels of nodes, each node's parent one level up; the last level is the labels.

    ``sizes[d]`` is the number of nodes at level d (``sizes[-1]`` = L labels);
    ``parents[d - 1][i]`` is the level-(d-1) parent of node i of level d, for d >= 1.
    Level 0's nodes hang from an implicit root. Every node above the labels has a child.
    """

    def __init__(self, sizes: Sequence[int], parents: Sequence[np.ndarray]):
        self.sizes = tuple(int(s) for s in sizes)
        self.parents = tuple(np.asarray(p, dtype=np.int64) for p in parents)
        if len(self.sizes) < 2 or len(self.parents) != len(self.sizes) - 1:
            raise ValueError(
                f"a label tree needs >= 2 levels and one parent array per level ≥ 1, "
                f"got sizes {self.sizes} and {len(self.parents)} parent arrays"
            )
        for d, p in enumerate(self.parents, start=1):
            if p.shape != (self.sizes[d],):
                raise ValueError(f"level {d}: {p.shape[0]} parents for {self.sizes[d]} nodes")
            if p.size and (p.min() < 0 or p.max() >= self.sizes[d - 1]):
                raise ValueError(f"level {d}: a parent index is outside level {d - 1}")
            if np.unique(p).size != self.sizes[d - 1]:
                raise ValueError(f"level {d - 1}: a node has no children")

    @property
    def depth(self) -> int:
        return len(self.sizes)

    @property
    def n_labels(self) -> int:
        return self.sizes[-1]

    @cached_property
    def ancestors(self) -> np.ndarray:
        """(depth, L): ``ancestors[d, j]`` is label j's node at level d (j itself at the last)."""
        out = np.empty((self.depth, self.n_labels), dtype=np.int64)
        out[-1] = np.arange(self.n_labels)
        for d in range(self.depth - 2, -1, -1):
            out[d] = self.parents[d][out[d + 1]]
        return out

    @cached_property
    def child_tables(self) -> tuple[np.ndarray, ...]:
        """Per level d < depth-1: (sizes[d] + 1, max fan-out) children of each node, in
        ascending order, padded with -1; the extra last row (all -1) is the children of the
        padding node ``sizes[d]``."""
        tables = []
        for d, p in enumerate(self.parents):
            counts = np.bincount(p, minlength=self.sizes[d])
            table = np.full((self.sizes[d] + 1, int(counts.max())), -1, dtype=np.int64)
            order = np.argsort(p, kind="stable")
            starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
            slot = np.arange(order.size) - np.repeat(starts, counts)
            table[p[order], slot] = order
            tables.append(table)
        return tuple(tables)

    def max_fanout(self, level: int) -> int:
        """The most children a node of ``level`` (< depth-1) has."""
        return int(self.child_tables[level].shape[1])

    def membership(self, level: int) -> sp.csr_matrix:
        """(L, sizes[level]) 0/1 matrix: label j lies under node i of ``level``."""
        cols = self.ancestors[level]
        data = np.ones(self.n_labels, dtype=np.float32)
        return sp.csr_matrix(
            (data, (np.arange(self.n_labels), cols)), shape=(self.n_labels, self.sizes[level])
        )

    def level_targets(self, Y: sp.csr_matrix, level: int) -> sp.csr_matrix:
        """(N, sizes[level]) binary: a node is positive when one of its labels is."""
        if level == self.depth - 1:
            out = sp.csr_matrix(Y, dtype=np.float32, copy=True)
        else:
            out = sp.csr_matrix(Y, dtype=np.float32) @ self.membership(level)
        out.data[:] = 1.0
        out.eliminate_zeros()
        return out.tocsr()

    # -- persistence ---------------------------------------------------------------------
    def tensors(self, prefix: str = "tree.") -> dict[str, np.ndarray]:
        """The parent arrays, for a safetensors file."""
        return {f"{prefix}parents.{d}": p for d, p in enumerate(self.parents, start=1)}

    def meta(self, label_names: Sequence[str]) -> dict[str, object]:
        """JSON description: level sizes and a digest of the label names it was built for."""
        return {"sizes": list(self.sizes), "labels_sha256": labels_digest(label_names)}

    @classmethod
    def from_state(
        cls,
        tensors: dict[str, np.ndarray],
        meta: dict[str, object],
        label_names: Sequence[str],
        prefix: str = "tree.",
    ) -> LabelTree:
        """The tree saved by :meth:`tensors` / :meth:`meta`, checked against ``label_names``.

        Raises :class:`harness.checkpoint.CheckpointMismatch` (one line, naming the
        difference) when the tree was built for another label set.
        """
        sizes = [int(s) for s in meta["sizes"]]  # type: ignore[union-attr]
        if sizes[-1] != len(label_names):
            raise CheckpointMismatch(
                f"label tree: built for {sizes[-1]} labels, but the label set has "
                f"{len(label_names)}"
            )
        digest = labels_digest(label_names)
        if meta.get("labels_sha256") != digest:
            raise CheckpointMismatch(
                f"label tree: built for other label names (digest "
                f"{str(meta.get('labels_sha256'))[:12]}, this label set's {digest[:12]})"
            )
        parents = [tensors[f"{prefix}parents.{d}"] for d in range(1, len(sizes))]
        return cls(sizes, parents)


def labels_digest(label_names: Sequence[str]) -> str:
    """SHA-256 of the label names in order (what a tree is checked against on load)."""
    return hashlib.sha256(json.dumps(list(label_names)).encode()).hexdigest()


# -- building ------------------------------------------------------------------------------
def label_vectors(docs: Sequence[Sequence[str]], Y: sp.csr_matrix) -> sp.csr_matrix:
    """z_l = normalise(Σ_{i: y_il = 1} x_i) over the L2-normalised TF-IDF rows x_i of the
    training documents: the label representation of :mod:`harness.campaign.clustering`
    (which reads a Corpus; a model sees word lists and a label matrix)."""
    texts = [" ".join(d) for d in docs]
    try:
        tfidf = TfidfVectorizer(
            tokenizer=str.split, token_pattern=None, lowercase=True, sublinear_tf=True, min_df=2
        )
        X = tfidf.fit_transform(texts)
    except ValueError:  # no word in two documents (tiny corpora): keep every word
        tfidf = TfidfVectorizer(
            tokenizer=str.split, token_pattern=None, lowercase=True, sublinear_tf=True
        )
        X = tfidf.fit_transform(texts)
    X = normalize(X, norm="l2", axis=1)
    Z = (sp.csr_matrix(Y, dtype=np.float64).T @ X).tocsr()
    return normalize(Z, norm="l2", axis=1)


def upper_fanout(n_leaves: int, depth: int) -> int:
    """Children per node above the deepest clusters, so that the ``depth - 1`` cluster
    levels widen by the same factor: ``ceil(n_leaves ** (1 / (depth - 1)))``."""
    return max(2, math.ceil(n_leaves ** (1.0 / max(1, depth - 1)) - 1e-9))


def build_label_tree(
    Z: sp.csr_matrix, *, depth: int, cluster_size: int, seed: int = 0
) -> LabelTree:
    """A ``depth``-level tree over the rows (labels) of ``Z``.

    The deepest clusters are the leaves of balanced spherical 2-means with at most
    ``cluster_size`` labels; each level above groups the level below, represented by the
    normalised sum of its members' vectors, the same way with :func:`upper_fanout`
    children at most.
    """
    if depth < 2:
        raise ValueError("a label tree has at least 2 levels (clusters, labels)")
    n_labels = Z.shape[0]
    groups = _cluster(Z, cluster_size, seed)
    parents = [_parent_of(groups, n_labels)]
    sizes = [n_labels, len(groups)]
    fan = upper_fanout(len(groups), depth)
    vectors = Z
    for _ in range(depth - 2):
        rows = np.repeat(np.arange(len(groups)), [len(g) for g in groups])
        cols = np.concatenate([np.asarray(g, dtype=np.int64) for g in groups])
        members = sp.csr_matrix(
            (np.ones(cols.size), (rows, cols)), shape=(len(groups), vectors.shape[0])
        )
        vectors = normalize(members @ vectors, norm="l2", axis=1)
        groups = _cluster(vectors, fan, seed)
        parents.append(_parent_of(groups, vectors.shape[0]))
        sizes.append(len(groups))
    return LabelTree(sizes[::-1], parents[::-1])


def _cluster(Z: sp.csr_matrix, max_leaf: int, seed: int) -> list[list[int]]:
    if Z.shape[0] <= max_leaf:
        return [list(range(Z.shape[0]))]
    return cluster_labels(sp.csr_matrix(Z), max_leaf=max(2, max_leaf), seed=seed)


def _parent_of(groups: list[list[int]], n: int) -> np.ndarray:
    out = np.full(n, -1, dtype=np.int64)
    for g, members in enumerate(groups):
        out[members] = g
    if (out < 0).any():
        raise ValueError("the clustering left a node without a group")
    return out


# -- scoring -------------------------------------------------------------------------------
def path_log_probs(tree: LabelTree, scorer: LevelScorer, labels: Sequence[int]) -> torch.Tensor:
    """(B, len(labels)) exact log path products of ``labels``: one scorer call per level on
    the distinct ancestors of the labels (at most ``len(labels)`` nodes each)."""
    labels = np.asarray(labels, dtype=np.int64)
    total: torch.Tensor | None = None
    for d in range(tree.depth):
        nodes, inverse = np.unique(tree.ancestors[d, labels], return_inverse=True)
        z = scorer(d, torch.from_numpy(nodes))
        part = F.logsigmoid(z)[:, torch.from_numpy(inverse.reshape(-1)).to(z.device)]
        total = part if total is None else total + part
    assert total is not None
    return total


def dense_log_probs(tree: LabelTree, scorer: LevelScorer) -> torch.Tensor:
    """(B, L) exact log path products of every label (every node of every level scored)."""
    total: torch.Tensor | None = None
    for d in range(tree.depth):
        z = scorer(d, None)
        part = F.logsigmoid(z)[:, torch.from_numpy(tree.ancestors[d]).to(z.device)]
        total = part if total is None else total + part
    assert total is not None
    return total


def best_first(
    logp: torch.Tensor, nodes: torch.Tensor, n: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``n`` best (node, log p) of each row by descending log p, ties by lower node."""
    by_node = torch.argsort(nodes, dim=1, stable=True)
    nodes, logp = nodes.gather(1, by_node), logp.gather(1, by_node)
    order = torch.argsort(-logp, dim=1, stable=True)[:, :n]
    return nodes.gather(1, order), logp.gather(1, order)


def children_of(tree: LabelTree, level: int, nodes: torch.Tensor) -> torch.Tensor:
    """(B, C) nodes of ``level`` (-1 or ``sizes[level]``: padding) -> (B, C * fan-out)
    children at ``level + 1``, -1 where there is none."""
    table = torch.from_numpy(tree.child_tables[level]).to(nodes.device)
    pad = tree.sizes[level]
    safe = torch.where((nodes < 0) | (nodes >= pad), torch.full_like(nodes, pad), nodes)
    return table[safe].reshape(nodes.shape[0], -1)


def beam_search(
    tree: LabelTree, scorer: LevelScorer, beam: int, k: int, level: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The model's own top-k: (labels (B, k), log p (B, k)), best first, ties by lower index.

    Level 0 is scored whole; at each level below, only the children of the ``max(beam, k)``
    best nodes of the level above (by path product) are scored. With a beam as wide as the
    widest level it scores every node, and the result is the exact top-k. ``level`` stops
    the search at an upper level and returns its top-k nodes instead (training candidates).
    """
    last = tree.depth - 1 if level is None else level
    if not 1 <= k <= tree.sizes[last]:
        raise ValueError(f"k must be in [1, {tree.sizes[last]}], got {k}")
    keep = max(beam, k)
    logp = F.logsigmoid(scorer(0, None))
    nodes = torch.arange(tree.sizes[0], device=logp.device).expand(logp.shape[0], -1)
    for d in range(1, last + 1):
        kept, kept_logp = best_first(logp, nodes, min(keep, nodes.shape[1]))
        cand = children_of(tree, d - 1, kept)
        valid = cand >= 0
        fan = cand.shape[1] // kept.shape[1]
        z = scorer(d, cand.clamp(min=0))
        logp = kept_logp.repeat_interleave(fan, dim=1) + F.logsigmoid(z)
        logp = logp.masked_fill(~valid, float("-inf"))
        nodes = torch.where(valid, cand, torch.full_like(cand, tree.sizes[d]))
    return best_first(logp, nodes, k)


# -- training ------------------------------------------------------------------------------
def training_candidates(predicted: np.ndarray, positives: sp.csr_matrix, n: int) -> np.ndarray:
    """(N, n) nodes of one level whose children a document trains on, -1 where fewer exist.

    AttentionXML's rule: every positive node while there is room, the best predicted
    nodes (``predicted``, best first) after them; when a document has more positives than
    ``n``, the positives the model ranks highest first, then the others in index order.
    """
    positives = sp.csr_matrix(positives)
    out = np.full((predicted.shape[0], n), -1, dtype=np.int64)
    for i in range(predicted.shape[0]):
        pos = positives.indices[positives.indptr[i] : positives.indptr[i + 1]]
        pos_set = set(pos.tolist())
        if len(pos_set) <= n:
            chosen = sorted(pos_set)
            for node in predicted[i]:
                if len(chosen) == n:
                    break
                if node >= 0 and node not in pos_set:
                    chosen.append(int(node))
        else:
            chosen = [int(x) for x in predicted[i] if x in pos_set][:n]
            rest = sorted(pos_set.difference(chosen))
            chosen += rest[: n - len(chosen)]
        out[i, : len(chosen)] = chosen
    return out


def balanced_cluster_size(n_labels: int, beam: int, depth: int) -> int:
    """Labels per deepest cluster that make every level score about as many nodes.

    A level below the top scores ``beam x fan-out`` nodes per document, the top level all
    of its own. With equal fan-outs ``s`` at every level, the top has ``L / s^(depth-1)``
    nodes and each level below ``beam x s``; they match at ``s = (L / beam)^(1/depth)``.
    Balanced 2-means halves, so the deepest level gets the power of two of clusters
    nearest ``L / s``, each of at most ``ceil(L / 2^m)`` labels. (Reuters' 429 labels at
    beam 10 give 64 clusters of 6-7, the clusters ``--cluster`` uses; 30,938 labels give
    512 clusters of 60-61.)
    """
    s = (n_labels / max(1, beam)) ** (1.0 / depth)
    m = max(0, round(math.log2(max(1.0, n_labels / max(1.0, s)))))
    return max(2, math.ceil(n_labels / 2**m))
