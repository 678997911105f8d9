"""AttentionXML's label tree (You et al., 2019; FastAttentionXML in the authors' code): one
AttentionXML network per tree level, trained level by level, predicting by beam search.

Level 0 is a flat AttentionXML over the top clusters. Each level below scores only
*candidate* nodes: for a training document, the children of the ``beam`` nodes of the level
above that are either positive or ranked best by the levels already trained (AttentionXML's
``top``), padded to a fixed count with random nodes. A label's probability is the product of
the node probabilities on its path (:mod:`plugins.models.label_tree`).

What is shared across levels, and why. Nothing is shared at run time: every level has its
own embedding, BiLSTM, attention vectors (one per node of its level), fully connected layer
and output. A level *starts* as a copy of the trained level above it (embedding, BiLSTM,
FC, output; its node attention starts fresh), as AttentionXML initialises it. Each level
thus begins from features that already separate the coarser clusters and fine-tunes them
to its own finer split, and training a level never disturbs the levels above it, which is
what makes level-wise training (and its candidates) well defined. The price is one
encoder pass per level for every scored text.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from harness.contracts.loss import BoundLoss
from plugins.models.label_tree import (
    LabelTree,
    beam_search,
    children_of,
    dense_log_probs,
    path_log_probs,
    training_candidates,
)
from plugins.models.text_encoder import WordEncoder, length_mask
from plugins.models.torch_common import (
    bucketed_batches,
    pad_ids,
    sorted_batches,
    train_loop,
)

SCORE_CHUNK_ELEMENTS = 1 << 24
"""Attention-score elements (documents x words x nodes) one dense scoring chunk may hold."""


class TreeLevelNet(WordEncoder):
    """One level: the word encoder, one attention vector per node of the level, and the
    shared FC and output that turn each node's context vector into a logit.

    ``sparse``: the node vectors get sparse gradients (levels below the top, which score a
    few hundred of their nodes per document); the top level scores all of its nodes and
    keeps dense gradients.
    """

    def __init__(
        self,
        vocab_size: int,
        emb_dim: int,
        hidden: int,
        layers: int,
        fc: int,
        n_nodes: int,
        emb_dropout: float,
        lstm_dropout: float,
        sparse: bool,
    ):
        super().__init__(vocab_size, emb_dim, hidden, layers, emb_dropout, lstm_dropout)
        self.nodes = nn.Embedding(n_nodes, 2 * hidden, sparse=sparse)
        bound = 1.0 / math.sqrt(2 * hidden)  # as nn.Linear initialises the flat attention
        nn.init.uniform_(self.nodes.weight, -bound, bound)
        self.fc = nn.Sequential(nn.Linear(2 * hidden, fc), nn.ReLU())
        self.out = nn.Linear(fc, 1)

    def head_state(self) -> dict[str, torch.Tensor]:
        """Everything but the node vectors: what the level below starts from."""
        return {k: v for k, v in self.state_dict().items() if not k.startswith("nodes.")}

    def _attend(self, h: torch.Tensor, mask: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        """Logits (B, C) of node vectors ``q`` ((C, 2h) shared, or (B, C, 2h))."""
        if q.dim() == 2:
            scores = h @ q.T  # (B, T, C)
        else:
            scores = torch.bmm(h, q.transpose(1, 2))
        scores = scores.masked_fill(~mask[:, :, None], float("-inf"))
        att = torch.softmax(scores, dim=1)
        context = torch.bmm(att.transpose(1, 2), h)  # (B, C, 2h)
        return self.out(self.fc(context)).squeeze(-1)

    def node_logits(
        self, h: torch.Tensor, mask: torch.Tensor, nodes: torch.Tensor | None
    ) -> torch.Tensor:
        """Logits of ``nodes`` ((B, C), (C,), or None: every node) from encoded words."""
        if nodes is not None:
            return self._attend(h, mask, self.nodes(nodes.to(h.device)))
        weight = self.nodes.weight
        step = max(1, SCORE_CHUNK_ELEMENTS // max(1, h.shape[0] * h.shape[1]))
        if step >= weight.shape[0]:
            return self._attend(h, mask, weight)
        parts = [
            self._attend(h, mask, weight[i : i + step]) for i in range(0, weight.shape[0], step)
        ]
        return torch.cat(parts, dim=1)


class LevelEncodings:
    """A :data:`LevelScorer` for one batch: each level's encoder runs once, on first use.

    With ``track_embeddings`` each level's word vectors are leaves of the autograd graph
    (``embedded``), for gradient saliency through the tree.
    """

    def __init__(
        self,
        nets: Sequence[TreeLevelNet],
        ids: torch.Tensor,
        lengths: torch.Tensor,
        track_embeddings: bool = False,
    ):
        self.nets = nets
        self.ids = ids
        self.lengths = lengths
        self.track = track_embeddings
        self.embedded: list[torch.Tensor] = []
        self._cache: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    @classmethod
    def from_encoded(
        cls, nets: Sequence[TreeLevelNet], hs: Sequence[torch.Tensor], lengths: torch.Tensor
    ) -> LevelEncodings:
        """A scorer over words every level has encoded already (``hs[d]``: (B, T, 2h))."""
        out = cls(nets, torch.zeros(hs[0].shape[:2], dtype=torch.long), lengths)
        for d, h in enumerate(hs):
            out._cache[d] = (h, length_mask(lengths, h.shape[1], h.device))
        return out

    def select(self, rows: Sequence[int]) -> LevelEncodings:
        """The scorer of some of the batch's rows (every level encoded first)."""
        hs = [self._encoded(d)[0][list(rows)] for d in range(len(self.nets))]
        return LevelEncodings.from_encoded(self.nets, hs, self.lengths[list(rows)])

    def _encoded(self, level: int) -> tuple[torch.Tensor, torch.Tensor]:
        if level not in self._cache:
            net = self.nets[level]
            emb = net.embedding(self.ids)
            if self.track:
                emb = emb.detach().requires_grad_(True)
                self.embedded.append(emb)
            h = net.encode_embedded(emb, self.lengths)
            self._cache[level] = (h, length_mask(self.lengths, h.shape[1], h.device))
        return self._cache[level]

    def __call__(self, level: int, nodes: torch.Tensor | None) -> torch.Tensor:
        h, mask = self._encoded(level)
        return self.nets[level].node_logits(h, mask, nodes)


