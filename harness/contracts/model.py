"""The model contract: the estimator interface every model plugin implements.

A model component's factory returns an untrained :class:`XMTCModel` built from its options,
shaped like a scikit-learn estimator. Training goes through ``fit``, checkpoints through
``state``/``load_state`` (safetensors + JSON, never pickles); the attack's query engine
calls only :meth:`XMTCModel.predict_topk` (by default read off
:meth:`XMTCModel.predict_proba`), :meth:`XMTCModel.word_saliency` and
:meth:`XMTCModel.cache_key`. Models take word lists produced by
:func:`harness.text.tokenize` and map them to their own tokens internally.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from harness.ranking import TopK

Words = Sequence[str]


class XMTCModel(ABC):
    """An extreme multilabel text classifier that the harness can train, save and attack.

    Subclasses set ``max_words`` (the attack truncates documents to it, since later words
    cannot change a prediction), ``mask_token`` (the word that stands for a masked or
    unknown word in importance scoring) and ``supports_gradients``; the constructor takes
    the component's resolved options as keyword arguments and passes them to
    ``super().__init__(**options)``.

    What ``harness.testing.check_model`` holds a model to: probabilities of shape
    ``(len(docs), n_labels)``, float32, in [0, 1]; the same scores for a document whatever
    batch it comes in and in whatever order; the same model and predictions from two fits
    with one seed; words past ``max_words`` change nothing; ``mask_token`` is scored like
    any word; equal cache keys mean equal scores; saliency where ``supports_gradients``
    says so; and a ``state``/``load_state`` round trip through safetensors and JSON that
    predicts exactly as before.
    """

    max_words: int = 500
    mask_token: str = "<unk>"
    supports_gradients: bool = False
    training_regimes: tuple[str, ...] = ()
    """Training regimes ``fit`` runs inside the model's own training loop, when asked with
    the ``regime`` keyword (:mod:`harness.regimes`): ``embedding`` needs it; ``substitution``
    without it retrains the model in rounds. Empty: ``fit`` never gets ``regime``."""
    pad_to: int | None = None
    """Scoring pads every batch to at least this many tokens (a fixed-length
    implementation, as benchmark baselines run); None pads to each batch's longest text.
    Scores do not depend on it; models without padding ignore it."""

    def __init__(self, **options: Any):
        self.options = dict(options)
        self.label_names: list[str] = []

    @property
    def n_labels(self) -> int:
        """The size of the label space (set by ``fit`` or a checkpoint)."""
        return len(self.label_names)

    def regimes_in_loop(self) -> tuple[str, ...]:
        """The regimes ``fit`` will run in its own loop for this model's label space (read
        once ``label_names`` is set); by default :attr:`training_regimes`."""
        return tuple(self.training_regimes)

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
        """Train on word lists and a binary label matrix; returns self.

        :param docs: training documents as word lists.
        :param Y: binary ``(len(docs), n_labels)`` label matrix.
        :param loss: the loss plugin bound to this corpus's label counts
            (:class:`harness.contracts.loss.BoundLoss`): call it on logits and targets; tell
            it ``set_progress(fraction)`` as training advances (deferred re-weighting).
        :param label_names: the label space, kept as ``self.label_names``.
        :param seed: seed every random choice from it (two fits, one seed: one model).
        :param progress: show a progress bar on stderr.
        """

    @abstractmethod
    def predict_proba(self, docs: Sequence[Words]) -> np.ndarray:
        """Label probabilities g(S), shape ``(len(docs), n_labels)``, float32 in [0, 1].

        Batched internally (the batch size is an option), no autograd, eval mode, padded
        only to the longest document of each batch; a document's scores never depend on
        the others in its batch.
        """

    def predict_topk(self, docs: Sequence[Words], k: int, labels: Sequence[int]) -> TopK:
        """The sparse query the attack makes: each document's top-``k`` labels with their
        scores, and the scores and ranks of ``labels`` (a trial's targets).

        The default reads them off :meth:`predict_proba` through the one ranking rule
        (:meth:`harness.ranking.TopK.from_dense`), so every rank is exact. A model that
        cannot afford a dense ``(len(docs), n_labels)`` row per query (a label tree over
        10^5 labels) overrides it: return the top-``k`` list best first (ties to the lower
        label index), the scores of ``labels`` (each target's score even when it is far
        down), and their ranks where known, :data:`harness.ranking.UNKNOWN_RANK` for a
        label outside the list the model ranked (the harness then stores the rank as
        unknown). Scores are float32 like :meth:`predict_proba`'s.
        """
        probs = np.asarray(self.predict_proba(docs), dtype=np.float32)
        return TopK.from_dense(probs, k, labels)

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
