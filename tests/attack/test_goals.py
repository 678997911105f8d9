"""Goals (docs/method.md, "Goals"): each success condition, Γ_t, and the sign of progress."""

from __future__ import annotations

import numpy as np
import pytest

from harness.attack.goals import Goal
from harness.ranking import ranks, top_k


def test_ranks_break_ties_by_label_index() -> None:
    p = np.array([[0.5, 0.9, 0.5, 0.1]])
    assert ranks(p, [0, 1, 2, 3]).tolist() == [[2, 1, 3, 4]]
    assert top_k(p[0], 2).tolist() == [1, 0]
    # agrees with a stable descending sort on random rows with many ties
    rng = np.random.default_rng(0)
    q = rng.integers(0, 4, size=(20, 9)).astype(float)
    for row in q:
        order = np.argsort(-row, kind="stable")
        expected = np.empty(9, dtype=int)
        expected[order] = np.arange(1, 10)
        assert ranks(row[None], range(9))[0].tolist() == expected.tolist()


def test_positive_goal() -> None:
    g = Goal("positive", (0,), k=2)
    before = np.array([[0.9, 0.8, 0.1, 0.05]])
    after = np.array([[0.7, 0.8, 0.75, 0.05]])  # label 0 is third now
    assert g.attackable(before) and not g.is_met(before)[0]
    assert g.is_met(after)[0]
    assert g.gamma(before).tolist() == [0]
    # progress rises as the target's score falls
    assert g.progress(after, np.array([0]))[0] > g.progress(before, np.array([0]))[0]


def test_positive_goal_with_several_targets_needs_all_out() -> None:
    g = Goal("positive", (0, 1), k=2)
    one_out = np.array([[0.9, 0.1, 0.8]])
    both_out = np.array([[0.2, 0.1, 0.8, 0.7]])
    assert not g.is_met(one_out)[0]
    assert g.is_met(both_out)[0]
    assert g.gamma(one_out).tolist() == [0]  # Γ_t = A+ ∩ top-k


def test_negative_goal_needs_every_target_in() -> None:
    g = Goal("negative", (2, 3), k=2)
    p0 = np.array([[0.9, 0.8, 0.1, 0.05]])
    p1 = np.array([[0.9, 0.1, 0.95, 0.05]])
    p2 = np.array([[0.1, 0.1, 0.95, 0.96]])
    assert g.attackable(p0)
    assert g.gamma(p1).tolist() == [3]  # Γ_t = A- \ top-k
    assert not g.is_met(p1)[0] and g.is_met(p2)[0]
    assert g.sign == 1.0 and g.progress(p1, np.array([3]))[0] == pytest.approx(0.05)


def test_non_targeted_goal_any_true_label_out() -> None:
    g = Goal("non-targeted", (0, 1), k=2)
    assert not g.is_met(np.array([[0.9, 0.8, 0.1]]))[0]
    assert g.is_met(np.array([[0.9, 0.1, 0.8]]))[0]


def test_batched_rows_are_independent() -> None:
    g = Goal("positive", (1,), k=1)
    p = np.array([[0.1, 0.9], [0.9, 0.1]])
    assert g.is_met(p).tolist() == [False, True]


def test_bad_goals_are_refused() -> None:
    with pytest.raises(ValueError):
        Goal("sideways", (1,))
    with pytest.raises(ValueError):
        Goal("positive", (1,), k=0)
    with pytest.raises(ValueError):
        Goal("positive", ())
