"""``compare-models``: two real trained models' recorded metrics, their difference and a
paired bootstrap interval, from the CLI; bad ids and metrics name what is wrong."""

from __future__ import annotations

import json

import pytest

from harness.store.schema import TrainedModel
from harness.store.session import open_store
from tests.cli.test_train import DATA
from tests.helpers.cli import cli_output, invoke, run_main


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> str:
    """Two linear models on one synthetic corpus: plain and deferred PW-cb (ids 1 and 2),
    and one on another synthetic corpus (id 3)."""
    folder = tmp_path_factory.mktemp("compare")
    path = str(folder / "r.db")
    base = ["--db", path, "train", "--model", "linear", "--epochs", "2", "--no-progress"]
    base += ["--model-dir", str(folder / "models")]
    for extra in (
        [*DATA],
        [*DATA, "--weighting", "pw-cb", "--loss-opt", "defer=0.5"],
        ["--dataset", "synthetic", "--dataset-opt", "n_labels=120", "--dataset-opt", "n_docs=300"],
    ):
        invoke(*base, *extra)
    return path


def _compare(db: str, *args: str) -> list[dict]:
    doc = json.loads(cli_output(db, "compare-models", *args, "--format", "json", "--no-progress"))
    assert doc["model_a"] == int(args[0]) and doc["model_b"] == int(args[1])
    return doc["rows"]


def test_compare_reports_both_models_metrics_and_a_paired_interval(db: str) -> None:
    with open_store(db).read() as s:
        a, b = s.get(TrainedModel, 1).metrics, s.get(TrainedModel, 2).metrics
    rows = _compare(db, "1", "2", "--resamples", "200")
    assert [r["metric"] for r in rows] == ["P@1", "P@3", "P@5", "PSP@1", "PSP@3", "PSP@5"]
    for r in rows:
        # The test split is scored again from the checkpoints: the recorded metrics come back.
        assert r["a"] == pytest.approx(a[r["metric"]], abs=1e-9)
        assert r["b"] == pytest.approx(b[r["metric"]], abs=1e-9)
        assert r["difference"] == pytest.approx(r["b"] - r["a"], abs=1e-12)
        assert r["low"] <= r["high"] and 0.0 <= r["share_b_not_above_a"] <= 1.0
    assert any(r["low"] < r["high"] for r in rows)
    same = _compare(db, "2", "2", "--metric", "PSP@5", "--resamples", "20")
    assert same == [
        {
            "metric": "PSP@5",
            "a": same[0]["a"],
            "b": same[0]["a"],
            "difference": 0.0,
            "low": 0.0,
            "high": 0.0,
            "share_b_not_above_a": 1.0,
        }
    ]


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["1", "9"], ["MODEL_B", "no trained model with id 9"]),
        (["1", "3"], ["MODEL_B", "only models of one dataset compare"]),
        (["1", "2", "--metric", "PSP@x"], ["--metric", "PSP@x"]),
        (["1", "2", "--metric", "MAP@3"], ["--metric", "unknown 'MAP@3'"]),
        (["1", "2", "--metric", "PSP@0"], ["--metric", "unknown 'PSP@0'"]),
    ],
)
def test_bad_comparisons_name_the_argument(db: str, args, needles, capsys) -> None:
    code, _, err = run_main(["--db", db, "compare-models", *args, "--no-progress"], capsys)
    assert code == 2 and "Traceback" not in err
    for needle in needles:
        assert needle in err


def test_models_lists_loss_options_off_their_defaults(db: str) -> None:
    out = cli_output(db, "models")
    lines = {ln.split()[0]: ln for ln in out.splitlines() if ln.strip()[:1].isdigit()}
    assert "pw-cb defer=0.5" in lines["2"]
    assert " none " in lines["1"] and "=" not in lines["1"]
