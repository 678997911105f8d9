"""A campaign: many trials of one attack configuration, each committed when it ends.

``run_campaign`` loads the dataset, finds (or trains) the model, predicts the test split,
draws the pairs of every frequency bin, and attacks them one by one. The run row is keyed
by the hash of the full configuration, so the same command again resumes: trials already
stored are skipped, and nothing is written twice (a unique (run, trial_index) key).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from tqdm import tqdm

from harness import __version__
from harness.attack.clustering import cluster_of, label_clusters
from harness.attack.engine import QueryEngine
from harness.attack.goals import Goal
from harness.attack.sampling import (
    PlannedTrial,
    make_bins,
    plan_negative,
    plan_positive,
    positive_pool,
)
from harness.attack.search import GreedySearch, SearchSettings, TrialResult
from harness.data import Corpus
from harness.errors import HarnessError, StoreError, UsageError
from harness.model import XMTCModel
from harness.provenance import config_hash, package_versions
from harness.registry import Registry
from harness.store.schema import Run, Substitution, TrainedModel, Trial, utcnow
from harness.store.session import Store
from harness.text import detokenize
from harness.training import ModelSpec, get_or_train, load_trained

ENV_CACHE = "XMTC_HARNESS_CACHE"


@dataclass
class EvalConfig:
    """Everything that defines a campaign (all of it goes into the config hash except the
    fields listed in ``RUNTIME_FIELDS``)."""

    dataset: str = "reuters21578"
    dataset_options: dict[str, Any] = field(default_factory=dict)
    model: str = "attentionxml"
    model_options: dict[str, Any] = field(default_factory=dict)
    loss: str = "bce"
    loss_options: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    attack: str = "positive"
    k: int = 5
    n_targets: int = 1
    cluster: bool = False
    max_leaf: int = 8
    labels_per_bin: int = 20
    samples_per_bin: int = 50
    max_change: float = 0.10
    min_sim: float = 0.8
    sim_scale: str = "cosine"
    importance: str = "mask"
    importance_options: dict[str, Any] = field(default_factory=dict)
    substituter: str = "glove"
    substituter_options: dict[str, Any] = field(default_factory=dict)
    similarity: str = "use"
    similarity_options: dict[str, Any] = field(default_factory=dict)
    max_queries: int | None = None
    max_batch: int = 64
    paired_with: tuple[str, ...] = ()
    # runtime-only (not hashed)
    model_dir: str = "models"
    cache_dir: str = "cache"
    fresh: bool = False
    fail_fast: bool = False
    train_if_missing: bool = True
    limit: int | None = None
    progress: bool = True


RUNTIME_FIELDS = (
    "model_dir",
    "cache_dir",
    "fresh",
    "fail_fast",
    "train_if_missing",
    "limit",
    "progress",
)


def validate(cfg: EvalConfig) -> None:
    """Range checks with the option's name, before anything is loaded."""
    if cfg.attack not in ("positive", "negative", "non-targeted"):
        raise UsageError("--attack", f"unknown attack {cfg.attack!r}")
    if cfg.k < 1:
        raise UsageError("--k", f"must be >= 1, got {cfg.k}")
    if cfg.n_targets < 1:
        raise UsageError("--targets", f"must be >= 1, got {cfg.n_targets}")
    if not 0 < cfg.max_change <= 1:
        raise UsageError("--max-change", f"θ must be in (0, 1], got {cfg.max_change}")
    if not 0 <= cfg.min_sim <= 1:
        raise UsageError("--min-sim", f"the threshold must be in [0, 1], got {cfg.min_sim}")
    if cfg.labels_per_bin < 1:
        raise UsageError("--labels-per-bin", f"must be >= 1, got {cfg.labels_per_bin}")
    if cfg.samples_per_bin < 1:
        raise UsageError("--samples-per-bin", f"must be >= 1, got {cfg.samples_per_bin}")
    if cfg.max_leaf < 3:
        raise UsageError("--max-leaf", f"must be >= 3, got {cfg.max_leaf}")
    if cfg.max_batch < 1:
        raise UsageError("--max-batch", f"must be >= 1, got {cfg.max_batch}")
    if cfg.max_queries is not None and cfg.max_queries < 1:
        raise UsageError("--max-queries", f"must be >= 1, got {cfg.max_queries}")
    if cfg.limit is not None and cfg.limit < 0:
        raise UsageError("--limit", f"must be >= 0, got {cfg.limit}")


