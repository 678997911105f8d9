"""The local executor: every trial in this process, one after the other, in plan order."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from harness.attack.attack import Attack, TrialAttempt
from harness.campaign.config import RuntimeConfig
from harness.campaign.executors.base import AttackJob, run_trial, set_threads
from harness.campaign.plan import PlannedTrial
from harness.errors import ConfigError

POOL_SETTINGS = ("workers", "ray_address", "cpus_per_worker", "gpus_per_worker")
"""Runtime fields that size a pool of workers: a local run has none to size."""


class LocalExecutor:
    """Builds the attack once, here, and runs the trials in order."""

    @staticmethod
    def check(runtime: RuntimeConfig) -> None:
        """Refuse pool settings, which would otherwise be silently ignored."""
        for name in POOL_SETTINGS:
            if getattr(runtime, name) is not None:
                raise ConfigError(
                    f"runtime.{name}",
                    f"sizes a pool of Ray workers; this run's executor is {runtime.executor!r} "
                    "(choose the ray executor)",
                )

    def __init__(
        self,
        job: AttackJob,
        build_here: Callable[[], Attack],
        runtime: RuntimeConfig | None = None,
        echo: Callable[[str], None] | None = None,
    ):
        set_threads(job.threads)
        self.seed = job.seed
        self.attack = build_here()

    def run(self, trials: Iterable[PlannedTrial]) -> Iterator[TrialAttempt]:
        for trial in trials:
            yield run_trial(self.attack, trial, self.seed)

    def close(self) -> None:
        """Nothing to release: the attack lives as long as this process."""
