"""Two ``eval`` processes writing one results database at the same time: both finish, every
planned trial is stored once, and no "database is locked" escapes — for two different
configurations, and for the same one twice (which must share one run row and split, not
duplicate, its trials). On both backends: SQLite (WAL, busy timeout, ``BEGIN IMMEDIATE``,
bounded retries) and PostgreSQL (a real server; advisory lock, unique key).

Both processes start from an empty folder and an empty database, so they also race to create
the schema and to train and register the same model (one trained-model row must result).
"""

from __future__ import annotations

from pathlib import Path

from tests.helpers.cli import eval_args, popen_cli
from tests.helpers.damage import Db, query, runs, trial_indices, trial_problems


def _run_both(a: list[str], b: list[str], cwd: Path) -> None:
    procs = [popen_cli(a, cwd=cwd), popen_cli(b, cwd=cwd)]
    results = [p.communicate(timeout=400) for p in procs]
    for p, (_out, err) in zip(procs, results, strict=True):
        assert "locked" not in err.lower(), err
        assert "Traceback" not in err, err
        assert p.returncode == 0, err


def _one_trained_model(db: Db) -> None:
    """One trained-model row, and every run points at it with the hash of the files on disk."""
    from harness.checkpoint import content_hash

    ((model_id, path, chash),) = query(
        db, "SELECT id, checkpoint_path, checkpoint_hash FROM trained_models"
    )
    assert content_hash(Path(path)) == chash
    for run_model, run_hash in query(db, "SELECT trained_model_id, checkpoint_hash FROM runs"):
        assert (run_model, run_hash) == (model_id, chash)


def test_two_configs_at_once_both_complete(tmp_path: Path, any_db: str) -> None:
    db = any_db
    _run_both(
        eval_args(tmp_path, attack="positive", db=db),
        eval_args(tmp_path, attack="negative", db=db),
        tmp_path,
    )
    stored = trial_indices(db)
    found = runs(db)
    assert sorted(r[1] for r in found) == ["negative", "positive"]
    for run_id, _attack, n_planned, status in found:
        assert status == "finished"
        assert stored[run_id] == list(range(n_planned)) and n_planned > 0
    assert trial_problems(db) == []
    _one_trained_model(db)


def test_same_config_twice_at_once_stores_each_trial_once(tmp_path: Path, any_db: str) -> None:
    db = any_db
    args = eval_args(tmp_path, attack="positive", db=db)
    # Both processes start from an empty folder and train the same spec at once: the
    # second to finish must adopt the first one's checkpoint, or the configs would differ.
    _run_both(args, args, tmp_path)
    found = runs(db)
    same = [r for r in found if r[1] == "positive"]
    assert len(same) == 1, f"the same configuration opened {len(same)} runs: {found}"
    ((run_id, _attack, n_planned, status),) = [r for r in found if r[1] == "positive"]
    assert status == "finished"
    assert trial_indices(db)[run_id] == list(range(n_planned))  # complete, none twice
    assert trial_problems(db) == []
    _one_trained_model(db)
