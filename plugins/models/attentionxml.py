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
``max_activation_mb`` the model refuses to train rather than swap the machine to death
(the paper's label-tree variant for very large label sets is not implemented).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from harness import hookimpl
from harness.components import Component, Option
from harness.contracts.model import Words, XMTCModel
from harness.errors import UsageError
from plugins.common.glove import DEFAULT as GLOVE_DEFAULT
from plugins.common.glove import load_glove
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

PAD, UNK = "<pad>", "<unk>"


def reverse_within_length(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each row's first ``lengths[b]`` steps of ``x`` (B, T, ...) and leave the
    padding after them in place; applying it twice gives ``x`` back."""
    T = x.shape[1]
    t = torch.arange(T, device=x.device)[None, :]
    n = lengths.to(x.device)[:, None]
    index = torch.where(t < n, n - 1 - t, t)  # (B, T)
    return x.gather(1, index.view(*index.shape, *([1] * (x.dim() - 2))).expand_as(x))


class BiLSTM(nn.Module):
    """A bidirectional LSTM over right-padded batches, exact for every row's length.

    ``nn.LSTM`` gets this exactness from packed sequences, but on CPU its packed path
    unrolls in autograd and its backward costs O(T²) memory traffic: the LSTM alone is 4x
    slower than the fused (oneDNN) kernel at 130 words and 8x at 300, a whole training step
    1.7x and 2.8x (bench/README.md). Here each direction
    is a unidirectional ``nn.LSTM`` on a plain padded tensor: trailing padding cannot reach
    the forward direction's real steps, and the backward direction reads every row
    reversed within its length, so both see exactly the words a packed run would.
    """

    def __init__(self, input_size: int, hidden: int, layers: int):
        super().__init__()
        sizes = [input_size] + [2 * hidden] * (layers - 1)
        self.forward_layers = nn.ModuleList(nn.LSTM(n, hidden, batch_first=True) for n in sizes)
        self.backward_layers = nn.ModuleList(nn.LSTM(n, hidden, batch_first=True) for n in sizes)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(B, T, e) -> (B, T, 2h), zero at padded steps (as ``pad_packed_sequence`` gives)."""
        mask = torch.arange(x.shape[1], device=x.device)[None, :] < lengths.to(x.device)[:, None]
        for fwd, bwd in zip(self.forward_layers, self.backward_layers, strict=True):
            ahead, _ = fwd(x)
            behind, _ = bwd(reverse_within_length(x, lengths))
            x = torch.cat([ahead, reverse_within_length(behind, lengths)], dim=-1)
            x = x * mask[:, :, None]
        return x

    @staticmethod
    def keys_from_packed(tensors: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
        """Rename a bidirectional ``nn.LSTM``'s weights (checkpoints written before this
        module existed: ``lstm.weight_ih_l0_reverse``) to this module's names."""
        out = {}
        for key, value in tensors.items():
            if not key.startswith(prefix) or "_layers." in key:
                out[key] = value
                continue
            name = key[len(prefix) :]
            reverse = name.endswith("_reverse")
            name = name.removesuffix("_reverse")
            base, layer = name.rsplit("_l", 1)
            side = "backward_layers" if reverse else "forward_layers"
            out[f"{prefix}{side}.{layer}.{base}_l0"] = value
        return out


class AttentionXMLNet(nn.Module):
    """Embedding -> BiLSTM -> label-wise attention -> shared FC -> one logit per label."""

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
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, emb_dim, padding_idx=0)
        self.emb_drop = nn.Dropout(emb_dropout)
        self.lstm = BiLSTM(emb_dim, hidden, layers)
        self.lstm_drop = nn.Dropout(lstm_dropout)
        self.attention = nn.Linear(2 * hidden, n_labels, bias=False)
        self.fc = nn.Sequential(nn.Linear(2 * hidden, fc), nn.ReLU())
        self.out = nn.Linear(fc, 1)
        # The shared layers give every label the same offset; a per-label bias lets the
        # model hold each label's base rate without routing it through the attention.
        self.label_bias = nn.Parameter(torch.zeros(n_labels)) if label_bias else None

    def forward_embedded(self, emb: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Logits (B, L) from word embeddings (B, T, e); split out for gradient saliency."""
        h = self.lstm_drop(self.lstm(self.emb_drop(emb), lengths))  # (B, T, 2h)
        mask = (
            torch.arange(emb.shape[1], device=emb.device)[None, :] < lengths.to(emb.device)[:, None]
        )
        scores = self.attention(h)  # (B, T, L)
        scores = scores.masked_fill(~mask[:, :, None], float("-inf"))
        att = torch.softmax(scores, dim=1)
        context = torch.einsum("btl,bth->blh", att, h)  # (B, L, 2h)
        logits = self.out(self.fc(context)).squeeze(-1)
        return logits if self.label_bias is None else logits + self.label_bias

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.forward_embedded(self.embedding(ids), lengths)


class AttentionXML(XMTCModel):
    """Flat AttentionXML on the harness word lists; white-box (embedding gradients)."""

    mask_token = UNK
    supports_gradients = True

    def __init__(self, **options: Any):
        super().__init__(**options)
        self.max_words = int(options["max_words"])
        self.vocab: list[str] = []
        self.index: dict[str, int] = {}
        self.net: AttentionXMLNet | None = None
        self.device = resolve_device(options["device"])

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

    def ids(self, words: Words) -> list[int]:
        """Token ids of the first ``max_words`` words; an empty document reads as one <unk>."""
        unk = 1
        out = [self.index.get(w.lower(), unk) for w in words[: self.max_words]]
        return out or [unk]

    def cache_key(self, words: Words) -> bytes:
        return ids_key(self.ids(words))

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

    def _init_embeddings(self, net: AttentionXMLNet, rng: np.random.Generator) -> int:
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

    def activation_mb(self, batch_size: int) -> float:
        """Estimated training activation memory of one batch (MB).

        Per document and label the forward keeps attention scores and weights over T
        steps, a 2h context and an FC activation, and backward needs as much again:
        ``4 bytes x 2 x B x L x (2T + 2h + fc)``.
        """
        o = self.options
        per_doc = self.n_labels * (2 * self.max_words + 2 * o["hidden"] + o["fc_size"])
        return 4 * 2 * batch_size * per_doc / 2**20

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
    ) -> AttentionXML:
        o = self.options
        self.label_names = list(label_names)
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
        )
        return self

    # -- inference --------------------------------------------------------------------------
    def _require_net(self) -> AttentionXMLNet:
        if self.net is None:
            raise RuntimeError("attentionxml: fit() or load_state() first")
        return self.net

    @torch.no_grad()
    def predict_proba(self, docs: Sequence[Words]) -> np.ndarray:
        net = self._require_net()
        net.eval()
        encoded = [self.ids(d) for d in docs]
        out = np.empty((len(docs), self.n_labels), dtype=np.float32)
        for rows in sorted_batches([len(e) for e in encoded], self.options["eval_batch_size"]):
            ids, lens = pad_ids([encoded[i] for i in rows], min_len=self.pad_to)
            out[rows] = torch.sigmoid(net(ids.to(self.device), lens)).float().cpu().numpy()
        return out

    def word_saliency(self, words: Words, labels: Sequence[int], sign: float) -> np.ndarray:
        """L2 norm over each word's embedding of d(sign · Σ_{j∈labels} g_j)/d(embedding)."""
        net = self._require_net()
        net.eval()
        ids, lens = pad_ids([self.ids(words)])
        emb = net.embedding(ids.to(self.device)).detach().requires_grad_(True)
        # cuDNN's LSTM has no backward in eval mode; the native kernel does.
        with torch.backends.cudnn.flags(enabled=False):
            probs = torch.sigmoid(net.forward_embedded(emb, lens))
            target = sign * probs[0, list(labels)].sum()
            (grad,) = torch.autograd.grad(target, emb)
        sal = grad[0].norm(dim=-1).cpu().numpy().astype(np.float64)
        out = np.zeros(len(words), dtype=np.float64)
        n = min(len(words), self.max_words)
        out[:n] = sal[:n]
        return out

    # -- checkpoint -------------------------------------------------------------------------
    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        net = self._require_net()
        return module_tensors(net), {
            "vocab": self.vocab,
            "emb_dim": int(net.embedding.embedding_dim),
        }

    def load_state(self, tensors: dict[str, np.ndarray], extra: dict[str, Any]) -> None:
        self.vocab = list(extra["vocab"])
        self.index = {w: i for i, w in enumerate(self.vocab)}
        # Checkpoints from before the option existed have no label_bias tensor.
        net = self._new_net(int(extra["emb_dim"]), label_bias="label_bias" in tensors)
        load_module_tensors(net, BiLSTM.keys_from_packed(tensors, "lstm."))
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
        "max_activation_mb",
        float,
        8192.0,
        "Refuse to train when the flat attention's estimated activation memory per batch "
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
            description="AttentionXML (flat): GloVe + BiLSTM + label-wise attention + FC; "
            "paper: 300-d GloVe, hidden 256, FC 256, 500 words",
            factory=AttentionXML,
            options=OPTIONS,
        )
    ]
