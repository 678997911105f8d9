"""The executor interface: what the runner gives an executor and what it gets back."""

from __future__ import annotations

import random
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from harness.attack.attack import Attack, TrialAttempt
from harness.attack.build import AttackBuilder, AttackSpec
from harness.checkpoint import load_checkpoint
from harness.contracts.model import XMTCModel
from harness.plugin_calls import describe
from harness.threads import set_compute_threads

if TYPE_CHECKING:
    from harness.campaign.config import RuntimeConfig
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
    name: str = ""
    """The model plugin's name, to name it in a contract error; "" names it by class."""

    def subject(self, registry: Registry) -> str | None:
        """How messages name the model plugin (None: the engine names it by class)."""
        if not self.name or self.name not in registry.names("model"):
            return None
        return describe(registry.get("model", self.name))

    def load(self, registry: Registry, path: str | Path | None = None) -> XMTCModel:
        """The model, its checkpoint verified against the recorded hash and label space;
        ``path`` reads a copy of it elsewhere (a worker's shipped copy) instead."""
        return load_checkpoint(
            path if path is not None else self.checkpoint_path,
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
    plugins_source: str = "extra plugins"
    """Where ``plugins`` came from, as the driver's messages name it."""
    env_plugins: tuple[str, ...] = ()
    """The driver's ``$XMTC_HARNESS_PLUGINS`` modules (a worker's environment may differ)."""
    import_roots: tuple[str, ...] = ()
    """Folders the driver imported ``plugins`` and ``env_plugins`` from, added to the end of
    a worker's import path before it loads them (:attr:`harness.registry.Registry.import_roots`)."""
    threads: int | None = None
    """Torch/BLAS threads each worker uses (its share of the machine); None: unchanged."""
    seed: int = 0
    """The campaign's seed: with a trial's index, what seeds the random generators before
    it runs (:func:`seed_trial`)."""

    def registry(self) -> Registry:
        """The plugins as the driver loaded them (built-ins, installed, ``plugins``)."""
        from harness.registry import load_registry

        registry_file = Path(self.registry_file) if self.registry_file else None
        present = {str(Path(p or ".").resolve()) for p in sys.path}
        for root in self.import_roots:  # appended: nothing the worker has is shadowed
            if root not in present and Path(root).is_dir():
                sys.path.append(root)
        return load_registry(
            self.plugins,
            registry_file=registry_file,
            extra_source=self.plugins_source,
            env_plugins=self.env_plugins,
        )

    def build(
        self, registry: Registry | None = None, checkpoint: str | Path | None = None
    ) -> Attack:
        """Load the plugins and the model and build the attack (in a worker process), with
        the model from ``checkpoint`` when given (a copy of the recorded one)."""
        registry = registry if registry is not None else self.registry()
        set_compute_threads(self.threads)
        return self.attack_on(registry, self.model.load(registry, checkpoint))

    def attack_on(self, registry: Registry, model: XMTCModel) -> Attack:
        """The campaign's attack bound to ``model`` (loaded already)."""
        return AttackBuilder(registry, self.spec).build(model, subject=self.model.subject(registry))


def set_threads(threads: int | None) -> None:
    """Keep this process's torch/BLAS to ``threads`` threads; None leaves them as they are."""
    set_compute_threads(threads)


def seed_trial(seed: int, trial_index: int) -> None:
    """Seed Python's, numpy's and torch's generators from (campaign seed, trial index), so a
    plugin that draws random numbers draws the same ones for a trial on every worker, in
    any order (the built-in plugins draw none)."""
    import torch

    state = int(np.random.SeedSequence([seed, trial_index]).generate_state(1)[0])
    random.seed(state)
    np.random.seed(state)
    torch.manual_seed(state)


def run_trial(attack: Attack, trial: PlannedTrial, seed: int = 0) -> TrialAttempt:
    """One planned trial on a built attack: its result, or the error message of the plugin
    that raised, with its cost. What every executor runs for every trial."""
    seed_trial(seed, trial.trial_index)
    return attack.attempt(trial.words, trial.targets, trial=trial)


class Executor(Protocol):
    """Runs planned trials; yields each :class:`TrialAttempt` (``attempt.trial`` is the
    planned trial) as it ends, in any order. The runner may stop iterating early (a
    ``fail_fast`` error, Ctrl-C) and then calls :meth:`close`, which must stop every worker."""

    def run(self, trials: Iterable[PlannedTrial]) -> Iterator[TrialAttempt]: ...

    def close(self) -> None: ...


class ExecutorFactory(Protocol):
    """An executor class as :data:`~harness.campaign.executors.EXECUTORS` holds it.

    ``check(runtime)`` refuses settings it cannot honour (naming the ``runtime.*`` field)
    before anything expensive is loaded. ``factory(job, build_here, runtime, echo)`` makes
    the executor: ``build_here()`` builds the attack in this process from the model and
    plugins the runner already loaded; a multi-process executor builds its workers' attacks
    from ``job`` instead. ``echo`` takes one-line notes for the user (workers, deaths).
    """

    def check(self, runtime: RuntimeConfig) -> None: ...

    def __call__(
        self,
        job: AttackJob,
        build_here: Callable[[], Attack],
        runtime: RuntimeConfig,
        echo: Callable[[str], None],
    ) -> Executor: ...
