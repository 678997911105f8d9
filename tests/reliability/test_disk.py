"""A full disk or a read-only database: the eval stops with a one-line error, and the
trials committed before stay readable through ``xmtc-harness query``.

Disk full is real, not simulated in Python: the resumed eval runs under a file-size limit
(``RLIMIT_FSIZE``; Python ignores SIGXFSZ), so SQLite's own write of the WAL fails with
"database or disk is full" / a write I/O error exactly as on a full file system.
(``PRAGMA max_page_count`` cannot do this from outside: it is a per-connection setting, not
stored in the file.)
"""

from __future__ import annotations

import json
import resource
import subprocess
from pathlib import Path

import pytest

from tests.helpers.cli import cli_cmd, cli_env, eval_args, one_line_error, run_cli
from tests.helpers.damage import runs, trial_indices, trial_problems


@pytest.fixture(scope="module")
def started(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with a trained model and a run whose first 3 trials are committed."""
    tmp = tmp_path_factory.mktemp("disk")
    res = run_cli(eval_args(tmp, "--limit", "3"), cwd=tmp)
    assert res.returncode == 0, res.stderr
    return tmp


def _copy_db(src: Path, dst: Path) -> Path:
    import sqlite3

    dst.mkdir()
    out = dst / "results.db"
    a, b = sqlite3.connect(src / "results.db"), sqlite3.connect(out)
    a.backup(b)
    a.close()
    b.close()
    return out


def _queried_indices(db: Path, cwd: Path) -> list[int]:
    res = run_cli(["--db", str(db), "query", "trials", "--format", "json"], cwd=cwd)
    assert res.returncode == 0, res.stderr
    return sorted(int(r["trial_index"]) for r in json.loads(res.stdout)["rows"])


def test_disk_full_is_one_line_and_committed_trials_stay(started: Path, tmp_path: Path) -> None:
    db = _copy_db(started, tmp_path / "full")
    before = trial_indices(db)
    ((run_id, *_),) = runs(db)
    assert before == {run_id: [0, 1, 2]}
    limit = 40_000  # bytes: the WAL (and -shm, 32 KiB) fit, a few commits more do not

    def small_disk() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    res = subprocess.run(
        cli_cmd(eval_args(started, db=str(db))),
        cwd=tmp_path,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=small_disk,
    )
    assert res.returncode == 2, (res.returncode, res.stderr)
    line = one_line_error(res)
    assert "disk is full" in line and "committed rows are intact" in line, line
    # Everything committed before is still there and sound, and readable by the CLI.
    assert trial_problems(db) == []
    stored = trial_indices(db)[run_id]
    assert stored[:3] == [0, 1, 2] and len(stored) == len(set(stored))
    assert _queried_indices(db, tmp_path) == stored
    # With space again, the same command completes the plan.
    res = run_cli(eval_args(started, db=str(db)), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    ((_, _, n_planned, status),) = runs(db)
    assert status == "finished" and trial_indices(db) == {run_id: list(range(n_planned))}


def test_read_only_database_is_one_line_and_rows_stay_readable(
    started: Path, tmp_path: Path
) -> None:
    db = _copy_db(started, tmp_path / "ro")
    before = trial_indices(db)
    url = f"sqlite:///file:{db}?mode=ro&uri=true"
    res = run_cli(eval_args(started, db=url), cwd=tmp_path)
    assert res.returncode == 2, res.stderr
    line = one_line_error(res)
    assert "read-only" in line, line
    assert trial_indices(db) == before
    assert trial_problems(db) == []
    assert _queried_indices(db, tmp_path) == [i for v in before.values() for i in v]
    # ... also through the read-only URL itself.
    res = run_cli(["--db", url, "query", "trials", "--format", "json"], cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert len(json.loads(res.stdout)["rows"]) == 3


# A database file the user may not write (chmod 444 in a read-only folder, as an unprivileged
# user even when the tests run as root): tests/reliability/test_readonly.py.
