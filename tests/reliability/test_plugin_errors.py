"""A plugin that raises on one document: the trial is stored as outcome ``error`` with the
message (naming the plugin and the call) and the campaign goes on; under ``--fail-fast``
the campaign stops with a one-line error instead, keeping the trials committed before it.

The failing plugins live in tests/plugins_for_tests/failing.py and are loaded with
``--plugin`` like any third-party plugin.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.cli import FLAKY, eval_args, one_line_error, run_cli
from tests.helpers.damage import connect, runs, trial_indices, trial_problems
from tests.plugins_for_tests.failing import MESSAGE


def _outcomes(db: Path) -> dict[int, tuple[str, str | None]]:
    con = connect(db)
    try:
        rows = con.execute("SELECT trial_index, outcome, error_message FROM trials").fetchall()
    finally:
        con.close()
    return {int(i): (str(o), m) for i, o, m in rows}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder whose model is trained once, shared by the tests below (own databases)."""
    tmp = tmp_path_factory.mktemp("flaky")
    res = run_cli(eval_args(tmp, "--limit", "0", db=str(tmp / "warm.db")), cwd=tmp)
    assert res.returncode == 0, res.stderr
    return tmp


def test_constraint_raising_on_one_document_is_an_error_trial(workdir: Path) -> None:
    db = workdir / "sim.db"
    args = eval_args(workdir, db=str(db), plugins=[FLAKY])
    args[args.index("use")] = "flaky-sim"
    res = run_cli([*args, "--similarity-opt", "fail_nth=3"], cwd=workdir)
    assert res.returncode == 0, res.stderr
    ((run_id, _attack, n_planned, status),) = runs(db)
    assert status == "finished" and n_planned > 3
    assert trial_indices(db)[run_id] == list(range(n_planned))  # it went on after the error
    outcomes = _outcomes(db)
    errors = {i: m for i, (o, m) in outcomes.items() if o == "error"}
    assert list(errors) == [2]  # the third document the constraint was started on
    assert errors[2].startswith("similarity 'flaky-sim' (tests.plugins_for_tests.failing")
    assert f"raised RuntimeError in start(): {MESSAGE} 3" in errors[2]
    assert trial_problems(db) == []


def test_substituter_raising_on_one_document_is_an_error_trial(workdir: Path) -> None:
    db = workdir / "sub.db"
    args = eval_args(workdir, db=str(db), plugins=[FLAKY])
    args[args.index("glove")] = "flaky-glove"
    args[args.index("k=4")] = "fail_nth=2"
    res = run_cli(args, cwd=workdir)
    assert res.returncode == 0, res.stderr
    ((run_id, _attack, n_planned, status),) = runs(db)
    assert status == "finished"
    assert trial_indices(db)[run_id] == list(range(n_planned))
    errors = [(i, m) for i, (o, m) in _outcomes(db).items() if o == "error"]
    assert len(errors) == 1, errors
    assert errors[0][1].startswith("substituter 'flaky-glove' (tests.plugins_for_tests.failing")
    assert f"raised RuntimeError in start(): {MESSAGE} 2" in errors[0][1]
    others = {o for o, _ in _outcomes(db).values()} - {"error"}
    assert others, "the other trials ran to a real outcome"
    assert trial_problems(db) == []


def test_fail_fast_stops_with_one_line_and_keeps_earlier_trials(workdir: Path) -> None:
    db = workdir / "ff.db"
    args = eval_args(workdir, db=str(db), plugins=[FLAKY])
    args[args.index("use")] = "flaky-sim"
    res = run_cli([*args, "--similarity-opt", "fail_nth=3", "--fail-fast"], cwd=workdir)
    assert res.returncode != 0
    line = one_line_error(res)
    assert "--fail-fast" in line and MESSAGE in line and "trial 2" in line
    ((run_id, _attack, n_planned, status),) = runs(db)
    assert status == "failed" and n_planned > 3
    assert trial_indices(db)[run_id] == [0, 1]  # earlier trials kept, nothing after
    assert all(o != "error" for o, _ in _outcomes(db).values())
    assert trial_problems(db) == []
