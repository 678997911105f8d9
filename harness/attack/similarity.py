"""Sentence-encoder similarity shared by every encoder-based constraint (docs/method.md,
"Constraints and similarity").

A plugin supplies only ``encode(texts) -> (N, d) array``; this class adds the parts that must
be the same everywhere: the original's embedding computed once per document, candidates
encoded in batches and cached per text, the raw cosine always reported, and the threshold
applied on the cosine or on the angular scale ``1 - arccos(cos)/π``.

A plugin may also supply an :class:`Incremental` encoder: candidates are the original with a
few words swapped, and an encoder whose output depends on each token's neighbourhood can
re-encode only around the swaps (``use`` does) instead of the whole document.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np

from harness.text import detokenize
from harness.vocab import SimilarityScale, values

SCALES = values(SimilarityScale)

Encoder = Callable[[list[str]], np.ndarray]


class Incremental(Protocol):
    """Encodes word lists that differ from one original in a few positions."""

    def start(self, words: Sequence[str]) -> Any | None:
        """Per-document state, or None to encode this document's candidates in full."""

    def encode(self, state: Any, texts: Sequence[Sequence[str]]) -> np.ndarray:
        """Embeddings of ``texts`` (same length as the original), as ``encode`` would give
        them for their detokenized strings up to float rounding."""


def to_scale(cos: np.ndarray, scale: str) -> np.ndarray:
    """Raw cosine mapped onto ``scale`` (the angular scale lies in [0, 1])."""
    cos = np.asarray(cos, dtype=np.float64)
    if scale == "cosine":
        return cos
    if scale == "angular":
        return 1.0 - np.arccos(np.clip(cos, -1.0, 1.0)) / np.pi
    raise ValueError(f"unknown similarity scale {scale!r}; expected one of {SCALES}")


def _unit_rows(x: np.ndarray) -> np.ndarray:
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms > 0, norms, 1.0)


class EncoderSimilarityCheck:
    """An :class:`EncoderSimilarity` bound to one original document."""

    def __init__(self, parent: EncoderSimilarity, original: list[str]):
        self.parent = parent
        self.original = list(original)
        inc = parent.incremental
        self._inc_state = inc.start(self.original) if inc is not None else None
        if self._inc_state is not None:  # the state already holds what the encoder needs
            self._orig = _unit_rows(inc.encode(self._inc_state, [self.original]))[0]
        else:
            self._orig = _unit_rows(parent.encode([detokenize(self.original)]))[0]
        self._cache: dict[tuple[str, ...], float] = {tuple(self.original): 1.0}

    def similarity(self, texts: Sequence[list[str]]) -> np.ndarray:
        """Raw cosine of each text to the original; new texts are encoded in batches."""
        keys = [tuple(t) for t in texts]
        todo = list(dict.fromkeys(k for k in keys if k not in self._cache))
        bs = self.parent.batch_size
        inc = self.parent.incremental if self._inc_state is not None else None
        for start in range(0, len(todo), bs):
            chunk = todo[start : start + bs]
            if inc is not None and all(len(t) == len(self.original) for t in chunk):
                emb = _unit_rows(inc.encode(self._inc_state, chunk))
            else:
                emb = _unit_rows(self.parent.encode([detokenize(t) for t in chunk]))
            for key, cos in zip(chunk, np.clip(emb @ self._orig, -1.0, 1.0), strict=True):
                self._cache[key] = float(cos)
        return np.array([self._cache[k] for k in keys], dtype=np.float64)

    def scaled(self, texts: Sequence[list[str]]) -> np.ndarray:
        """Similarity on the constraint's own scale (what the threshold is compared with)."""
        return to_scale(self.similarity(texts), self.parent.scale)

    def check(self, texts: Sequence[list[str]], n_changed: Sequence[int]) -> np.ndarray:
        """True where the similarity on the chosen scale is at least the threshold."""
        if len(texts) == 0:
            return np.zeros(0, dtype=bool)
        return self.scaled(texts) >= self.parent.threshold

    def max_changes(self) -> int | None:
        return None


class EncoderSimilarity:
    """A similarity constraint ``sim(S_0, S') >= threshold`` over any sentence encoder."""

    def __init__(
        self,
        encode: Encoder,
        threshold: float = 0.8,
        scale: str = "cosine",
        *,
        name: str = "similarity",
        batch_size: int = 64,
        incremental: Incremental | None = None,
    ):
        if scale not in SCALES:
            raise ValueError(f"unknown similarity scale {scale!r}; expected one of {SCALES}")
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must lie in [0, 1], got {threshold}")
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self.encode = encode
        self.threshold = float(threshold)
        self.scale = scale
        self.name = name
        self.batch_size = batch_size
        self.incremental = incremental

    def start(self, original: list[str]) -> EncoderSimilarityCheck:
        return EncoderSimilarityCheck(self, original)
