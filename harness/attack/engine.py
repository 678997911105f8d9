"""Batched, cached, counted access to a model: the only way the attack queries one.

A *logical query* is one text whose scores the attack asks for; a *forward pass* is one
text the model actually runs (a cache miss). Texts are deduplicated within a call, looked
up in an LRU cache keyed by the model's token ids, and the misses are sent in batches of at
most ``max_batch`` texts. The model pads each batch only to its longest text.

The attack asks sparse questions (:meth:`QueryEngine.scores`): for the trial's goal, the
top-k list and the scores and ranks of the target labels, through the model's
:meth:`~harness.contracts.model.XMTCModel.predict_topk`. A model with a dense
``predict_proba`` answers them from its full rows; a label tree over 10^5 labels answers
them without ever forming one. Every answer is held to the model contract
(:func:`~harness.contracts.checks.topk_problem`) before it is believed or cached: a model
whose list, scores and ranks disagree ends the trial as an ``error`` naming the rule.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from harness.contracts.checks import ContractViolation, topk_problem
from harness.contracts.model import XMTCModel
from harness.ranking import TopK


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
        subject: str | None = None,
    ):
        if max_batch < 1:
            raise ValueError("max_batch must be >= 1")
        self.model = model
        self.max_batch = max_batch
        self.use_cache = use_cache
        self.counters = Counters()
        self._cache: OrderedDict[bytes, TopK] = OrderedDict()
        # Sized as if every entry were a dense row of float32 scores, whatever the model
        # answers with: the number of texts kept does not depend on the model's kind.
        self._row_bytes = max(1, model.n_labels) * 4
        self._max_entries = max(16, cache_bytes // self._row_bytes)
        self._question: tuple[int, tuple[int, ...]] | None = None
        """The (k, labels) the cached answers answer."""
        self.subject = subject or f"model {type(model).__module__}.{type(model).__name__}"
        """How a contract error names the model plugin (by default, by its class)."""

    @property
    def mask_token(self) -> str:
        """The word that stands for a masked or unknown word, for importance scorers."""
        return self.model.mask_token

    @property
    def supports_gradients(self) -> bool:
        """Whether :meth:`saliency` is available (a white-box model)."""
        return bool(getattr(self.model, "supports_gradients", False))

    @property
    def model_name(self) -> str:
        """The model's class name, for messages."""
        return type(self.model).__name__

    def clear(self) -> None:
        """Forget every score (between trials: memory stays flat over a campaign), and what
        the model kept to reuse, if it keeps anything (``forget_kept_states``): a trial's
        scores then do not depend on the trials before it, not even in float rounding."""
        self._cache.clear()
        forget = getattr(self.model, "forget_kept_states", None)
        if forget is not None:
            forget()

    def _ask(self, k: int, labels: Sequence[int]) -> tuple[int, tuple[int, ...]]:
        """The question of this call; a question other than the last one empties the cache
        (cached answers are answers to one question: a trial's goal)."""
        question = (int(k), tuple(int(j) for j in labels))
        if question != self._question:
            self._question = question
            self.clear()
        return question

    def _answer(self, texts: Sequence[Sequence[str]], k: int, labels: tuple[int, ...]) -> TopK:
        """One forward batch of the model, timed and counted."""
        t0 = time.perf_counter()
        part = self.model.predict_topk(texts, k, labels)
        self.counters.model_seconds += time.perf_counter() - t0
        wrong = topk_problem(part, len(texts), k, self.model.n_labels, labels)
        if wrong is not None:
            raise ContractViolation("model.predict_topk", self.subject, wrong)
        self.counters.forward_passes += len(texts)
        self.counters.batches += 1
        return part

    def scores(self, texts: Sequence[Sequence[str]], k: int, labels: Sequence[int]) -> TopK:
        """For every text, the model's top-``k`` list and the scores and ranks of ``labels``
        (:class:`~harness.ranking.TopK`): what a goal needs to know about a text."""
        n = len(texts)
        self.counters.logical_queries += n
        k, labels = self._ask(k, labels)
        if n == 0:
            return TopK(
                np.zeros((0, k), dtype=np.int64),
                np.zeros((0, k), dtype=np.float32),
                labels,
                np.zeros((0, len(labels)), dtype=np.float32),
                np.zeros((0, len(labels)), dtype=np.int64),
            )
        rows: list[TopK | None] = [None] * n
        todo: dict[bytes, list[int]] = {}
        for i, key in enumerate(self.model.cache_key(t) for t in texts):
            hit = self._cache.get(key) if self.use_cache else None
            if hit is not None:
                self._cache.move_to_end(key)
                rows[i] = hit
            else:
                todo.setdefault(key, []).append(i)
        if todo:
            miss_keys = list(todo)
            for start in range(0, len(miss_keys), self.max_batch):
                chunk = miss_keys[start : start + self.max_batch]
                part = self._answer([texts[todo[key][0]] for key in chunk], k, labels)
                for j, key in enumerate(chunk):
                    row = part.rows(j)
                    for i in todo[key]:
                        rows[i] = row
                    if self.use_cache:
                        self._cache[key] = row
            while len(self._cache) > self._max_entries:
                self._cache.popitem(last=False)
        return TopK.concat(rows)  # type: ignore[arg-type]

    def probs(self, texts: Sequence[Sequence[str]]) -> np.ndarray:
        """Every label's score for every text, ``(len(texts), L)`` float32, in batches of
        ``max_batch`` (counted, not cached): for callers that need whole rows (benchmarks,
        tests), never the attack."""
        n = len(texts)
        self.counters.logical_queries += n
        out = np.empty((n, self.model.n_labels), dtype=np.float32)
        for start in range(0, n, self.max_batch):
            chunk = texts[start : start + self.max_batch]
            t0 = time.perf_counter()
            out[start : start + len(chunk)] = self.model.predict_proba(chunk)
            self.counters.model_seconds += time.perf_counter() - t0
            self.counters.forward_passes += len(chunk)
            self.counters.batches += 1
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
