"""SIGKILL at any moment leaves a sound database, and the same command resumes to exactly
the planned trial set.

One campaign is killed several times — at seeded random moments during start-up and
training, during sampling/early trials, and right after a trial's commit (the test polls
the trial count and kills the moment it rises) — and after every kill the database must
pass ``PRAGMA integrity_check`` (SQLite), hold no partial trial, and hold no trial twice. The
last run of the same command completes the set 0..n_planned-1 in the same run row. On both
backends: a SQLite file, and a PostgreSQL database on a real server (where the server rolls
back the killed client's open transaction).
"""

from __future__ import annotations

import random
import signal
import time
from pathlib import Path

from tests.helpers.cli import eval_args, popen_cli, run_cli
from tests.helpers.damage import Db, count, runs, trial_indices, trial_problems, try_count

SEED = 20240607
DEADLINE = 120.0  # seconds any one phase may wait for its moment
PACING = "tests.plugins_for_tests.pacing"
"""Every trial takes at least 0.4 s (an event plugin sleeps after each commit), so the
plan of 24 trials cannot finish between two kills however fast the machine is."""


def _wait_for(proc, cond, what: str) -> None:
    t0 = time.monotonic()
    while not cond():
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"eval ended (rc={proc.returncode}) before {what}: {err}")
        if time.monotonic() - t0 > DEADLINE:
            proc.kill()
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


def _kill(proc) -> None:
    assert proc.poll() is None, "the eval finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL


def _check_sound(db: Db, moment: str) -> None:
    assert trial_problems(db) == [], moment  # integrity_check ok, no partial trial
    for run_id, idx in trial_indices(db).items():
        assert len(idx) == len(set(idx)), f"{moment}: run {run_id} stores a trial twice"


def test_sigkill_anywhere_then_resume_completes_exactly_the_plan(
    tmp_path: Path, any_db: str
) -> None:
    rng = random.Random(SEED)
    db: Db = any_db if "://" in any_db else Path(any_db)
    args = eval_args(tmp_path, "--samples-per-bin", "2", plugins=[PACING], db=any_db)
    seen: list[str] = []

    # 1. Start-up / dataset / training: a seeded random moment after the database exists
    #    (the store is opened first), before any run row.
    proc = popen_cli(args, cwd=tmp_path)
    _wait_for(proc, lambda: try_count(db, "SELECT COUNT(*) FROM schema_version"), "the store")
    time.sleep(rng.uniform(0.5, 4.0))
    if try_count(db, "SELECT COUNT(*) FROM runs") == 0:
        seen.append("before the run row")
    _kill(proc)
    _check_sound(db, "killed during start-up/training")

    # 2. Planning / first trials: a seeded random moment after the run row is written.
    proc = popen_cli(args, cwd=tmp_path)
    _wait_for(proc, lambda: (try_count(db, "SELECT COUNT(*) FROM runs") or 0) > 0, "a run")
    time.sleep(rng.uniform(0.0, 1.5))
    _kill(proc)
    _check_sound(db, "killed after the run row")
    seen.append("after the run row")

    # 3. Commits: kill the moment the trial count rises, twice (then also a random moment
    #    into the next trial).
    for extra_delay in (0.0, 0.0, rng.uniform(0.05, 0.5)):
        before = count(db)
        proc = popen_cli(args, cwd=tmp_path)

        def rose(before: int = before) -> bool:
            return (try_count(db, "SELECT COUNT(*) FROM trials") or 0) > before

        _wait_for(proc, rose, "a trial commit")
        time.sleep(extra_delay)
        _kill(proc)
        _check_sound(db, f"killed {extra_delay:.2f}s after a commit")
        assert count(db) > before  # that committed trial survived the kill
        seen.append("after a commit")

    # 4. The same command again: resumes the same run and fills exactly the gaps.
    res = run_cli(args, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "already stored" in res.stderr
    ((run_id, _attack, n_planned, status),) = runs(db)
    assert status == "finished" and n_planned > 3
    assert trial_indices(db) == {run_id: list(range(n_planned))}
    _check_sound(db, "after the resumed run")
    assert "after a commit" in seen
