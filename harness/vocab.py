"""The harness's closed vocabularies, one string enum each.

Every list of allowed words (plugin kinds, attack kinds, trial outcomes, run statuses, loss
weightings, similarity scales) is defined here once; click choices, the database schema's
checks and the code all read it from here, so adding a word is one edit. Members are
``str`` subclasses: they compare equal to, hash like and serialise as their plain values.
"""

from __future__ import annotations

from enum import StrEnum


class Kind(StrEnum):
    """The six plugin kinds, in the order data flows through an evaluation."""

    DATASET = "dataset"
    MODEL = "model"
    LOSS = "loss"
    IMPORTANCE = "importance"
    SUBSTITUTER = "substituter"
    SIMILARITY = "similarity"


class AttackKind(StrEnum):
    """What a trial tries to do to the top-k (docs/method.md, "Goals")."""

    POSITIVE = "positive"
    NEGATIVE = "negative"
    NON_TARGETED = "non-targeted"


class Outcome(StrEnum):
    """The closed set of trial outcomes; every stored trial has exactly one."""

    SUCCESS = "success"
    BUDGET_EXHAUSTED = "budget-exhausted"
    WORDS_EXHAUSTED = "words-exhausted"
    GOAL_MET_CONSTRAINT_FAILED = "goal-met-constraint-failed"
    SKIPPED_NOT_ATTACKABLE = "skipped-not-attackable"
    ERROR = "error"


class RunStatus(StrEnum):
    """A run's life: running, then finished, failed or interrupted; superseded when started
    afresh."""

    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    SUPERSEDED = "superseded"


class Weighting(StrEnum):
    """Per-label weighting of a loss's positive part: plain, PW, PW-cb."""

    NONE = "none"
    PW = "pw"
    PW_CB = "pw-cb"


class Normalisation(StrEnum):
    """How PW / PW-cb weights are scaled: mean one over labels, or the positives' total kept."""

    LABELS = "labels"
    POSITIVES = "positives"


class SimilarityScale(StrEnum):
    """The scale a similarity threshold is read on: raw cosine or 1 − arccos(cos)/π."""

    COSINE = "cosine"
    ANGULAR = "angular"


class CheckpointVia(StrEnum):
    """How a distributed worker reaches the model checkpoint: the path the driver recorded
    when its disk holds it (else a copy through the object store), that path only, or always
    the copy (docs: README, "Running on a Ray cluster")."""

    AUTO = "auto"
    SHARED_FOLDER = "shared-folder"
    OBJECT_STORE = "object-store"


def values(enum: type[StrEnum]) -> tuple[str, ...]:
    """The plain string values of an enum, in definition order (for click and messages)."""
    return tuple(str(m.value) for m in enum)
