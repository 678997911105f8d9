"""Algorithm 1 on a tiny trained model: choice of substitution, budget, constraints."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from harness.attack.engine import QueryEngine
from harness.attack.goals import Goal
from harness.attack.search import GreedySearch
from harness.ranking import top_k
from harness.registry import load_registry
from tests.helpers.toymodel import train_toy


class ForbiddenWords:
    """A real constraint: texts containing any of these words are rejected."""

    def __init__(self, words: set[str], budget: int | None = None):
        self.words = words
        self.budget = budget
        self.seen: list[list[str]] = []

    def check(self, texts: Sequence[list[str]], n_changed: Sequence[int]) -> np.ndarray:
        self.seen.extend(texts)
        return np.array([not (set(t) & self.words) for t in texts])

    def max_changes(self) -> int | None:
        return self.budget


@pytest.fixture(scope="module")
def toy():
    return train_toy(n_docs=300, seed=0)


@pytest.fixture(scope="module")
def parts():
    reg = load_registry()
    return reg.build("importance", "mask"), reg.build("substituter", "glove", {"k": "12"})


def _positive_cases(toy, k: int = 3, n: int = 25):
    probs = toy.model.predict_proba(toy.docs)
    cases = []
    for d, labels in enumerate(toy.labels):
        pred = set(top_k(probs[d], k).tolist())
        for lab in labels:
            if lab in pred:
                cases.append((d, lab))
    return cases[:n]


def test_each_step_maximises_gain_against_current_text(toy, parts) -> None:
    importance, substituter = parts
    search = GreedySearch(importance, substituter)
    model = toy.model
    checked_steps = 0
    for d, lab in _positive_cases(toy):
        goal = Goal("positive", (lab,), k=3)
        engine = QueryEngine(model, max_batch=7)
        res = search.attack(toy.docs[d], goal, engine, [], None)
        current = list(toy.docs[d])
        source = substituter.start(list(toy.docs[d]))
        for step in res.substitutions:
            before = model.predict_proba([current])
            gamma = goal.gamma(before)
            cands = [
                c for c in source.candidates(current, step.position) if c != current[step.position]
            ]
            texts = [current[: step.position] + [c] + current[step.position + 1 :] for c in cands]
            probs = model.predict_proba(texts)  # brute force: direct, unbatched-by-engine scores
            gains = goal.progress(probs, gamma) - goal.progress(before, gamma)[0]
            met = goal.is_met(probs)
            chosen = cands.index(step.new_word)
            assert step.gain == pytest.approx(gains[chosen], abs=1e-5)
            if met.any():
                assert met[chosen]  # a goal-reaching candidate wins over a larger gain
            else:
                assert gains[chosen] == pytest.approx(gains.max(), abs=1e-6)
                assert gains[chosen] > 0
            current[step.position] = step.new_word
            checked_steps += 1
        assert current == res.adversarial
        if res.outcome == "success":
            assert goal.is_met(model.predict_proba([res.adversarial]))[0]
    assert checked_steps >= 10


def test_budget_is_never_exceeded_and_constraints_hold(toy, parts) -> None:
    importance, substituter = parts
    search = GreedySearch(importance, substituter)
    forbidden = {"profits", "earnings", "soccer", "football", "rain"}
    outcomes = set()
    for d, lab in _positive_cases(toy, n=30):
        n = len(toy.docs[d])
        budget = int(np.floor(0.1 * n))
        constraint = ForbiddenWords(forbidden, budget=budget)
        engine = QueryEngine(toy.model)
        res = search.attack(toy.docs[d], Goal("positive", (lab,), k=3), engine, [constraint], None)
        outcomes.add(res.outcome)
        assert res.n_changed <= budget
        assert len(res.substitutions) == res.n_changed
        assert not set(res.adversarial) & forbidden or set(toy.docs[d]) & forbidden
        for step in res.substitutions:
            assert step.new_word not in forbidden
        if res.outcome == "budget-exhausted":
            assert res.n_changed == budget
    assert "success" in outcomes


def test_batching_and_cache_are_counted(toy, parts) -> None:
    importance, substituter = parts
    d, lab = _positive_cases(toy)[0]
    engine = QueryEngine(toy.model, max_batch=5)
    res = GreedySearch(importance, substituter).attack(
        toy.docs[d], Goal("positive", (lab,), k=3), engine, [], None
    )
    c = engine.counters
    assert c.logical_queries >= c.forward_passes > 0
    assert c.batches >= c.forward_passes / 5
    assert res.outcome in {"success", "words-exhausted", "budget-exhausted"}


def test_already_met_goal_is_skipped(toy, parts) -> None:
    importance, substituter = parts
    probs = toy.model.predict_proba([toy.docs[0]])
    outside = int(np.argsort(probs[0])[0])  # the lowest-ranked label is not in the top-3
    res = GreedySearch(importance, substituter).attack(
        toy.docs[0], Goal("positive", (outside,), k=3), QueryEngine(toy.model), [], None
    )
    assert res.outcome == "skipped-not-attackable" and res.n_changed == 0


def test_goal_met_but_constraint_failed_is_its_own_outcome(toy, parts) -> None:
    importance, substituter = parts
    search = GreedySearch(importance, substituter)
    tried = 0
    for d, lab in _positive_cases(toy, n=30):
        goal = Goal("positive", (lab,), k=3)
        free = search.attack(toy.docs[d], goal, QueryEngine(toy.model), [], None)
        if free.outcome != "success" or len(free.substitutions) != 1:
            continue
        # the very first attacked word has a goal-reaching candidate; now forbid every word
        # the substituter could propose, so that the goal is reachable but never allowed
        vocab = {
            w
            for pos in range(len(toy.docs[d]))
            for w in substituter.start(toy.docs[d]).candidates(toy.docs[d], pos)
        }
        res = search.attack(
            toy.docs[d], goal, QueryEngine(toy.model), [ForbiddenWords(vocab)], None
        )
        assert res.outcome == "goal-met-constraint-failed"
        assert res.adversarial == toy.docs[d] and res.substitutions == []
        tried += 1
    assert tried >= 2
