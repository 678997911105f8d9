"""Training a model once and finding it again: specs, seeding, evaluation, checkpoint, record.

A :class:`ModelSpec` says everything that decides a trained model's weights (dataset and its
options, model and its resolved options, loss and its options incl. the weighting, seed, and
the training regime when it is not plain training).
Its hash names the checkpoint folder and keys the ``trained_models`` row, so ``train`` and
``eval`` given the same words on the command line meet at the same model.

Options that only say *where* something runs or lives (``data_dir``, ``device``, and the
prediction batch size) are left out of the hash: a model trained on a GPU is found again on
a CPU, and moving the data folder does not orphan the models trained on it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness.checkpoint import (
    CheckpointCorrupt,
    CheckpointError,
    CheckpointMissing,
    load_checkpoint,
    save_new_checkpoint,
)
from harness.contracts.checks import ContractViolation, topk_problem
from harness.contracts.model import XMTCModel
from harness.data import Corpus, WordLists
from harness.errors import CheckpointRefused, UsageError
from harness.limits import check_seed
from harness.metrics import MetricAccumulator
from harness.plugin_calls import call_plugin, describe
from harness.provenance import config_hash, package_versions
from harness.regimes.spec import check_model_supports, resolve_regime
from harness.regimes.train import fit_with_regime
from harness.store.models import find_by_spec, record_model, runs_of_model, same_plugins_and_seed
from harness.store.schema import TrainedModel
from harness.store.session import Store
from harness.threads import compute_threads

log = logging.getLogger(__name__)

LOCATION_OPTIONS = frozenset(
    {"data_dir", "device", "eval_batch_size", "chunk_elements", "chunk_labels", "n_jobs"}
)
"""Options that do not change what is learned, left out of the spec hash."""

METRIC_KS = (1, 3, 5)


@dataclass(frozen=True)
class ModelSpec:
    """What a trained model is: dataset, model, loss (all with resolved options), seed, and
    the training regime (``{}``: plain training; else its name and resolved options)."""

    dataset: str
    dataset_options: dict[str, Any] = field(default_factory=dict)
    model: str = "attentionxml"
    model_options: dict[str, Any] = field(default_factory=dict)
    loss: str = "bce"
    loss_options: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    training: dict[str, Any] = field(default_factory=dict)

    @property
    def weighting(self) -> str:
        return str(self.loss_options.get("weighting", "none"))

    def config(self) -> dict[str, Any]:
        """The hashed configuration (location-only options left out; plain training adds
        nothing, so models trained before regimes existed keep their hash)."""

        def keep(opts: Mapping[str, Any]) -> dict[str, Any]:
            return {k: v for k, v in sorted(opts.items()) if k not in LOCATION_OPTIONS}

        out = {
            "dataset": self.dataset,
            "dataset_options": keep(self.dataset_options),
            "model": self.model,
            "model_options": keep(self.model_options),
            "loss": self.loss,
            "loss_options": keep(self.loss_options),
            "seed": self.seed,
        }
        if self.training:
            out["training"] = dict(sorted(self.training.items()))
        return out

    def hash(self) -> str:
        return config_hash(self.config())

    @classmethod
    def resolve(
        cls,
        registry: Any,
        *,
        dataset: str,
        dataset_options: Mapping[str, Any] | None = None,
        model: str,
        model_options: Mapping[str, Any] | None = None,
        loss: str,
        loss_options: Mapping[str, Any] | None = None,
        seed: int = 0,
        adversarial: str = "none",
        adversarial_options: Mapping[str, Any] | None = None,
    ) -> ModelSpec:
        """A spec with every option resolved (defaults filled, values coerced and checked)
        by its component, so ``epochs=20`` and the default 20 hash alike. A regime the
        model cannot train with is refused here, before anything is loaded."""
        check_seed("seed", seed)
        training = resolve_regime(adversarial, adversarial_options)
        if training:
            check_model_supports(training, model, registry.get("model", model).factory, registry)
        return cls(
            dataset=dataset,
            dataset_options=registry.get("dataset", dataset).resolve_options(dataset_options),
            model=model,
            model_options=registry.get("model", model).resolve_options(model_options),
            loss=loss,
            loss_options=registry.get("loss", loss).resolve_options(loss_options),
            seed=seed,
            training=training,
        )


def seed_all(seed: int) -> None:
    """Seed python, numpy and torch (every device) before building and training a model."""
    import random

    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def find_trained(store: Store, spec: ModelSpec, registry: Any = None) -> TrainedModel | None:
    """The recorded model for this spec, if one was trained.

    With ``registry``, a model recorded before its plugins gained an option also matches
    when that option is at its default: each candidate's recorded options are resolved
    again with today's defaults and compared by hash. Without this, every new option would
    orphan every trained model.
    """
    row = find_by_spec(store, spec.hash())
    if row is not None or registry is None:
        return row
    for cand in same_plugins_and_seed(store, spec.dataset, spec.model, spec.loss, spec.seed):
        config = cand.config or {}
        try:
            again = ModelSpec.resolve(
                registry,
                dataset=spec.dataset,
                dataset_options=config.get("dataset_options"),
                model=spec.model,
                model_options=config.get("model_options"),
                loss=spec.loss,
                loss_options=config.get("loss_options"),
                seed=spec.seed,
                adversarial=str((config.get("training") or {}).get("adversarial", "none")),
                adversarial_options={
                    k: v for k, v in (config.get("training") or {}).items() if k != "adversarial"
                },
            )
        except (UsageError, KeyError, TypeError, ValueError):
            continue  # an option that no longer exists: not this spec
        if again.hash() == spec.hash():
            return cand
    return None


def evaluate_model(
    model: XMTCModel, corpus: Corpus, split: str = "test", batch: int = 256, subject: str = "model"
) -> dict[str, float]:
    """P@k, nDCG@k, PSP@k and PSnDCG@k (k = 1, 3, 5) of ``model`` on a split, scored
    ``batch`` documents at a time (never a dense documents x labels array), ranked by the
    model's sparse query (for a beam-search model, the beam's ranking)."""
    docs = corpus.split(split)
    Y = corpus.label_matrix(split)
    acc = MetricAccumulator(corpus.propensities(), ks=METRIC_KS)
    k = min(max(METRIC_KS), corpus.n_labels)
    for start in range(0, len(docs), batch):
        words = WordLists(docs[start : start + batch])
        answer = model.predict_topk(words, k, ())
        problem = topk_problem(answer, len(words), k, corpus.n_labels, ())
        if problem is not None:
            raise ContractViolation("model.predict_topk", subject, problem)
        acc.update_ranking(answer.indices, Y[start : start + batch])
    return acc.result()


def train_and_record(
    registry: Any,
    store: Store,
    spec: ModelSpec,
    corpus: Corpus,
    model_dir: str | Path,
    progress: bool = True,
    keep_existing: bool = False,
) -> tuple[XMTCModel, TrainedModel]:
    """Train ``spec`` on ``corpus``, evaluate on its test split, save and record it.

    The checkpoint goes to ``model_dir/<spec hash>`` (or ``<spec hash>-2``, ... when that
    folder holds a checkpoint already: one is never overwritten); the row (created, or
    updated when the model is trained anew) records package versions, checkpoint path and
    hash, training seconds and the test metrics.

    ``keep_existing``: when another process recorded an intact checkpoint for the same spec
    while this one trained (two evals started together), that one is used and this one is
    dropped, so a run never points at a checkpoint hash that was overwritten on disk.
    """
    seed_all(spec.seed)
    loss = registry.build("loss", spec.loss, spec.loss_options)
    bound = call_plugin(
        describe(registry.get("loss", spec.loss)), "bind()", loss.bind,
        corpus.label_counts, len(corpus.train), corpus.propensity_a, corpus.propensity_b,
    )  # fmt: skip
    model: XMTCModel = registry.build("model", spec.model, spec.model_options)
    subject = describe(registry.get("model", spec.model))
    t0 = time.perf_counter()
    training_cost: dict[str, Any] | None = None
    if spec.training:
        model, training_cost = call_plugin(
            subject, "fit()", fit_with_regime,
            registry, spec.training, model,
            lambda: registry.build("model", spec.model, spec.model_options),
            WordLists(corpus.train), corpus.label_matrix("train"), bound,
            label_names=corpus.label_names, seed=spec.seed, progress=progress,
        )  # fmt: skip
    else:
        call_plugin(
            subject, "fit()", model.fit,
            WordLists(corpus.train), corpus.label_matrix("train"), bound,
            label_names=corpus.label_names, seed=spec.seed, progress=progress,
        )  # fmt: skip
    train_seconds = time.perf_counter() - t0
    metrics = call_plugin(
        subject, "predict_topk()", evaluate_model, model, corpus, "test", 256, subject
    )
    ckpt = Path(model_dir) / spec.hash()
    values: dict[str, Any] = {
        "dataset": spec.dataset,
        "corpus": corpus.name,
        "dataset_fingerprint": corpus.fingerprint(),
        "model": spec.model,
        "model_options": spec.model_options,
        "loss": spec.loss,
        "weighting": spec.weighting,
        "loss_options": spec.loss_options,
        "seed": spec.seed,
        "metrics": metrics,
        "train_seconds": train_seconds,
        "n_train": len(corpus.train),
        "n_test": len(corpus.test),
        "package_versions": package_versions(),
        "config": spec.config(),
    }
    values["config"]["threads"] = compute_threads()  # beside the spec, never hashed
    if training_cost is not None:
        values["config"]["training_cost"] = training_cost
    adopted: list[XMTCModel] = []

    def intact(row: TrainedModel) -> bool:
        if not keep_existing:
            return False
        other = _load_intact(registry, row, corpus)
        if other is not None:
            adopted.append(other)
        return other is not None

    def save() -> tuple[str, str]:
        folder, content = save_new_checkpoint(
            model,
            ckpt,
            model_name=spec.model,
            options=spec.model_options,
            dataset=corpus.name,
            fingerprint=corpus.fingerprint(),
            meta={
                "spec": spec.config(),
                "metrics": metrics,
                "train_seconds": train_seconds,
                **({"training_cost": training_cost} if training_cost is not None else {}),
            },
        )
        return str(folder.resolve()), content

    row, was_adopted = record_model(store, spec.hash(), values, save, adopt=intact)
    if was_adopted:
        log.info("spec %s was recorded by another process meanwhile; using it", spec.hash())
        return adopted[-1], row
    return model, row


def load_trained(
    registry: Any,
    row: TrainedModel,
    corpus: Corpus,
    option_overrides: dict[str, Any] | None = None,
) -> XMTCModel:
    """The model of a recorded row, its checkpoint verified against the recorded hash and
    the corpus's labels and fingerprint (errors from :mod:`harness.checkpoint`)."""
    return load_checkpoint(
        row.checkpoint_path,
        registry,
        label_names=corpus.label_names,
        fingerprint=corpus.fingerprint(),
        expected_hash=row.checkpoint_hash,
        option_overrides=option_overrides,
    )