@dataclass
class AttackParts:
    """The built plugins of a campaign."""

    importance: Any
    substituter: Any
    similarity: Any
    change_rate: Any
    resolved: dict[str, dict[str, Any]]


def build_parts(registry: Registry, cfg: EvalConfig) -> AttackParts:
    """Build scorer, substituter and constraints; θ and ε go to the plugins that take them."""
    imp_c = registry.get("importance", cfg.importance)
    sub_c = registry.get("substituter", cfg.substituter)
    sim_c = registry.get("similarity", cfg.similarity)
    cr_c = registry.get("similarity", "change-rate")
    sim_opts = dict(cfg.similarity_options)
    declared = {o.name for o in sim_c.options}
    if "threshold" in declared:
        sim_opts.setdefault("threshold", cfg.min_sim)
    if "scale" in declared:
        sim_opts.setdefault("scale", cfg.sim_scale)
    cr_opts = {"theta": cfg.max_change}
    resolved = {
        "importance": imp_c.resolve_options(cfg.importance_options),
        "substituter": sub_c.resolve_options(cfg.substituter_options),
        "similarity": sim_c.resolve_options(sim_opts),
        "change_rate": cr_c.resolve_options(cr_opts),
    }
    return AttackParts(
        importance=imp_c.factory(**resolved["importance"]),
        substituter=sub_c.factory(**resolved["substituter"]),
        similarity=sim_c.factory(**resolved["similarity"]),
        change_rate=cr_c.factory(**resolved["change_rate"]),
        resolved=resolved,
    )


def predict_topk(
    model: XMTCModel,
    docs: Sequence[list[str]],
    k: int,
    cache: Path | None,
    progress: bool,
    batch: int = 256,
) -> np.ndarray:
    """Top-k label indices for each document (cached as .npy per checkpoint and k)."""
    if cache is not None and cache.exists():
        try:
            arr = np.load(cache, allow_pickle=False)
            if arr.shape == (len(docs), k):
                return arr
        except (OSError, ValueError):
            pass  # a damaged cache is recomputed
    out = np.empty((len(docs), k), dtype=np.int64)
    bar = tqdm(total=len(docs), desc="predicting test split", unit="doc", disable=not progress)
    for start in range(0, len(docs), batch):
        probs = np.asarray(model.predict_proba(docs[start : start + batch]))
        part = np.argsort(-probs, axis=1, kind="stable")[:, :k]
        out[start : start + len(part)] = part
        bar.update(len(part))
    bar.close()
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_name(f"{cache.stem}.tmp{os.getpid()}.npy")
        np.save(tmp, out)
        os.replace(tmp, cache)
    return out


def _trial_row(
    run_id: int,
    p: PlannedTrial,
    sample_id: str,
    corpus: Corpus,
    attack: str,
    result: TrialResult | None,
    counters: Any,
    seconds: float,
    error: str | None,
    original: list[str],
) -> Trial:
    names = [corpus.label_names[t] for t in p.targets]
    trial = Trial(
        run_id=run_id,
        trial_index=p.trial_index,
        sample_id=sample_id,
        target_labels=list(p.targets),
        target_names=names,
        label_freq=p.label_freq,
        bin_index=p.bin_index,
        attack=attack,
        n_words=len(original),
        original_text=detokenize(original),
        logical_queries=counters.logical_queries,
        forward_passes=counters.forward_passes,
        wall_seconds=seconds,
    )
    if result is None:
        trial.outcome = "error"
        trial.error_message = error
        trial.n_changed = 0
        trial.changed_words = []
        trial.topk_before = []
        trial.topk_after = []
        return trial
    trial.outcome = result.outcome
    trial.similarity = result.similarity
    trial.change_rate = result.change_rate
    trial.n_changed = result.n_changed
    trial.changed_words = result.changed_words
    trial.rank_before = result.rank_before
    trial.rank_after = result.rank_after
    trial.topk_before = result.topk_before
    trial.topk_after = result.topk_after
    trial.adversarial_text = detokenize(result.adversarial)
    trial.substitutions = [
        Substitution(
            step=s.step, position=s.position, old_word=s.old_word, new_word=s.new_word, gain=s.gain
        )
        for s in result.steps
    ]
    return trial


