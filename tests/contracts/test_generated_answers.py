"""Generated plugin return values (issue 13): whatever an importance scorer, a substituter or
a constraint hands back, the run-time checks either return it in the type the attack works
with, or raise :class:`ContractViolation` naming the rule in one line; no other exception
escapes them (which would reach the user as a traceback instead of an ``error`` trial).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from harness.contracts.checks import (
    ContractViolation,
    checked_candidates,
    checked_max_changes,
    checked_scores,
    checked_similarities,
    checked_verdicts,
)

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
        out = check(SUBJECT, value, n)
    except ContractViolation as exc:
        _refused(exc, rule)
        return
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
