"""The value rules of the plugin contracts, as functions: what each plugin call must return.

The conformance suite (:mod:`harness.testing`) holds a plugin to these rules once, on its
fixtures; the harness applies the same functions at run time to every value a plugin hands
back, where it is received. A plugin that returns the wrong thing (a string where a list of
words is due, ``None`` for importance scores, ``"yes"`` for a constraint's verdicts) ends
the trial as an ``error`` naming the plugin and the rule, or the command with one line,
instead of being believed.

Each ``*_problem`` function gives None for a good value or the problem in words; the
``checked_*`` functions return the value in the type the harness works with, or raise
:class:`ContractViolation`.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from harness.errors import PluginError

SIMILARITY_TOLERANCE = 1e-5
"""How far outside [-1, 1] a float32 cosine may stray."""

MIN_TRAIN_DOCUMENTS = 3
"""The propensity model needs ln N > 1 (harness.labelstats.propensities)."""


class ContractViolation(PluginError):
    """A plugin's call returned a value its contract does not allow; ``rule`` names the
    rule as the conformance suite does (``substituter.candidates``)."""

    def __init__(self, rule: str, subject: str, detail: str):
        self.rule = rule
        self.subject = subject
        self.detail = detail
        super().__init__(f"{subject} broke its contract [{rule}]: {detail}")


def _shown(value: Any) -> str:
    """``value`` in one short line (a numpy array's repr spans several)."""
    text = " ".join(repr(value).split())
    return f"{type(value).__name__} {text if len(text) <= 60 else text[:57] + '...'}"


# -- attack plugins ---------------------------------------------------------------------------


def candidates_problem(value: Any) -> str | None:
    """A substituter's ``candidates()``: a list (or tuple) of str."""
    if isinstance(value, str) or not isinstance(value, list | tuple):
        return f"candidates() must return a list of str, got {_shown(value)}"
    for w in value:
        if not isinstance(w, str):
            return f"candidates() must return a list of str, got an item {_shown(w)}"
    return None


def candidates_rule_problem(candidates: Sequence[str], word: str) -> str | None:
    """The candidate rules: not the current word in any case, no repeats, each a real,
    attackable single word (:func:`harness.attack.candidates.is_valid_candidate`)."""
    from harness.attack.candidates import is_valid_candidate

    lows = [w.lower() for w in candidates]
    if word.lower() in lows or len(set(lows)) != len(lows):
        return f"candidates for {word!r} repeat it or each other: {list(candidates)[:8]}"
    bad = [w for w in candidates if not is_valid_candidate(w)]
    if bad:
        return f"stopwords, punctuation, word pieces or several words proposed: {bad[:5]}"
    return None


def _reals(value: Any) -> np.ndarray:
    """``value`` as float64; a ``TypeError`` for complex numbers (numpy would drop their
    imaginary parts with only a warning) as for anything else that is not numbers."""
    raw = np.asarray(value)
    if raw.dtype.kind == "c":
        raise TypeError("complex numbers")
    # An object array can hold complex numbers too (a ragged or mixed answer): numpy casts
    # them with only a ComplexWarning, made an error here.
    with warnings.catch_warnings():
        warnings.simplefilter("error", np.exceptions.ComplexWarning)
        try:
            return raw.astype(np.float64)
        except np.exceptions.ComplexWarning as exc:
            raise TypeError("complex numbers") from exc


def scores_problem(value: Any, n: int) -> str | None:
    """An importance scorer's ``scores()``: ``n`` finite numbers."""
    try:
        arr = _reals(value)
    except (TypeError, ValueError, OverflowError):
        return f"scores() must return {n} finite numbers, got {_shown(value)}"
    if value is None or arr.shape != (n,):
        return f"scores() must return {n} finite numbers, got shape {arr.shape} ({_shown(value)})"
    if not np.isfinite(arr).all():
        return f"scores() must return finite numbers, got {_shown(value)}"
    return None


def verdicts_problem(value: Any, n: int) -> str | None:
    """A constraint check's ``check()``: one bool per text (a numpy bool array or bools)."""
    if isinstance(value, str | bytes) or value is None:
        return f"check() must return {n} bools, got {_shown(value)}"
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError, OverflowError):  # ragged, undecodable, too large
        return f"check() must return {n} bools, got {_shown(value)}"
    if arr.shape != (n,) or arr.dtype != np.bool_:
        return f"check() must return {n} bools, got {arr.dtype} of shape {arr.shape}"
    return None


