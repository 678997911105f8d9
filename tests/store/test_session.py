"""The results database: schema version, WAL, read-only user SQL, clear write errors.

Each test runs on both backends (``any_db``: a SQLite file, then a database on a real
PostgreSQL server) unless its name says which one it is about.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import inspect

from harness.errors import StoreError
from harness.store.schema import SCHEMA_VERSION, Run, Trial
from harness.store.session import open_store
from tests.helpers.damage import count, table_contents


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


def test_new_database_is_versioned_with_foreign_keys(any_db: str) -> None:
    store = open_store(any_db)
    assert store.version() == SCHEMA_VERSION
    run_id = _add_run(store)

    def orphan(s):
        s.add(Trial(run_id=run_id + 100, trial_index=0, sample_id="x", target_labels=[],
                    target_names=[], label_freq=1, bin_index=0, attack="positive",
                    outcome="success"))  # fmt: skip

    with pytest.raises(StoreError, match="(?i)foreign key"):
        store.write(orphan)
    store.dispose()
    # opening again does not re-run migrations
    again = open_store(any_db)
    assert again.version() == SCHEMA_VERSION
    assert count(any_db, "SELECT COUNT(*) FROM schema_version") == SCHEMA_VERSION
    assert count(any_db) == 3
    again.dispose()


def test_sqlite_database_is_wal(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    store = open_store(str(db))
    _add_run(store)
    store.dispose()
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    con.close()
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


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
def test_user_sql_cannot_change_anything(any_db: str, sql: str) -> None:
    store = open_store(any_db)
    _add_run(store, n_trials=4)
    before = table_contents(any_db)
    with pytest.raises(StoreError, match="refused or failed"):
        store.run_readonly_sql(sql)
    assert table_contents(any_db) == before
    cols, rows = store.run_readonly_sql("SELECT count(*), min(outcome) FROM trials")
    assert rows == [(4, "success")]
    assert {"runs", "trials", "substitutions"} <= set(inspect(store.engine).get_table_names())
    assert store.run_readonly_sql("SELECT count(*) FROM runs")[1] == [(1,)]
    store.dispose()


def test_user_select_works(any_db: str) -> None:
    store = open_store(any_db)
    _add_run(store, n_trials=2)
    cols, rows = store.run_readonly_sql(
        "SELECT sample_id, outcome FROM trials ORDER BY trial_index"
    )
    assert cols == ["sample_id", "outcome"] and rows == [("doc0", "success"), ("doc1", "success")]
    store.dispose()


def test_sqlite_read_only_database_error_is_clear_and_rows_remain(tmp_path: Path) -> None:
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


def test_postgres_read_only_database_error_is_clear_and_rows_remain(postgres_url: str) -> None:
    """A PostgreSQL database that refuses writes (a read-only standby, a session set read-only)
    is named read-only in one line, and its rows stay readable."""
    store = open_store(postgres_url)
    _add_run(store, n_trials=5)
    store.dispose()
    ro = open_store(f"{postgres_url}?options=-c%20default_transaction_read_only%3Don", create=False)
    with pytest.raises(StoreError, match="read-only") as info:
        _add_run(ro)
    assert "\n" not in str(info.value)
    with ro.read() as s:
        assert s.query(Trial).count() == 5
    ro.dispose()


def test_sqlite_missing_folder_is_named(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="does not exist"):
        open_store(str(tmp_path / "nope" / "r.db"))
