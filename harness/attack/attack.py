"""An attack: goal, constraints, substituter, importance and search composed into one object.

``Attack.run(words, targets)`` is one trial, whoever runs it: a campaign's executor, a
benchmark, a notebook. It holds its built plugins and its counted query engine, so it is
built once (:mod:`harness.attack.build`, the only place that assembles one) and then run
for many trials; the engine's score cache is emptied after each trial.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness.attack.engine import Counters, QueryEngine
from harness.attack.goals import Goal
from harness.attack.search import GreedySearch, TrialResult
from harness.errors import PluginError
from harness.vocab import AttackKind

if TYPE_CHECKING:
    from harness.contracts.constraint import Constraint, ConstraintCheck, SimilarityCheck


@dataclass
class TrialAttempt:
    """One trial as it ended: its result, or the error that stopped it, and what it cost.

    ``trial`` is whatever the caller attached (a campaign attaches its planned trial), so an
    executor can hand attempts back in any order.
    """

    result: TrialResult | None
    error: str | None
    cost: Counters
    seconds: float
    trial: object = None


class Attack:
    """A built attack of one kind and k, ready to run trials against one model.

    ``constraints`` are bound to each document in order; ``similarity`` (one of them) is
    the constraint whose similarity the search ranks goal-meeting candidates by and the
    trial stores.
    """

    def __init__(
        self,
        kind: AttackKind | str,
        k: int,
        engine: QueryEngine,
        search: GreedySearch,
        constraints: Sequence[Constraint],
        similarity: Constraint | None,
    ):
        self.kind = AttackKind(kind)
        self.k = k
        self.engine = engine
        self.search = search
        self.constraints = list(constraints)
        self.similarity = similarity

    def run(self, words: Sequence[str], targets: Sequence[int]) -> TrialResult:
        """Attack ``words`` (already truncated to what the model reads) towards moving
        ``targets`` (primary first) as the goal asks; raises whatever a plugin raises."""
        goal = Goal(self.kind, tuple(int(t) for t in targets), self.k)
        original = list(words)
        checks: list[ConstraintCheck] = [c.start(original) for c in self.constraints]
        sim_check: SimilarityCheck | None = None
        if self.similarity is not None:
            bound = checks[self.constraints.index(self.similarity)]
            if callable(getattr(bound, "similarity", None)):  # a budget measures no similarity
                sim_check = bound  # type: ignore[assignment]
        try:
            return self.search.attack(original, goal, self.engine, checks, sim_check)
        finally:
            self.engine.clear()  # scores are cached within a trial only

    def attempt(
        self, words: Sequence[str], targets: Sequence[int], trial: object = None
    ) -> TrialAttempt:
        """:meth:`run`, with a plugin's exception caught as the trial's error message and
        the trial's cost (queries, forward passes, seconds) measured either way."""
        before = self.engine.counters.snapshot()
        t0 = time.perf_counter()
        result: TrialResult | None = None
        error: str | None = None
        try:
            result = self.run(words, targets)
        except (KeyboardInterrupt, SystemExit):
            raise
        except PluginError as exc:  # names the plugin and the call already
            error = str(exc)
        except Exception as exc:
            error = f"{exc.__class__.__name__}: {exc}"
        seconds = time.perf_counter() - t0
        return TrialAttempt(result, error, self.engine.counters.since(before), seconds, trial)
