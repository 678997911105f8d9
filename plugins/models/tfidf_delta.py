"""Exact scores of a linear TF-IDF model for texts a few words away from a scored one.

With sublinear TF-IDF rows, ``x_t = (1 + log tf_t) · idf_t`` over the terms present,
L2-normalised, the logits are ``(x_raw · W) / ||x_raw|| + b``. Swapping one word changes the
counts of at most two unigrams (at most ``2·n`` n-grams with n-gram features) and the
row's norm, so from a kept text's raw scores ``r = x_raw · W`` (float64, one per label) and
squared norm a query's logits take those weight rows and O(L) arithmetic instead of a
tokenisation and a sparse product over the whole text. A one-word change to a 150-word
Reuters document touches two of its ~100 features: on this path each candidate costs a
word comparison and two rows of ``W``.

:class:`TfidfDelta` is the whole mechanism and knows nothing of how the model is trained:
it takes the analyzer, vocabulary and idf of a fitted ``TfidfVectorizer`` and the weight
matrix (features x labels) as a dense array, a torch tensor, or any scipy sparse matrix
(converted once to CSR, rows by feature), so it serves whatever layout a linear model
keeps its weights in. Queries are matched with kept texts the way
:mod:`plugins.models.reuse` matches them for the BiLSTM: equal length, a few differing
positions; a group of queries far from every kept text but close to each other gets their
column-wise consensus kept first.
"""

from __future__ import annotations

import math
from collections import Counter, OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from plugins.models.word_ids import WordIds


@dataclass
class KeptRow:
    """A text as its TF-IDF row sees it: word ids, lowercased words (for n-grams), term
    counts, raw scores, and the raw row's squared norm."""

    ids: np.ndarray
    words: list[str]
    counts: Counter[int]
    raw: np.ndarray
    sq_norm: float

    @cached_property
    def term_table(self) -> tuple[np.ndarray, np.ndarray]:
        """The terms present, sorted, and their counts (for vectorised look-ups)."""
        terms = np.array(sorted(self.counts), dtype=np.int64)
        return terms, np.array([self.counts[int(t)] for t in terms], dtype=np.float64)


@dataclass
class Edits:
    """Texts scored from one kept text: each text's change of feature values over the
    terms any of them changed (a row of ``change`` per text, ``(B, u)``) and its raw row's
    squared norm. Nothing here depends on the labels."""

    row: KeptRow
    terms: np.ndarray
    change: np.ndarray
    sq: np.ndarray
    weights: Any = None
    """The changed terms' weight rows ``(u, L)``, gathered on first use."""

    @property
    def empty(self) -> np.ndarray:
        """Texts left without a known term (the vectorizer makes their row zero)."""
        return self.sq <= 1e-12 * max(1.0, self.row.sq_norm)


@dataclass
class DeltaPlan:
    """How one call's texts are scored: text ``i`` from ``edits[group[i]]`` (its row there
    ``member[i]``), or in full by the model where ``group[i]`` is -1."""

    edits: list[Edits]
    group: np.ndarray
    member: np.ndarray

    @property
    def full(self) -> np.ndarray:
        """Positions of the texts the model must score itself."""
        return np.flatnonzero(self.group < 0)

    @property
    def reused(self) -> np.ndarray:
        """Positions of the texts scored from a kept text."""
        return np.flatnonzero(self.group >= 0)


Labels = slice | np.ndarray
"""Which labels to score: a block of columns, or label indices."""


