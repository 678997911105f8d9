"""Generated plugin return values (issue 13): whatever an importance scorer, a substituter or
a constraint hands back, the run-time checks either return it in the type the attack works
with, or raise :class:`ContractViolation` naming the rule in one line; no other exception
escapes them (which would reach the user as a traceback instead of an ``error`` trial).
A model's sparse answer is held to its rules too: an honest one passes, and one that lies
in any single respect (a list not best first, a rank or score that contradicts the list)
is named.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from harness.contracts.checks import (
    ContractViolation,
    checked_candidates,
    checked_max_changes,
    checked_scores,
    checked_similarities,
    checked_verdicts,
    topk_problem,
)
from harness.ranking import UNKNOWN_RANK, TopK

SUBJECT = "plugin 'generated'"

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**80), 2**80),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.binary(max_size=6),
)
ARRAYS = hnp.arrays(
    dtype=st.sampled_from(
        [np.bool_, np.int8, np.int64, np.uint64, np.float16, np.float64, np.complex64, "U3", "O"]
    ),
    shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4),
)
ANSWERS = st.recursive(
    st.one_of(SCALARS, ARRAYS),
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.tuples(inner, inner),
        st.dictionaries(st.text(max_size=3), inner, max_size=3),
        st.frozensets(st.integers(), max_size=3),
    ),
    max_leaves=12,
)
EXAMPLES = settings(max_examples=400, deadline=None)


def _refused(exc: ContractViolation, rule: str) -> None:
    assert exc.rule == rule
    assert str(exc).startswith(f"{SUBJECT} broke its contract [{rule}]")
    assert "\n" not in str(exc)


@EXAMPLES
@given(value=st.one_of(ANSWERS, st.lists(st.text(max_size=8), max_size=6)), word=st.text())
def test_generated_candidates(value: object, word: str) -> None:
    try:
        out = checked_candidates(SUBJECT, value, word)
    except ContractViolation as exc:
        assert exc.rule in ("substituter.candidates", "substituter.filtered")
        _refused(exc, exc.rule)
        return
    assert isinstance(out, list) and all(isinstance(w, str) for w in out)
    assert word.lower() not in {w.lower() for w in out}


@pytest.mark.parametrize(
    ("check", "rule", "numbers"),
    [
        (checked_scores, "importance.shape", True),
        (checked_similarities, "constraint.similarity", True),
        (checked_verdicts, "constraint.check", False),
    ],
    ids=["scores", "similarities", "verdicts"],
)
@EXAMPLES
# Found by Hypothesis: an object array holding a complex scalar, cast with only a warning.
@example(value=[[None, None], (None, np.array(0j, dtype=np.complex64))], n=0)
@given(
    value=st.one_of(
        ANSWERS,
        st.integers(0, 4).flatmap(
            lambda n: st.lists(st.floats(-2, 2) | st.booleans(), min_size=n, max_size=n)
        ),
    ),
    n=st.integers(0, 4),
)
def test_generated_arrays(check, rule: str, numbers: bool, value: object, n: int) -> None:  # noqa: ANN001
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # nothing accepted by dropping part of it
            out = check(SUBJECT, value, n)
    except ContractViolation as exc:
        _refused(exc, rule)
        return
    assert not (isinstance(value, np.ndarray) and value.dtype.kind == "c"), value
    assert isinstance(out, np.ndarray) and out.shape == (n,)
    if numbers:
        assert out.dtype == np.float64 and np.isfinite(out).all()
        if rule == "constraint.similarity":
            assert (np.abs(out) <= 1 + 1e-5).all()
    else:
        assert out.dtype == np.bool_


@EXAMPLES
@given(value=ANSWERS)
def test_generated_max_changes(value: object) -> None:
    try:
        out = checked_max_changes(SUBJECT, value)
    except ContractViolation as exc:
        _refused(exc, "constraint.max_changes")
        return
    assert out is None or (type(out) is int and out >= 0)


# -- a model's answer: well-formed lies must not be believed ---------------------------------


@st.composite
def honest_answers(draw: st.DrawFn) -> tuple[TopK, int, int]:
    """A dense model's true answer (distinct scores, so every lie below is visible), with
    the ranks of unlisted labels kept or forgotten as a sparse model would."""
    n = draw(st.integers(1, 4))
    n_labels = draw(st.integers(2, 24))
    k = draw(st.integers(1, min(n_labels, 6)))
    seed = draw(st.integers(0, 2**32 - 1))
    scores = np.random.default_rng(seed).permutation(n * n_labels).reshape(n, n_labels)
    scores = (scores / (n * n_labels)).astype(np.float32)
    labels = tuple(draw(st.lists(st.integers(0, n_labels - 1), max_size=4, unique=True)))
    answer = TopK.from_dense(scores, k, labels)
    if draw(st.booleans()):  # a sparse model knows no rank below its list
        ranks = np.where(answer.label_ranks > k, UNKNOWN_RANK, answer.label_ranks)
        answer = dataclasses.replace(answer, label_ranks=ranks)
    return answer, k, n_labels


LIES = (
    "index-out-of-range", "repeated-index", "worst-first", "score-nan", "label-score-nan",
    "rank-moved", "rank-zero", "listed-unknown", "listed-score", "unlisted-ranked-in",
    "unlisted-outscores", "other-labels", "short",
)  # fmt: skip


def _lie(answer: TopK, k: int, n_labels: int, how: str, data: st.DataObject) -> TopK | None:
    """``answer`` with one lie told in one row, or None when ``answer`` leaves no room for
    that lie (no asked label listed, say)."""
    idx, scores = answer.indices.copy(), answer.scores.copy()
    lscores, lranks = answer.label_scores.copy(), answer.label_ranks.copy()
    labels = answer.labels
    r = data.draw(st.integers(0, len(answer) - 1), label="row")
    listed = [c for c, j in enumerate(labels) if j in idx[r]]
    unlisted = [c for c in range(len(labels)) if c not in listed]
    if how == "index-out-of-range":
        idx[r, data.draw(st.integers(0, k - 1))] = data.draw(
            st.sampled_from([-1, n_labels, n_labels + 7, -(2**40)])
        )
    elif how == "repeated-index" and k > 1:
        idx[r, 1] = idx[r, 0]
    elif how == "worst-first" and k > 1:
        idx[r], scores[r] = idx[r, ::-1], scores[r, ::-1]
    elif how == "score-nan":
        scores[r, data.draw(st.integers(0, k - 1))] = data.draw(
            st.sampled_from([np.nan, np.inf, -np.inf])
        )
    elif how == "label-score-nan" and labels:
        lscores[r, data.draw(st.integers(0, len(labels) - 1))] = np.nan
    elif how == "rank-moved" and listed:
        c = data.draw(st.sampled_from(listed))
        lranks[r, c] = data.draw(
            st.integers(1, k + 3).filter(lambda v: v != lranks[r, c]), label="new rank"
        )
    elif how == "rank-zero" and labels:
        lranks[r, data.draw(st.integers(0, len(labels) - 1))] = data.draw(
            st.sampled_from([0, -2, -(2**40)])
        )
    elif how == "listed-unknown" and listed:
        lranks[r, data.draw(st.sampled_from(listed))] = UNKNOWN_RANK
    elif how == "listed-score" and listed:
        lscores[r, data.draw(st.sampled_from(listed))] += data.draw(st.sampled_from([-0.5, 0.5]))
    elif how == "unlisted-ranked-in" and unlisted:
        lranks[r, data.draw(st.sampled_from(unlisted))] = data.draw(st.integers(1, k))
    elif how == "unlisted-outscores" and unlisted:
        c = data.draw(st.sampled_from(unlisted))
        lranks[r, c] = k + 1
        lscores[r, c] = scores[r, k - 1] + 0.25
    elif how == "other-labels":
        labels = (*labels, n_labels + 1)
    elif how == "short":
        idx, scores = idx[:, : k - 1], scores[:, : k - 1]
    else:
        return None
    return TopK(idx, scores, labels, lscores, lranks)


@EXAMPLES
@given(honest=honest_answers())
def test_an_honest_model_answer_passes(honest: tuple[TopK, int, int]) -> None:
    answer, k, n_labels = honest
    assert topk_problem(answer, len(answer), k, n_labels, answer.labels) is None


@settings(max_examples=600, deadline=None)
@given(honest=honest_answers(), how=st.sampled_from(LIES), data=st.data())
def test_a_model_answer_that_lies_is_refused(
    honest: tuple[TopK, int, int], how: str, data: st.DataObject
) -> None:
    """Every kind of lie a model can tell in a well-typed TopK, one row at a time, is named:
    believed, it would move a trial's outcome or its recorded ranks."""
    answer, k, n_labels = honest
    lying = _lie(answer, k, n_labels, how, data)
    assume(lying is not None)
    problem = topk_problem(lying, len(answer), k, n_labels, answer.labels)
    assert problem is not None and problem.startswith("predict_topk() "), (how, problem)
    assert "\n" not in problem
