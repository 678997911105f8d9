"""The attack's plugins behind their contracts: every call is named, every answer checked.

:class:`~harness.attack.build.AttackBuilder` wraps the importance scorer, the substituter and
each constraint in these guards before the search sees them, so the search keeps trusting
what it is handed and a plugin cannot steer it with a wrong type: a substituter returning a
string (whose letters would be proposed), a scorer returning ``None`` (one word attacked), a
constraint answering ``"yes"`` (everything passes). A wrong answer raises
:class:`~harness.contracts.checks.ContractViolation` and an exception raised by the plugin a
:class:`~harness.plugin_calls.PluginCallError`; either ends the trial as an ``error`` whose
message names the plugin, the call and the rule, and the campaign goes on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from harness.contracts.checks import (
    ContractViolation,
    checked_candidates,
    checked_max_changes,
    checked_scores,
    checked_similarities,
    checked_verdicts,
)
from harness.plugin_calls import call_plugin


class GuardedImportance:
    """An importance scorer whose scores are checked: one finite number per position."""

    def __init__(self, inner: Any, subject: str):
        self.inner = inner
        self.subject = subject
        self.needs_gradients = bool(getattr(inner, "needs_gradients", False))

    def scores(self, words, positions, engine, goal, base) -> np.ndarray:  # noqa: ANN001
        value = call_plugin(
            self.subject, "scores()", self.inner.scores, words, positions, engine, goal, base
        )
        return checked_scores(self.subject, value, len(positions))


class GuardedSource:
    """A document's candidate source whose candidates are checked against the rules."""

    def __init__(self, inner: Any, subject: str):
        self.inner = inner
        self.subject = subject

    def candidates(self, current: list[str], position: int) -> list[str]:
        value = call_plugin(self.subject, "candidates()", self.inner.candidates, current, position)
        return checked_candidates(self.subject, value, current[position])


class GuardedSubstituter:
    """A substituter whose ``start()`` must give a candidate source."""

    def __init__(self, inner: Any, subject: str):
        self.inner = inner
        self.subject = subject

    def start(self, original: list[str]) -> GuardedSource:
        source = call_plugin(self.subject, "start()", self.inner.start, original)
        if not callable(getattr(source, "candidates", None)):
            raise ContractViolation(
                "substituter.start", self.subject, f"start() gave {type(source).__name__}, "
                "which has no candidates()",
            )  # fmt: skip
        return GuardedSource(source, self.subject)


class GuardedCheck:
    """A constraint bound to one document, its verdicts and budget checked."""

    def __init__(self, inner: Any, subject: str):
        self.inner = inner
        self.subject = subject

    def check(self, texts: Sequence[list[str]], n_changed: Sequence[int]) -> np.ndarray:
        value = call_plugin(self.subject, "check()", self.inner.check, texts, n_changed)
        return checked_verdicts(self.subject, value, len(texts))

    def max_changes(self) -> int | None:
        value = call_plugin(self.subject, "max_changes()", self.inner.max_changes)
        return checked_max_changes(self.subject, value)


class GuardedSimilarityCheck(GuardedCheck):
    """A bound constraint that also measures similarity: cosines in [-1, 1], one per text."""

    def similarity(self, texts: Sequence[list[str]]) -> np.ndarray:
        value = call_plugin(self.subject, "similarity()", self.inner.similarity, texts)
        return checked_similarities(self.subject, value, len(texts))


class GuardedConstraint:
    """A constraint whose ``start()`` must give a check (with ``similarity()`` when the
    plugin's check measures similarity)."""

    def __init__(self, inner: Any, subject: str):
        self.inner = inner
        self.subject = subject
        self.name = str(getattr(inner, "name", subject))

    def start(self, original: list[str]) -> GuardedCheck:
        check = call_plugin(self.subject, "start()", self.inner.start, original)
        if not (
            callable(getattr(check, "check", None))
            and callable(getattr(check, "max_changes", None))
        ):
            raise ContractViolation(
                "constraint.start", self.subject,
                f"start() gave {type(check).__name__}, which lacks check() or max_changes()",
            )  # fmt: skip
        if callable(getattr(check, "similarity", None)):
            return GuardedSimilarityCheck(check, self.subject)
        return GuardedCheck(check, self.subject)
