"""A tiny but real XMTC model and corpus for attack tests (trains in about a second).

Usage::

    from tests.helpers.toymodel import train_toy
    toy = train_toy()                 # ToyData: model, docs, Y, label_names, keywords
    probs = toy.model.predict_proba(toy.docs[:4])

:class:`ToyModel` mean-pools ``tanh(H · E[w])`` over the words and applies one linear
layer (``sigmoid(W · mean_i tanh(H E[w_i]) + b)``), trained with Adam on BCE. It implements
the whole :class:`harness.contracts.model.XMTCModel` interface, including ``word_saliency``,
so importance, substitution and search tests run against a model whose predictions really
depend on words.
Words are lower-cased; unknown words and ``mask_token`` map to the same ``<unk>`` row.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from harness.contracts.model import Words, XMTCModel
from harness.data import labels_to_csr

PAD, UNK = "<pad>", "<unk>"


class ToyModel(XMTCModel):
    """Word embedding, a per-word tanh layer, mean pooling and a linear label layer.

    The per-word layer is there so that embedding gradients differ between words (with a
    plain mean of embeddings every word would get the same gradient).
    """

    max_words = 200
    mask_token = UNK
    supports_gradients = True

    def __init__(
        self,
        dim: int = 32,
        epochs: int = 30,
        lr: float = 0.02,
        batch_size: int = 64,
        **options: Any,
    ):
        super().__init__(dim=dim, epochs=epochs, lr=lr, batch_size=batch_size, **options)
        self.dim, self.epochs, self.lr, self.batch_size = dim, epochs, lr, batch_size
        self.vocab: list[str] = [PAD, UNK]
        self.index: dict[str, int] = {PAD: 0, UNK: 1}
        self.emb: nn.Embedding | None = None
        self.hid: nn.Linear | None = None
        self.out: nn.Linear | None = None

    # -- vocabulary -------------------------------------------------------------------------
    def _build(self, vocab: list[str], n_labels: int) -> None:
        self.vocab = list(vocab)
        self.index = {w: i for i, w in enumerate(self.vocab)}
        self.emb = nn.Embedding(len(self.vocab), self.dim, padding_idx=0)
        self.hid = nn.Linear(self.dim, self.dim)
        self.out = nn.Linear(self.dim, n_labels)

    def ids(self, words: Words) -> list[int]:
        """Token ids of ``words`` after truncation to ``max_words`` (unknown -> <unk>)."""
        return [self.index.get(w.lower(), 1) for w in words[: self.max_words]]

    def _head(self, vecs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Logits from word vectors (B, T, d) and a (B, T) mask: mean of tanh(W e_i), linear."""
        assert self.hid is not None and self.out is not None
        h = torch.tanh(self.hid(vecs)) * mask.unsqueeze(-1)
        pooled = h.sum(dim=1) / mask.sum(dim=1, keepdim=True).clamp(min=1.0)
        return self.out(pooled)

    def _logits(self, docs: Sequence[Words]) -> torch.Tensor:
        assert self.emb is not None, "model is not fitted"
        rows = [self.ids(d) for d in docs]
        width = max(1, max((len(r) for r in rows), default=1))  # pad to the longest only
        ids = torch.zeros((len(rows), width), dtype=torch.long)
        for i, r in enumerate(rows):
            ids[i, : len(r)] = torch.tensor(r, dtype=torch.long)
        return self._head(self.emb(ids), (ids != 0).float())

    # -- XMTCModel --------------------------------------------------------------------------
    def fit(
        self,
        docs: Sequence[Words],
        Y: sp.csr_matrix,
        loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None,
        *,
        label_names: Sequence[str],
        seed: int = 0,
        progress: bool = True,
    ) -> ToyModel:
        """Adam on mini-batches; ``loss(logits, targets) -> scalar`` or None for plain BCE."""
        torch.manual_seed(seed)
        self.label_names = list(label_names)
        words = sorted({w.lower() for d in docs for w in d[: self.max_words]} - {PAD, UNK})
        self._build([PAD, UNK, *words], len(self.label_names))
        target = torch.tensor(np.asarray(Y.todense(), dtype=np.float32))
        loss_fn = loss if loss is not None else nn.BCEWithLogitsLoss()
        params = [p for m in (self.emb, self.hid, self.out) for p in m.parameters()]  # type: ignore[union-attr]
        opt = torch.optim.Adam(params, lr=self.lr)
        rng = np.random.default_rng(seed)
        for _ in range(self.epochs):
            order = rng.permutation(len(docs))
            for start in range(0, len(docs), self.batch_size):
                idx = order[start : start + self.batch_size]
                opt.zero_grad()
                value = loss_fn(self._logits([docs[i] for i in idx]), target[idx])
                value.backward()
                opt.step()
        return self

    @torch.no_grad()
    def predict_proba(self, docs: Sequence[Words]) -> np.ndarray:
        out = np.empty((len(docs), self.n_labels), dtype=np.float32)
        for start in range(0, len(docs), self.batch_size):
            chunk = docs[start : start + self.batch_size]
            out[start : start + len(chunk)] = torch.sigmoid(self._logits(chunk)).numpy()
        return out

    def word_saliency(self, words: Words, labels: Sequence[int], sign: float) -> np.ndarray:
        """L2 norm of d(sign · Σ_labels g_j)/d(embedding of word i), zero beyond max_words."""
        assert self.emb is not None and self.out is not None, "model is not fitted"
        ids = torch.tensor(self.ids(words), dtype=torch.long)
        sal = np.zeros(len(words), dtype=np.float64)
        if ids.numel() == 0:
            return sal
        vecs = self.emb(ids).detach().unsqueeze(0).requires_grad_(True)
        probs = torch.sigmoid(self._head(vecs, torch.ones(1, ids.numel())))[0]
        objective = sign * probs[list(labels)].sum()
        (grad,) = torch.autograd.grad(objective, vecs)
        sal[: ids.numel()] = grad[0].norm(dim=1).numpy()
        return sal

    def cache_key(self, words: Words) -> bytes:
        ids = np.asarray(self.ids(words), dtype=np.int64)
        return hashlib.blake2b(ids.tobytes(), digest_size=16).digest()

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        assert self.emb is not None and self.hid is not None and self.out is not None
        tensors = {
            "emb": self.emb.weight.detach().numpy().copy(),
            "hid.weight": self.hid.weight.detach().numpy().copy(),
            "hid.bias": self.hid.bias.detach().numpy().copy(),
            "out.weight": self.out.weight.detach().numpy().copy(),
            "out.bias": self.out.bias.detach().numpy().copy(),
        }
        return tensors, {"vocab": self.vocab, "label_names": self.label_names, "dim": self.dim}

    def load_state(self, tensors: dict[str, np.ndarray], extra: dict[str, Any]) -> None:
        self.dim = int(extra["dim"])
        self.label_names = list(extra["label_names"])
        self._build(list(extra["vocab"]), len(self.label_names))
        with torch.no_grad():
            self.emb.weight.copy_(torch.from_numpy(tensors["emb"]))  # type: ignore[union-attr]
            self.hid.weight.copy_(torch.from_numpy(tensors["hid.weight"]))  # type: ignore[union-attr]
            self.hid.bias.copy_(torch.from_numpy(tensors["hid.bias"]))  # type: ignore[union-attr]
            self.out.weight.copy_(torch.from_numpy(tensors["out.weight"]))  # type: ignore[union-attr]
            self.out.bias.copy_(torch.from_numpy(tensors["out.bias"]))  # type: ignore[union-attr]