class AttentionXMLTree:
    """The trained levels of a label tree model and how they score texts (token ids)."""

    def __init__(self, tree: LabelTree, nets: Sequence[TreeLevelNet], beam: int):
        self.tree = tree
        self.nets = nn.ModuleList(nets)
        self.beam = beam

    def eval(self) -> AttentionXMLTree:
        self.nets.eval()
        return self

    @property
    def device(self) -> torch.device:
        return next(self.nets.parameters()).device

    def scorer(
        self, ids: torch.Tensor, lengths: torch.Tensor, track: bool = False
    ) -> LevelEncodings:
        return LevelEncodings(list(self.nets), ids.to(self.device), lengths, track)

    def scorer_from(self, hs: Sequence[torch.Tensor], lengths: torch.Tensor) -> LevelEncodings:
        """A scorer over words each level has encoded already (``hs[d]``: (B, T, 2h))."""
        return LevelEncodings.from_encoded(list(self.nets), hs, lengths)

    # -- scoring (no autograd) -------------------------------------------------------------
    @torch.no_grad()
    def topk(
        self, ids: torch.Tensor, lengths: torch.Tensor, k: int, labels: Sequence[int]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Beam top-k (labels, probabilities) and the exact probabilities of ``labels``."""
        return self.topk_from(self.scorer(ids, lengths), k, labels)

    @torch.no_grad()
    def topk_from(
        self, score: LevelEncodings, k: int, labels: Sequence[int]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`topk` with a batch's scorer."""
        top, top_logp = beam_search(self.tree, score, self.beam, k)
        if len(labels):
            asked = torch.exp(path_log_probs(self.tree, score, labels)).float().cpu().numpy()
        else:
            asked = np.zeros((score.lengths.shape[0], 0), dtype=np.float32)
        return (
            top.cpu().numpy().astype(np.int64),
            torch.exp(top_logp).float().cpu().numpy(),
            asked,
        )

    @torch.no_grad()
    def dense(self, ids: torch.Tensor, lengths: torch.Tensor) -> np.ndarray:
        """(B, L) exact path products of every label."""
        return self.dense_from(self.scorer(ids, lengths))

    @torch.no_grad()
    def dense_from(self, score: LevelEncodings) -> np.ndarray:
        """:meth:`dense` with a batch's scorer."""
        return torch.exp(dense_log_probs(self.tree, score)).float().cpu().numpy()

    def saliency(
        self, ids: torch.Tensor, lengths: torch.Tensor, labels: Sequence[int], sign: float
    ) -> torch.Tensor:
        """(T,) L2 norm, over each word's vectors at every level together, of the gradient
        of ``sign * Σ_j p(j)`` (exact path products) with respect to them."""
        score = self.scorer(ids, lengths, track=True)
        with torch.backends.cudnn.flags(enabled=False):
            target = sign * torch.exp(path_log_probs(self.tree, score, labels)).sum()
            grads = torch.autograd.grad(target, score.embedded)
        return torch.sqrt(sum(g[0].pow(2).sum(dim=-1) for g in grads))

    # -- persistence -----------------------------------------------------------------------
    def tensors(self) -> dict[str, np.ndarray]:
        out = dict(self.tree.tensors())
        for d, net in enumerate(self.nets):
            for key, value in net.state_dict().items():
                out[f"level{d}.{key}"] = value.detach().cpu().contiguous().numpy().copy()
        return out

    @staticmethod
    def level_tensors(tensors: dict[str, np.ndarray], level: int) -> dict[str, torch.Tensor]:
        prefix = f"level{level}."
        return {
            k[len(prefix) :]: torch.from_numpy(np.asarray(v))
            for k, v in tensors.items()
            if k.startswith(prefix)
        }


# -- level-wise training -------------------------------------------------------------------
def _logit(p: float) -> float:
    p = float(np.clip(p, 1e-6, 0.5))
    return math.log(p / (1 - p))


def _plain_loss(loss: BoundLoss, n_nodes: int) -> BoundLoss:
    """The same per-element loss over the nodes of a cluster level, every node weighing 1:
    label weightings (PW, PW-cb) are defined per label and apply at the label level."""
    return BoundLoss(loss.loss, torch.ones(n_nodes))


def fit_tree(
    tree: LabelTree,
    encoded: Sequence[Sequence[int]],
    Y: sp.csr_matrix,
    loss: BoundLoss,
    *,
    new_net: Callable[[int, bool], TreeLevelNet],
    init_top: Callable[[TreeLevelNet], None],
    options: dict[str, Any],
    epochs: int,
    device: torch.device,
    seed: int,
    progress: bool,
    regime: Any = None,
    encode: Callable[[Sequence[str]], list[int]] | None = None,
) -> AttentionXMLTree:
    """Train the levels top-down as AttentionXML does and return the model.

    ``new_net(n_nodes, sparse)`` builds an untrained level; ``init_top`` initialises the
    top level's embeddings (GloVe). Each lower level starts from the trained level above
    (:meth:`TreeLevelNet.head_state`) and trains on the children of its documents'
    candidate nodes (:func:`plugins.models.label_tree.training_candidates`), taken from a
    beam search through the levels already trained, exactly as prediction will search.
    Every level trains ``epochs`` epochs; its weights are averaged (SWA) over the last
    ``swa_epochs`` of them, at most a third of them, so a short schedule does not average
    in its first, poor weights.

    ``regime`` (an embedding regime, :mod:`harness.regimes`) runs in every level's loop, on
    that level's word vectors; ``encode`` turns a text into token ids for it.
    """
    o = options
    beam = o["beam"]
    lengths = np.array([len(e) for e in encoded])
    rng = np.random.default_rng(seed)
    nets: list[TreeLevelNet] = []
    for d in range(tree.depth):
        last = d == tree.depth - 1
        net = new_net(tree.sizes[d], d > 0)
        if d == 0:
            init_top(net)
        else:
            net.load_state_dict(nets[-1].head_state(), strict=False)
        net = net.to(device)
        targets = tree.level_targets(Y, d)
        level_loss = (loss if last else _plain_loss(loss, tree.sizes[d])).to(device)
        level = LevelBatches(net, encoded, targets, level_loss, device, encode)
        if d == 0:
            density = targets.nnz / max(1, targets.shape[0] * targets.shape[1])
            step = _dense_step(net, encoded, targets, level_loss, device)
        else:
            trained = AttentionXMLTree(tree, nets, beam).eval()
            parents = _candidate_parents(trained, encoded, tree, Y, d - 1, beam, o)
            width = beam * tree.max_fanout(d - 1)
            density = _candidate_density(tree, d - 1, parents, targets, width)
            step = _candidate_step(
                net, encoded, tree, d, parents, targets, level_loss, device, width, rng
            )
            level.candidates = partial(_level_candidates, tree, d - 1, parents, width, rng)
        with torch.no_grad():
            net.out.bias.fill_(_logit(density))
        swa = min(o["swa_epochs"], max(1, math.ceil(epochs / 3))) if o["swa_epochs"] else 0
        train_loop(
            [p for n, p in net.named_parameters() if n != "nodes.weight" or d == 0],
            lambda r: bucketed_batches(lengths, o["batch_size"], r),
            step,
            epochs=epochs,
            lr=o["lr"],
            weight_decay=o["weight_decay"],
            seed=seed + d,
            progress=progress,
            desc=f"attentionxml level {d + 1}/{tree.depth}",
            modules=[net],
            sparse_params=[net.nodes.weight] if d > 0 else [],
            average_from=max(1, epochs - swa + 1) if swa else 0,
            average_every=o["swa_every"],
            loss=level_loss,
            regime=regime,
            parts=level if regime is not None else None,
        )
        nets.append(net.eval())
    return AttentionXMLTree(tree, nets, beam).eval()


def _level_candidates(
    tree: LabelTree,
    parent_level: int,
    parents: np.ndarray,
    width: int,
    rng: np.random.Generator,
    rows: np.ndarray,
) -> np.ndarray:
    return _candidate_nodes(tree, parent_level, parents[rows], width, rng)


class LevelBatches:
    """One level's training batches for a regime (:class:`harness.regimes.steps.BatchParts`):
    token ids, lengths, the nodes scored (all of the top level's; a lower level's
    candidates, drawn once per batch as the plain step draws them) and their targets."""

    def __init__(
        self,
        net: TreeLevelNet,
        encoded: Sequence[Sequence[int]],
        targets: sp.csr_matrix,
        loss: BoundLoss,
        device: torch.device,
        encode: Callable[[Sequence[str]], list[int]] | None,
    ):
        self.net = net
        self.encoded = encoded
        self.targets = targets
        self.loss_fn = loss
        self.device = device
        self.encode = encode
        self.candidates: Callable[[np.ndarray], np.ndarray] | None = None

    def batch(self, rows: np.ndarray, texts: Sequence[Sequence[str]] | None = None) -> Any:
        if texts is None:
            seqs = [self.encoded[i] for i in rows]
        elif self.encode is None:
            raise ValueError("this level was given no encoder for texts")
        else:
            seqs = [self.encode(t) for t in texts]
        ids, lens = pad_ids(seqs)
        y = self.targets[rows].toarray()
        if self.candidates is None:
            return ids.to(self.device), lens, None, torch.from_numpy(y).to(self.device)
        nodes = self.candidates(rows)
        y = np.take_along_axis(y, nodes, axis=1)
        return (
            ids.to(self.device),
            lens,
            torch.from_numpy(nodes).to(self.device),
            torch.from_numpy(y).to(self.device),
        )

    def embed(self, batch: Any) -> torch.Tensor:
        return self.net.embedding(batch[0])

    def loss(self, batch: Any, embedded: torch.Tensor) -> torch.Tensor:
        _, lens, nodes, y = batch
        h = self.net.encode_embedded(embedded, lens)
        logits = self.net.node_logits(h, length_mask(lens, h.shape[1], self.device), nodes)
        if nodes is None:
            return self.loss_fn(logits, y)
        return self.loss_fn(logits, y, columns=nodes)


def _dense_step(
    net: TreeLevelNet,
    encoded: Sequence[Sequence[int]],
    targets: sp.csr_matrix,
    loss: BoundLoss,
    device: torch.device,
) -> Callable[[np.ndarray], torch.Tensor]:
    def step(rows: np.ndarray) -> torch.Tensor:
        ids, lens = pad_ids([encoded[i] for i in rows])
        h = net.encode(ids.to(device), lens)
        logits = net.node_logits(h, length_mask(lens, h.shape[1], device), None)
        y = torch.from_numpy(targets[rows].toarray()).to(device)
        return loss(logits, y)

    return step


def _candidate_parents(
    trained: AttentionXMLTree,
    encoded: Sequence[Sequence[int]],
    tree: LabelTree,
    Y: sp.csr_matrix,
    level: int,
    beam: int,
    o: dict[str, Any],
) -> np.ndarray:
    """(N, beam) nodes of ``level`` per training document: positives and the best ranked."""
    n = min(beam, tree.sizes[level])
    predicted = np.full((len(encoded), n), -1, dtype=np.int64)
    with torch.no_grad():
        for rows in sorted_batches([len(e) for e in encoded], o["eval_batch_size"]):
            ids, lens = pad_ids([encoded[i] for i in rows])
            score = trained.scorer(ids, lens)
            top, _ = beam_search(tree, score, beam, n, level=level)
            predicted[rows] = top.cpu().numpy()
    return training_candidates(predicted, tree.level_targets(Y, level), n)


def _candidate_nodes(
    tree: LabelTree,
    parent_level: int,
    parents: np.ndarray,
    width: int,
    rng: np.random.Generator | None,
) -> np.ndarray:
    """Children of each row's candidate parents, (B, width); slots without a child get a
    random node of the level (AttentionXML's padding) or, without ``rng``, -1."""
    kids = children_of(tree, parent_level, torch.from_numpy(parents)).numpy()
    kids = (
        kids[:, :width]
        if kids.shape[1] >= width
        else np.pad(kids, ((0, 0), (0, width - kids.shape[1])), constant_values=-1)
    )
    if rng is not None:
        empty = kids < 0
        kids[empty] = rng.integers(0, tree.sizes[parent_level + 1], size=int(empty.sum()))
    return kids


def _candidate_density(
    tree: LabelTree, parent_level: int, parents: np.ndarray, targets: sp.csr_matrix, width: int
) -> float:
    """Share of positive nodes among the real candidates (the output bias starts there)."""
    kids = _candidate_nodes(tree, parent_level, parents, width, None)
    rows = np.repeat(np.arange(kids.shape[0]), kids.shape[1])
    valid = kids.ravel() >= 0
    if not valid.any():
        return 0.5
    picked = sp.csr_matrix(
        (np.ones(int(valid.sum()), dtype=np.float32), (rows[valid], kids.ravel()[valid])),
        shape=targets.shape,
    )
    return float(picked.multiply(targets).sum()) / float(valid.sum())


def _candidate_step(
    net: TreeLevelNet,
    encoded: Sequence[Sequence[int]],
    tree: LabelTree,
    level: int,
    parents: np.ndarray,
    targets: sp.csr_matrix,
    loss: BoundLoss,
    device: torch.device,
    width: int,
    rng: np.random.Generator,
) -> Callable[[np.ndarray], torch.Tensor]:
    def step(rows: np.ndarray) -> torch.Tensor:
        ids, lens = pad_ids([encoded[i] for i in rows])
        nodes = _candidate_nodes(tree, level - 1, parents[rows], width, rng)
        h = net.encode(ids.to(device), lens)
        nodes_t = torch.from_numpy(nodes).to(device)
        logits = net.node_logits(h, length_mask(lens, h.shape[1], device), nodes_t)
        y = np.take_along_axis(targets[rows].toarray(), nodes, axis=1)
        return loss(logits, torch.from_numpy(y).to(device), columns=nodes_t)

    return step
