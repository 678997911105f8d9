"""The executor seam: a worker rebuilds the campaign's attack from the picklable job and runs
a planned trial exactly as the local executor does."""

from __future__ import annotations

import pickle
from pathlib import Path

from harness.attack.build import AttackBuilder, AttackSpec
from harness.campaign.executors import EXECUTORS
from harness.campaign.executors.base import AttackJob, ModelRef, run_trial
from harness.campaign.plan import PlannedTrial
from harness.components import PluginChoice
from harness.registry import load_registry
from harness.store.session import open_store
from harness.training import ModelSpec, train_and_record

DATA = {"n_docs": 300, "n_labels": 100, "doc_length": 30}


def test_worker_attack_from_pickled_job_matches_the_local_executor(tmp_path: Path) -> None:
    reg = load_registry()
    corpus = reg.build("dataset", "synthetic", DATA).load(progress=False)
    spec = ModelSpec.resolve(
        reg, dataset="synthetic", dataset_options=DATA, model="linear",
        model_options={"max_iter": 30}, loss="bce", loss_options={}, seed=0,
    )  # fmt: skip
    store = open_store(str(tmp_path / "r.db"))
    model, row = train_and_record(reg, store, spec, corpus, tmp_path / "models", progress=False)
    store.dispose()
    attack_spec = AttackSpec(similarity=PluginChoice("change-rate"), max_change=0.3)
    ref = ModelRef(
        row.checkpoint_path, row.checkpoint_hash, tuple(corpus.label_names), corpus.fingerprint()
    )
    job = AttackJob(spec=attack_spec, model=ref, threads=1)
    docs = corpus.test[:4]
    top = model.predict_proba([d.words for d in docs]).argmax(axis=1)
    trials = [
        PlannedTrial(i, i, (int(t),), 1, 0, d.doc_id, tuple(d.words[: model.max_words]))
        for i, (d, t) in enumerate(zip(docs, top, strict=True))
    ]
    local = EXECUTORS["local"](job, lambda: AttackBuilder(reg, attack_spec).build(model))
    here = list(local.run(trials))
    local.close()
    worker_attack = pickle.loads(pickle.dumps(job)).build()
    there = [run_trial(worker_attack, t) for t in trials]
    assert [a.trial for a in here] == trials
    for a, b in zip(here, there, strict=True):
        assert a.error is None and b.error is None
        assert a.result.outcome == b.result.outcome
        assert a.result.adversarial == b.result.adversarial
        assert a.result.rank_after == b.result.rank_after
        assert a.cost.logical_queries == b.cost.logical_queries
