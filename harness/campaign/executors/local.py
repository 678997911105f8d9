"""The local executor: every trial in this process, one after the other, in plan order."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from harness.attack.attack import Attack, TrialAttempt
from harness.campaign.executors.base import AttackJob, run_trial, set_threads
from harness.campaign.plan import PlannedTrial


class LocalExecutor:
    """Builds the attack once, here, and runs the trials in order."""

    def __init__(self, job: AttackJob, build_here: Callable[[], Attack]):
        set_threads(job.threads)
        self.attack = build_here()

    def run(self, trials: Iterable[PlannedTrial]) -> Iterator[TrialAttempt]:
        for trial in trials:
            yield run_trial(self.attack, trial)

    def close(self) -> None:
        """Nothing to release: the attack lives as long as this process."""