# -- synthetic corpus -------------------------------------------------------------------------

TOPICS: dict[str, list[str]] = {
    "finance": ["profit", "earnings", "revenue", "dividend", "investors", "quarterly"],
    "sport": ["football", "match", "goal", "league", "coach", "players"],
    "weather": ["rain", "storm", "forecast", "temperature", "wind", "snow"],
    "health": ["doctor", "hospital", "patients", "vaccine", "disease", "treatment"],
    "music": ["guitar", "album", "concert", "singer", "band", "songs"],
    "cooking": ["recipe", "oven", "flour", "sauce", "kitchen", "baked"],
    "space": ["rocket", "orbit", "planet", "astronauts", "telescope", "launch"],
    "law": ["court", "judge", "lawsuit", "verdict", "attorney", "trial"],
    "farming": ["wheat", "harvest", "tractor", "cattle", "crops", "farmers"],
    "oil": ["crude", "barrels", "refinery", "pipeline", "drilling", "petroleum"],
    "cars": ["engine", "vehicle", "driver", "tires", "brakes", "sedan"],
    "movies": ["film", "actor", "director", "cinema", "script", "studio"],
    "schools": ["teacher", "students", "classroom", "exam", "campus", "lesson"],
    "shipping": ["cargo", "port", "vessel", "freight", "container", "harbor"],
    "elections": ["vote", "ballot", "candidate", "campaign", "parliament", "senator"],
    "computers": ["software", "processor", "laptop", "keyboard", "server", "database"],
    "travel": ["hotel", "airport", "tourists", "flight", "passport", "luggage"],
    "fashion": ["dress", "designer", "fabric", "jacket", "runway", "boutique"],
    "birds": ["eagle", "feathers", "nest", "sparrow", "wings", "migration"],
    "metals": ["copper", "gold", "silver", "aluminum", "zinc", "smelter"],
}
"""Twenty labels, each with its own real-word keyword vocabulary (GloVe knows them all)."""

