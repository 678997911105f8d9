"""AttentionXML (You et al., 2019), flat variant: GloVe embeddings, a BiLSTM, label-wise
attention and shared fully connected layers down to one logit per label (docs/method.md).

Paper sizes: 300-d GloVe, hidden 256 per direction (Wiki10-31K; 512 for AmazonCat-13K),
FC 256, max length 500, dropout 0.2 on embeddings and 0.5 after the BiLSTM, weights
averaged (SWA) late in training. The defaults here are CPU-sized, chosen by measurement on
Reuters-21578 (bench/README.md): 50-d packaged GloVe, hidden 128, FC 128, 300 words, batch
64, 12 epochs with the weights averaged over the last 4. Hidden 64 trains twice as fast but
stalls near P@1 0.89; hidden 128 reaches 0.93. Pass ``embeddings=/path/glove.840B.300d.txt
hidden=256 fc_size=256 max_words=500`` to get the paper's configuration.

Flat attention keeps, per document and per label, attention weights over time and a
context vector, so training memory grows with ``L x (T + 2h + fc)``; beyond
``max_activation_mb`` the model refuses to train rather than swap the machine to death.
For large label sets the model is AttentionXML's label tree instead (``tree=auto|on``,
:mod:`plugins.models.attentionxml_tree`): one AttentionXML network per tree level, each
scoring only the children of the best nodes of the level above. With the tree off (and
``auto`` below its threshold) the flat model and its checkpoints are exactly as before.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from harness import hookimpl
from harness.checkpoint import CheckpointMismatch
from harness.components import Component, Option
from harness.contracts.model import Words, XMTCModel
from harness.errors import UsageError
from harness.ranking import UNKNOWN_RANK, TopK
from plugins.common.glove import DEFAULT as GLOVE_DEFAULT
from plugins.common.glove import load_glove
from plugins.models.attentionxml_tree import AttentionXMLTree, TreeLevelNet, fit_tree
from plugins.models.fast_inference import MODES, compiled_copy, compiler_available, int8_copy
from plugins.models.label_tree import (
    LabelTree,
    balanced_cluster_size,
    build_label_tree,
    label_vectors,
)
from plugins.models.reuse import KeptText, ReusePlanner, ReuseStats
from plugins.models.text_encoder import (  # noqa: F401  (BiLSTM, reverse_within_length: re-exported)
    BiLSTM,
    FirstLayerStates,
    Reused,
    WordEncoder,
    length_mask,
    reverse_within_length,
)
from plugins.models.torch_common import (
    bucketed_batches,
    dense_rows,
    ids_key,
    load_module_tensors,
    module_tensors,
    pad_ids,
    resolve_device,
    seed_everything,
    sorted_batches,
    train_loop,
    training_options,
)
from plugins.models.word_ids import WordIds

PAD, UNK = "<pad>", "<unk>"
log = logging.getLogger(__name__)


class AttentionXMLNet(WordEncoder):
    """Embedding -> BiLSTM -> label-wise attention -> shared FC -> one logit per label.

    The encoder part is :class:`WordEncoder`'s (its parameters keep their flat names:
    ``embedding.weight``, ``lstm.*``), so checkpoints are unchanged.
    """

    def __init__(
        self,
        vocab_size: int,
        emb_dim: int,
        hidden: int,
        layers: int,
        fc: int,
        n_labels: int,
        emb_dropout: float,
        lstm_dropout: float,
        label_bias: bool = False,
    ):
        super().__init__(vocab_size, emb_dim, hidden, layers, emb_dropout, lstm_dropout)
        self.attention = nn.Linear(2 * hidden, n_labels, bias=False)
        self.fc = nn.Sequential(nn.Linear(2 * hidden, fc), nn.ReLU())
        self.out = nn.Linear(fc, 1)
        # The shared layers give every label the same offset; a per-label bias lets the
        # model hold each label's base rate without routing it through the attention.
        self.label_bias = nn.Parameter(torch.zeros(n_labels)) if label_bias else None

    def forward_embedded(self, emb: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Logits (B, L) from word embeddings (B, T, e); split out for gradient saliency."""
        h = self.encode_embedded(emb, lengths)  # (B, T, 2h)
        mask = length_mask(lengths, emb.shape[1], emb.device)
        scores = self.attention(h)  # (B, T, L)
        scores = scores.masked_fill(~mask[:, :, None], float("-inf"))
        att = torch.softmax(scores, dim=1)
        context = torch.einsum("btl,bth->blh", att, h)  # (B, L, 2h)
        logits = self.out(self.fc(context)).squeeze(-1)
        return logits if self.label_bias is None else logits + self.label_bias

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.forward_embedded(self.embedding(ids), lengths)

    # -- inference (no autograd, eval mode) ---------------------------------------------------
    # The FC layer is linear before its ReLU and the attention weights of a label sum to 1,
    # so FC(Σ_t a_t h_t) = ReLU(Σ_t a_t (W h_t) + b): one product of the words' context
    # vectors with the stacked attention vectors and FC weights (``projection``, (L + fc)
    # rows) gives both the attention scores and the words' FC inputs, and the per-label
    # context (L x 2h) is never formed. The same algebra as ``forward``, rounded differently.

    def _head(self) -> torch.Tensor:
        """(L + fc, 2h): the label attention vectors over the FC weights."""
        return torch.cat([self.attention.weight, self.fc[0].weight], dim=0)

    def logits_from_projection(
        self, P: torch.Tensor, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Logits (B, L) from ``P`` (B, L + fc, T) = head @ context vectors (zero at padding);
        ``mask`` (B, T) marks the real steps when some row is shorter than T."""
        n_labels = self.attention.out_features
        scores = P[:, :n_labels]
        if mask is not None:
            scores = scores.masked_fill(~mask[:, None, :], float("-inf"))
        att = torch.softmax(scores, dim=-1)  # (B, L, T)
        z = torch.relu(torch.matmul(att, P[:, n_labels:].transpose(1, 2)) + self.fc[0].bias)
        logits = torch.matmul(z, self.out.weight[0]) + self.out.bias
        return logits if self.label_bias is None else logits + self.label_bias

    def _chunks(self, lengths: list[int], width: int) -> list[list[int]]:
        """Rows in groups whose projections (L + fc) x T stay near a core's cache."""
        rows = max(1, HEAD_CHUNK_BYTES // (4 * width * (self._head_rows())))
        order = sorted(range(len(lengths)), key=lambda i: lengths[i])
        return [order[i : i + rows] for i in range(0, len(order), rows)]

    def _head_rows(self) -> int:
        return self.attention.out_features + self.fc[0].out_features

    def logits_from_context(self, h: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Logits (B, L) from context vectors (B, T, 2h), zero at padding."""
        head = self._head()
        lens = lengths.tolist()
        out = h.new_empty(h.shape[0], self.attention.out_features)
        for chunk in self._chunks(lens, max(lens)):
            width = max(lens[i] for i in chunk)
            P = torch.matmul(head, h[chunk, :width].transpose(1, 2))
            out[chunk] = self.logits_from_projection(P, _ragged(lengths[chunk], width))
        return out

    def infer(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Logits (B, L), as ``forward`` gives them in eval mode."""
        return self.logits_from_context(self.encode(ids, lengths), lengths)

    def infer_base(
        self, ids: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, list[FirstLayerStates]]:
        """:meth:`infer`, and each row's states for reuse; with one BiLSTM layer they include
        each direction's share of the projection (``pf``/``pb``, (L + fc, n)), which
        reusing texts take as they are wherever their outputs are the kept text's."""
        h, states = self.encode_base(ids, lengths)
        if len(self.lstm.forward_layers) == 1:
            head = self._head()
            hidden = h.shape[-1] // 2
            for st in states:
                st.extra["pf"] = head[:, :hidden] @ st.forward.out.T
                st.extra["pb"] = head[:, hidden:] @ st.backward.out.flip(0).T
        return self.logits_from_context(h, lengths), states

    def infer_reusing(
        self, ids: torch.Tensor, lengths: torch.Tensor, reuses: list[Reused]
    ) -> torch.Tensor:
        """:meth:`infer` for texts sharing words with kept ones (:meth:`encode_reusing`);
        with one layer, the projection too is recomputed only where an output changed."""
        if len(self.lstm.forward_layers) > 1 or any("pf" not in r.states.extra for r in reuses):
            return self.logits_from_context(self.encode_reusing(ids, lengths, reuses), lengths)
        self._check_eval()
        ahead, behind = self.first_layer_update(self.embedding(ids), lengths, reuses)
        head = self._head()
        hidden = self.lstm.forward_layers[0].hidden_size
        head_f, head_b = head[:, :hidden], head[:, hidden:]
        lens = lengths.tolist()
        out = head.new_empty(len(lens), self.attention.out_features)
        for chunk in self._chunks(lens, max(lens)):
            width = max(lens[i] for i in chunk)
            P = head.new_zeros(len(chunk), head.shape[0], width)
            # Outputs inside the shared prefix (suffix) are the kept text's, and so are
            # their projections: only positions prefix..n-1 of the forward direction and
            # 0..n-suffix-1 of the backward one are projected, in one product each.
            rs = [reuses[i] for i in chunk]
            new_f = [ahead[i][r.prefix - r.forward_steps :] for i, r in zip(chunk, rs, strict=True)]
            new_b = [
                behind[i][r.suffix - r.backward_steps :].flip(0)
                for i, r in zip(chunk, rs, strict=True)
            ]
            qfs = torch.split(head_f @ torch.cat(new_f).T, [x.shape[0] for x in new_f], 1)
            qbs = torch.split(head_b @ torch.cat(new_b).T, [x.shape[0] for x in new_b], 1)
            for j, (i, r) in enumerate(zip(chunk, rs, strict=True)):
                n = lens[i]
                a, cut = r.prefix, n - r.suffix
                pf, pb = r.states.extra["pf"], r.states.extra["pb"]
                shift = pf.shape[1] - n
                fwd = torch.cat([pf[:, :a], qfs[j]], dim=1) if a else qfs[j]
                bwd = qbs[j]
                if cut < n:
                    bwd = torch.cat([bwd, pb[:, cut + shift : n + shift]], dim=1)
                torch.add(fwd, bwd, out=P[j, :, :n])
            out[chunk] = self.logits_from_projection(P, _ragged(lengths[chunk], width))
        return out


def _ragged(lengths: torch.Tensor, width: int) -> torch.Tensor | None:
    """The (B, width) mask of real steps, or None when every row is ``width`` long."""
    if bool((lengths < width).any()):
        return length_mask(lengths, width, lengths.device)
    return None


HEAD_CHUNK_BYTES = 1 << 20
"""Projection bytes ((L + fc) x T floats per text) scored at once. The label-wise attention
reads and writes several arrays of that size; batched over 48 texts of 150 words with
Reuters' 429 labels it ran 1.7x slower per text than one to four texts at a time (the
arrays leave the cache), measured on the 2-core benchmark machine."""


class FlatBatches:
    """The flat network's training batches for a regime
    (:class:`harness.regimes.steps.BatchParts`): token ids, lengths and label rows; texts
    standing in for rows are read through the model's vocabulary, as the attack's are."""

    def __init__(self, model: AttentionXML, encoded: Sequence[list[int]], Y: sp.csr_matrix, loss):
        self.model = model
        self.encoded = encoded
        self.Y = Y
        self.loss_fn = loss

    def batch(
        self, rows: np.ndarray, texts: Sequence[Sequence[str]] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        dev = self.model.device
        seqs = (
            [self.encoded[i] for i in rows] if texts is None else [self.model.ids(t) for t in texts]
        )
        ids, lens = pad_ids(seqs)
        return ids.to(dev), lens, dense_rows(self.Y, rows, dev)

    def embed(self, batch: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> torch.Tensor:
        return self.model._require_net().embedding(batch[0])

    def loss(
        self, batch: tuple[torch.Tensor, torch.Tensor, torch.Tensor], embedded: torch.Tensor
    ) -> torch.Tensor:
        net = self.model._require_net()
        return self.loss_fn(net.forward_embedded(embedded, batch[1]), batch[2])


TREE_AUTO_LABELS = 2000
"""``tree=auto`` trains the label tree above this many labels. Measured per training step
(300 words, batch 64, default sizes; bench/README.md), a flat step costs 0.7x the tree's
(both levels and the candidate pass) at 429 labels, 1.1x at 1,000, 1.8x at 2,000 and 3.5x
at 4,000, and grows with L while the tree's barely moves; below about 2,000 labels the
flat model, exact and a little better, is kept."""

TREE_WORDS_PER_LEVEL = 30_000_000
"""``tree_epochs=0`` trains each tree level ``epochs`` epochs, or fewer when that would read
more than this many words (after truncation): Reuters-21578 (1.7M words) keeps 12, a
Wiki10-31K-sized corpus (5M) gets 6, the most that fits 90 minutes on 2 CPU cores."""


class AttentionXML(XMTCModel):
    """AttentionXML on the harness word lists, flat or as a label tree; white-box
    (embedding gradients).

    Besides the interface every model has, it answers sparse queries
    (:meth:`predict_topk`): the top-k labels and the scores of chosen labels, at a cost
    that grows with the beam and the labels asked rather than with L when it is a tree.
    """

    mask_token = UNK
    supports_gradients = True
    training_regimes = ("embedding", "substitution")
    reuse_states: bool = True
    """Score a text that shares a prefix or a suffix with a recently scored one from that
    text's kept BiLSTM states (:mod:`plugins.models.reuse`): the same scores up to float
    rounding, for less work. Ignored while ``pad_to`` is set (a fixed-length reference
    implementation encodes every text in full)."""

    def __init__(self, **options: Any):
        super().__init__(**options)
        self.max_words = int(options["max_words"])
        self.vocab: list[str] = []
        self.index: dict[str, int] = {}
        self.net: AttentionXMLNet | None = None
        self.tree_model: AttentionXMLTree | None = None
        self.device = resolve_device(options["device"])
        self._planner = ReusePlanner()
        self._word_ids: WordIds | None = None
        self.inference = "exact"
        self._fast: AttentionXMLNet | AttentionXMLTree | None = None

    def uses_tree(self, n_labels: int | None = None) -> bool:
        """Whether ``fit`` trains the label tree for this many labels (default: the model's)."""
        mode = self.options["tree"]
        n = self.n_labels if n_labels is None else n_labels
        return mode == "on" or (mode == "auto" and n > TREE_AUTO_LABELS)

    def regimes_in_loop(self) -> tuple[str, ...]:
        """Both regimes run in the flat model's loop; the label tree trains level by level
        and perturbs each level's word vectors, while substitution retrains it in rounds."""
        return ("embedding",) if self.uses_tree() else self.training_regimes

    @property
    def is_tree(self) -> bool:
        """Whether the trained (or loaded) model is a label tree."""
        return self.tree_model is not None

    # -- words -> ids ---------------------------------------------------------------------
    def _build_vocab(self, docs: Sequence[Words]) -> None:
        counts = Counter(w.lower() for d in docs for w in d[: self.max_words])
        keep = [
            w
            for w, c in counts.most_common()
            if c >= self.options["min_count"] and w not in (PAD, UNK)
        ][: self.options["vocab_size"] - 2]
        self.vocab = [PAD, UNK, *keep]
        self.index = {w: i for i, w in enumerate(self.vocab)}

    def id_array(self, words: Words) -> np.ndarray:
        """Token ids of the first ``max_words`` words; an empty document reads as one <unk>."""
        if self._word_ids is None or self._word_ids.vocabulary is not self.index:
            self._word_ids = WordIds(self.index, unknown=1)
        out = self._word_ids(words[: self.max_words])
        return out if out.size else np.ones(1, dtype=np.int64)

    def ids(self, words: Words) -> list[int]:
        """:meth:`id_array` as a list."""
        return self.id_array(words).tolist()

    def cache_key(self, words: Words) -> bytes:
        return ids_key(self.id_array(words))

    # -- construction -----------------------------------------------------------------------
    def _new_net(self, emb_dim: int, label_bias: bool | None = None) -> AttentionXMLNet:
        o = self.options
        return AttentionXMLNet(
            len(self.vocab),
            emb_dim,
            o["hidden"],
            o["lstm_layers"],
            o["fc_size"],
            self.n_labels,
            o["emb_dropout"],
            o["dropout"],
            o["label_bias"] if label_bias is None else label_bias,
        )

    def _new_level(self, emb_dim: int, n_nodes: int, sparse: bool) -> TreeLevelNet:
        o = self.options
        return TreeLevelNet(
            len(self.vocab),
            emb_dim,
            o["hidden"],
            o["lstm_layers"],
            o["fc_size"],
            n_nodes,
            o["emb_dropout"],
            o["dropout"],
            sparse,
        )

    def _init_embeddings(self, net: WordEncoder, rng: np.random.Generator) -> int:
        """GloVe rows for known words, small uniform noise for the rest, zeros for <pad>."""
        glove = load_glove(self.options["embeddings"])
        weight = rng.uniform(-0.25, 0.25, size=(len(self.vocab), glove.dim)).astype(np.float32)
        weight *= float(np.std(glove.vectors)) / 0.144  # match GloVe's spread (U(-a,a): a/√3)
        found = 0
        for i, w in enumerate(self.vocab[2:], start=2):
            v = glove.get(w)
            if v is not None:
                weight[i] = v
                found += 1
        weight[0] = 0.0
        net.embedding.weight.data.copy_(torch.from_numpy(weight))
        return found

    def activation_mb(self, batch_size: int, scored: int | None = None) -> float:
        """Estimated training activation memory of one batch (MB).

        Per document and scored label (all L when flat; a tree level's nodes or candidates)
        the forward keeps attention scores and weights over T steps, a 2h context and an
        FC activation, and backward needs as much again:
        ``4 bytes x 2 x B x scored x (2T + 2h + fc)``.
        """
        o = self.options
        n = self.n_labels if scored is None else scored
        per_doc = n * (2 * self.max_words + 2 * o["hidden"] + o["fc_size"])
        return 4 * 2 * batch_size * per_doc / 2**20

    def tree_epochs(self, n_words: int) -> int:
        """Epochs per tree level for a training set of ``n_words`` words (truncated)."""
        o = self.options
        if o["tree_epochs"]:
            return int(o["tree_epochs"])
        return max(2, min(o["epochs"], TREE_WORDS_PER_LEVEL // max(1, n_words)))

    def tree_shape(self, n_labels: int) -> tuple[int, int]:
        """(levels, labels per deepest cluster) the tree gets for ``n_labels``."""
        o = self.options
        depth = o["tree_depth"]
        size = o["cluster_size"] or balanced_cluster_size(n_labels, o["beam"], depth)
        return depth, size

    def _check_tree_memory(self, tree: LabelTree) -> None:
        o = self.options
        scored = max(
            [tree.sizes[0]] + [o["beam"] * tree.max_fanout(d - 1) for d in range(1, tree.depth)]
        )
        need = self.activation_mb(o["batch_size"], scored)
        if need > o["max_activation_mb"]:
            raise UsageError(
                "model.max_activation_mb",
                f"the AttentionXML label tree (levels of {tree.sizes[:-1]} nodes) scores up "
                f"to {scored} nodes per document and needs about {need:.0f} MB of "
                f"activations per batch of {o['batch_size']} (limit {o['max_activation_mb']} "
                "MB); lower batch_size, beam or cluster_size, add a level (tree_depth), or "
                "raise max_activation_mb",
            )

    def _check_memory(self) -> None:
        need = self.activation_mb(self.options["batch_size"])
        limit = self.options["max_activation_mb"]
        if need > limit:
            raise UsageError(
                "model.max_activation_mb",
                f"flat AttentionXML on {self.n_labels} labels needs about {need:.0f} MB of "
                f"activations per batch of {self.options['batch_size']} (limit {limit} MB); "
                "lower batch_size, max_words or hidden, or raise max_activation_mb",
            )

    # -- training ---------------------------------------------------------------------------
    def fit(
        self,
        docs: Sequence[Words],
        Y: sp.csr_matrix,
        loss: Any,
        *,
        label_names: Sequence[str],
        seed: int = 0,
        progress: bool = True,
        regime: Any = None,
    ) -> AttentionXML:
        o = self.options
        self.label_names = list(label_names)
        self._planner.clear()
        self._fast, self.inference = None, "exact"
        if self.uses_tree():
            return self._fit_tree(docs, Y, loss, seed=seed, progress=progress, regime=regime)
        self._check_memory()
        seed_everything(seed)
        self._build_vocab(docs)
        Y = sp.csr_matrix(Y)
        net = self._new_net(load_glove(o["embeddings"]).dim)
        self._init_embeddings(net, np.random.default_rng(seed))
        # Start the shared output at the mean label density instead of σ = 0.5 for all L
        # labels, so the first epoch learns to tell labels apart rather than to say "no".
        density = float(np.clip(Y.nnz / max(1, Y.shape[0] * Y.shape[1]), 1e-6, 0.5))
        net.out.bias.data.fill_(float(np.log(density / (1 - density))))
        if net.label_bias is not None:  # and each label at its own training frequency
            freq = np.clip(np.asarray(Y.sum(0)).ravel() / max(1, Y.shape[0]), 1e-6, 0.5)
            offset = np.log(freq / (1 - freq)) - np.log(density / (1 - density))
            net.label_bias.data.copy_(torch.from_numpy(offset.astype(np.float32)))
        self.net = net.to(self.device)
        loss = loss.to(self.device)
        encoded = [self.ids(d) for d in docs]
        lengths = np.array([len(e) for e in encoded])

        def step(rows: np.ndarray) -> torch.Tensor:
            ids, lens = pad_ids([encoded[i] for i in rows])
            logits = self.net(ids.to(self.device), lens)
            return loss(logits, dense_rows(Y, rows, self.device))

        train_loop(
            self.net.parameters(),
            lambda rng: bucketed_batches(lengths, o["batch_size"], rng),
            step,
            epochs=o["epochs"],
            lr=o["lr"],
            weight_decay=o["weight_decay"],
            seed=seed,
            progress=progress,
            desc="attentionxml",
            modules=[self.net],
            average_from=max(1, o["epochs"] - o["swa_epochs"] + 1) if o["swa_epochs"] else 0,
            average_every=o["swa_every"],
            loss=loss,
            regime=regime,
            parts=FlatBatches(self, encoded, Y, loss) if regime is not None else None,
        )
        return self

    def _fit_tree(
        self,
        docs: Sequence[Words],
        Y: sp.csr_matrix,
        loss: Any,
        *,
        seed: int,
        progress: bool,
        regime: Any = None,
    ) -> AttentionXML:
        """Level-wise training of the label tree (:func:`fit_tree`)."""
        o = self.options
        if o["label_bias"]:
            raise UsageError(
                "model.label_bias", "the per-label bias belongs to the flat model; use tree=off"
            )
        seed_everything(seed)
        self._build_vocab(docs)
        Y = sp.csr_matrix(Y)
        depth, size = self.tree_shape(self.n_labels)
        tree = build_label_tree(label_vectors(docs, Y), depth=depth, cluster_size=size, seed=seed)
        self._check_tree_memory(tree)
        log.info(
            "attentionxml: label tree over %d labels, levels of %s nodes, beam %d",
            self.n_labels,
            list(tree.sizes[:-1]),
            o["beam"],
        )
        emb_dim = load_glove(o["embeddings"]).dim
        rng = np.random.default_rng(seed)
        encoded = [self.ids(d) for d in docs]
        self.net = None
        self.tree_model = fit_tree(
            tree,
            encoded,
            Y,
            loss,
            new_net=lambda n_nodes, sparse: self._new_level(emb_dim, n_nodes, sparse),
            init_top=lambda net: self._init_embeddings(net, rng),
            options=o,
            epochs=self.tree_epochs(sum(len(e) for e in encoded)),
            device=self.device,
            seed=seed,
            progress=progress,
            regime=regime,
            encode=self.ids,
        )
        return self

    # -- inference --------------------------------------------------------------------------
    def _require_net(self) -> AttentionXMLNet:
        if self.net is None:
            raise RuntimeError("attentionxml: fit() or load_state() first")
        return self.net

    def _require_trained(self) -> None:
        if self.net is None and self.tree_model is None:
            raise RuntimeError("attentionxml: fit() or load_state() first")

    def set_inference(self, mode: str) -> None:
        """``exact`` (the default), or a faster inexact mode (:mod:`fast_inference`):
        ``int8`` (the LSTMs quantised) or ``compile`` (the flat head compiled). Applies to
        scoring (``predict_proba``, ``predict_topk``); saliency stays exact."""
        if mode not in MODES:
            raise UsageError("model.inference", f"{mode!r} is not one of {', '.join(MODES)}")
        self._require_trained()
        self._planner.clear()  # kept states belong to the network that computed them
        self._fast = None
        self.inference = mode
        if mode == "exact":
            return
        if mode == "compile":
            if self.tree_model is not None:
                raise UsageError("model.inference", "compile applies to the flat model only")
            if not compiler_available():
                raise UsageError("model.inference", "compile needs a C++ compiler on PATH")
            self._fast = compiled_copy(self._require_net(), "logits_from_projection")
        elif self.tree_model is not None:
            nets = [int8_copy(net) for net in self.tree_model.nets]
            self._fast = AttentionXMLTree(self.tree_model.tree, nets, self.tree_model.beam)
        else:
            self._fast = int8_copy(self._require_net())

    def _tree(self) -> AttentionXMLTree | None:
        if self.tree_model is None:
            return None
        return self._fast if self._fast is not None else self.tree_model  # type: ignore[return-value]

    def _flat(self) -> AttentionXMLNet:
        net = self._require_net()
        return self._fast if self._fast is not None else net  # type: ignore[return-value]

    def _score_plain(self, ids: torch.Tensor, lens: torch.Tensor) -> Any:
        tree = self._tree()
        if tree is not None:
            return tree.scorer(ids, lens)
        return self._flat().infer(ids, lens)

    def _score_kept(
        self, ids: torch.Tensor, lens: torch.Tensor
    ) -> tuple[Any, list[list[FirstLayerStates]]]:
        """Scores of texts to keep, and each text's states (one entry per encoder)."""
        tree = self._tree()
        if tree is not None:
            encoded = [net.encode_base(ids, lens) for net in tree.nets]
            scorer = tree.scorer_from([h for h, _ in encoded], lens)
            return scorer, [[st[i] for _, st in encoded] for i in range(ids.shape[0])]
        logits, states = self._flat().infer_base(ids, lens)
        return logits, [[st] for st in states]

    def _score_reusing(
        self, ids: torch.Tensor, lens: torch.Tensor, texts: list[KeptText], steps: list
    ) -> Any:
        def reuses(level: int) -> list[Reused]:
            every = self._planner.every
            pairs = zip(texts, steps, strict=True)
            return [Reused(t.states[level], f, b, every) for t, (f, b) in pairs]

        tree = self._tree()
        if tree is not None:
            hs = [net.encode_reusing(ids, lens, reuses(d)) for d, net in enumerate(tree.nets)]
            return tree.scorer_from(hs, lens)
        return self._flat().infer_reusing(ids, lens, reuses(0))

    def _scored(self, docs: Sequence[Words]) -> Iterator[tuple[np.ndarray, Any]]:
        """(rows, scores) for every document, a batch at a time: flat logits (B, L), or a
        tree's level scorer. Reuses kept states (:attr:`reuse_states`) unless ``pad_to``
        is set; the texts run in full, or the re-read parts, are batched by length."""
        self._require_trained()
        (self.net if self.net is not None else self.tree_model).eval()  # type: ignore[union-attr]
        if self._fast is not None:
            self._fast.eval()
        encoded = [self.id_array(d) for d in docs]
        bs = self.options["eval_batch_size"]
        dev = self.device
        if not self.reuse_states or self.pad_to is not None:
            for rows in sorted_batches([len(e) for e in encoded], bs):
                ids, lens = pad_ids([encoded[i] for i in rows], min_len=self.pad_to)
                yield rows, self._score_plain(ids.to(dev), lens)
            return
        plan = self._planner.plan(encoded)
        kept: list[KeptText] = []
        if plan.new_texts:
            ids, lens = pad_ids([t.tolist() for t in plan.new_texts])
            scores, states = self._score_kept(ids.to(dev), lens)
            kept = [self._planner.keep(t, st) for t, st in zip(plan.new_texts, states, strict=True)]
            if plan.equal:
                rows = np.fromiter(plan.equal, dtype=np.int64)
                yield rows, _select(scores, [plan.equal[int(i)] for i in rows])
        todo = [i for i in range(len(docs)) if i not in plan.equal]
        reusing = np.asarray([i for i in todo if plan.source[i] is not None], dtype=np.int64)
        for batch in sorted_batches([len(encoded[i]) for i in reusing], bs):
            rows = reusing[batch]
            ids, lens = pad_ids([encoded[i] for i in rows])
            src = [plan.source[i] for i in rows]
            texts = [kept[s] if isinstance(s, int) else s for s in src]
            yield rows, self._score_reusing(ids.to(dev), lens, texts, [plan.steps[i] for i in rows])
        full = np.asarray([i for i in todo if plan.source[i] is None], dtype=np.int64)
        for batch in sorted_batches([len(encoded[i]) for i in full], bs):
            rows = full[batch]
            ids, lens = pad_ids([encoded[i] for i in rows])
            yield rows, self._score_plain(ids.to(dev), lens)

    def forget_kept_states(self) -> None:
        """Drop every kept text (the attack engine calls this between trials)."""
        self._planner.clear()

    @property
    def reuse_stats(self) -> ReuseStats:
        """What state reuse has saved since the model was built or loaded."""
        return self._planner.stats

    @torch.no_grad()
    def predict_proba(self, docs: Sequence[Words]) -> np.ndarray:
        """Label probabilities; for a tree the exact path product of every label (all
        nodes of every level scored: its cost grows with L, see :meth:`predict_topk`)."""
        out = np.empty((len(docs), self.n_labels), dtype=np.float32)
        for rows, scores in self._scored(docs):
            if self.tree_model is not None:
                out[rows] = self.tree_model.dense_from(scores)  # scores hold the networks
            else:
                out[rows] = torch.sigmoid(scores).float().cpu().numpy()
        return out

    @torch.no_grad()
    def predict_topk(self, docs: Sequence[Words], k: int, labels: Sequence[int] = ()) -> TopK:
        """The model's top-k and the scores of ``labels``, for every document.

        A tree answers with its beam search (the labels it would predict) and the exact path
        products of ``labels``, whether or not the beam kept them; its cost grows with the
        beam and ``len(labels)``, not with L. A label's rank is known when the beam's top-k
        holds it and :data:`UNKNOWN_RANK` otherwise. The flat model answers from its dense
        scores, every rank exact.
        """
        if self.tree_model is None:
            return super().predict_topk(docs, k, labels)
        asked = np.asarray(list(labels), dtype=np.int64)
        if not 1 <= k <= self.n_labels:
            raise ValueError(f"k must be in [1, {self.n_labels}], got {k}")
        if asked.size and (asked.min() < 0 or asked.max() >= self.n_labels):
            raise ValueError(f"labels must be in [0, {self.n_labels})")
        n = len(docs)
        top = np.empty((n, k), dtype=np.int64)
        top_scores = np.empty((n, k), dtype=np.float32)
        label_scores = np.empty((n, asked.size), dtype=np.float32)
        for rows, scores in self._scored(docs):
            top[rows], top_scores[rows], label_scores[rows] = self.tree_model.topk_from(
                scores, k, asked
            )
        hit = top[:, :, None] == asked[None, None, :]
        label_ranks = np.where(hit.any(axis=1), hit.argmax(axis=1) + 1, UNKNOWN_RANK)
        return TopK(top, top_scores, tuple(int(j) for j in asked), label_scores, label_ranks)

    def word_saliency(self, words: Words, labels: Sequence[int], sign: float) -> np.ndarray:
        """L2 norm over each word's embedding of d(sign · Σ_{j∈labels} g_j)/d(embedding);
        for a tree, g_j is the exact path product and the norm runs over the word's
        vectors at every level together."""
        self._require_trained()
        ids, lens = pad_ids([self.ids(words)])
        if self.tree_model is not None:
            self.tree_model.eval()
            sal = self.tree_model.saliency(ids, lens, list(labels), sign)
        else:
            net = self._require_net()
            net.eval()
            emb = net.embedding(ids.to(self.device)).detach().requires_grad_(True)
            # cuDNN's LSTM has no backward in eval mode; the native kernel does.
            with torch.backends.cudnn.flags(enabled=False):
                probs = torch.sigmoid(net.forward_embedded(emb, lens))
                target = sign * probs[0, list(labels)].sum()
                (grad,) = torch.autograd.grad(target, emb)
            sal = grad[0].norm(dim=-1)
        sal_np = sal.detach().cpu().numpy().astype(np.float64)
        out = np.zeros(len(words), dtype=np.float64)
        n = min(len(words), self.max_words)
        out[:n] = sal_np[:n]
        return out

    # -- checkpoint -------------------------------------------------------------------------
    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Flat: the network's tensors, ``vocab`` and ``emb_dim`` (unchanged since the flat
        model's first checkpoints). Tree: every level's tensors (``level<d>.*``), the
        tree's parent arrays (``tree.parents.<d>``), and ``tree`` in the extras."""
        if self.tree_model is not None:
            emb_dim = int(self.tree_model.nets[0].embedding.embedding_dim)
            return self.tree_model.tensors(), {
                "vocab": self.vocab,
                "emb_dim": emb_dim,
                "tree": self.tree_model.tree.meta(self.label_names),
            }
        net = self._require_net()
        return module_tensors(net), {
            "vocab": self.vocab,
            "emb_dim": int(net.embedding.embedding_dim),
        }

    def load_state(self, tensors: dict[str, np.ndarray], extra: dict[str, Any]) -> None:
        """Restore a flat or a tree checkpoint (whichever it holds); a tree is checked
        against this model's label names first."""
        saved_tree = extra.get("tree")
        mode = self.options["tree"]
        self._planner.clear()
        self._fast, self.inference = None, "exact"
        if (saved_tree is not None and mode == "off") or (saved_tree is None and mode == "on"):
            held = "a label tree" if saved_tree is not None else "a flat model"
            raise CheckpointMismatch(f"attentionxml: the checkpoint holds {held} but tree={mode}")
        self.vocab = list(extra["vocab"])
        self.index = {w: i for i, w in enumerate(self.vocab)}
        emb_dim = int(extra["emb_dim"])
        if saved_tree is not None:
            tree = LabelTree.from_state(tensors, saved_tree, self.label_names)
            nets = []
            for d, n_nodes in enumerate(tree.sizes):
                net = self._new_level(emb_dim, n_nodes, d > 0)
                net.load_state_dict(AttentionXMLTree.level_tensors(tensors, d), strict=True)
                nets.append(net.to(self.device))
            self.net = None
            self.tree_model = AttentionXMLTree(tree, nets, self.options["beam"]).eval()
            return
        # Checkpoints from before the option existed have no label_bias tensor.
        net = self._new_net(emb_dim, label_bias="label_bias" in tensors)
        load_module_tensors(net, BiLSTM.keys_from_packed(tensors, "lstm."))
        self.tree_model = None
        self.net = net.to(self.device).eval()


OPTIONS: tuple[Option, ...] = (
    *training_options(epochs=12, batch_size=64, lr=5e-3, max_words=300, max_words_cap=5000),
    Option(
        "embeddings",
        str,
        GLOVE_DEFAULT,
        "Initial word vectors: the packaged 50-d GloVe, or a GloVe text file path (the "
        "paper: 300-d glove.840B).",
    ),
    Option(
        "hidden", int, 128, "BiLSTM hidden size per direction (paper: 256/512).", min=1, max=8192
    ),
    Option("lstm_layers", int, 1, "BiLSTM layers.", min=1, max=8),
    Option(
        "fc_size", int, 128, "Shared fully connected layer size (paper: 256).", min=1, max=16384
    ),
    Option(
        "swa_epochs",
        int,
        4,
        "Average the weights over this many final epochs (SWA, as AttentionXML trains; "
        "snapshots every swa_every steps); 0: off.",
        min=0,
        max=1000,
    ),
    Option("swa_every", int, 50, "Steps between SWA weight snapshots.", min=1, max=1_000_000),
    Option(
        "label_bias",
        bool,
        False,
        "Add a learned per-label bias to the shared output (not in the paper, whose shared "
        "layers give all labels one offset).",
    ),
    Option("emb_dropout", float, 0.2, "Dropout on the embeddings.", min=0.0, max=0.95),
    Option("dropout", float, 0.5, "Dropout after the BiLSTM.", min=0.0, max=0.95),
    Option(
        "min_count",
        int,
        1,
        "Training occurrences a word needs to enter the vocabulary.",
        min=1,
        max=1_000_000,
    ),
    Option(
        "vocab_size", int, 500_000, "Vocabulary cap, <pad>/<unk> included.", min=3, max=10_000_000
    ),
    Option(
        "tree",
        str,
        "auto",
        f"AttentionXML's label tree: on, off (flat), or auto: on above {TREE_AUTO_LABELS:,} "
        "labels, where a flat training step already costs about twice the tree's "
        "(bench/README.md).",
        choices=("auto", "on", "off"),
    ),
    Option(
        "tree_depth",
        int,
        2,
        "Levels of the label tree, the labels included (2: clusters, then labels; "
        "AttentionXML uses 2 up to ~500K labels).",
        min=2,
        max=8,
    ),
    Option(
        "cluster_size",
        int,
        0,
        "Most labels in a deepest cluster of the tree (balanced 2-means leaves); 0: chosen "
        "so each level scores about as many nodes (Reuters: 7, 30,938 labels: 61).",
        min=0,
        max=1_000_000,
    ),
    Option(
        "beam",
        int,
        10,
        "Tree beam width: nodes kept per level when predicting, and the candidate clusters "
        "a lower level trains on (AttentionXML's 'top').",
        min=1,
        max=100_000,
    ),
    Option(
        "tree_epochs",
        int,
        0,
        "Epochs per tree level; 0: the epochs option, fewer on large corpora so a level "
        f"reads at most {TREE_WORDS_PER_LEVEL / 1e6:.0f}M words (Reuters: 12; a "
        "Wiki10-31K-sized corpus: 6, to train within 90 minutes on 2 CPU cores).",
        min=0,
        max=1000,
    ),
    Option(
        "max_activation_mb",
        float,
        8192.0,
        "Refuse to train when the attention's estimated activation memory per batch "
        "exceeds this (MB).",
        min=1.0,
    ),
)


@hookimpl
def xmtc_register_models() -> list[Component]:
    return [
        Component(
            kind="model",
            name="attentionxml",
            description="AttentionXML: GloVe + BiLSTM + label-wise attention + FC, flat or "
            "as a label tree (tree=auto|on|off); paper: 300-d GloVe, hidden 256, FC 256, 500 "
            "words",
            factory=AttentionXML,
            options=OPTIONS,
        )
    ]


def _select(scores: Any, idx: list[int]) -> Any:
    """Rows ``idx`` of flat logits or of a tree's level scorer."""
    return scores[idx] if isinstance(scores, torch.Tensor) else scores.select(idx)
