"""Running a campaign: set up once, plan, hand the trials to an executor, record each one.

:class:`CampaignRunner` loads the dataset, finds (or trains) the model, predicts the test
split, plans the trials and opens (or resumes) the run keyed by the configuration's hash;
then an executor runs the trials still missing and the runner, the only writer, commits
each attempt as it arrives under its unique (run, trial index) key, fires the event hooks
and keeps the progress bar. The same configuration again resumes; nothing is written twice.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from harness import __version__
from harness.attack.attack import TrialAttempt
from harness.attack.build import AttackBuilder
from harness.campaign.clustering import cluster_of, label_clusters
from harness.campaign.config import CampaignConfig, recorded_config
from harness.campaign.executors import EXECUTORS
from harness.campaign.executors.base import AttackJob, ModelRef
from harness.campaign.plan import Plan, PlannedTrial, plan_campaign, plan_fingerprint
from harness.campaign.predictions import predict_split
from harness.contracts.model import XMTCModel
from harness.data import Corpus
from harness.errors import ConfigError, HarnessError, PluginError
from harness.plugin_calls import EventHookError, describe, fire_event, load_corpus
from harness.provenance import config_hash, package_versions
from harness.registry import Registry
from harness.store.models import get_model, model_of_run
from harness.store.runs import (
    NewRun,
    TrialRecord,
    done_indices,
    finish_run,
    open_run,
    record_trial,
    resumable_run,
    set_planned,
    stored_pairs,
)
from harness.store.schema import TrainedModel
from harness.store.session import Store
from harness.text import detokenize
from harness.training import ModelSpec, get_or_train, load_trained
from harness.vocab import AttackKind, Outcome, RunStatus


def model_spec(registry: Registry, cfg: CampaignConfig) -> ModelSpec:
    """The resolved spec of the model a campaign attacks (unknown names and bad options
    fail here, before anything is loaded)."""
    return ModelSpec.resolve(
        registry,
        dataset=cfg.data.name,
        dataset_options=cfg.data.options,
        model=cfg.model.name,
        model_options=cfg.model.options,
        loss=cfg.model.loss.name,
        loss_options=cfg.model.loss.options,
        seed=cfg.seed,
        adversarial=cfg.model.training.name,
        adversarial_options=cfg.model.training.options,
    )


def partner_model(store: Store, ref: str) -> TrainedModel:
    """A ``paired_with`` reference: ``RUN_ID`` (the model that run attacked) or ``model:ID``."""
    kind, _, ident = ref.rpartition(":")
    if not ident.isdigit() or kind not in ("", "run", "model"):
        raise ConfigError("sampling.paired_with", f"expected RUN_ID or model:ID, got {ref!r}")
    if kind == "model":
        row = get_model(store, int(ident))
        if row is None:
            raise ConfigError("sampling.paired_with", f"no trained model with id {ident}")
        return row
    row = model_of_run(store, int(ident))
    if row is None:
        raise ConfigError("sampling.paired_with", f"no run with id {ident} and a trained model")
    return row


def refuse_changed_plan(store: Store, new: NewRun, plan: Plan) -> None:
    """Refuse to resume a run whose plan would change (the data, a cache or the harness
    changed under it): its trials would come from two plans. The stored plan hash decides;
    for a run recorded before plans were hashed, its stored trials are compared with the
    new plan, index by index."""
    run = resumable_run(store, new.config_hash)
    if run is None:
        return
    before = (run.config or {}).get("plan_hash")
    now = new.config["plan_hash"]
    if before is not None:
        if before == now:
            return
        why = f"plan hash {before}, now {now}"
    else:
        planned = {t.trial_index: (t.doc_id, tuple(t.targets)) for t in plan.trials}
        why = ""
        for index, pair in sorted(stored_pairs(store, run.id).items()):
            if planned.get(index) != pair:
                shown = planned.get(index, ("no such trial", ()))
                why = f"trial {index} attacked {pair[0]} {list(pair[1])}, now {shown[0]}"
                break
        if not why and (run.n_planned or len(plan.trials)) == len(plan.trials):
            return
        why = why or f"{run.n_planned} trials planned then, {len(plan.trials)} now"
    raise ConfigError(
        "runtime.fresh",
        f"run {run.id} (config {new.config_hash}) would resume with a different plan ({why}: "
        "the data, a cache or the harness changed since it started), which would mix the "
        "trials of two plans; start it over with this option (the old run is kept, "
        "superseded) or restore what changed",
    )


def trial_record(
    run_id: int, attack: str, trial: PlannedTrial, attempt: TrialAttempt, label_names: list[str]
) -> TrialRecord:
    """The stored form of one attempt (an ``error`` outcome when it raised)."""
    words = list(trial.words)
    record = TrialRecord(
        run_id=run_id,
        trial_index=trial.trial_index,
        sample_id=trial.doc_id,
        target_labels=list(trial.targets),
        target_names=[label_names[t] for t in trial.targets],
        label_freq=trial.label_freq,
        bin_index=trial.bin_index,
        attack=attack,
        outcome=Outcome.ERROR,
        n_words=len(words),
        original_text=detokenize(words),
        logical_queries=attempt.cost.logical_queries,
        forward_passes=attempt.cost.forward_passes,
        wall_seconds=attempt.seconds,
        error_message=attempt.error,
    )
    result = attempt.result
    if result is None:
        return record
    record.outcome = result.outcome
    record.similarity = result.similarity
    record.change_rate = result.change_rate
    record.n_changed = result.n_changed
    record.changed_words = result.changed_words
    record.rank_before = result.rank_before
    record.rank_after = result.rank_after
    record.topk_before = result.topk_before
    record.topk_after = result.topk_after
    record.adversarial_text = detokenize(result.adversarial)
    record.substitutions = list(result.substitutions)
    return record


@dataclass
class Setup:
    """What a campaign loaded before its first trial."""

    corpus: Corpus
    model: XMTCModel
    row: TrainedModel
    spec: ModelSpec
    plan: Plan


class CampaignRunner:
    """One evaluation run: :meth:`run` sets it up, runs what is missing, returns its id."""

    def __init__(
        self,
        registry: Registry,
        store: Store,
        cfg: CampaignConfig,
        echo: Callable[[str], None] = print,
    ):
        cfg.validate()
        if cfg.runtime.executor not in EXECUTORS:
            known = ", ".join(sorted(EXECUTORS))
            raise ConfigError(
                "runtime.executor", f"unknown executor {cfg.runtime.executor!r}; known: {known}"
            )
        EXECUTORS[cfg.runtime.executor].check(cfg.runtime)  # before anything is loaded
        self.registry = registry
        self.store = store
        self.cfg = cfg
        self.echo = echo

    # -- set-up ---------------------------------------------------------------------------
    def _set_up(self) -> Setup:
        cfg, rt = self.cfg, self.cfg.runtime
        spec = model_spec(self.registry, cfg)
        corpus = load_corpus(self.registry, cfg.data.name, cfg.data.options, rt.progress)
        cfg.validate_for(corpus.n_labels, corpus.name)  # before any training or prediction
        model, row = get_or_train(
            self.registry,
            self.store,
            spec,
            corpus,
            Path(rt.model_dir),
            train_if_missing=rt.train_if_missing,
            progress=rt.progress,
        )
        partners = [
            (load_trained(self.registry, r, corpus), r.checkpoint_hash)
            for r in (partner_model(self.store, ref) for ref in cfg.sampling.paired_with)
        ]
        cache_dir = Path(rt.cache_dir)
        k = cfg.attack.k
        subject = describe(self.registry.get("model", cfg.model.name))
        dataset = corpus.fingerprint()
        topks = [
            predict_split(
                m, corpus.test, k, cache_dir if h else None, rt.progress,
                source={"checkpoint": h, "dataset": dataset}, n_labels=corpus.n_labels,
                subject=who,
            ).top(k)
            for m, h, who in [
                (model, row.checkpoint_hash, subject),
                *((p, ph, f"paired model {ph[:12]}") for p, ph in partners),
            ]
        ]  # fmt: skip
        cluster_ids = None
        if cfg.attack.kind == AttackKind.NEGATIVE and cfg.sampling.cluster:
            clusters = label_clusters(
                corpus, max_leaf=cfg.sampling.max_leaf, seed=cfg.seed, cache_dir=cache_dir
            )
            cluster_ids = cluster_of(clusters, corpus.n_labels)
        plan = plan_campaign(cfg, corpus, topks, model.max_words, cluster_ids)
        if not plan.trials:
            raise ConfigError(
                "sampling.samples_per_bin", "the sampling produced no pairs to attack"
            )
        return Setup(corpus, model, row, spec, plan)

    def _new_run(self, setup: Setup, resolved: dict[str, dict[str, Any]]) -> NewRun:
        """The run row: the configuration (with the attack's options as given and as each
        plugin resolved them, and the model as its resolved spec, so ``epochs=20`` and the
        default hash alike and the data folder's location does not count), and its hash."""
        cfg, row, corpus = self.cfg, setup.row, setup.corpus
        config = recorded_config(cfg)
        config["resolved_options"] = resolved
        config["model_spec"] = setup.spec.config()
        config["model_spec_hash"] = row.spec_hash
        config["dataset_fingerprint"] = corpus.fingerprint()
        config["checkpoint_hash"] = row.checkpoint_hash
        h = config_hash(config)
        config["label_names"] = corpus.label_names  # stored for reports, not hashed
        config["plan_hash"] = plan_fingerprint(setup.plan)  # checked on resume, not hashed
        config["checkpoint_path"] = row.checkpoint_path
        return NewRun(
            config_hash=h,
            config=config,
            seed=cfg.seed,
            dataset=cfg.data.name,
            corpus=corpus.name,
            model=cfg.model.name,
            loss=cfg.model.loss.name,
            weighting=str(row.weighting),
            attack=str(cfg.attack.kind),
            cluster=cfg.sampling.cluster,
            k=cfg.attack.k,
            trained_model_id=row.id,
            checkpoint_hash=row.checkpoint_hash,
            package_versions=package_versions(),
            harness_version=__version__,
            bins=[b.as_dict() for b in setup.plan.bins],
        )

    # -- the run ------------------------------------------------------------------------
    def run(self) -> int:
        cfg, rt = self.cfg, self.cfg.runtime
        builder = AttackBuilder(self.registry, cfg.attack)  # plugin errors before loading
        setup = self._set_up()
        builder.check_model(setup.model)
        new = self._new_run(setup, builder.resolved)
        if not rt.fresh:
            refuse_changed_plan(self.store, new, setup.plan)  # before anything is written
        run_id = open_run(self.store, new, fresh=rt.fresh)
        plan = setup.plan
        set_planned(self.store, run_id, len(plan.trials))
        done = done_indices(self.store, run_id)
        todo = [p for p in plan.trials if p.trial_index not in done]
        if rt.limit is not None:
            todo = todo[: rt.limit]
        self.echo(
            f"run {run_id} (config {new.config_hash}): {len(plan.trials)} trials in "
            f"{len(plan.bins)} bins, {len(done)} already stored, {len(todo)} to run"
        )
        job = AttackJob(
            spec=cfg.attack,
            model=ModelRef(
                checkpoint_path=setup.row.checkpoint_path,
                checkpoint_hash=setup.row.checkpoint_hash,
                label_names=tuple(setup.corpus.label_names),
                fingerprint=setup.corpus.fingerprint(),
                name=cfg.model.name,
            ),
            plugins=self.registry.extra_plugins,
            plugins_source=self.registry.extra_source,
            env_plugins=self.registry.env_plugins,
            import_roots=self.registry.import_roots,
            registry_file=str(self.registry.registry_file) if self.registry.registry_file else None,
            threads=rt.threads,
            seed=cfg.seed,
        )
        status, error = RunStatus.FAILED, None
        successes = 0
        bar = tqdm(
            total=len(todo), desc=f"run {run_id} {cfg.attack.kind}", unit="trial",
            disable=not rt.progress,
        )  # fmt: skip
        executor = None
        try:
            fire_event(self.registry, "xmtc_run_started", run_id=run_id, config=new.config)
            model_subject = job.model.subject(self.registry)
            executor = EXECUTORS[rt.executor](
                job, lambda: builder.build(setup.model, subject=model_subject), rt, self.echo
            )
            for n, attempt in enumerate(executor.run(todo), 1):
                stored = self._record(run_id, attempt, setup.corpus.label_names)
                if stored is not None:
                    successes += stored["outcome"] == Outcome.SUCCESS
                    fire_event(self.registry, "xmtc_trial_recorded", run_id=run_id, trial=stored)
                bar.update(1)
                bar.set_postfix(success=f"{successes / n:.0%}")
            complete = rt.limit is None or len(done) + len(todo) >= len(plan.trials)
            status = RunStatus.FINISHED if complete else RunStatus.INTERRUPTED
        except KeyboardInterrupt:
            status = RunStatus.INTERRUPTED
            raise
        except EventHookError as exc:  # a watcher failed: the run is sound and resumes
            status, error = RunStatus.INTERRUPTED, str(exc)
            raise
        except BaseException as exc:
            error = f"{exc.__class__.__name__}: {exc}"
            raise
        finally:
            if executor is not None:
                executor.close()
            bar.close()
            self._finish(run_id, status, error)
            summary = (
                {} if status == RunStatus.FAILED else {"trials": len(todo), "successes": successes}
            )
            self._finished_event(run_id, status, summary, sys.exc_info()[0] is not None)
        return run_id

    def _finished_event(
        self, run_id: int, status: str, summary: dict[str, int], in_flight: bool
    ) -> None:
        """Fire ``xmtc_run_finished``; a watcher failing here is reported (one line) only
        when nothing else already stopped the run, and the run keeps its status."""
        try:
            fire_event(
                self.registry, "xmtc_run_finished", run_id=run_id, status=str(status),
                summary=summary,
            )  # fmt: skip
        except EventHookError as exc:
            if not in_flight:  # no other error on its way out
                raise PluginError(
                    f"{exc} (run {run_id} is {status}; its trials are stored)"
                ) from exc

    def _record(
        self, run_id: int, attempt: TrialAttempt, label_names: list[str]
    ) -> dict[str, Any] | None:
        """Commit one attempt (or, with ``fail_fast``, stop on a failed one: earlier trials
        stay committed, this one is not stored)."""
        trial = attempt.trial
        assert isinstance(trial, PlannedTrial)
        if attempt.error is not None and self.cfg.runtime.fail_fast:
            raise ConfigError(
                "runtime.fail_fast",
                f"stopped at trial {trial.trial_index} (document {trial.doc_id}), which "
                f"failed: {attempt.error}",
            )
        record = trial_record(run_id, str(self.cfg.attack.kind), trial, attempt, label_names)
        return record_trial(self.store, record)

    def _finish(self, run_id: int, status: str, error: str | None) -> None:
        try:
            finish_run(self.store, run_id, status, error)
        except HarnessError:
            pass  # the database itself is what failed; the trials already stored are intact


def run_campaign(
    registry: Registry, store: Store, cfg: CampaignConfig, echo: Callable[[str], None] = print
) -> int:
    """Run (or resume) the campaign of ``cfg``; returns its run id."""
    return CampaignRunner(registry, store, cfg, echo).run()
