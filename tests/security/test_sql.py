"""``xmtc-harness query --sql`` cannot change the database, whatever the statement.

The Store-level refusal is tested in tests/test_store.py and the basic statement forms in
tests/test_query_cmd.py; here the whole CLI path is attacked with further tricks (VACUUM
INTO, temp tables, CTE writes, PRAGMA writes, transaction control, extension loading,
comment and newline smuggling), and the database file must stay byte-identical.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests.helpers.cli import cli_output, one_line_error, run_cli, run_main
from tests.helpers.damage import count
from tests.helpers.report_db import build_report_db

TRICKS = [
    "INSERT INTO runs (id) VALUES (99)",
    "REPLACE INTO schema_version (version) VALUES (99)",
    "DELETE FROM substitutions",
    "UPDATE runs SET status = 'failed'",
    "DROP TABLE substitutions",
    "DROP INDEX ix_trials_run_bin",
    "ALTER TABLE trials ADD COLUMN pwned TEXT",
    "CREATE TABLE pwned (a)",
    "CREATE TEMP TABLE pwned AS SELECT * FROM trials",
    "CREATE VIEW pwned AS SELECT 1",
    "CREATE TRIGGER pwned AFTER INSERT ON trials BEGIN DELETE FROM trials; END",
    "WITH doomed AS (SELECT id FROM trials) DELETE FROM trials WHERE id IN doomed",
    "VACUUM",
    "VACUUM INTO 'copy.db'",
    "REINDEX",
    "ANALYZE",
    "ATTACH DATABASE 'other.db' AS other",
    "DETACH DATABASE main",
    "PRAGMA user_version = 7",
    "PRAGMA journal_mode = DELETE",
    "PRAGMA query_only = OFF",
    "PRAGMA writable_schema = ON",
    "PRAGMA foreign_keys = OFF",
    "BEGIN IMMEDIATE",
    "SAVEPOINT s1",
    "SELECT load_extension('/tmp/evil')",
    "SELECT 1; DELETE FROM trials",
    "SELECT 1;\nDROP TABLE runs",
    "SELECT 1 -- comment\n; UPDATE trials SET outcome = 'x'",
    "PRAGMA query_only = OFF; DELETE FROM trials",
    "BEGIN; DELETE FROM trials; COMMIT",
]


def _digest(db: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(db.parent.glob(db.name + "*")):
        h.update(f.name.encode() + f.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlsec") / "results.db"
    build_report_db(path, per_bin=5).dispose()
    return path


def _counts(db: Path) -> tuple[int, ...]:
    return tuple(
        count(db, f"SELECT COUNT(*) FROM {t}")
        for t in ("runs", "trials", "substitutions", "trained_models", "schema_version")
    )


def test_every_write_trick_is_refused_and_the_file_is_unchanged(
    db: Path, capsys: pytest.CaptureFixture, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # where VACUUM INTO / ATTACH would create files
    before_counts, before_digest = _counts(db), _digest(db)
    for sql in TRICKS:
        code, out, err = run_main(["--db", str(db), "query", "--sql", sql], capsys)
        assert code == 2, (sql, err)
        assert out == "", sql
        lines = [ln for ln in err.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: --sql"), (sql, err)
        assert "Traceback" not in err
        assert _counts(db) == before_counts, sql
        assert _digest(db) == before_digest, sql
    assert not (tmp_path / "copy.db").exists() and not (tmp_path / "other.db").exists()
    assert list(tmp_path.iterdir()) == []


def test_read_only_sql_still_reads(db: Path, capsys: pytest.CaptureFixture) -> None:
    out = cli_output(db, "query", "--sql", "SELECT COUNT(*) AS n FROM trials")
    assert out.split() == ["n", "---", str(count(db))]


def test_sql_refusal_through_the_installed_entry_point(db: Path, tmp_path: Path) -> None:
    """A fresh interpreter, a multi-statement trick: exit 2, one line, nothing changed."""
    before_counts, before_digest = _counts(db), _digest(db)
    res = run_cli(["--db", str(db), "query", "--sql", "SELECT 1; DROP TABLE trials"], cwd=tmp_path)
    assert res.returncode == 2
    assert one_line_error(res).startswith("error: --sql refused or failed")
    assert (_counts(db), _digest(db)) == (before_counts, before_digest)
