"""Small, real things the conformance checks run plugins against: a keyword corpus, a
plain BCE loss and a keyword model with analytic gradients.

The core never imports a concrete plugin, so the checks bring their own: a model to query
when checking an importance scorer, a loss to train a model with, documents to score.
Everything is deterministic and builds in milliseconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from harness.contracts.loss import LOSS_OPTIONS, Loss
from harness.contracts.model import Words, XMTCModel
from harness.data import Corpus, Document

TOPICS: dict[str, tuple[str, ...]] = {
    "finance": ("profit", "earnings", "revenue", "dividend", "investors", "quarterly"),
    "sport": ("football", "match", "league", "coach", "players", "stadium"),
    "weather": ("rain", "storm", "forecast", "temperature", "wind", "snow"),
    "health": ("doctor", "hospital", "patients", "vaccine", "disease", "treatment"),
    "music": ("guitar", "album", "concert", "singer", "band", "songs"),
    "oil": ("crude", "barrels", "refinery", "pipeline", "drilling", "petroleum"),
    "law": ("court", "judge", "lawsuit", "verdict", "attorney", "trial"),
    "farming": ("wheat", "harvest", "tractor", "cattle", "crops", "farmers"),
    "space": ("rocket", "orbit", "planet", "astronauts", "telescope", "launch"),
    "shipping": ("cargo", "port", "vessel", "freight", "container", "harbor"),
}
"""Ten labels, each with its own real-word vocabulary (every word embedding knows them)."""

FILLER = ("the", "a", "of", "and", "said", "today", "new", "report", "week", "city", ",", ".")

SENTENCE = (
    "The company reported strong quarterly profit and higher revenue from its oil refinery "
    ", while investors expected a larger dividend ."
).split()
"""An original document for substituter and constraint checks."""


def tiny_corpus(n_train: int = 160, n_test: int = 40, seed: int = 0) -> Corpus:
    """Documents of 1-3 topics: their keywords mixed with filler, labels the topics."""
    rng = np.random.default_rng(seed)
    names = sorted(TOPICS)
    docs = []
    for i in range(n_train + n_test):
        k = int(rng.choice([1, 1, 2, 3]))
        labels = tuple(sorted(int(j) for j in rng.choice(len(names), size=k, replace=False)))
        words = [str(w) for j in labels for w in rng.choice(TOPICS[names[j]], size=3)]
        words += [str(w) for w in rng.choice(FILLER, size=8)]
        rng.shuffle(words)
        docs.append(Document(f"doc-{i}", " ".join(words), labels))
    return Corpus("conformance", names, docs[:n_train], docs[n_train:])


class PlainBCE(Loss):
    """Binary cross-entropy from logits, for training models under check."""

    name = "plain-bce"

    def positive(self, z: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.softplus(-z)

    def negative(self, z: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.softplus(z)


def bound_bce(corpus: Corpus) -> Any:
    """:class:`PlainBCE` bound to a corpus's training labels."""
    defaults = {o.name: o.default for o in LOSS_OPTIONS}
    return PlainBCE(**defaults).bind(
        corpus.label_counts, len(corpus.train), corpus.propensity_a, corpus.propensity_b
    )


class KeywordModel(XMTCModel):
    """``g_j(S) = σ(b_j + Σ_words W[w, j] / n)``: a bag of words with fixed weights taken from
    the training counts, so its scores depend on every word and its gradient with respect to
    a word's weight row is exact (``word_saliency``)."""

    max_words = 60
    mask_token = "<unk>"
    supports_gradients = True

    def __init__(self, **options: Any):
        super().__init__(**options)
        self.vocab: dict[str, int] = {}
        self.W = np.zeros((0, 0))
        self.b = np.zeros(0)

    def fit(
        self,
        docs: Sequence[Words],
        Y: sp.csr_matrix,
        loss: Any,
        *,
        label_names: Sequence[str],
        seed: int = 0,
        progress: bool = True,
    ) -> KeywordModel:
        self.label_names = list(label_names)
        words = sorted({w.lower() for d in docs for w in d})
        self.vocab = {w: i for i, w in enumerate(words)}
        X = self._bag(docs)
        Yd = np.asarray(Y.todense(), dtype=np.float64)
        seen = np.maximum(X.sum(axis=0), 1.0)[:, None]
        self.W = 8.0 * ((X.T @ Yd) / seen - Yd.mean(axis=0))
        self.b = np.log(np.clip(Yd.mean(axis=0), 1e-3, 1 - 1e-3)) - 1.0
        return self

    def _bag(self, docs: Sequence[Words]) -> np.ndarray:
        X = np.zeros((len(docs), len(self.vocab)))
        for r, d in enumerate(docs):
            for w in d[: self.max_words]:
                j = self.vocab.get(w.lower())
                if j is not None:
                    X[r, j] += 1.0 / max(1, min(len(d), self.max_words))
        return X

    def predict_proba(self, docs: Sequence[Words]) -> np.ndarray:
        z = self._bag(docs) @ self.W + self.b
        return (1.0 / (1.0 + np.exp(-z))).astype(np.float32)

    def word_saliency(self, words: Words, labels: Sequence[int], sign: float) -> np.ndarray:
        p = self.predict_proba([words])[0].astype(np.float64)
        n = max(1, min(len(words), self.max_words))
        out = np.zeros(len(words))
        for i, w in enumerate(words[: self.max_words]):
            j = self.vocab.get(w.lower())
            if j is not None:
                out[i] = abs(sign * sum(p[k] * (1 - p[k]) * self.W[j, k] for k in labels) / n)
        return out

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        return {"W": self.W, "b": self.b}, {"vocab": sorted(self.vocab, key=self.vocab.get)}

    def load_state(self, tensors: dict[str, np.ndarray], extra: dict[str, Any]) -> None:
        self.W, self.b = tensors["W"], tensors["b"]
        self.vocab = {w: i for i, w in enumerate(extra["vocab"])}


def keyword_model(corpus: Corpus | None = None) -> KeywordModel:
    """A :class:`KeywordModel` fitted on ``corpus`` (default :func:`tiny_corpus`)."""
    corpus = corpus or tiny_corpus()
    return KeywordModel().fit(
        [d.words for d in corpus.train],
        corpus.label_matrix("train"),
        None,
        label_names=corpus.label_names,
    )