class TfidfDelta:
    """Logits of texts near kept ones from the kept ones' raw scores (see module doc).

    ``analyzer`` maps a word list to its terms (the fitted vectorizer's
    ``build_analyzer()``), ``ngram_max`` is the longest n-gram it makes, ``W`` is
    (features x labels). Texts are the model's: already truncated to what it reads.

    A call is scored in two steps, so that a model with many labels never needs a whole
    row of scores per text: :meth:`plan` matches the texts with kept ones and works out
    which feature values each one changes (once per call, whatever the label count), and
    :meth:`block` gives the logits of some of them over any labels (a block of columns,
    or the few labels an attack asks about). :meth:`logits` does both over every label.
    Sparse weights are held by feature (a CSR copy of ``W``: as much memory again as its
    non-zeros), what a lookup of a term's weight row needs.
    """

    def __init__(
        self,
        analyzer: Callable[[Sequence[str]], list[str]],
        vocabulary: Mapping[str, int],
        idf: np.ndarray,
        W: object,
        bias: np.ndarray,
        *,
        ngram_max: int = 1,
        max_diffs: int = 4,
        max_texts: int = 8,
    ):
        self.analyzer = analyzer
        self.vocabulary = vocabulary
        self.idf = np.asarray(idf, dtype=np.float64)
        self.bias = np.asarray(bias, dtype=np.float64).ravel()
        self.ngram_max = ngram_max
        self.max_diffs = max_diffs
        self.max_texts = max_texts
        # Unigrams: two unknown words are the same to the model. N-grams: kept apart.
        self.word_ids = WordIds(vocabulary, distinct_unknown=ngram_max > 1)
        self._W = _weight_matrix(W)
        self._kept: OrderedDict[bytes, KeptRow] = OrderedDict()
        self.reused = 0
        self.full = 0

    @property
    def n_labels(self) -> int:
        return int(self.bias.size)

    # -- one text ------------------------------------------------------------------------
    def _gather(self, terms: np.ndarray) -> np.ndarray | sp.csc_matrix:
        """Weight rows of ``terms`` ``(k, L)`` in float64: dense, or CSC for sparse weights
        (cheap to cut into label blocks; never densified over every label)."""
        rows = self._W[terms]
        if sp.issparse(rows):
            return sp.csc_matrix(rows, dtype=np.float64)
        return np.asarray(rows, dtype=np.float64)

    @staticmethod
    def _times(values: np.ndarray, rows: np.ndarray | sp.spmatrix) -> np.ndarray:
        """``values @ rows`` as a dense float64 array (``values`` is ``(k,)`` or ``(B, k)``)."""
        if sp.issparse(rows):
            return np.asarray(rows.T @ values.T).T
        return values @ rows

    def _value(self, term: int, count: int) -> float:
        return (1.0 + math.log(count)) * float(self.idf[term]) if count > 0 else 0.0

    def _terms(self, ids: np.ndarray, words: Sequence[str]) -> list[int]:
        if self.ngram_max == 1:
            return [int(t) for t in ids if t >= 0]
        vocab = self.vocabulary
        return [vocab[t] for t in self.analyzer(list(words)) if t in vocab]

    def kept_row(self, words: Sequence[str], ids: np.ndarray | None = None) -> KeptRow:
        """The raw scores and norm of ``words`` computed from scratch."""
        ids = self.word_ids(words) if ids is None else ids
        low = [w.lower() for w in words] if self.ngram_max > 1 else []
        counts = Counter(self._terms(ids, low))
        terms = np.fromiter(counts, dtype=np.int64, count=len(counts))
        values = np.array([self._value(int(t), counts[int(t)]) for t in terms])
        if terms.size:
            raw = self._times(values, self._gather(terms))
        else:
            raw = np.zeros_like(self.bias)
        return KeptRow(ids, low, counts, raw, float(values @ values))

    def logits_of(self, row: KeptRow) -> np.ndarray:
        """A kept text's logits (the bias alone for a text without a known term, as the
        vectorizer leaves its row zero)."""
        if row.sq_norm <= 0.0:
            return self.bias.copy()
        return row.raw / math.sqrt(row.sq_norm) + self.bias

    def _changes(
        self, row: KeptRow, words: Sequence[str], ids: np.ndarray, diffs: Sequence[int]
    ) -> tuple[dict[int, float], float]:
        """How the feature values of ``words`` (ids ``ids``, as long as ``row``'s) differ
        from the kept text's, which it differs from at positions ``diffs``, and the change
        of the squared norm: only the n-grams covering a changed position are recounted,
        inside windows of ``ngram_max - 1`` words around each change."""
        delta: Counter[int] = Counter()
        if self.ngram_max == 1:
            delta.update(int(ids[p]) for p in diffs if ids[p] >= 0)
            delta.subtract(int(row.ids[p]) for p in diffs if row.ids[p] >= 0)
        else:
            reach = self.ngram_max - 1
            for start, end in _windows(diffs, reach, len(words)):
                window = [w.lower() for w in words[start:end]]
                delta.update(self._terms(ids[start:end], window))
                delta.subtract(self._terms(row.ids[start:end], row.words[start:end]))
        changed = [t for t, d in delta.items() if d]
        if not changed:
            return {}, 0.0
        old = np.array([self._value(t, row.counts.get(t, 0)) for t in changed])
        new = np.array([self._value(t, row.counts.get(t, 0) + delta[t]) for t in changed])
        return dict(zip(changed, (new - old).tolist(), strict=True)), float(new @ new - old @ old)

    def _edits_one_by_one(
        self, row: KeptRow, docs: Sequence[Sequence[str]], ids: Sequence[np.ndarray]
    ) -> Edits:
        """:class:`Edits` of texts as long as ``row``'s, a text at a time (any n-grams)."""
        changes, dsq = [], []
        for words, x in zip(docs, ids, strict=True):
            diffs = np.flatnonzero(x != row.ids).tolist()
            c, d = self._changes(row, words, x, diffs)
            changes.append(c)
            dsq.append(d)
        terms = np.array(sorted({t for c in changes for t in c}), dtype=np.int64)
        col = {int(t): j for j, t in enumerate(terms)}
        D = np.zeros((len(changes), terms.size))
        for i, c in enumerate(changes):
            for t, v in c.items():
                D[i, col[t]] = v
        return Edits(row, terms, D, row.sq_norm + np.asarray(dsq, dtype=np.float64))

    def _edits_together(self, row: KeptRow, X: np.ndarray) -> Edits:
        """:class:`Edits` of unigram texts with ids ``X`` ``(B, n)``, as long as ``row``'s,
        all at once: each text's changes of feature values are a row of ``D`` over the
        terms any text changed."""
        b, p = np.nonzero(X != row.ids[None])
        new_t, old_t = X[b, p], row.ids[p]
        docs = np.concatenate([b[new_t >= 0], b[old_t >= 0]])
        terms = np.concatenate([new_t[new_t >= 0], old_t[old_t >= 0]])
        step = np.concatenate([np.ones(int((new_t >= 0).sum())), -np.ones(int((old_t >= 0).sum()))])
        sq = np.full(X.shape[0], row.sq_norm)
        if not terms.size:
            return Edits(row, np.zeros(0, dtype=np.int64), np.zeros((X.shape[0], 0)), sq)
        n_feat = self.idf.size
        pairs, inverse = np.unique(docs * n_feat + terms, return_inverse=True)
        delta = np.bincount(inverse, weights=step, minlength=pairs.size)
        keep = delta != 0
        pairs, delta = pairs[keep], delta[keep]
        d_doc, d_term = pairs // n_feat, pairs % n_feat
        table, counts = row.term_table
        if table.size:
            at = np.searchsorted(table, d_term).clip(max=table.size - 1)
            c0 = np.where(table[at] == d_term, counts[at], 0.0)
        else:
            c0 = np.zeros(d_term.size)
        c1 = c0 + delta
        idf = self.idf[d_term]
        v0 = np.where(c0 > 0, (1.0 + np.log(np.maximum(c0, 1))) * idf, 0.0)
        v1 = np.where(c1 > 0, (1.0 + np.log(np.maximum(c1, 1))) * idf, 0.0)
        uterms, col = np.unique(d_term, return_inverse=True)
        D = np.zeros((X.shape[0], uterms.size))
        D[d_doc, col] = v1 - v0
        sq += np.bincount(d_doc, weights=v1 * v1 - v0 * v0, minlength=X.shape[0])
        return Edits(row, uterms.astype(np.int64), D, sq)

    def _evaluate(self, e: Edits, members: np.ndarray, labels: Labels) -> np.ndarray:
        """Logits ``(len(members), n)`` of some of ``e``'s texts over ``labels``: the kept
        raw scores plus the changes times the changed terms' weight rows (only these
        labels' columns are read), over the new norm, plus the bias."""
        bias = self.bias[labels]
        out = np.empty((members.size, bias.size), dtype=np.float64)
        out[:] = e.row.raw[labels]
        if e.terms.size:
            if e.weights is None:
                e.weights = self._gather(e.terms)
            out += self._times(e.change[members], e.weights[:, labels])
        sq, empty = e.sq[members], e.empty[members]
        out /= np.sqrt(np.where(empty, 1.0, sq))[:, None]
        out += bias
        out[empty] = bias
        return out

    def edited(
        self, row: KeptRow, words: Sequence[str], ids: np.ndarray, diffs: Sequence[int]
    ) -> np.ndarray:
        """Logits of ``words`` (ids ``ids``, as long as ``row``'s), which differ from the
        kept text at positions ``diffs`` (one text; any n-grams)."""
        change, dsq = self._changes(row, words, ids, diffs)
        terms = np.fromiter(change, dtype=np.int64, count=len(change))
        D = np.fromiter(change.values(), dtype=np.float64, count=len(change))[None]
        e = Edits(row, terms, D, np.array([row.sq_norm + dsq]))
        return self._evaluate(e, np.zeros(1, dtype=np.int64), slice(None))[0]

    def edited_many(self, row: KeptRow, X: np.ndarray) -> np.ndarray:
        """Logits ``(B, L)`` of unigram texts with ids ``X`` ``(B, n)``, as long as
        ``row``'s, all at once."""
        e = self._edits_together(row, X)
        return self._evaluate(e, np.arange(X.shape[0]), slice(None))

    # -- a call's texts ------------------------------------------------------------------
    def clear(self) -> None:
        self._kept.clear()

    def _keep(self, row: KeptRow) -> None:
        key = row.ids.tobytes()
        self._kept[key] = row
        self._kept.move_to_end(key)
        while len(self._kept) > self.max_texts:
            self._kept.popitem(last=False)

    def _match(self, ids: list[np.ndarray]) -> list[KeptRow | None]:
        """For each text, the kept text of its length it differs from in the fewest
        positions (at most ``max_diffs``; the most recently used on a tie), or None."""
        groups: dict[int, list[int]] = {}
        for i, x in enumerate(ids):
            groups.setdefault(x.size, []).append(i)
        matrices = {n: np.stack([ids[i] for i in idx]) for n, idx in groups.items()}
        best_d = np.full(len(ids), self.max_diffs + 1)
        best: list[bytes | None] = [None] * len(ids)
        for key, row in reversed(self._kept.items()):
            idx = groups.get(row.ids.size)
            if idx is None:
                continue
            d = np.count_nonzero(matrices[row.ids.size] != row.ids[None], axis=1)
            for j in np.flatnonzero(d < best_d[idx]):
                best_d[idx[j]], best[idx[j]] = d[j], key
        for key in dict.fromkeys(k for k in best if k is not None):
            self._kept.move_to_end(key)
        return [None if k is None else self._kept[k] for k in best]

    def plan(self, docs: Sequence[Sequence[str]]) -> DeltaPlan:
        """Match ``docs`` with kept texts (keeping new ones as needed) and work out each
        matched text's changes; the rest are left to the model (:attr:`DeltaPlan.full`)."""
        ids = [self.word_ids(d) for d in docs]
        source = self._match(ids)
        todo = [i for i, r in enumerate(source) if r is None]
        if len(docs) == 1 and todo:  # a lone text (an attack's first query): keep it
            row = self.kept_row(docs[0], ids[0])
            self._keep(row)
            source[0] = row
            self.full += 1
        else:
            left = self._via_consensus(docs, ids, todo, source)
            self.reused += len(docs) - len(left)
            self.full += len(left)
        group = np.full(len(docs), -1, dtype=np.int64)
        member = np.zeros(len(docs), dtype=np.int64)
        by_row: dict[int, list[int]] = {}
        for i, r in enumerate(source):
            if r is not None:
                by_row.setdefault(id(r), []).append(i)
        edits: list[Edits] = []
        for rows in by_row.values():
            row = source[rows[0]]
            assert row is not None
            if self.ngram_max == 1:
                e = self._edits_together(row, np.stack([ids[i] for i in rows]))
            else:
                e = self._edits_one_by_one(row, [docs[i] for i in rows], [ids[i] for i in rows])
            group[rows] = len(edits)
            member[rows] = np.arange(len(rows))
            edits.append(e)
        return DeltaPlan(edits, group, member)

    def block(self, plan: DeltaPlan, rows: np.ndarray, labels: Labels) -> np.ndarray:
        """Logits ``(len(rows), n)`` float64 of the planned texts at positions ``rows``
        (each scored from a kept text) over ``labels``."""
        rows = np.asarray(rows, dtype=np.int64)
        g = plan.group[rows]
        if (g < 0).any():
            raise ValueError("block() takes texts the plan scores from kept texts only")
        out = np.empty((rows.size, self.bias[labels].size), dtype=np.float64)
        for gi in np.unique(g):
            sel = np.flatnonzero(g == gi)
            out[sel] = self._evaluate(plan.edits[int(gi)], plan.member[rows[sel]], labels)
        return out

    def logits(
        self, docs: Sequence[Sequence[str]], full: Callable[[list[int]], np.ndarray]
    ) -> np.ndarray:
        """Logits ``(N, L)`` of ``docs``: from a kept text where one differs in at most
        ``max_diffs`` positions, else from ``full(rows)`` (the model's own scoring)."""
        plan = self.plan(docs)
        out = np.empty((len(docs), self.n_labels), dtype=np.float64)
        reused, left = plan.reused, plan.full
        if reused.size:
            out[reused] = self.block(plan, reused, slice(None))
        if left.size:
            out[left] = full(left.tolist())
        return out

    def _via_consensus(
        self,
        docs: Sequence[Sequence[str]],
        ids: list[np.ndarray],
        todo: list[int],
        source: list[KeptRow | None],
    ) -> list[int]:
        """Serve groups of equally long unmatched texts from their column-wise consensus,
        kept, when at least two of them are near it (setting their ``source``); returns the
        rows left to score."""
        groups: dict[int, list[int]] = {}
        for i in todo:
            groups.setdefault(len(docs[i]), []).append(i)
        left: list[int] = []
        for idx in groups.values():
            if len(idx) < 2:
                left += idx
                continue
            X = np.stack([ids[i] for i in idx])
            consensus = torch.mode(torch.from_numpy(X), dim=0).values.numpy()
            diffs = [np.flatnonzero(x != consensus) for x in X]
            near = [j for j, d in enumerate(diffs) if d.size <= self.max_diffs]
            if len(near) < 2:
                left += idx
                continue
            # The consensus as words: each position's word from a text that has its id.
            donor = (X == consensus[None]).argmax(axis=0)
            words = [docs[idx[r]][c] for c, r in enumerate(donor.tolist())]
            row = self.kept_row(words, consensus)
            self._keep(row)
            for j, i in enumerate(idx):
                if diffs[j].size <= self.max_diffs:
                    source[i] = row
                else:
                    left.append(i)
        return left


def _windows(positions: Sequence[int], reach: int, n: int) -> list[tuple[int, int]]:
    """Merged [start, end) word windows reaching ``reach`` words either side of each
    position: every n-gram (n <= reach + 1) covering a position lies inside one."""
    out: list[tuple[int, int]] = []
    for p in sorted(positions):
        start, end = max(0, p - reach), min(n, p + reach + 1)
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def _weight_matrix(W: object) -> np.ndarray | sp.csr_matrix:
    """The weights as a dense array or a CSR matrix with a row per feature."""
    if sp.issparse(W):
        return sp.csr_matrix(W)
    if hasattr(W, "detach"):  # a torch tensor: a view of its memory, no copy
        return W.detach().cpu().numpy()  # type: ignore[attr-defined]
    return np.asarray(W)