FILLER = [
    "the", "a", "of", "and", "to", "in", "said", "today", "new", "report", "week",
    "year", "people", "city", "also", "more", "very", "many", ",", ".",
]  # fmt: skip


@dataclass
class ToyData:
    """A trained toy model and the corpus it was trained on."""

    model: ToyModel
    docs: list[list[str]]
    Y: sp.csr_matrix
    label_names: list[str]
    labels: list[tuple[int, ...]]


def make_corpus(
    n_docs: int = 300, seed: int = 0, min_len: int = 12, max_len: int = 24
) -> tuple[list[list[str]], list[tuple[int, ...]], list[str]]:
    """Short documents with 1–3 topics each: keywords of their topics mixed with filler."""
    rng = np.random.default_rng(seed)
    names = list(TOPICS)
    docs: list[list[str]] = []
    labels: list[tuple[int, ...]] = []
    for _ in range(n_docs):
        k = int(rng.choice([1, 1, 2, 2, 3]))
        labs = sorted(int(j) for j in rng.choice(len(names), size=k, replace=False))
        length = int(rng.integers(min_len, max_len + 1))
        words: list[str] = []
        for j in labs:
            words += list(rng.choice(TOPICS[names[j]], size=int(rng.integers(2, 4))))
        words += list(rng.choice(FILLER, size=max(0, length - len(words))))
        rng.shuffle(words)
        docs.append([str(w) for w in words])
        labels.append(tuple(labs))
    return docs, labels, names


def train_toy(n_docs: int = 300, seed: int = 0, epochs: int = 30, dim: int = 32) -> ToyData:
    """Build the synthetic corpus and fit a :class:`ToyModel` on it (about a second on CPU)."""
    docs, labels, names = make_corpus(n_docs, seed)
    Y = labels_to_csr(labels, len(names))
    model = ToyModel(dim=dim, epochs=epochs).fit(
        docs, Y, None, label_names=names, seed=seed, progress=False
    )
    return ToyData(model=model, docs=docs, Y=Y, label_names=names, labels=labels)
