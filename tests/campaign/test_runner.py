"""End-to-end campaigns on the offline synthetic dataset with the linear model."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select

from harness.attack.goals import Goal
from harness.checkpoint import load_checkpoint
from harness.registry import load_registry
from harness.store.schema import Run, Substitution, TrainedModel, Trial
from harness.store.session import open_store
from harness.text import tokenize
from tests.helpers.cli import invoke

SYNTH_OPTS = {"n_docs": "800", "n_labels": "100", "doc_length": "40"}
SYNTH = ["--dataset", "synthetic"] + [
    x for k, v in SYNTH_OPTS.items() for x in ("--dataset-opt", f"{k}={v}")
]


def _eval(tmp: Path, *extra: str) -> str:
    args = [
        "--db", str(tmp / "r.db"), "eval", *SYNTH, "--model", "linear",
        "--model-dir", str(tmp / "models"), "--cache-dir", str(tmp / "cache"),
        "--labels-per-bin", "6", "--samples-per-bin", "4", "--no-progress", *extra,
    ]  # fmt: skip
    return invoke(*args).output


@pytest.fixture(scope="module")
def positive_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("campaign")
    _eval(tmp, "--attack", "positive")
    return tmp


def test_run_is_reproducible_and_recorded(positive_run: Path) -> None:
    store = open_store(str(positive_run / "r.db"), create=False)
    with store.read() as s:
        run = s.scalars(select(Run)).one()
        tm = s.get(TrainedModel, run.trained_model_id)
        assert run.status == "finished"
        assert len(run.config_hash) == 16 and run.seed == 0
        assert run.config["attack"] == "positive" and run.config["resolved_options"]
        assert run.checkpoint_hash == tm.checkpoint_hash and len(tm.checkpoint_hash) == 64
        assert {"torch", "numpy", "python"} <= set(run.package_versions)
        n = s.scalar(select(func.count()).select_from(Trial).where(Trial.run_id == run.id))
        assert n == run.n_planned > 0
        assert {b["index"] for b in run.bins} == set(
            s.scalars(select(Trial.bin_index).where(Trial.run_id == run.id))
        )


def test_every_stored_success_rescores_as_a_success(positive_run: Path) -> None:
    store = open_store(str(positive_run / "r.db"), create=False)
    reg = load_registry()
    with store.read() as s:
        run = s.scalars(select(Run)).one()
        tm = s.get(TrainedModel, run.trained_model_id)
        trials = s.scalars(select(Trial).where(Trial.run_id == run.id)).all()
        corpus = reg.build("dataset", "synthetic", SYNTH_OPTS).load()
        model = load_checkpoint(tm.checkpoint_path, reg, label_names=corpus.label_names)
        successes = [t for t in trials if t.outcome == "success"]
        assert successes, "the attack should succeed on some synthetic pairs"
        for t in successes:
            adv = tokenize(t.adversarial_text)
            probs = model.predict_proba([adv])
            assert Goal("positive", tuple(t.target_labels), run.k).is_met(probs)[0]
            assert t.similarity is not None and t.similarity >= 0.8
            assert t.n_changed <= int(0.1 * t.n_words)
            subs = s.scalars(select(Substitution).where(Substitution.trial_id == t.id)).all()
            assert len(subs) == t.n_changed
            assert t.rank_after > run.k >= t.rank_before


def test_same_command_resumes_and_fresh_starts_over(tmp_path: Path) -> None:
    _eval(tmp_path, "--attack", "positive", "--limit", "3")
    store = open_store(str(tmp_path / "r.db"), create=False)
    with store.read() as s:
        run = s.scalars(select(Run)).one()
        assert run.status == "interrupted"
        assert s.scalar(select(func.count()).select_from(Trial)) == 3
    out = _eval(tmp_path, "--attack", "positive")
    assert "3 already stored" in out
    with store.read() as s:
        run = s.scalars(select(Run)).one()
        idx = sorted(s.scalars(select(Trial.trial_index).where(Trial.run_id == run.id)))
        assert run.status == "finished" and idx == list(range(run.n_planned))
    _eval(tmp_path, "--attack", "positive", "--fresh", "--limit", "2")
    with store.read() as s:
        runs = s.scalars(select(Run).order_by(Run.id)).all()
        assert [r.status for r in runs] == ["superseded", "interrupted"]
        assert runs[0].config_hash == runs[1].config_hash


def test_negative_attack_with_clusters(tmp_path: Path) -> None:
    _eval(tmp_path, "--attack", "negative", "--cluster", "--max-leaf", "5")
    store = open_store(str(tmp_path / "r.db"), create=False)
    reg = load_registry()
    with store.read() as s:
        run = s.scalars(select(Run)).one()
        assert run.cluster and run.attack == "negative"
        trials = s.scalars(select(Trial).where(Trial.run_id == run.id)).all()
        assert trials and all(t.rank_before > run.k for t in trials)
        corpus = reg.build("dataset", "synthetic", SYNTH_OPTS).load()
        model = load_checkpoint(
            s.get(TrainedModel, run.trained_model_id).checkpoint_path,
            reg,
            label_names=corpus.label_names,
        )
        for t in trials:
            if t.outcome == "success":
                probs = model.predict_proba([tokenize(t.adversarial_text)])
                assert Goal("negative", tuple(t.target_labels), run.k).is_met(probs)[0]
    assert list((tmp_path / "cache").glob("clusters-synthetic-*.json"))


def test_paired_campaign_attacks_pairs_both_models_predict_and_caches_both(
    tmp_path: Path,
) -> None:
    """``--paired-with model:ID``: every drawn target is a true label inside both models'
    top-k, and both models' test predictions are cached under their checkpoints."""
    from harness.campaign.predictions import cache_path, load_predictions

    _eval(tmp_path, "--attack", "positive", "--limit", "1")
    shutil.rmtree(tmp_path / "cache")  # the partner's predictions are cached by the paired run
    _eval(tmp_path, "--attack", "positive", "--loss", "squared-hinge", "--paired-with", "model:1")
    store = open_store(str(tmp_path / "r.db"), create=False)
    corpus = load_registry().build("dataset", "synthetic", SYNTH_OPTS).load()
    row_of = {d.doc_id: i for i, d in enumerate(corpus.test)}
    with store.read() as s:
        first, second = s.scalars(select(TrainedModel).order_by(TrainedModel.id)).all()
        run = s.scalars(select(Run).where(Run.trained_model_id == second.id)).one()
        trials = s.scalars(select(Trial).where(Trial.run_id == run.id)).all()
    assert run.config["paired_with"] == ["model:1"] and trials
    tops = []
    for tm in (first, second):
        path = cache_path(tmp_path / "cache", tm.checkpoint_hash, 100)
        pred = load_predictions(path, len(corpus.test), corpus.n_labels, 100)
        assert pred is not None, path
        tops.append(pred.top(run.k))
    for t in trials:
        row, target = row_of[t.sample_id], t.target_labels[0]
        assert target in corpus.test[row].labels
        assert all(target in top[row] for top in tops)
