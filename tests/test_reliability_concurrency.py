"""Two ``eval`` processes writing one results.db at the same time (WAL, busy timeout,
bounded retries): both finish, every planned trial is stored once, and no "database is
locked" escapes — for two different configurations, and for the same one twice (which
must share one run row and split, not duplicate, its trials).

In the two-configs case both processes start from an empty folder, so they also race to
train and register the same model (one trained-model row must result).
"""

from __future__ import annotations

from pathlib import Path

from tests.test_reliability_helpers import (
    connect,
    eval_args,
    popen_cli,
    run_cli,
    runs,
    trial_indices,
    trial_problems,
)


def _run_both(a: list[str], b: list[str], cwd: Path) -> None:
    procs = [popen_cli(a, cwd=cwd), popen_cli(b, cwd=cwd)]
    results = [p.communicate(timeout=400) for p in procs]
    for p, (_out, err) in zip(procs, results, strict=True):
        assert "locked" not in err.lower(), err
        assert "Traceback" not in err, err
        assert p.returncode == 0, err


def _one_trained_model(db: Path) -> None:
    con = connect(db)
    try:
        assert con.execute("SELECT COUNT(*) FROM trained_models").fetchone()[0] == 1
    finally:
        con.close()


def test_two_configs_at_once_both_complete(tmp_path: Path) -> None:
    db = tmp_path / "results.db"
    _run_both(
        eval_args(tmp_path, attack="positive"),
        eval_args(tmp_path, attack="negative"),
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


def test_same_config_twice_at_once_stores_each_trial_once(tmp_path: Path) -> None:
    db = tmp_path / "results.db"
    args = eval_args(tmp_path, attack="positive")
    # The model is trained first: two processes that each train the same spec at once
    # record different checkpoints (see the README's Guarantees), hence different configs.
    res = run_cli(eval_args(tmp_path, "--limit", "0", attack="negative"), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    _run_both(args, args, tmp_path)
    found = runs(db)
    same = [r for r in found if r[1] == "positive"]
    assert len(same) == 1, f"the same configuration opened {len(same)} runs: {found}"
    ((run_id, _attack, n_planned, status),) = [r for r in found if r[1] == "positive"]
    assert status == "finished"
    assert trial_indices(db)[run_id] == list(range(n_planned))  # complete, none twice
    assert trial_problems(db) == []
    _one_trained_model(db)
