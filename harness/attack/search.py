"""Algorithm 1 of the paper (docs/method.md, "Search"): greedy word substitution in importance
order.

For the t-th most important word, every candidate replacement is scored in one batch
against the *current* text S_{t-1}; candidates breaking a constraint are dropped; a
candidate that reaches the goal ends the search (the most similar such one wins);
otherwise the best strictly positive gain is kept and the search moves on, and a word with
no positive gain is left as it was. The change budget is floor(θ·n) words.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from harness.attack.engine import QueryEngine
from harness.attack.goals import Goal
from harness.contracts.constraint import ConstraintCheck, SimilarityCheck
from harness.contracts.importance import ImportanceScorer
from harness.contracts.substituter import Substituter
from harness.text import is_attackable, tokenize
from harness.vocab import Outcome


@dataclass
class Substitution:
    """One word replacement the search accepted, in the order it made them."""

    step: int
    position: int
    old_word: str
    new_word: str
    gain: float


@dataclass
class TrialResult:
    """Everything the store records about one trial."""

    outcome: str
    original: list[str]
    adversarial: list[str]
    substitutions: list[Substitution] = field(default_factory=list)
    similarity: float | None = None
    rank_before: int | None = None
    rank_after: int | None = None
    topk_before: list[int] = field(default_factory=list)
    topk_after: list[int] = field(default_factory=list)

    @property
    def n_changed(self) -> int:
        return sum(a != b for a, b in zip(self.original, self.adversarial, strict=True))

    @property
    def change_rate(self) -> float:
        return self.n_changed / max(1, len(self.original))

    @property
    def changed_words(self) -> list[list[object]]:
        return [
            [i, a, b]
            for i, (a, b) in enumerate(zip(self.original, self.adversarial, strict=True))
            if a != b
        ]


@dataclass
class SearchSettings:
    """Knobs of Algorithm 1 that are not plugins."""

    max_queries: int | None = None
    """Stop with budget-exhausted after this many logical queries in one trial."""

    lazy_checks: bool = True
    """Check constraints only on as many candidates as the choice needs: every candidate
    that meets the goal (the most similar passing one wins), else the others in decreasing
    gain until one passes, in chunks of ``check_chunk``. Same choice as checking all of
    them (False, the reference loop's way), far fewer sentence-encoder calls."""

    check_chunk: int = 8


def _timed_check(
    check: ConstraintCheck,
    texts: Sequence[list[str]],
    n_changed: Sequence[int],
    engine: QueryEngine,
) -> np.ndarray:
    t0 = time.perf_counter()
    ok = np.asarray(check.check(texts, n_changed), dtype=bool)
    engine.counters.add_time("constraints", time.perf_counter() - t0)
    return ok


class GreedySearch:
    """Algorithm 1, with every model query batched through a :class:`QueryEngine`."""

    def __init__(
        self,
        importance: ImportanceScorer,
        substituter: Substituter,
        settings: SearchSettings | None = None,
    ):
        self.importance = importance
        self.substituter = substituter
        self.settings = settings or SearchSettings()

    def attack(
        self,
        words: list[str],
        goal: Goal,
        engine: QueryEngine,
        checks: Sequence[ConstraintCheck],
        similarity: SimilarityCheck | None,
    ) -> TrialResult:
        """Attack ``words`` (already truncated to what the model sees) towards ``goal``."""
        original = list(words)
        k, targets = goal.k, goal.targets
        base = engine.scores([original], k, targets)
        result = TrialResult(
            outcome=Outcome.SKIPPED_NOT_ATTACKABLE,
            original=original,
            adversarial=list(original),
            rank_before=base.rank_of(0),
            topk_before=[int(x) for x in base.indices[0, :k]],
        )
        if not goal.attackable(base):
            result.rank_after = result.rank_before
            result.topk_after = result.topk_before
            result.similarity = 1.0
            return result

        budgets = [b for b in (c.max_changes() for c in checks) if b is not None]
        budget = min(budgets) if budgets else len(original)
        positions = [i for i, w in enumerate(original) if is_attackable(w)]
        start_queries = engine.counters.logical_queries
        t0 = time.perf_counter()
        importance = np.asarray(
            self.importance.scores(original, positions, engine, goal, base), dtype=np.float64
        )
        engine.counters.add_time("importance", time.perf_counter() - t0)
        # Stable sort: ties keep document order, so runs are reproducible.
        order = [positions[i] for i in np.argsort(-importance, kind="stable")]

        t0 = time.perf_counter()
        source = self.substituter.start(original)
        engine.counters.add_time("substituter", time.perf_counter() - t0)
        current = list(original)
        current_probs = base
        n_changed = 0
        goal_met_but_constrained = False
        outcome = Outcome.WORDS_EXHAUSTED
        for pos in order:
            if n_changed + 1 > budget:
                outcome = Outcome.BUDGET_EXHAUSTED
                break
            if (
                self.settings.max_queries is not None
                and engine.counters.logical_queries - start_queries >= self.settings.max_queries
            ):
                outcome = Outcome.BUDGET_EXHAUSTED
                break
            t0 = time.perf_counter()
            cands = source.candidates(current, pos)
            engine.counters.add_time("substituter", time.perf_counter() - t0)
            # A candidate must survive a store-and-reload round trip as one word.
            cands = [c for c in cands if c != current[pos] and tokenize(c) == [c]]
            if not cands:
                continue
            texts = [current[:pos] + [c] + current[pos + 1 :] for c in cands]
            probs = engine.scores(texts, k, targets)
            gamma = goal.gamma(current_probs)
            gains = goal.progress(probs, gamma) - goal.progress(current_probs, gamma)[0]
            met = goal.is_met(probs)
            # Only candidates that could be chosen are checked against the constraints.
            consider = np.flatnonzero(met | (gains > 0))
            if len(consider) == 0:
                continue
            if self.settings.lazy_checks:
                ok = self._lazy_ok(consider, met, gains, texts, checks, n_changed, engine)
            else:
                ok = self._passes(consider, texts, checks, n_changed, engine)
            winners = consider[ok & met[consider]]
            if met[consider].any() and len(winners) == 0:
                goal_met_but_constrained = True
            if len(winners):
                if similarity is not None and len(winners) > 1:
                    t0 = time.perf_counter()
                    sims = np.asarray(similarity.similarity([texts[i] for i in winners]))
                    engine.counters.add_time("constraints", time.perf_counter() - t0)
                    best = int(winners[int(np.argmax(sims))])
                else:
                    best = int(winners[0])
                self._accept(result, current, pos, cands[best], float(gains[best]))
                current_probs = probs.rows(best)
                n_changed += 1
                outcome = Outcome.SUCCESS
                break
            allowed = consider[ok & (gains[consider] > 0)]
            if len(allowed):
                best = int(allowed[int(np.argmax(gains[allowed]))])
                self._accept(result, current, pos, cands[best], float(gains[best]))
                current_probs = probs.rows(best)
                n_changed += 1
        if outcome != Outcome.SUCCESS and goal_met_but_constrained:
            outcome = Outcome.GOAL_MET_CONSTRAINT_FAILED
        result.outcome = outcome
        result.adversarial = current
        result.rank_after = current_probs.rank_of(0)
        result.topk_after = [int(x) for x in current_probs.indices[0, :k]]
        if similarity is not None:
            t0 = time.perf_counter()
            result.similarity = float(np.asarray(similarity.similarity([current]))[0])
            engine.counters.add_time("constraints", time.perf_counter() - t0)
        return result

    @staticmethod
    def _passes(
        idx: np.ndarray,
        texts: Sequence[list[str]],
        checks: Sequence[ConstraintCheck],
        n_changed: int,
        engine: QueryEngine,
    ) -> np.ndarray:
        """Whether each of the candidates ``idx`` passes every check (checks in order, each
        only on the survivors of the previous ones)."""
        ok = np.ones(len(idx), dtype=bool)
        for check in checks:
            live = np.flatnonzero(ok)
            if len(live) == 0:
                break
            sub = [texts[idx[i]] for i in live]
            ok[live] = _timed_check(check, sub, [n_changed + 1] * len(live), engine)
        return ok

    def _lazy_ok(
        self,
        consider: np.ndarray,
        met: np.ndarray,
        gains: np.ndarray,
        texts: Sequence[list[str]],
        checks: Sequence[ConstraintCheck],
        n_changed: int,
        engine: QueryEngine,
    ) -> np.ndarray:
        """``ok`` over ``consider`` as the full check would give it wherever the choice reads
        it; candidates the choice cannot depend on are left False without being checked.

        Every goal-meeting candidate is checked (the most similar passing one wins). Only
        when none passes are the others checked, in decreasing gain (ties in index order,
        as ``argmax`` breaks them), a chunk at a time, stopping at the first chunk with a
        passing candidate: it holds the best allowed gain.
        """
        ok = np.zeros(len(consider), dtype=bool)
        is_met = met[consider]
        m = np.flatnonzero(is_met)
        if len(m):
            ok[m] = self._passes(consider[m], texts, checks, n_changed, engine)
            if ok[m].any():
                return ok
        rest = np.flatnonzero(~is_met)
        rest = rest[np.argsort(-gains[consider[rest]], kind="stable")]
        step = max(1, self.settings.check_chunk)
        for start in range(0, len(rest), step):
            chunk = rest[start : start + step]
            ok[chunk] = self._passes(consider[chunk], texts, checks, n_changed, engine)
            if ok[chunk].any():
                break
        return ok

    @staticmethod
    def _accept(result: TrialResult, current: list[str], pos: int, word: str, gain: float) -> None:
        step = Substitution(len(result.substitutions) + 1, pos, current[pos], word, gain)
        result.substitutions.append(step)
        current[pos] = word
