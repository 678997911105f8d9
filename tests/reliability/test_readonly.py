"""A results database the user may only read (another user's file, a read-only folder or
mount) can be queried, and the committed trials read are all of them (issue 13, item 7).

The commands run in a forked child as an unprivileged user (uid 65534), so file
permissions hold even when the tests run as root, as CI does; nothing is skipped for root.
Three states of a WAL database in a folder of mode 555, every file 444:

* closed cleanly: no write-ahead log beside it (``mode=ro`` cannot create the WAL index
  there; the file is opened ``immutable``);
* a log and its index left by a writer that was killed, holding committed trials that are
  in no other file (``mode=ro`` reads them in place);
* the same log without its index (the log holds rows, so the file and log are read from a
  private copy).

Every ``query`` form, ``leaderboard`` and ``models`` must answer with all committed trials,
and nothing in the folder may change. An ``eval`` on the folder is refused in one line
before any work.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.child import listing, run_in_child, shared_folder
from tests.helpers.cli import main_captured
from tests.helpers.workspace import Workspace, make_workspace, stored_trials

EXTRA_INDEX = 1000


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return make_workspace(tmp_path_factory.mktemp("readonly") / "ws", trials=3)


def _commit_in_wal_and_die(db: Path, keep_index: bool) -> None:
    """A writer that commits one more trial into the write-ahead log and is killed before
    any checkpoint: that trial is in the log only."""
    code = f"""
import os, sqlite3
con = sqlite3.connect({str(db)!r})
con.execute("PRAGMA wal_autocheckpoint=0")
cols = [r[1] for r in con.execute("PRAGMA table_info(trials)") if r[1] != "id"]
sel = ", ".join("trial_index + {EXTRA_INDEX}" if c == "trial_index" else c for c in cols)
names = ", ".join(cols)
con.execute(f"INSERT INTO trials ({{names}}) SELECT {{sel}} FROM trials WHERE trial_index = 0")
con.commit()
os._exit(0)
"""
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    assert Path(f"{db}-wal").stat().st_size > 0
    if not keep_index:
        Path(f"{db}-shm").unlink()


def _lock_down(folder: Path) -> None:
    for p in folder.iterdir():
        p.chmod(0o444)
    folder.chmod(0o555)


COMMANDS = (
    ["query", "trials", "--format", "json"],
    ["query", "runs", "--format", "json"],
    ["query", "--sql", "SELECT count(*) AS n FROM trials", "--format", "json"],
    ["leaderboard", "--format", "json"],
    ["models", "--format", "json"],
)


@pytest.mark.parametrize("state", ["closed", "log-and-index", "log-only"])
def test_read_only_database_is_fully_readable_unprivileged(
    workspace: Workspace, state: str
) -> None:
    with shared_folder() as root:
        folder = root / "ro"
        ws = workspace.copy(folder)
        for name in ("models", "cache"):  # only the database matters here
            shutil.rmtree(ws.root / name)
        # Warm every import the commands need, on the original (the child cannot import).
        for cmd in COMMANDS:
            code, _out, err = main_captured(["--db", str(workspace.db), *cmd])
            assert code == 0, err
        if state != "closed":
            _commit_in_wal_and_die(ws.db, keep_index=state == "log-and-index")
        expected = 3 + (state != "closed")
        _lock_down(folder)
        before = listing(folder)

        def read_all() -> list[tuple[int, str, str]]:
            return [main_captured(["--db", str(ws.db), *cmd]) for cmd in COMMANDS]

        results = run_in_child(read_all, unprivileged=True)
        for cmd, (code, _out, err) in zip(COMMANDS, results, strict=True):
            assert code == 0 and "Traceback" not in err, (cmd, err)
        trials = json.loads(results[0][1])["rows"]
        assert len(trials) == expected
        assert (EXTRA_INDEX in {t["trial_index"] for t in trials}) == (state != "closed")
        assert json.loads(results[2][1])["rows"] == [{"n": expected}]
        assert listing(folder) == before  # nothing written, created or removed
        assert sorted(os.listdir(folder)) == sorted(before)


def test_eval_on_a_read_only_database_is_one_line_before_any_work(workspace: Workspace) -> None:
    with shared_folder() as root:
        ws = workspace.copy(root / "ws")
        for p in (ws.models, ws.cache):  # the model and caches readable by anyone
            for q in [p, *p.rglob("*")]:
                q.chmod(0o755 if q.is_dir() else 0o644)
        folder = root / "db"
        folder.mkdir()
        db = folder / "results.db"
        shutil.copyfile(ws.db, db)  # a copy made by SQLite's backup: no log beside it
        _lock_down(folder)
        before = stored_trials(db)

        def evaluate() -> tuple[int, str, str]:
            return main_captured(ws.eval_args(db=db))

        code, _out, err = run_in_child(evaluate, unprivileged=True)
        assert code == 2 and "Traceback" not in err, err
        lines = err.strip().splitlines()
        assert len(lines) == 1 and "read-only" in lines[0] and str(db) in lines[0], err
        assert stored_trials(db) == before
