"""A campaign's configuration: data, model, attack, sampling and runtime sections, one field
name per concept, and the flat record of it that is stored and hashed.

Sections other than ``runtime`` say *what* is measured and make up the configuration hash
(the same configuration again resumes the same run); ``runtime`` says *how* and *where* it
runs (folders, resume policy, executor, threads) and is left out of it. Every range check
raises a :class:`~harness.errors.ConfigError` naming the field (``sampling.max_leaf``); the
command line maps fields to its flags.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from harness.attack.build import AttackSpec
from harness.components import PluginChoice
from harness.errors import ConfigError
from harness.limits import check_int64, check_seed
from harness.vocab import AttackKind, CheckpointVia, values


@dataclass(frozen=True)
class ModelConfig:
    """The model plugin, the loss it was (or will be) trained with, and its training regime
    (``none``: plain training; :mod:`harness.regimes`)."""

    name: str = "attentionxml"
    options: dict[str, Any] = field(default_factory=dict)
    loss: PluginChoice = field(default_factory=lambda: PluginChoice("bce"))
    training: PluginChoice = field(default_factory=lambda: PluginChoice("none"))


@dataclass(frozen=True)
class SamplingConfig:
    """Which (document, label) pairs are attacked (docs/method.md, "Sampling by label
    frequency")."""

    labels_per_bin: int = 20
    """A frequency bin closes once it holds this many labels with a correct test pair."""
    samples_per_bin: int = 50
    """Pairs drawn from each bin."""
    n_targets: int = 1
    """Labels per target set (the primary one first)."""
    cluster: bool = False
    """Negative attacks: only documents with a true label in the target's label cluster."""
    max_leaf: int = 8
    """Largest label cluster (leaves of the balanced 2-means tree)."""
    paired_with: tuple[str, ...] = ()
    """``RUN_ID`` or ``model:ID`` references: attack only pairs these models also get right."""


@dataclass(frozen=True)
class RuntimeConfig:
    """How and where a campaign runs; none of it changes a trial's result."""

    model_dir: str = "models"
    cache_dir: str = "cache"
    fresh: bool = False
    """Start over instead of resuming the run of the same configuration."""
    fail_fast: bool = False
    """Stop at the first trial that raises (default: store it as an error and go on)."""
    train_if_missing: bool = True
    limit: int | None = None
    """Run at most this many of the remaining trials now."""
    progress: bool = True
    executor: str = "local"
    """Which executor runs the trials (``harness.campaign.executors.EXECUTORS``)."""
    threads: int | None = None
    """Torch/BLAS threads per worker (None: leave the process's setting; a Ray worker then
    uses as many as it has CPUs)."""
    workers: int | None = None
    """Ray workers (None: as many as the cluster's CPUs, or GPUs, hold)."""
    ray_address: str | None = None
    """An existing Ray cluster to join (``auto``, ``host:port``, ``ray://host:port``); None
    starts a Ray instance on this machine for the run."""
    cpus_per_worker: float | None = None
    """CPUs each Ray worker reserves (None: 1)."""
    gpus_per_worker: float | None = None
    """GPUs each Ray worker reserves (None: 0); fractions share a GPU."""
    trial_retries: int = 2
    """Times a trial whose worker died runs again on another worker before it is stored as
    an ``error`` naming the death."""
    checkpoint_via: str = CheckpointVia.AUTO.value
    """How Ray workers reach the checkpoint (:class:`~harness.vocab.CheckpointVia`)."""


@dataclass(frozen=True)
class CampaignConfig:
    """Everything that defines a campaign."""

    data: PluginChoice = field(default_factory=lambda: PluginChoice("reuters21578"))
    model: ModelConfig = field(default_factory=ModelConfig)
    attack: AttackSpec = field(default_factory=AttackSpec)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    seed: int = 0
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)

    def validate(self) -> None:
        """Range checks naming the field at fault, before anything is loaded."""
        self.attack.validate()
        check_seed("seed", self.seed)
        s, r = self.sampling, self.runtime
        for name in ("n_targets", "labels_per_bin", "samples_per_bin", "max_leaf"):
            check_int64(f"sampling.{name}", getattr(s, name))
        for name in ("limit", "threads", "workers", "trial_retries"):
            if getattr(r, name) is not None:
                check_int64(f"runtime.{name}", getattr(r, name))
        for name in ("model_dir", "cache_dir"):
            if not str(getattr(r, name)).strip():
                raise ConfigError(f"runtime.{name}", "is empty; give a folder")
        if s.n_targets < 1:
            raise ConfigError("sampling.n_targets", f"must be >= 1, got {s.n_targets}")
        if s.labels_per_bin < 1:
            raise ConfigError("sampling.labels_per_bin", f"must be >= 1, got {s.labels_per_bin}")
        if s.samples_per_bin < 1:
            raise ConfigError("sampling.samples_per_bin", f"must be >= 1, got {s.samples_per_bin}")
        if s.max_leaf < 3:
            raise ConfigError("sampling.max_leaf", f"must be >= 3, got {s.max_leaf}")
        if r.limit is not None and r.limit < 0:
            raise ConfigError("runtime.limit", f"must be >= 0, got {r.limit}")
        if r.threads is not None and r.threads < 1:
            raise ConfigError("runtime.threads", f"must be >= 1, got {r.threads}")
        if r.workers is not None and r.workers < 1:
            raise ConfigError("runtime.workers", f"must be >= 1, got {r.workers}")
        if r.cpus_per_worker is not None and not (
            math.isfinite(r.cpus_per_worker) and r.cpus_per_worker > 0
        ):
            raise ConfigError(
                "runtime.cpus_per_worker", f"must be a finite number > 0, got {r.cpus_per_worker}"
            )
        if r.gpus_per_worker is not None and not (
            math.isfinite(r.gpus_per_worker) and r.gpus_per_worker >= 0
        ):
            raise ConfigError(
                "runtime.gpus_per_worker", f"must be a finite number >= 0, got {r.gpus_per_worker}"
            )
        if r.trial_retries < 0:
            raise ConfigError("runtime.trial_retries", f"must be >= 0, got {r.trial_retries}")
        if r.checkpoint_via not in values(CheckpointVia):
            raise ConfigError("runtime.checkpoint_via", f"unknown way {r.checkpoint_via!r}")
        if r.ray_address is not None and not r.ray_address.strip():
            raise ConfigError("runtime.ray_address", "must not be empty")

    def validate_for(self, n_labels: int, corpus: str) -> None:
        """The checks that need the corpus: a top-k or a target set cannot be larger than
        the label space (``n_labels`` labels of ``corpus``). Run after loading, before any
        training or prediction."""
        if self.attack.k > n_labels:
            raise ConfigError(
                "attack.k", f"must be <= the {n_labels} labels of {corpus}, got {self.attack.k}"
            )
        if self.sampling.n_targets > n_labels:
            raise ConfigError(
                "sampling.n_targets",
                f"must be <= the {n_labels} labels of {corpus}, got {self.sampling.n_targets}",
            )

    def targets_per_trial(self) -> int:
        """Target labels drawn per trial: ``n_targets``, except one for non-targeted attacks
        (their target set is the document's correct top-k, fixed at planning)."""
        if self.attack.kind == AttackKind.NON_TARGETED:
            return 1
        return self.sampling.n_targets


