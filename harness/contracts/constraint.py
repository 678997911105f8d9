"""The constraint contract: what a candidate text must satisfy to be kept.

A similarity-kind component's factory returns a :class:`Constraint`. For each trial the
attack calls :meth:`Constraint.start` once on the original document; the returned
:class:`ConstraintCheck` then judges batches of candidate texts. A check that also measures
similarity (a :class:`SimilarityCheck`) is the one whose value each trial stores and by
which goal-meeting candidates are ranked.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class ConstraintCheck(Protocol):
    """A constraint bound to one original document."""

    def check(self, texts: Sequence[list[str]], n_changed: Sequence[int]) -> np.ndarray:
        """Which candidate texts satisfy the constraint.

        :param texts: candidate documents, each the original with some words replaced.
        :param n_changed: how many words of each text differ from the original.
        :returns: a boolean array, one entry per text, in order; the original itself (no
            change) passes; deterministic, and independent of the batch it comes in.
        """
        ...

    def max_changes(self) -> int | None:
        """A hard cap on changed words the constraint implies (the change-rate budget
        floor(θ·n)), or None. The search stops with ``budget-exhausted`` at the smallest."""
        ...


@runtime_checkable
class SimilarityCheck(ConstraintCheck, Protocol):
    """A check that also measures similarity to the original."""

    def similarity(self, texts: Sequence[list[str]]) -> np.ndarray:
        """The raw cosine similarity of each text to the original, in [-1, 1] (the original
        itself: 1). Stored with every trial, whatever scale the threshold is read on."""
        ...


@runtime_checkable
class Constraint(Protocol):
    """A similarity or budget constraint, before it is bound to a document."""

    name: str
    """Shown in messages."""

    def start(self, original: list[str]) -> ConstraintCheck:
        """Bind to one original document (an encoder embeds it once here).

        :param original: the document's words, truncated to what the model reads.
        :returns: the check for this document (a :class:`SimilarityCheck` when the
            constraint measures similarity).
        """
        ...
