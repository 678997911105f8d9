"""Which recently encoded text a query can take BiLSTM states from, and the store of them.

An attack asks a model about many texts that differ from one it has just scored in a word
or two: n copies of the document with one word masked each, K candidates for one position
of the current text. A BiLSTM's forward direction over the words before the first change,
and its backward direction over the words after the last change, are then exactly the
scored text's (:class:`plugins.models.text_encoder.Reused`). The planner finds, for every
query, the kept text with which it shares the longest prefix plus suffix; when a group of
equally long queries shares little with every kept text but much with each other (the
candidates of one position after an accepted substitution), it first encodes their
column-wise consensus in full and keeps it. Scores never depend on the plan, only the
work does.

The model learns what a query came from by looking, not by being told: the attack's
contract (``predict_proba`` on word lists) stays as it is, and any caller that sends
related texts gains. Matching is a few vectorised comparisons of token ids per kept text.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from plugins.models.text_encoder import CHECKPOINT_EVERY, FirstLayerStates


@dataclass
class KeptText:
    """A fully encoded text whose states queries may reuse (one entry per encoder)."""

    ids: np.ndarray
    states: list[FirstLayerStates]

    @property
    def nbytes(self) -> int:
        return int(self.ids.nbytes) + sum(s.nbytes for s in self.states)


@dataclass
class Plan:
    """How to score one call's queries.

    ``new_texts`` are encoded in full first and kept. Per query, ``source`` is a kept
    text, the index of a new text, or None (encode in full); ``steps`` the lengths of the
    prefix and the suffix it shares with it; ``equal`` maps a query to the new text identical to it
    (its scores are that text's)."""

    new_texts: list[np.ndarray] = field(default_factory=list)
    source: list[KeptText | int | None] = field(default_factory=list)
    steps: list[tuple[int, int]] = field(default_factory=list)
    equal: dict[int, int] = field(default_factory=dict)


@dataclass
class ReuseStats:
    """What reuse has saved so far: queries served from kept states, queries encoded in
    full, texts encoded only to be kept (a consensus no query equals), and first-layer
    LSTM steps (both directions) a full encoding would read against those actually read."""

    reused: int = 0
    full: int = 0
    extra_texts: int = 0
    steps_full: int = 0
    steps_read: int = 0


def shared_lengths(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each row of ``X`` (g, n) against ``y`` (m,): the lengths of the common prefix
    and of the common suffix (each at most min(n, m))."""
    g, n = X.shape
    k = min(n, y.shape[0])
    if k == 0:
        zero = np.zeros(g, dtype=np.int64)
        return zero, zero
    eq = X[:, :k] == y[None, :k]
    prefix = np.where(eq.all(axis=1), k, eq.argmin(axis=1))
    eq = X[:, n - k :][:, ::-1] == y[None, y.shape[0] - k :][:, ::-1]
    suffix = np.where(eq.all(axis=1), k, eq.argmin(axis=1))
    return prefix, suffix


class ReusePlanner:
    """A bounded LRU of kept texts and the planning of each call against it."""

    def __init__(
        self,
        every: int = CHECKPOINT_EVERY,
        max_texts: int = 8,
        max_bytes: int = 64 * 2**20,
    ):
        self.every = every
        self.max_texts = max_texts
        self.max_bytes = max_bytes
        self.stats = ReuseStats()
        self._kept: OrderedDict[bytes, KeptText] = OrderedDict()
        self._bytes = 0

    def clear(self) -> None:
        """Forget every kept text (the weights changed, or a new document begins)."""
        self._kept.clear()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._kept)

    def keep(self, ids: np.ndarray, states: list[FirstLayerStates]) -> KeptText:
        key = ids.astype(np.int64).tobytes()
        old = self._kept.pop(key, None)
        if old is not None:
            self._bytes -= old.nbytes
        text = KeptText(ids.astype(np.int64), states)
        self._kept[key] = text
        self._bytes += text.nbytes
        while len(self._kept) > 1 and (
            len(self._kept) > self.max_texts or self._bytes > self.max_bytes
        ):
            _, dropped = self._kept.popitem(last=False)
            self._bytes -= dropped.nbytes
        return text

    def plan(self, seqs: Sequence[np.ndarray]) -> Plan:
        """Sources for every query of one call (see :class:`Plan`)."""
        n_q = len(seqs)
        plan = Plan(source=[None] * n_q, steps=[(0, 0)] * n_q)
        gain = np.zeros(n_q, dtype=np.int64)
        groups: dict[int, list[int]] = {}
        for i, s in enumerate(seqs):
            groups.setdefault(len(s), []).append(i)
        matrices = {n: np.stack([seqs[i] for i in idx]) for n, idx in groups.items()}
        used: set[bytes] = set()
        for key, text in self._kept.items():
            for n, idx in groups.items():
                f, b = shared_lengths(matrices[n], text.ids)
                g = self._saved(f, b)
                for j, i in enumerate(idx):
                    if g[j] > gain[i]:
                        gain[i] = g[j]
                        plan.source[i], plan.steps[i] = text, (int(f[j]), int(b[j]))
                        used.add(key)
        for key in used:
            self._kept.move_to_end(key)
        for n, idx in groups.items():
            if n_q == 1:
                if gain[0] < n:  # a lone text sharing under half (an attack's first query)
                    plan.new_texts.append(seqs[0])
                    plan.equal[0] = 0
                continue
            if len(idx) < 2:
                continue
            X = matrices[n]
            consensus = torch.mode(torch.from_numpy(X), dim=0).values.numpy()
            f, b = shared_lengths(X, consensus)
            g = self._saved(f, b)
            better = g - gain[idx]
            same = [i for j, i in enumerate(idx) if np.array_equal(X[j], consensus)]
            cost = 0 if same else 2 * n  # a full encoding that answers no query
            if better.clip(min=0).sum() <= cost:
                continue
            t = len(plan.new_texts)
            plan.new_texts.append(consensus)
            for j, i in enumerate(idx):
                if better[j] > 0:
                    gain[i] = g[j]
                    plan.source[i], plan.steps[i] = t, (int(f[j]), int(b[j]))
            for i in same:
                plan.equal[i] = t
        self._count(plan, seqs)
        return plan

    def _saved(self, prefix: np.ndarray, suffix: np.ndarray) -> np.ndarray:
        """LSTM steps a text need not read again: each shared part down to a kept state."""
        e = self.every
        return prefix // e * e + suffix // e * e

    def _count(self, plan: Plan, seqs: Sequence[np.ndarray]) -> None:
        st = self.stats
        answered = set(plan.equal.values())
        st.extra_texts += sum(1 for t in range(len(plan.new_texts)) if t not in answered)
        for t in plan.new_texts:
            st.steps_read += 2 * len(t)
        for i, s in enumerate(seqs):
            st.steps_full += 2 * len(s)
            if i in plan.equal:
                st.full += 1
            elif plan.source[i] is None:
                st.full += 1
                st.steps_read += 2 * len(s)
            else:
                st.reused += 1
                f, b = plan.steps[i]
                st.steps_read += 2 * len(s) - int(self._saved(np.array(f), np.array(b)))
