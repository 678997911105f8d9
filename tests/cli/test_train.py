"""``train`` records a model that ``models`` lists and ``get_or_train`` finds again."""

from __future__ import annotations

import shutil

import numpy as np

from harness.store.schema import TrainedModel
from harness.store.session import open_store
from harness.training import ModelSpec, find_trained, get_or_train
from tests.helpers.cli import invoke
from tests.helpers.models import registry

DATA = [
    "--dataset",
    "synthetic",
    "--dataset-opt",
    "n_labels=100",
    "--dataset-opt",
    "n_docs=400",
    "--dataset-opt",
    "doc_length=40",
]


def _spec() -> ModelSpec:
    return ModelSpec.resolve(
        registry(),
        dataset="synthetic",
        dataset_options={"n_labels": "100", "n_docs": "400", "doc_length": "40"},
        model="linear",
        model_options={"epochs": "2"},
        loss="bce",
        loss_options={"weighting": "pw"},
        seed=3,
    )


def test_train_records_a_row_that_models_prints(tmp_path) -> None:
    db = str(tmp_path / "r.db")
    args = [
        "--db",
        db,
        "train",
        *DATA,
        "--model",
        "linear",
        "--weighting",
        "pw",
        "--epochs",
        "2",
        "--seed",
        "3",
        "--model-dir",
        str(tmp_path / "models"),
        "--no-progress",
    ]
    res = invoke(*args)
    assert "P@1" in res.output and "PSP@5" in res.output and "model id 1" in res.output
    store = open_store(db)
    row = find_trained(store, _spec())  # the CLI's words and the API's options agree
    assert row is not None and row.weighting == "pw" and row.seed == 3
    assert set(row.metrics) >= {"P@1", "P@3", "P@5", "nDCG@3", "nDCG@5", "PSP@1", "PSP@5"}
    assert row.package_versions["torch"] and row.train_seconds > 0
    assert (tmp_path / "models" / row.spec_hash / "model.safetensors").is_file()

    listed = invoke("models", db=db)
    line = next(x for x in listed.output.splitlines() if x.lstrip().startswith("1 "))
    assert "synthetic" in line and "linear" in line and f"{row.metrics['P@1']:.4f}" in line
    assert "no trained models" in invoke("models", "--model", "aplc", db=db).output

    again = invoke(*args)
    assert "already trained" in again.output
    with store.read() as s:
        assert s.query(TrainedModel).count() == 1
    store.dispose()


def test_get_or_train_loads_then_retrains_a_lost_checkpoint(tmp_path) -> None:
    reg = registry()
    store = open_store(str(tmp_path / "r.db"))
    spec = _spec()
    corpus = reg.build("dataset", "synthetic", spec.dataset_options).load()
    model, row = get_or_train(reg, store, spec, corpus, tmp_path / "m", progress=False)
    again, row2 = get_or_train(reg, store, spec, corpus, tmp_path / "m", train_if_missing=False)
    assert row2.id == row.id
    docs = [d.words for d in corpus.test]
    np.testing.assert_array_equal(again.predict_proba(docs), model.predict_proba(docs))
    shutil.rmtree(row.checkpoint_path)
    _, row3 = get_or_train(reg, store, spec, corpus, tmp_path / "m", progress=False)
    assert row3.id == row.id and (tmp_path / "m" / spec.hash()).is_dir()
    store.dispose()


def test_spec_hash_ignores_where_things_live() -> None:
    a = _spec()
    b = ModelSpec(
        **{
            **a.__dict__,
            "model_options": {**a.model_options, "device": "cuda"},
            "dataset_options": {**a.dataset_options, "data_dir": "/elsewhere"},
        }
    )
    c = ModelSpec(**{**a.__dict__, "seed": 4})
    assert a.hash() == b.hash() != c.hash()


def test_a_model_recorded_before_an_option_existed_is_still_found(tmp_path) -> None:
    """A row whose recorded options lack one that plugins gained later (at its default)
    matches the spec with that option; a row with a different value does not."""
    spec = _spec()
    older = ModelSpec(
        **{**spec.__dict__, "loss_options": {**spec.loss_options}},
    )
    del older.loss_options["normalise"]  # as recorded before the option existed
    other = ModelSpec(**{**spec.__dict__, "model_options": {**spec.model_options, "C": 0.5}})
    assert older.hash() != spec.hash()
    store = open_store(str(tmp_path / "results.db"))

    def record(s, which: ModelSpec) -> None:
        s.add(
            TrainedModel(
                spec_hash=which.hash(),
                dataset=which.dataset,
                dataset_fingerprint="f",
                model=which.model,
                model_options=which.model_options,
                loss=which.loss,
                weighting=which.weighting,
                loss_options=which.loss_options,
                seed=which.seed,
                checkpoint_path="/nowhere",
                checkpoint_hash="h",
                config=which.config(),
            )
        )

    store.write(lambda s: record(s, other))
    assert find_trained(store, spec, registry()) is None
    store.write(lambda s: record(s, older))
    assert find_trained(store, spec) is None  # by exact hash alone: not found
    found = find_trained(store, spec, registry())
    assert found is not None and found.spec_hash == older.hash()
