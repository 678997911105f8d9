"""What importance-scorer, substituter and constraint plugins implement.

Each is a small protocol so that a third party can replace any built-in: the search in
:mod:`harness.attack.search` only calls the methods below.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    from harness.attack.engine import QueryEngine
    from harness.attack.goals import Goal


@runtime_checkable
class ImportanceScorer(Protocol):
    """Ranks the words of a document by how much each one holds the goal back."""

    def scores(
        self,
        words: list[str],
        positions: Sequence[int],
        engine: QueryEngine,
        goal: Goal,
        base_probs: np.ndarray,
    ) -> np.ndarray:
        """One importance per entry of ``positions`` (higher = attack first).

        ``base_probs`` are g(S) for ``words``; every model query goes through ``engine`` so
        it is batched, cached and counted.
        """
        ...


@runtime_checkable
class CandidateSource(Protocol):
    """Per-document candidate generator returned by :meth:`Substituter.start`."""

    def candidates(self, current: list[str], position: int) -> list[str]:
        """Up to K replacement words for ``current[position]``, best first, already filtered
        (no copy of the original word in any case, no stopword, no punctuation-only string)."""
        ...


@runtime_checkable
class Substituter(Protocol):
    """Proposes replacement words; ``start`` may precompute on the original document."""

    def start(self, original: list[str]) -> CandidateSource: ...


@runtime_checkable
class ConstraintCheck(Protocol):
    """A constraint bound to one original document."""

    def check(self, texts: Sequence[list[str]], n_changed: Sequence[int]) -> np.ndarray:
        """Boolean mask: which candidate texts satisfy the constraint."""
        ...

    def max_changes(self) -> int | None:
        """A hard cap on changed words implied by the constraint (change rate), or None."""
        ...


@runtime_checkable
class SimilarityCheck(ConstraintCheck, Protocol):
    """A constraint that also measures similarity; the search stores its raw cosine."""

    def similarity(self, texts: Sequence[list[str]]) -> np.ndarray:
        """Raw cosine similarity of each text to the original (cached original encoding)."""
        ...


@runtime_checkable
class Constraint(Protocol):
    """A similarity or budget constraint; ``start`` binds it to one original document."""

    name: str

    def start(self, original: list[str]) -> ConstraintCheck: ...