class Campaign:
    """One evaluation run: set up once, then :meth:`run` the planned trials."""

    def __init__(
        self,
        registry: Registry,
        store: Store,
        cfg: EvalConfig,
        echo: Callable[[str], None] = print,
    ):
        validate(cfg)
        self.registry = registry
        self.store = store
        self.cfg = cfg
        self.echo = echo

    # -- set-up ---------------------------------------------------------------------------
    def _spec(self) -> ModelSpec:
        cfg = self.cfg
        return ModelSpec.resolve(
            self.registry,
            dataset=cfg.dataset,
            dataset_options=cfg.dataset_options,
            model=cfg.model,
            model_options=cfg.model_options,
            loss=cfg.loss,
            loss_options=cfg.loss_options,
            seed=cfg.seed,
        )

    def _load_models(
        self, corpus: Corpus, spec: ModelSpec
    ) -> tuple[XMTCModel, TrainedModel, list[XMTCModel]]:
        cfg = self.cfg
        model, row = get_or_train(
            self.registry,
            self.store,
            spec,
            corpus,
            Path(cfg.model_dir),
            train_if_missing=cfg.train_if_missing,
            progress=cfg.progress,
        )
        partners: list[XMTCModel] = []
        for ref in cfg.paired_with:
            partner = self._partner_row(ref)
            partners.append(load_trained(self.registry, partner, corpus))
        return model, row, partners

    def _partner_row(self, ref: str) -> TrainedModel:
        """A ``--paired-with`` reference: ``RUN_ID`` or ``model:ID`` (a trained-model id)."""
        kind, _, ident = ref.rpartition(":")
        if not ident.isdigit() or kind not in ("", "run", "model"):
            raise UsageError("--paired-with", f"expected RUN_ID or model:ID, got {ref!r}")
        with self.store.read() as s:
            if kind == "model":
                row = s.get(TrainedModel, int(ident))
                if row is None:
                    raise UsageError("--paired-with", f"no trained model with id {ident}")
                return row
            run = s.get(Run, int(ident))
            if run is None or run.trained_model_id is None:
                raise UsageError("--paired-with", f"no run with id {ident} and a trained model")
            tm = s.get(TrainedModel, run.trained_model_id)
            assert tm is not None
            return tm

    def _hashed_config(
        self, corpus: Corpus, spec: ModelSpec, row: TrainedModel, parts: AttackParts
    ) -> dict:
        """The full configuration: the attack's options as given and as each plugin resolved
        them, and the model as its resolved spec (so ``epochs=20`` and the default hash
        alike, and the data folder's location does not count)."""
        cfg = asdict(self.cfg)
        for f in (*RUNTIME_FIELDS, "dataset_options", "model_options", "loss_options"):
            cfg.pop(f)
        cfg["paired_with"] = list(cfg["paired_with"])
        cfg["resolved_options"] = parts.resolved
        cfg["model_spec"] = spec.config()
        cfg["model_spec_hash"] = row.spec_hash
        cfg["dataset_fingerprint"] = corpus.fingerprint()
        cfg["checkpoint_hash"] = row.checkpoint_hash
        return cfg

    def _open_run(self, cfg_full: dict, h: str, row: TrainedModel, bins: list) -> int:
        cfg = self.cfg

        def create_or_resume(s: Any) -> int:
            if s.get_bind().dialect.name == "sqlite":
                # Take the write lock before looking, so that two processes started with
                # the same config cannot both miss the run and open two (waits busy_timeout).
                s.connection().exec_driver_sql("BEGIN IMMEDIATE")
            stmt = select(Run).where(Run.config_hash == h, Run.status != "superseded")
            existing = s.scalars(stmt.order_by(Run.id.desc())).first()
            if existing is not None and cfg.fresh:
                existing.status = "superseded"
                existing = None
            if existing is not None:
                existing.status = "running"
                existing.error = None
                return int(existing.id)
            run = Run(
                config_hash=h,
                config=cfg_full,
                seed=cfg.seed,
                status="running",
                dataset=cfg.dataset,
                model=cfg.model,
                loss=cfg.loss,
                weighting=str(row.weighting),
                attack=cfg.attack,
                cluster=cfg.cluster,
                k=cfg.k,
                trained_model_id=row.id,
                checkpoint_hash=row.checkpoint_hash,
                package_versions=package_versions(),
                harness_version=__version__,
                bins=[b.as_dict() for b in bins],
            )
            s.add(run)
            s.flush()
            return int(run.id)

        return self.store.write(create_or_resume)

    def _plan(self, corpus: Corpus, topks: list[np.ndarray]) -> tuple[list, list[PlannedTrial]]:
        cfg = self.cfg
        Y = corpus.label_matrix("test")
        freq = corpus.label_counts
        pool = positive_pool(Y, topks)
        bins = make_bins(freq, pool, cfg.labels_per_bin)
        if cfg.attack in ("positive", "non-targeted"):
            n_targets = cfg.n_targets if cfg.attack == "positive" else 1
            plan = plan_positive(pool, bins, freq, cfg.samples_per_bin, cfg.seed, n_targets)
        else:
            cluster_ids = None
            if cfg.cluster:
                clusters = label_clusters(
                    corpus, max_leaf=cfg.max_leaf, seed=cfg.seed, cache_dir=Path(cfg.cache_dir)
                )
                cluster_ids = cluster_of(clusters, corpus.n_labels)
            plan = plan_negative(
                Y, topks, bins, freq, cfg.samples_per_bin, cfg.seed, cluster_ids, cfg.n_targets
            )
        return bins, plan

    # -- the run ------------------------------------------------------------------------
    def run(self) -> int:
        cfg = self.cfg
        hook = self.registry.hook
        parts = build_parts(self.registry, cfg)
        spec = self._spec()  # unknown model/loss names and bad options fail before any loading
        corpus = self.registry.build("dataset", cfg.dataset, cfg.dataset_options).load(
            progress=cfg.progress
        )
        model, row, partners = self._load_models(corpus, spec)
        test_words = [d.words[: model.max_words] for d in corpus.test]
        cache_dir = Path(cfg.cache_dir)
        topks = [
            predict_topk(
                m,
                [d.words[: m.max_words] for d in corpus.test] if m is not model else test_words,
                cfg.k,
                cache_dir / f"topk-{h}-k{cfg.k}.npy" if h else None,
                cfg.progress,
            )
            for m, h in [(model, row.checkpoint_hash)] + [(p, None) for p in partners]
        ]
        bins, plan = self._plan(corpus, topks)
        if not plan:
            raise UsageError("--samples-per-bin", "the sampling produced no pairs to attack")
        cfg_full = self._hashed_config(corpus, spec, row, parts)
        cfg_full["label_names"] = corpus.label_names
        h = config_hash({k: v for k, v in cfg_full.items() if k != "label_names"})
        run_id = self._open_run(cfg_full, h, row, bins)

        def set_planned(s: Any) -> None:
            run = s.get(Run, run_id)
            run.n_planned = len(plan)

        self.store.write(set_planned)
        with self.store.read() as s:
            done = set(s.scalars(select(Trial.trial_index).where(Trial.run_id == run_id)))
        todo = [p for p in plan if p.trial_index not in done]
        if cfg.limit is not None:
            todo = todo[: cfg.limit]
        self.echo(
            f"run {run_id} (config {h}): {len(plan)} trials in {len(bins)} bins, "
            f"{len(done)} already stored, {len(todo)} to run"
        )
        hook.xmtc_run_started(run_id=run_id, config=cfg_full)
        engine = QueryEngine(model, max_batch=cfg.max_batch)
        search = GreedySearch(
            parts.importance, parts.substituter, SearchSettings(max_queries=cfg.max_queries)
        )
        Y = corpus.label_matrix("test")
        status = "failed"
        successes = 0
        bar = tqdm(todo, desc=f"run {run_id} {cfg.attack}", unit="trial", disable=not cfg.progress)
        try:
            for n, p in enumerate(bar, 1):
                stored = self._one_trial(
                    run_id, p, corpus, Y, topks[0], test_words, engine, search, parts
                )
                if stored is not None:
                    successes += stored.outcome == "success"
                    hook.xmtc_trial_recorded(run_id=run_id, trial=_as_dict(stored))
                bar.set_postfix(success=f"{successes / n:.0%}")
            complete = cfg.limit is None or len(done) + len(todo) >= len(plan)
            status = "finished" if complete else "interrupted"
        except KeyboardInterrupt:
            status = "interrupted"
            raise
        except BaseException as exc:
            self._set_status(run_id, "failed", f"{exc.__class__.__name__}: {exc}")
            hook.xmtc_run_finished(run_id=run_id, status="failed", summary={})
            raise
        finally:
            bar.close()
            if status != "failed":
                self._set_status(run_id, status, None)
                hook.xmtc_run_finished(
                    run_id=run_id,
                    status=status,
                    summary={"trials": len(todo), "successes": successes},
                )
        return run_id

    def _set_status(self, run_id: int, status: str, error: str | None) -> None:
        def update(s: Any) -> None:
            run = s.get(Run, run_id)
            run.status = status
            run.error = error
            run.finished_at = utcnow()

        try:
            self.store.write(update)
        except HarnessError:
            pass  # the database itself is what failed; the trials already stored are intact

    def _one_trial(
        self,
        run_id: int,
        p: PlannedTrial,
        corpus: Corpus,
        Y: Any,
        topk: np.ndarray,
        test_words: list[list[str]],
        engine: QueryEngine,
        search: GreedySearch,
        parts: AttackParts,
    ) -> Trial | None:
        cfg = self.cfg
        doc = corpus.test[p.doc_row]
        words = test_words[p.doc_row]
        targets = p.targets
        if cfg.attack == "non-targeted":
            true = set(Y.indices[Y.indptr[p.doc_row] : Y.indptr[p.doc_row + 1]].tolist())
            targets = tuple(
                [p.targets[0]]
                + [int(x) for x in topk[p.doc_row] if int(x) in true and int(x) != p.targets[0]]
            )
        before = engine.counters.snapshot()
        t0 = time.perf_counter()
        result: TrialResult | None = None
        error = None
        try:
            goal = Goal(cfg.attack, targets, cfg.k)
            sim_check = parts.similarity.start(words)
            checks = [parts.change_rate.start(words), sim_check]
            result = search.attack(words, goal, engine, checks, sim_check)
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:
            error = f"{exc.__class__.__name__}: {exc}"
            if cfg.fail_fast:  # stop with a one-line error; earlier trials stay committed
                raise HarnessError(
                    f"trial {p.trial_index} (document {doc.doc_id}) failed and --fail-fast "
                    f"is set: {error}"
                ) from exc
        seconds = time.perf_counter() - t0
        used = engine.counters.since(before)
        engine.clear()  # scores are cached within a trial; memory stays flat across trials
        row = _trial_row(
            run_id, p, doc.doc_id, corpus, cfg.attack, result, used, seconds, error, words
        )

        def insert(s: Any) -> Trial:
            s.add(row)
            s.flush()
            return row

        try:
            return self.store.write(insert)
        except IntegrityError:
            return None  # another process stored this trial first (same run, same index)
        except StoreError as exc:  # Store.write wraps IntegrityError in a StoreError
            if isinstance(exc.__cause__, IntegrityError):
                return None
            raise


def _as_dict(trial: Trial) -> dict[str, Any]:
    cols = [c.name for c in Trial.__table__.columns]  # type: ignore[attr-defined]
    out = {c: getattr(trial, c) for c in cols}
    return json.loads(json.dumps(out, default=str))
