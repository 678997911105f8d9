"""``train --threads``: the threads a training used are recorded beside its spec, never in it,
so the same model is found again whatever the threads, and a bad count is refused."""

from __future__ import annotations

from harness.store.models import list_models
from harness.store.session import open_store
from tests.helpers.cli import SYNTH, run_cli

LINEAR = ("--model", "linear", "--no-progress")


def test_threads_are_recorded_and_leave_the_spec_alone(tmp_path) -> None:
    db = str(tmp_path / "r.db")
    common = ["--db", db, "train", *SYNTH, *LINEAR, "--model-dir", str(tmp_path / "models")]
    first = run_cli([*common, "--threads", "1"], cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    again = run_cli(common, cwd=tmp_path)
    assert again.returncode == 0 and "already trained: model id 1" in again.stdout
    store = open_store(db)
    (row,) = list_models(store)
    store.dispose()
    assert row.config["threads"] == 1 and "threads" not in row.config["model_options"]


def test_a_thread_count_below_one_is_refused_in_one_line(tmp_path) -> None:
    res = run_cli(["--db", str(tmp_path / "r.db"), "train", *SYNTH, "--threads", "0"], tmp_path)
    assert res.returncode == 2 and "--threads" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and not (tmp_path / "r.db").exists()
