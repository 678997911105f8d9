"""Global options after the subcommand, and corpora named by their own names in tables."""

from __future__ import annotations

from pathlib import Path

from tests.helpers.cli import invoke
from tests.helpers.dataset_files import write_xc_raw
from tests.helpers.report_db import build_report_db


def test_db_is_taken_before_or_after_the_command(tmp_path: Path) -> None:
    build_report_db(tmp_path / "r.db").dispose()
    before = invoke("--db", tmp_path / "r.db", "query", "runs").stdout
    after = invoke("query", "runs", "--db", tmp_path / "r.db").stdout
    assert before == after and "attentionxml" in after
    missing = invoke("query", "--db", tmp_path / "none.db", expect=None)
    assert missing.exit_code != 0 and "no results database here" in str(missing.exception)


def test_plugin_is_taken_after_the_command() -> None:
    out = invoke("plugins", "--kind", "substituter", "--plugin", "tests.plugins_for_tests.broken")
    assert "echo" in out.stdout and "--plugin" in out.stdout


def test_models_tell_two_corpora_of_one_plugin_apart(tmp_path: Path) -> None:
    """One corpus named by its folder, one by ``name=``; both read by ``xc-raw``."""
    db = tmp_path / "r.db"
    for folder, extra in (("wiki-a", []), ("data", ["--dataset-opt", "name=wiki-b"])):
        invoke(
            "train", "--dataset", "xc-raw", "--data-dir",
            write_xc_raw(tmp_path / folder, n_train=30, n_test=8), *extra, "--model", "linear",
            "--model-dir", tmp_path / "models", "--no-progress", db=db,
        )  # fmt: skip
    rows = [ln.split() for ln in invoke("models", db=db).stdout.splitlines()[2:]]
    assert [r[1] for r in rows] == ["wiki-a", "wiki-b"]
    only_b = invoke("models", "--dataset", "wiki-b", db=db).stdout
    assert "wiki-b" in only_b and "wiki-a" not in only_b


def test_leaderboard_groups_and_filters_by_corpus_name(tmp_path: Path) -> None:
    from harness.store.schema import Run

    store = build_report_db(tmp_path / "r.db")

    def name(s):  # type: ignore[no-untyped-def]
        for run in s.query(Run).all():
            run.corpus = "reuters-a" if run.id % 2 else "reuters-b"

    store.write(name)
    store.dispose()
    out = invoke("leaderboard", "--summary", db=tmp_path / "r.db").stdout
    assert "reuters-a" in out and "reuters-b" in out
    only = invoke("leaderboard", "--summary", "--dataset", "reuters-b", db=tmp_path / "r.db").stdout
    assert "reuters-b" in only and "reuters-a" not in only