def recorded_config(cfg: CampaignConfig) -> dict[str, Any]:
    """The configuration as runs store it (and hash it, with what the campaign adds: the
    resolved plugin options, the model's spec and checkpoint, the dataset's fingerprint).

    Flat, with the field names runs have stored since the first schema, so a database
    written before the sections existed resumes its runs: the same configuration gives the
    same hash. Plugin options of the dataset, model and loss are left out here; the resolved
    model spec stands for them (so ``epochs=20`` and the default hash alike).
    """
    a, s = cfg.attack, cfg.sampling
    return {
        "dataset": cfg.data.name,
        "model": cfg.model.name,
        "loss": cfg.model.loss.name,
        "seed": cfg.seed,
        "attack": str(a.kind),
        "k": a.k,
        "n_targets": s.n_targets,
        "cluster": s.cluster,
        "max_leaf": s.max_leaf,
        "labels_per_bin": s.labels_per_bin,
        "samples_per_bin": s.samples_per_bin,
        "max_change": a.max_change,
        "min_sim": a.min_sim,
        "sim_scale": str(a.sim_scale),
        "importance": a.importance.name,
        "importance_options": dict(a.importance.options),
        "substituter": a.substituter.name,
        "substituter_options": dict(a.substituter.options),
        "similarity": a.similarity.name,
        "similarity_options": dict(a.similarity.options),
        "max_queries": a.max_queries,
        "max_batch": a.max_batch,
        "paired_with": list(s.paired_with),
    }