def similarities_problem(value: Any, n: int) -> str | None:
    """A similarity check's ``similarity()``: one cosine in [-1, 1] per text."""
    if isinstance(value, str | bytes) or value is None:
        return f"similarity() must return {n} cosines in [-1, 1], got {_shown(value)}"
    try:
        arr = _reals(value)
    except (TypeError, ValueError, OverflowError):
        return f"similarity() must return {n} cosines in [-1, 1], got {_shown(value)}"
    if arr.shape != (n,):
        return f"similarity() must return {n} cosines, got shape {arr.shape}"
    if not (np.isfinite(arr).all() and (np.abs(arr) <= 1 + SIMILARITY_TOLERANCE).all()):
        return f"similarity() must return cosines in [-1, 1], got {arr[:5].tolist()}"
    return None


def max_changes_problem(value: Any) -> str | None:
    """A constraint check's ``max_changes()``: None or a non-negative int."""
    ok = value is None or (
        isinstance(value, int | np.integer) and not isinstance(value, bool) and value >= 0
    )
    return None if ok else f"max_changes() must be None or a non-negative int, got {_shown(value)}"


def checked(rule: str, subject: str, problem: str | None) -> None:
    """Raise :class:`ContractViolation` for a problem found by one of the functions above."""
    if problem is not None:
        raise ContractViolation(rule, subject, problem)


def checked_candidates(subject: str, value: Any, word: str) -> list[str]:
    checked("substituter.candidates", subject, candidates_problem(value))
    checked("substituter.filtered", subject, candidates_rule_problem(value, word))
    return list(value)


def checked_scores(subject: str, value: Any, n: int) -> np.ndarray:
    checked("importance.shape", subject, scores_problem(value, n))
    return np.asarray(value, dtype=np.float64)


def checked_verdicts(subject: str, value: Any, n: int) -> np.ndarray:
    checked("constraint.check", subject, verdicts_problem(value, n))
    return np.asarray(value)


def checked_similarities(subject: str, value: Any, n: int) -> np.ndarray:
    checked("constraint.similarity", subject, similarities_problem(value, n))
    return np.asarray(value, dtype=np.float64)


def checked_max_changes(subject: str, value: Any) -> int | None:
    checked("constraint.max_changes", subject, max_changes_problem(value))
    return None if value is None else int(value)


# -- models -----------------------------------------------------------------------------------


SCORE_TOLERANCE = 1e-5
"""How far two copies of one score may differ (a model may compute a label's score apart
from its top-k list, in float32)."""


