"""Batched, cached, counted access to a model: the only way the attack queries one.

A *logical query* is one text whose scores the attack asks for; a *forward pass* is one
text the model actually runs (a cache miss). Texts are deduplicated within a call, looked
up in an LRU cache keyed by the model's token ids, and the misses are sent in batches of at
most ``max_batch`` texts. The model pads each batch only to its longest text.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from harness.model import XMTCModel


@dataclass
class Counters:
    """What one trial (or a whole run) cost."""

    logical_queries: int = 0
    forward_passes: int = 0
    batches: int = 0
    backward_passes: int = 0
    model_seconds: float = 0.0
    extra_seconds: dict[str, float] = field(default_factory=dict)

    def add_time(self, what: str, seconds: float) -> None:
        self.extra_seconds[what] = self.extra_seconds.get(what, 0.0) + seconds

    def snapshot(self) -> Counters:
        return Counters(
            self.logical_queries,
            self.forward_passes,
            self.batches,
            self.backward_passes,
            self.model_seconds,
            dict(self.extra_seconds),
        )

    def since(self, before: Counters) -> Counters:
        extra = {k: v - before.extra_seconds.get(k, 0.0) for k, v in self.extra_seconds.items()}
        return Counters(
            self.logical_queries - before.logical_queries,
            self.forward_passes - before.forward_passes,
            self.batches - before.batches,
            self.backward_passes - before.backward_passes,
            self.model_seconds - before.model_seconds,
            extra,
        )


class QueryEngine:
    """Scores word lists with a model through a bounded LRU cache and a batch-size cap."""

    def __init__(
        self,
        model: XMTCModel,
        *,
        max_batch: int = 64,
        cache_bytes: int = 256 * 2**20,
        use_cache: bool = True,
    ):
        if max_batch < 1:
            raise ValueError("max_batch must be >= 1")
        self.model = model
        self.max_batch = max_batch
        self.use_cache = use_cache
        self.counters = Counters()
        self._cache: OrderedDict[bytes, np.ndarray] = OrderedDict()
        self._row_bytes = max(1, model.n_labels) * 4
        self._max_entries = max(16, cache_bytes // self._row_bytes)

    def clear(self) -> None:
        """Forget every score (between trials), and what the model kept to reuse, if it
        keeps anything (``forget_kept_states``): a trial's scores then do not depend on
        the trials before it, not even in float rounding."""
        self._cache.clear()
        forget = getattr(self.model, "forget_kept_states", None)
        if forget is not None:
            forget()

    def probs(self, texts: Sequence[Sequence[str]]) -> np.ndarray:
        """g(S) for every text, shape (len(texts), L)."""
        n = len(texts)
        self.counters.logical_queries += n
        out = np.empty((n, self.model.n_labels), dtype=np.float32)
        if n == 0:
            return out
        keys = [self.model.cache_key(t) for t in texts]
        todo: dict[bytes, list[int]] = {}
        for i, key in enumerate(keys):
            hit = self._cache.get(key) if self.use_cache else None
            if hit is not None:
                self._cache.move_to_end(key)
                out[i] = hit
            else:
                todo.setdefault(key, []).append(i)
        if todo:
            miss_keys = list(todo)
            miss_texts = [texts[todo[k][0]] for k in miss_keys]
            for start in range(0, len(miss_texts), self.max_batch):
                chunk = miss_texts[start : start + self.max_batch]
                t0 = time.perf_counter()
                scores = np.asarray(self.model.predict_proba(chunk), dtype=np.float32)
                self.counters.model_seconds += time.perf_counter() - t0
                self.counters.forward_passes += len(chunk)
                self.counters.batches += 1
                for key, row in zip(miss_keys[start : start + self.max_batch], scores, strict=True):
                    for i in todo[key]:
                        out[i] = row
                    if self.use_cache:
                        self._cache[key] = row.copy()
            while len(self._cache) > self._max_entries:
                self._cache.popitem(last=False)
        return out

    def saliency(self, words: list[str], labels: Sequence[int], sign: float) -> np.ndarray:
        """Per-word gradient saliency (one forward and one backward pass, counted)."""
        t0 = time.perf_counter()
        out = self.model.word_saliency(words, labels, sign)
        self.counters.model_seconds += time.perf_counter() - t0
        self.counters.forward_passes += 1
        self.counters.backward_passes += 1
        self.counters.logical_queries += 1
        return np.asarray(out, dtype=np.float64)
