"""The results database: schema version, WAL, read-only user SQL, clear write errors."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from harness.errors import StoreError
from harness.store.schema import SCHEMA_VERSION, Run, Trial
from harness.store.session import open_store


def _add_run(store, n_trials: int = 3) -> int:
    def add(s):
        run = Run(
            config_hash="abc",
            config={"a": 1},
            seed=0,
            dataset="d",
            model="m",
            loss="bce",
            weighting="none",
            attack="positive",
            k=5,
            harness_version="0",
        )
        s.add(run)
        s.flush()
        for i in range(n_trials):
            s.add(
                Trial(
                    run_id=run.id,
                    trial_index=i,
                    sample_id=f"doc{i}",
                    target_labels=[1],
                    target_names=["x"],
                    label_freq=3,
                    bin_index=0,
                    attack="positive",
                    outcome="success",
                    original_text="a b",
                    adversarial_text="a c",
                )
            )
        return run.id

    return store.write(add)


def test_new_database_is_versioned_wal_with_foreign_keys(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    store = open_store(str(db))
    assert store.version() == SCHEMA_VERSION
    _add_run(store)
    store.dispose()
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    con.close()
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    # opening again does not re-run migrations
    assert open_store(str(db)).version() == SCHEMA_VERSION


@pytest.mark.parametrize(
    "sql",
    [
        "DELETE FROM trials",
        "UPDATE trials SET outcome='error'",
        "INSERT INTO runs (config_hash) VALUES ('x')",
        "DROP TABLE trials",
        "ATTACH DATABASE 'other.db' AS o",
        "PRAGMA journal_mode=DELETE",
        "PRAGMA user_version=7",
        "SELECT 1; DELETE FROM trials",
        "CREATE TABLE t(x)",
        "VACUUM",
    ],
)
def test_user_sql_cannot_change_anything(tmp_path: Path, sql: str) -> None:
    db = tmp_path / "r.db"
    store = open_store(str(db))
    _add_run(store, n_trials=4)
    with pytest.raises(StoreError, match="refused or failed"):
        store.run_readonly_sql(sql)
    cols, rows = store.run_readonly_sql("SELECT count(*), min(outcome) FROM trials")
    assert rows == [(4, "success")]
    cols, rows = store.run_readonly_sql("SELECT name FROM sqlite_master WHERE type='table'")
    assert {"runs", "trials", "substitutions"} <= {r[0] for r in rows}
    assert store.run_readonly_sql("SELECT count(*) FROM runs")[1] == [(1,)]


def test_user_select_works(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "r.db"))
    _add_run(store, n_trials=2)
    cols, rows = store.run_readonly_sql(
        "SELECT sample_id, outcome FROM trials ORDER BY trial_index"
    )
    assert cols == ["sample_id", "outcome"] and rows == [("doc0", "success"), ("doc1", "success")]


def test_read_only_database_error_is_clear_and_rows_remain(tmp_path: Path) -> None:
    """A database opened read-only (as on a read-only mount) refuses writes with a clear
    message, and what was committed stays readable."""
    db = tmp_path / "r.db"
    store = open_store(str(db))
    _add_run(store, n_trials=5)
    store.dispose()
    ro = open_store(f"sqlite:///file:{db}?mode=ro&uri=true", create=False)
    with pytest.raises(StoreError, match="read-only"):
        _add_run(ro)
    with ro.read() as s:
        assert s.query(Trial).count() == 5


def test_missing_folder_is_named(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="does not exist"):
        open_store(str(tmp_path / "nope" / "r.db"))