def topk_problem(value: Any, n: int, k: int, n_labels: int, labels: Sequence[int]) -> str | None:
    """A model's ``predict_topk()``: a :class:`~harness.ranking.TopK` of ``n`` rows of ``k``
    distinct label indices in range, best first, with finite scores; for each asked label a
    finite score and a rank that agree with the list (a label at position p of the list has
    rank p + 1 and the score there; a rank beyond ``k`` or unknown means it is not listed)."""
    from harness.ranking import UNKNOWN_RANK, TopK

    if not isinstance(value, TopK):
        return f"predict_topk() must return a TopK, got {_shown(value)}"
    idx = np.asarray(value.indices)
    if idx.shape != (n, k) or idx.dtype.kind not in "iu":
        return f"predict_topk() gave indices {idx.dtype} {idx.shape}, expected ({n}, {k}) ints"
    if idx.size and (idx.min() < 0 or idx.max() >= n_labels):
        return f"predict_topk() gave label indices outside 0..{n_labels - 1}"
    if k > 1 and idx.size:
        ordered = np.sort(idx, axis=1)
        if (ordered[:, 1:] == ordered[:, :-1]).any():
            return "predict_topk() repeats a label within a document's top-k"
    scores = np.asarray(value.scores)
    if scores.shape != (n, k) or scores.dtype.kind not in "fiu" or not np.isfinite(scores).all():
        return f"predict_topk() gave scores of shape {scores.shape} (or not finite numbers)"
    scores = scores if scores.dtype.kind == "f" else scores.astype(np.float64)  # no wrapping
    if k > 1 and scores.size and (scores[:, 1:] - scores[:, :-1] > SCORE_TOLERANCE).any():
        return "predict_topk() gave a top-k list that is not best first"
    if tuple(value.labels) != tuple(labels):
        return f"predict_topk() answered about labels {_shown(value.labels)}, not those asked"
    shape = (n, len(labels))
    label_scores, label_ranks = np.asarray(value.label_scores), np.asarray(value.label_ranks)
    if label_scores.shape != shape or label_ranks.shape != shape:
        return f"predict_topk() must give a score and a rank per asked label, shape {shape}"
    if not labels or not n or not k:
        return None
    if label_scores.dtype.kind not in "fiu" or not np.isfinite(label_scores).all():
        return "predict_topk() gave an asked label a score that is not a finite number"
    label_scores = label_scores.astype(np.float64, copy=False)
    if (
        label_ranks.dtype.kind not in "iu"
        or ((label_ranks < 1) & (label_ranks != UNKNOWN_RANK)).any()
    ):
        return f"predict_topk() gave a rank that is neither 1-based nor {UNKNOWN_RANK} (unknown)"
    listed = idx[:, :, None] == np.asarray(labels, dtype=np.int64)[None, None, :]
    in_list = listed.any(axis=1)
    position = listed.argmax(axis=1)  # 0-based where listed
    if (in_list & (label_ranks != position + 1)).any():
        return "predict_topk() gave a listed label a rank other than its place in the list"
    if (~in_list & (label_ranks >= 1) & (label_ranks <= k)).any():
        return "predict_topk() ranked a label within the top-k that its list leaves out"
    at = scores[np.arange(n)[:, None], position]
    off = np.abs(label_scores - at) > 1e-6 + SCORE_TOLERANCE * np.abs(at)
    if (in_list & off).any():
        return "predict_topk() gave a listed label a score other than the list's"
    if ((label_ranks > k) & (label_scores > scores[:, k - 1 : k] + SCORE_TOLERANCE)).any():
        return "predict_topk() ranked a label below the top-k although it outscores the k-th"
    return None


# -- datasets ---------------------------------------------------------------------------------


def corpus_problem(corpus: Any, min_train: int = 1) -> tuple[str, str] | None:
    """The first rule of :class:`harness.contracts.dataset.DatasetReader` a loaded corpus
    breaks, as ``(rule, detail)``; None for a well-formed corpus. ``min_train``: training
    documents needed (:data:`MIN_TRAIN_DOCUMENTS` to train on it)."""
    from harness.data import Corpus

    if not isinstance(corpus, Corpus):
        return "dataset.load", f"load() must return a Corpus, got {_shown(corpus)}"
    names = corpus.label_names
    if not isinstance(names, list) or not names:
        return "dataset.label_names", "there are no label names"
    if not all(isinstance(n, str) and n for n in names):
        return "dataset.label_names", "label names must be non-empty strings"
    if len(set(names)) != len(names):
        return "dataset.label_names", "label names repeat"
    for split in ("train", "test"):
        docs = getattr(corpus, split)
        if not isinstance(docs, list) or not docs:
            return "dataset.splits", f"the {split} split is empty"
    if len(corpus.train) < min_train:
        return (
            "dataset.splits",
            f"the train split has {len(corpus.train)} documents; at least {min_train} are "
            "needed to train (label propensities need ln N > 1)",
        )
    L = len(names)
    seen: set[str] = set()
    for d in (*corpus.train, *corpus.test):
        if not isinstance(d.doc_id, str) or d.doc_id in seen:
            return "dataset.doc_ids", f"document ids must be unique strings ({d.doc_id!r})"
        seen.add(d.doc_id)
        if not isinstance(d.text, str):
            return "dataset.text", f"the text of {d.doc_id!r} is not a str"
        labels = d.labels
        if (
            not isinstance(labels, tuple)
            or any(
                not isinstance(j, int | np.integer) or isinstance(j, bool) or not 0 <= j < L
                for j in labels
            )
            or list(labels) != sorted(set(labels))
        ):
            return (
                "dataset.label_indices",
                f"labels must be sorted, unique indices into label_names (document {d.doc_id!r})",
            )
    a, b = corpus.propensity_a, corpus.propensity_b
    try:
        good = bool(np.isfinite([a, b]).all()) and a > 0 and b > 0
    except (TypeError, ValueError):
        good = False
    if not good:
        return "dataset.propensity", f"propensity constants must be positive, got {a!r}, {b!r}"
    return None
