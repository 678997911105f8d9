"""``xmtc-harness query``: filters equal SQL counts, output formats, and ``--sql`` refusing
every write with a one-line error while the database stays intact."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from pathlib import Path

import pytest

from harness.store.queries import TRIAL_BRIEF_COLUMNS, TRIAL_COLUMNS
from tests.helpers.cli import cli_output, invoke, run_main
from tests.helpers.report_db import build_report_db


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("q") / "results.db"
    build_report_db(path).dispose()
    return path


def count(db: Path, sql: str = "SELECT COUNT(*) FROM trials") -> int:
    con = sqlite3.connect(db)
    (n,) = con.execute(sql).fetchone()
    con.close()
    return int(n)


def test_runs_table_and_filters(db: Path) -> None:
    out = cli_output(db, "query")
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["id", "status", "dataset", "model"]
    assert len(lines) == 2 + 4
    doc = json.loads(cli_output(db, "query", "runs", "--model", "linear", "--format", "json"))
    assert [r["id"] for r in doc["rows"]] == [4]
    assert doc["rows"][0]["n_trials"] == count(db, "SELECT COUNT(*) FROM trials WHERE run_id=4")
    doc = json.loads(cli_output(db, "query", "runs", "--cluster", "--format", "json"))
    assert [(r["id"], r["attack"]) for r in doc["rows"]] == [(3, "negative")]
    doc = json.loads(cli_output(db, "query", "runs", "--status", "running", "--format", "json"))
    assert [r["id"] for r in doc["rows"]] == [4]


def test_trials_filters_equal_sql(db: Path) -> None:
    args = ["query", "trials", "--weighting", "pw", "--outcome", "success", "--bin", "0"]
    doc = json.loads(cli_output(db, *args, "--bin", "3", "--format", "json"))
    expected = count(
        db,
        "SELECT COUNT(*) FROM trials t JOIN runs r ON r.id = t.run_id WHERE r.weighting = 'pw'"
        " AND t.outcome = 'success' AND t.bin_index IN (0, 3)",
    )
    assert len(doc["rows"]) == expected > 0
    assert {(r["outcome"], r["bin_index"] in (0, 3), r["run_id"]) for r in doc["rows"]} == {
        ("success", True, 2)
    }
    assert list(doc["rows"][0]) == list(TRIAL_COLUMNS)
    limited = json.loads(cli_output(db, *args, "--limit", "3", "--format", "json"))
    assert len(limited["rows"]) == 3


def test_trials_text_and_csv(db: Path, tmp_path: Path) -> None:
    text = cli_output(db, "query", "trials", "--run", "1", "--limit", "5")
    assert text.splitlines()[0].split() == list(TRIAL_BRIEF_COLUMNS)
    assert len(text.splitlines()) == 2 + 5
    out = tmp_path / "t.csv"
    cli_output(db, "query", "trials", "--attack", "negative", "--format", "csv", "--out", str(out))
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert len(rows) == count(db, "SELECT COUNT(*) FROM trials WHERE run_id = 3")
    con = sqlite3.connect(db)
    (labels,) = con.execute(
        "SELECT target_labels FROM trials WHERE run_id = 3 AND trial_index = ?",
        (int(rows[0]["trial_index"]),),
    ).fetchone()
    con.close()
    assert json.loads(rows[0]["target_labels"]) == json.loads(labels)  # lists as JSON text
    assert len(rows[0]["original_text"].split()) == int(rows[0]["n_words"])  # full, not cut
    picked = cli_output(db, "query", "trials", "--run", "3", "--columns", "trial_index,outcome")
    assert picked.splitlines()[0].split() == ["trial_index", "outcome"]


def test_user_sql_reads(db: Path) -> None:
    sql = "SELECT outcome, COUNT(*) AS n FROM trials GROUP BY outcome ORDER BY outcome"
    doc = json.loads(cli_output(db, "query", "--sql", sql, "--format", "json"))
    assert sum(r["n"] for r in doc["rows"]) == count(db)
    assert [r["outcome"] for r in doc["rows"]] == sorted(r["outcome"] for r in doc["rows"])
    text = cli_output(db, "query", "--sql", "SELECT COUNT(*) AS n FROM runs")
    assert text.split() == ["n", "---", "4"]


@pytest.mark.parametrize(
    "sql",
    [
        "DELETE FROM trials",
        "UPDATE trials SET outcome = 'success'",
        "DROP TABLE trials",
        "INSERT INTO runs (id) VALUES (99)",
        "SELECT 1; DELETE FROM trials",
        "ATTACH DATABASE ':memory:' AS other",
        "PRAGMA journal_mode = DELETE",
    ],
)
def test_user_sql_writes_are_refused(db: Path, sql: str, capsys: pytest.CaptureFixture) -> None:
    before = (count(db), count(db, "SELECT COUNT(*) FROM runs"))
    code, out, err = run_main(["--db", str(db), "query", "--sql", sql], capsys)
    assert code == 2 and out == ""
    assert err.startswith("error: --sql refused or failed")
    assert err.count("\n") == 1  # one line, no traceback
    assert (count(db), count(db, "SELECT COUNT(*) FROM runs")) == before


def test_sql_with_filters_and_misuse_are_usage_errors(db: Path) -> None:
    res = invoke("query", "--sql", "SELECT 1", "--run", "1", db=db, expect=None)
    assert res.exit_code != 0 and "--sql" in str(res.exception)
    res = invoke("query", "runs", "--outcome", "success", db=db, expect=None)
    assert "query trials" in str(res.exception)
    res = invoke("query", "trials", "--columns", "bogus", db=db, expect=None)
    assert "unknown bogus" in str(res.exception)


def test_missing_database_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code, _, err = run_main(["--db", str(tmp_path / "none.db"), "query"], capsys)
    assert code == 2
    assert "no results database here" in err and err.count("\n") == 1
    assert not (tmp_path / "none.db").exists()


def test_exports_stream_the_same_rows_as_the_store_holds(db: Path, tmp_path: Path) -> None:
    """CSV and JSON exports are written row by row; they hold exactly the stored trials, in
    order, with every column, and leave no partial file beside the one asked for."""
    from harness.store.queries import RunFilter, select_trials, trial_record
    from harness.store.session import open_store

    store = open_store(str(db))
    try:
        with store.read() as s:
            want = [trial_record(t) for t in select_trials(s, RunFilter())]
    finally:
        store.dispose()
    doc = json.loads(cli_output(db, "query", "trials", "--format", "json"))
    assert doc == {"notes": [], "rows": json.loads(json.dumps(want, default=str))}
    out = tmp_path / "all.csv"
    cli_output(db, "query", "trials", "--format", "csv", "--out", str(out))
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [(int(r["run_id"]), int(r["trial_index"])) for r in rows] == [
        (w["run_id"], w["trial_index"]) for w in want
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["all.csv"]
    empty = cli_output(db, "query", "trials", "--run", "999", "--format", "csv")
    assert empty.splitlines() == [",".join(TRIAL_COLUMNS)]  # the header, whatever matches
    assert json.loads(cli_output(db, "query", "trials", "--run", "999", "--format", "json")) == {
        "notes": [],
        "rows": [],
    }


def test_an_export_holds_a_bounded_number_of_trials_in_memory(tmp_path: Path) -> None:
    """Exporting four times as many trials takes about the same peak memory: the rows are
    fetched in batches and written as they come, never all held at once."""
    import tracemalloc

    from tests.helpers.cli import main_captured

    def export(path: Path) -> int:
        """The export's peak traced memory (its output checked afterwards, untraced)."""
        out = tmp_path / f"{path.stem}.json"
        tracemalloc.start()
        code, _out, err = main_captured(
            ["--db", str(path), "query", "trials", "--format", "json", "--out", str(out)]
        )
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert code == 0, err
        assert len(json.loads(out.read_text())["rows"]) == count(path)
        return peak

    small, big = tmp_path / "small.db", tmp_path / "big.db"
    build_report_db(small, per_bin=150).dispose()
    build_report_db(big, per_bin=600).dispose()
    export(small)  # once before: imports and the first statement's compilation
    peaks = [export(small), export(big)]
    assert count(big) >= 4 * count(small) - 8
    assert peaks[1] < 1.5 * peaks[0], peaks
