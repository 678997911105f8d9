"""What a training regime cost, counted and timed beside the plain training it extends.

Counts do not depend on the machine: documents through a forward and a backward pass, in
the clean (plain) part of each step and in the regime's extra part, and for substitution the
attack's trials, logical queries and forward passes. Seconds are taken in the same process
for the plain part (clean passes, optimiser steps) and for the extra part (perturbation
passes, attacks, retraining rounds), so their ratio holds under whatever load the machine
had, which absolute seconds do not.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any


@dataclass
class TrainingCost:
    """Counters and timers of one regime's training."""

    regime: str
    clean_forward: int = 0
    clean_backward: int = 0
    extra_forward: int = 0
    extra_backward: int = 0
    steps: int = 0
    epochs: int = 0
    rounds: int = 0
    refreshes: int = 0
    attack_trials: int = 0
    attack_successes: int = 0
    attack_queries: int = 0
    attack_forward_passes: int = 0
    attack_backward_passes: int = 0
    candidate_documents: int = 0
    adversarial_documents: int = 0
    plain_seconds: float = 0.0
    extra_seconds: float = 0.0
    attack_seconds: float = 0.0
    epoch_seconds: list[float] = field(default_factory=list)
    refresh_log: list[dict[str, Any]] = field(default_factory=list)

    @contextmanager
    def timing(self, part: str) -> Iterator[None]:
        """Add the block's wall seconds to ``plain_seconds`` or ``extra_seconds``."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            dt = time.perf_counter() - t0
            if part == "plain":
                self.plain_seconds += dt
            else:
                self.extra_seconds += dt

    def as_dict(self) -> dict[str, Any]:
        """The record stored with the model: counts, seconds, and the ratios to plain."""
        fwd = self.clean_forward + self.extra_forward
        bwd = self.clean_backward + self.extra_backward
        total = self.plain_seconds + self.extra_seconds
        return {
            "regime": self.regime,
            "documents_forward": {"clean": self.clean_forward, "extra": self.extra_forward},
            "documents_backward": {"clean": self.clean_backward, "extra": self.extra_backward},
            "forward_vs_plain": fwd / self.clean_forward if self.clean_forward else None,
            "backward_vs_plain": bwd / self.clean_backward if self.clean_backward else None,
            "steps": self.steps,
            "epochs": self.epochs,
            "rounds": self.rounds,
            "attack": {
                "refreshes": self.refreshes,
                "trials": self.attack_trials,
                "successes": self.attack_successes,
                "logical_queries": self.attack_queries,
                "forward_passes": self.attack_forward_passes,
                "backward_passes": self.attack_backward_passes,
                "candidate_documents": self.candidate_documents,
                "adversarial_documents": self.adversarial_documents,
                "seconds": self.attack_seconds,
                "refreshes_log": self.refresh_log,
            },
            "seconds": {
                "plain_part": self.plain_seconds,
                "extra_part": self.extra_seconds,
                "per_epoch": self.epoch_seconds,
            },
            "seconds_vs_plain": total / self.plain_seconds if self.plain_seconds else None,
        }
