"""Token ids of word lists, memoised per raw word.

Every query an attack sends is a word list, and every model maps each word to an id
(lowercased, looked up in its vocabulary) for its cache key and again to score it: with
hundreds of queries of hundreds of words per trial, that dictionary work per word was a
tenth of a fast model's time. The memo maps each distinct raw word once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np


class WordIds:
    """Vocabulary ids of word lists, lowercased, memoised per raw word.

    Unknown words get ``unknown``, or with ``distinct_unknown`` a negative id of their own
    (``-2, -3, ...``: texts then differ wherever their words differ, not only where the
    vocabulary sees it)."""

    MAX_WORDS = 1_000_000

    def __init__(
        self, vocabulary: Mapping[str, int], unknown: int = -1, distinct_unknown: bool = False
    ):
        self.vocabulary = vocabulary
        self.unknown = unknown
        self.distinct_unknown = distinct_unknown
        self._memo: dict[str, int] = {}
        self._unknown: dict[str, int] = {}

    def __call__(self, words: Sequence[str]) -> np.ndarray:
        memo = self._memo
        try:
            return np.fromiter(map(memo.__getitem__, words), dtype=np.int64, count=len(words))
        except KeyError:
            if len(memo) > self.MAX_WORDS:
                memo.clear()
                self._unknown.clear()
            for w in words:
                if w not in memo:
                    low = w.lower()
                    j = self.vocabulary.get(low)
                    if j is None:
                        j = self.unknown
                        if self.distinct_unknown:
                            j = -2 - self._unknown.setdefault(low, len(self._unknown))
                    memo[w] = j
            return np.fromiter(map(memo.__getitem__, words), dtype=np.int64, count=len(words))