def _load_intact(registry: Any, row: TrainedModel, corpus: Corpus) -> XMTCModel | None:
    """The model of a recorded row if its checkpoint loads and verifies, else None."""
    try:
        return load_trained(registry, row, corpus)
    except (CheckpointMissing, CheckpointCorrupt):
        return None


def get_or_train(
    registry: Any,
    store: Store,
    spec: ModelSpec,
    corpus: Corpus,
    model_dir: str | Path,
    train_if_missing: bool = True,
    progress: bool = True,
    option_overrides: dict[str, Any] | None = None,
) -> tuple[XMTCModel, TrainedModel]:
    """The trained model for ``spec``: loaded from its checkpoint when the database knows it
    and its files are intact, else trained (unless ``train_if_missing`` is false).

    A checkpoint for a different label space is an error, never silently retrained over;
    so is a checkpoint whose files changed since they were recorded (damaged, or replaced),
    and a lost one that recorded runs attacked: retraining would give a different model
    and quietly start those runs over (:class:`CheckpointRefused`; the ``train`` command
    trains anew on purpose). A lost checkpoint no run used is trained again (unless
    ``train_if_missing`` is false).
    """
    row = find_trained(store, spec, registry)
    if row is not None:
        try:
            return load_trained(registry, row, corpus, option_overrides), row
        except CheckpointCorrupt as exc:
            raise CheckpointRefused(
                f"{exc}; model {row.id} is refused rather than retrained over; restore its "
                "files, or train it anew"
            ) from None
        except CheckpointMissing as exc:
            runs = runs_of_model(store, row.id)
            if runs or not train_if_missing:
                which = f"run {runs[0]}" if len(runs) == 1 else f"runs {', '.join(map(str, runs))}"
                used = f"; {which} attacked it" if runs else ""
                raise CheckpointRefused(
                    f"{exc}{used}; restore the folder, or train model {row.id} anew"
                ) from None
            log.warning("retraining %s: %s", spec.hash(), exc)
    elif not train_if_missing:
        raise CheckpointError(
            f"no trained {spec.model} for this configuration (spec {spec.hash()}) in "
            f"{store.shown_url}; run `xmtc-harness train` with the same options first"
        )
    return train_and_record(
        registry, store, spec, corpus, model_dir, progress=progress, keep_existing=True
    )
