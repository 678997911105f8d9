"""Faults of a distributed campaign, on real Ray (the module's 2-CPU cluster): nothing is
lost, nothing is stored twice, the database stays sound.

* ``ray.kill`` on a worker mid-campaign: the trial it ran runs again on another worker, the
  campaign finishes with every planned trial once and no error (the workers load the
  checkpoint from the object store here, and the replacement reuses the machine's copy).
* SIGKILL of a worker process with ``--trial-retries 0``: its running trial is stored as an
  ``error`` naming the death, every other trial finishes.
* The driver: Ctrl-C (SIGINT) stops its workers and marks the run interrupted; resumed on Ray
  and SIGKILLed mid-campaign, its workers go with it and the database is sound; resumed
  with ``--executor local`` the same run finishes with exactly the planned trials.

Each trial sleeps 0.5 s inside the worker (``paced-sim``, tests/plugins_for_tests/pacing.py),
so there is always a trial running when the test strikes.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers.cli import eval_args, popen_cli, run_cli
from tests.helpers.damage import count, runs, trial_indices, trial_problems
from tests.helpers.ray_workers import campaign_workers, errors, wait_for, worker

PACING = "tests.plugins_for_tests.pacing"
FINISH_S = 300


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder whose model is trained once (``warm.db`` records it)."""
    tmp = tmp_path_factory.mktemp("ray-faults")
    res = run_cli(eval_args(tmp, "--limit", "0", db=str(tmp / "warm.db")), cwd=tmp)
    assert res.returncode == 0, res.stderr
    return tmp


@pytest.fixture
def start() -> Iterator[Callable[[list[str], Path], subprocess.Popen[str]]]:
    """Starts ``xmtc-harness`` commands; any still running when the test ends (a failed
    assertion) is killed, so no driver outlives its test or the module's Ray cluster."""
    procs: list[subprocess.Popen[str]] = []

    def _start(args: list[str], cwd: Path) -> subprocess.Popen[str]:
        procs.append(popen_cli(args, cwd=cwd))
        return procs[-1]

    yield _start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def campaign(workdir: Path, db: Path, *extra: str, address: str | None = None) -> list[str]:
    """28 paced trials; on the Ray cluster at ``address`` with 2 workers, else locally."""
    if not db.exists():
        shutil.copyfile(workdir / "warm.db", db)
    pool = ("--executor", "ray", "--ray-address", address, "--workers", "2") if address else ()
    args = eval_args(workdir, "--samples-per-bin", "2", *pool, *extra, db=str(db),
                     plugins=[PACING])  # fmt: skip
    args[args.index("use")] = "paced-sim"
    return [*args, "--similarity-opt", "pause=0.5"]


def paced_run(db: Path) -> tuple[int, int, str]:
    """(id, planned trials, status) of the paced campaign's run (the copied run is first)."""
    *_, (run_id, _attack, n_planned, status) = runs(db)
    return run_id, n_planned, status


def assert_sound(db: Path) -> None:
    assert trial_problems(db) == []  # integrity_check ok, no partial trial
    for run_id, idx in trial_indices(db).items():
        assert len(idx) == len(set(idx)), f"run {run_id} stores a trial twice"


def test_ray_kill_of_a_worker_loses_and_duplicates_nothing(
    workdir: Path, ray_cluster: str, start: Callable[..., subprocess.Popen[str]]
) -> None:
    db = workdir / "ray-kill.db"
    args = campaign(workdir, db, "--checkpoint-via", "object-store", address=ray_cluster)
    proc = start(args, cwd=workdir)
    wait_for(lambda: count(db) > 0, "a first trial", proc=proc)
    import ray

    victim = wait_for(campaign_workers, "the campaign's workers", proc=proc)[0]
    ray.kill(worker(victim))
    _out, err = proc.communicate(timeout=FINISH_S)
    assert proc.returncode == 0, err
    assert "checkpoint from the object store" in err
    assert f"worker {victim}" in err and "killed by `ray.kill`" in err and "runs again" in err
    run_id, n_planned, status = paced_run(db)
    assert status == "finished"
    assert trial_indices(db)[run_id] == list(range(n_planned))
    assert errors(db) == {}  # the killed worker's trial ran again elsewhere
    assert_sound(db)
    wait_for(lambda: campaign_workers() == [], "the workers to stop")


def test_sigkill_of_a_worker_process_stores_its_trial_as_an_error(
    workdir: Path, ray_cluster: str, start: Callable[..., subprocess.Popen[str]]
) -> None:
    db = workdir / "ray-sigkill.db"
    proc = start(campaign(workdir, db, "--trial-retries", "0", address=ray_cluster), workdir)
    wait_for(lambda: count(db) > 0, "a first trial", proc=proc)
    import ray

    victim = wait_for(campaign_workers, "the campaign's workers", proc=proc)[0]
    pid = ray.get(worker(victim).ready.remote()).pid
    os.kill(pid, signal.SIGKILL)
    _out, err = proc.communicate(timeout=FINISH_S)
    assert proc.returncode == 0, err
    assert f"worker {victim}" in err and "stored as an error after 1 attempt" in err
    run_id, n_planned, status = paced_run(db)
    assert status == "finished"
    assert trial_indices(db)[run_id] == list(range(n_planned))
    ((index, message),) = errors(db).items()
    assert message.startswith("WorkerDied: the Ray worker running this trial died 1 time(s)")
    assert f"trial {index} is stored as an error" in err
    assert_sound(db)


def test_driver_interrupted_then_killed_then_resumed_locally(
    workdir: Path, ray_cluster: str, start: Callable[..., subprocess.Popen[str]]
) -> None:
    db = workdir / "ray-driver.db"
    distributed = campaign(workdir, db, address=ray_cluster)

    # Ctrl-C: the workers stop, the run is marked interrupted, committed trials stay.
    proc = start(distributed, cwd=workdir)
    wait_for(lambda: count(db) > 0, "a first trial", proc=proc)
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=FINISH_S)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert paced_run(db)[2] == "interrupted"
    assert_sound(db)
    wait_for(lambda: campaign_workers() == [], "the workers to stop after Ctrl-C")

    # SIGKILL of the resumed driver: sound database, Ray ends the dead driver's workers.
    before = count(db)
    proc = start(distributed, cwd=workdir)
    wait_for(lambda: count(db) > before, "a resumed trial", proc=proc)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert_sound(db)
    wait_for(lambda: campaign_workers() == [], "the dead driver's workers to stop")

    # The same campaign, locally: the same run, finished with exactly the plan.
    res = run_cli(campaign(workdir, db), cwd=workdir)
    assert res.returncode == 0, res.stderr
    assert "already stored" in res.stderr
    run_id, n_planned, status = paced_run(db)
    assert status == "finished"
    assert trial_indices(db)[run_id] == list(range(n_planned))
    assert errors(db) == {}
    assert_sound(db)
