"""The one model interface every model plugin implements, shaped like a scikit-learn estimator.

The attack engine only ever calls :meth:`XMTCModel.predict_proba` (batched label
probabilities for word sequences), :meth:`XMTCModel.word_saliency` (white-box importance)
and :meth:`XMTCModel.cache_key`; training and checkpoints go through ``fit`` and
``state``/``load_state``. Models accept word lists produced by :func:`harness.text.tokenize`
and map them to their own tokens internally.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

Words = Sequence[str]


class XMTCModel(ABC):
    """An extreme multilabel text classifier that the harness can train, save and attack.

    Subclasses set ``max_words`` (the attack truncates documents to it, since later words
    cannot change a prediction), ``mask_token`` (the word that stands for a masked or
    unknown word in importance scoring) and ``supports_gradients``.
    """

    max_words: int = 500
    mask_token: str = "<unk>"
    supports_gradients: bool = False
    pad_to: int | None = None
    """Scoring pads every batch to at least this many tokens (a fixed-length
    implementation, as benchmark baselines run); None pads to each batch's longest text.
    Scores do not depend on it; models without padding ignore it."""

    def __init__(self, **options: Any):
        self.options = dict(options)
        self.label_names: list[str] = []

    @property
    def n_labels(self) -> int:
        return len(self.label_names)

    @abstractmethod
    def fit(
        self,
        docs: Sequence[Words],
        Y: sp.csr_matrix,
        loss: Any,
        *,
        label_names: Sequence[str],
        seed: int = 0,
        progress: bool = True,
    ) -> XMTCModel:
        """Train on word lists and a binary label matrix with a bound loss; returns self."""

    @abstractmethod
    def predict_proba(self, docs: Sequence[Words]) -> np.ndarray:
        """Label probabilities g(S), shape (len(docs), n_labels), float32.

        Batched internally (the batch size is an option), no autograd, eval mode, padded
        only to the longest document of each batch.
        """

    def word_saliency(self, words: Words, labels: Sequence[int], sign: float) -> np.ndarray:
        """White-box importance of each word for ``sign * sum(g_j for j in labels)``.

        One forward and one backward pass; returns one non-negative score per word of
        ``words`` (after truncation to ``max_words``, zeros beyond it). Only models with
        ``supports_gradients`` implement it.
        """
        raise NotImplementedError(f"{type(self).__name__} does not expose embedding gradients")

    def cache_key(self, words: Words) -> bytes:
        """Key under which a score may be cached: two word lists the model cannot tell apart
        (same token ids after truncation) share it. The default keys on the words."""
        joined = "\x1f".join(words[: self.max_words]).encode()
        return hashlib.blake2b(joined, digest_size=16).digest()

    @abstractmethod
    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Tensors (saved as safetensors) and JSON-serialisable extras (vocabulary, sizes)."""

    @abstractmethod
    def load_state(self, tensors: dict[str, np.ndarray], extra: dict[str, Any]) -> None:
        """Restore what :meth:`state` returned, into a model built with the same options."""
