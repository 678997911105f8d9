"""The executor interface: what the runner gives an executor and what it gets back."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from harness.attack.attack import Attack, TrialAttempt
from harness.attack.build import AttackBuilder, AttackSpec
from harness.checkpoint import load_checkpoint
from harness.contracts.model import XMTCModel

if TYPE_CHECKING:
    from harness.campaign.plan import PlannedTrial
    from harness.registry import Registry


@dataclass(frozen=True)
class ModelRef:
    """A recorded, trained model as a worker process can load it: its checkpoint folder,
    the content hash the database recorded, and the label space it must match."""

    checkpoint_path: str
    checkpoint_hash: str
    label_names: tuple[str, ...]
    fingerprint: str

    def load(self, registry: Registry) -> XMTCModel:
        """The model, its checkpoint verified against the recorded hash and label space."""
        return load_checkpoint(
            self.checkpoint_path,
            registry,
            label_names=self.label_names,
            fingerprint=self.fingerprint,
            expected_hash=self.checkpoint_hash,
        )


@dataclass(frozen=True)
class AttackJob:
    """Everything a worker needs to build a campaign's attack, as picklable data."""

    spec: AttackSpec
    model: ModelRef
    plugins: tuple[str, ...] = ()
    """Plugin modules loaded besides the built-in and installed ones (named by the caller)."""
    registry_file: str | None = None
    """The registry file of built-in plugins, when not the default."""
    threads: int | None = None
    """Torch/BLAS threads each worker uses (its share of the machine); None: unchanged."""

    def build(self) -> Attack:
        """Load the plugins and the model and build the attack (in a worker process)."""
        from harness.registry import load_registry

        registry_file = Path(self.registry_file) if self.registry_file else None
        registry = load_registry(self.plugins, registry_file=registry_file)
        set_threads(self.threads)
        return AttackBuilder(registry, self.spec).build(self.model.load(registry))


def set_threads(threads: int | None) -> None:
    """Give torch (and the BLAS it drives) ``threads`` threads; None leaves them as they are."""
    if threads is None:
        return
    import torch

    torch.set_num_threads(threads)


def run_trial(attack: Attack, trial: PlannedTrial) -> TrialAttempt:
    """One planned trial on a built attack: its result, or the error message of the plugin
    that raised, with its cost. What every executor runs for every trial."""
    return attack.attempt(trial.words, trial.targets, trial=trial)


class Executor(Protocol):
    """Runs planned trials; yields each :class:`TrialAttempt` (``attempt.trial`` is the
    planned trial) as it ends, in any order. The runner may stop iterating early (a
    ``fail_fast`` error, Ctrl-C) and then calls :meth:`close`."""

    def run(self, trials: Iterable[PlannedTrial]) -> Iterator[TrialAttempt]: ...

    def close(self) -> None: ...


ExecutorFactory = Callable[[AttackJob, Callable[[], Attack]], Executor]
"""``factory(job, build_here)``: ``build_here()`` builds the attack in this process from
the model and plugins the runner already loaded; a multi-process executor builds its
workers' attacks from ``job`` instead."""
