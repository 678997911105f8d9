"""``glove`` substituter: nearest neighbours in GloVe space (the offline default).

Neighbours are ranked by cosine between unit-normalised vectors: one matrix-vector product
over the whole vocabulary and an ``argpartition`` for the top few hundred, cached per word.
GloVe 6B is lower-cased, so candidates take the original word's capitalisation. Nearest
neighbours in co-occurrence space include antonyms ("rose" → "fell"); ``min_cos`` drops
neighbours below an embedding cosine to limit them.
"""

from __future__ import annotations

from collections import OrderedDict
from functools import lru_cache

import numpy as np

from harness import hookimpl
from harness.attack.candidates import filter_candidates, match_case
from harness.components import Component, Option
from plugins.common.glove import DEFAULT, GloveVectors, load_glove


@lru_cache(maxsize=4)
def unit_vectors(source: str) -> np.ndarray:
    """The vocabulary's vectors scaled to unit length (computed once per source)."""
    vecs = load_glove(source).vectors.astype(np.float32)
    norms = np.linalg.norm(vecs, axis=1, keepdims=True)
    return vecs / np.where(norms > 0, norms, 1.0)


class GloveSubstituter:
    """Proposes the K nearest GloVe neighbours of the attacked word."""

    CACHE_WORDS = 20_000
    """Words whose neighbours are kept (least recently used dropped first). An entry is two
    small arrays (~1.6 KB), so the cache stays under ~32 MB and a long campaign's memory
    stops growing once it is full."""

    def __init__(self, vectors: str = DEFAULT, k: int = 48, min_cos: float | None = None):
        self.source = vectors
        self.k = k
        self.min_cos = min_cos
        self.glove: GloveVectors = load_glove(vectors)
        self.unit = unit_vectors(vectors)
        self._pool = max(4 * k, k + 100)  # filtering drops stopwords, punctuation, repeats
        self._cache: OrderedDict[str, tuple[np.ndarray, np.ndarray]] = OrderedDict()

    def neighbours(self, word: str) -> list[tuple[str, float]]:
        """A few hundred (neighbour, cosine) pairs of ``word``, best first, itself excluded."""
        idx, cos = self._neighbour_rows(word)
        words = self.glove.words
        return [(words[i], c) for i, c in zip(idx.tolist(), cos.tolist(), strict=True)]

    def _neighbour_rows(self, word: str) -> tuple[np.ndarray, np.ndarray]:
        """Vocabulary rows and cosines of the neighbours (cached, compact)."""
        key = word.lower()
        hit = self._cache.get(key)
        if hit is not None:
            self._cache.move_to_end(key)
            return hit
        if len(self._cache) >= self.CACHE_WORDS:
            self._cache.popitem(last=False)
        row = self.glove.index.get(word, self.glove.index.get(key))
        if row is None:
            out = (np.empty(0, dtype=np.int32), np.empty(0, dtype=np.float32))
        else:
            cos = self.unit @ self.unit[row]
            top = min(self._pool + 1, cos.shape[0])
            idx = np.argpartition(-cos, top - 1)[:top]
            idx = idx[np.argsort(-cos[idx], kind="stable")]
            idx = idx[idx != row]
            out = (idx.astype(np.int32), cos[idx].astype(np.float32))
        self._cache[key] = out
        return out

    def start(self, original: list[str]) -> GloveSource:
        return GloveSource(self, original)


class GloveSource:
    """Per-document view: GloVe neighbours need no context, so this only applies filters."""

    def __init__(self, parent: GloveSubstituter, original: list[str]):
        self.parent = parent
        self.original = list(original)

    def candidates(self, current: list[str], position: int) -> list[str]:
        word = current[position]
        p = self.parent
        pairs = p.neighbours(word)
        if p.min_cos is not None:
            pairs = [(w, c) for w, c in pairs if c >= p.min_cos]
        cands = [match_case(word, w) for w, _ in pairs]
        return filter_candidates(cands, {word, self.original[position]}, p.k)


def build(vectors: str = DEFAULT, k: int = 48, min_cos: float | None = None) -> GloveSubstituter:
    return GloveSubstituter(vectors=vectors, k=k, min_cos=min_cos)


@hookimpl
def xmtc_register_substituters() -> list[Component]:
    return [
        Component(
            kind="substituter",
            name="glove",
            description=(
                "Offline default: the K nearest GloVe neighbours (cosine) of the word, in its "
                "capitalisation; context-free, so no model runs per document."
            ),
            factory=build,
            options=(
                Option(
                    "vectors",
                    str,
                    DEFAULT,
                    f"{DEFAULT!r} (packaged 6B 50-d) or a GloVe text file path",
                ),
                Option("k", int, 48, "candidates per word (K)", min=1),
                Option(
                    "min_cos",
                    float,
                    None,
                    "drop neighbours whose embedding cosine is below this (e.g. 0.6)",
                    min=-1.0,
                    max=1.0,
                ),
            ),
        )
    ]
