"""The Ray executor against the local one, on real Ray (no mocks).

* A campaign run locally and the same campaign started locally and resumed with
  ``--executor ray --workers 2`` (on a Ray instance the command starts itself) store the
  same trials, column for column, in one run the leaderboard shows once.
* A plugin that raises inside a Ray worker stores the same ``error`` trials, with the same
  messages, as a local run (``doomed-glove`` fails by document content, so in any process).
* Joined through Ray Client (``ray://host:port``, how a cluster is reached from outside
  it), the workers store the same trials as a local run.
* Without Ray installed, ``--executor ray`` is one line naming the extra to install; pool
  options without the Ray executor, and out-of-range pool options, are one line too.

Every database here starts as a copy of one where the model is already trained, so all
runs attack the same checkpoint.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.cli import FLAKY, REPO, SYNTH, cli_env, eval_args, run_cli, run_main
from tests.helpers.damage import runs, trial_indices, trial_problems
from tests.helpers.ray_workers import errors, stored_trials
from tests.plugins_for_tests.failing import DOOMED


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder whose model is trained once (``warm.db`` records it)."""
    tmp = tmp_path_factory.mktemp("ray-eq")
    res = run_cli(eval_args(tmp, "--limit", "0", db=str(tmp / "warm.db")), cwd=tmp)
    assert res.returncode == 0, res.stderr
    return tmp


def copy_db(workdir: Path, name: str) -> Path:
    target = workdir / name
    shutil.copyfile(workdir / "warm.db", target)
    return target


def test_ray_stores_the_local_trials_and_resumes_a_local_run_as_one_run(workdir: Path) -> None:
    local = copy_db(workdir, "local.db")
    res = run_cli(eval_args(workdir, db=str(local)), cwd=workdir)
    assert res.returncode == 0, res.stderr

    mixed = copy_db(workdir, "mixed.db")
    res = run_cli(eval_args(workdir, "--limit", "4", db=str(mixed)), cwd=workdir)
    assert res.returncode == 0, res.stderr
    res = run_cli(
        eval_args(workdir, "--executor", "ray", "--workers", "2", db=str(mixed)), cwd=workdir
    )
    assert res.returncode == 0, res.stderr
    assert "4 already stored" in res.stderr
    assert "ray: 2 worker(s) on a Ray instance on this machine" in res.stderr
    assert "each 1 CPU(s), 0 GPU(s), 1 thread(s)" in res.stderr  # torch's, in the workers
    assert "checkpoint from the shared folder" in res.stderr

    expected = stored_trials(local)
    assert len(expected) > 4
    assert stored_trials(mixed) == expected  # every column but ids, timestamps and seconds
    ((run_id, _attack, n_planned, status),) = runs(mixed)
    assert status == "finished" and trial_indices(mixed) == {run_id: list(range(n_planned))}
    assert trial_problems(mixed) == []
    board = run_cli(["--db", str(mixed), "leaderboard", "--summary"], cwd=workdir)
    assert board.returncode == 0, board.stderr
    (row,) = [ln for ln in board.stdout.splitlines() if ln.startswith("linear ")]
    assert row.split()[3] == "1"  # the 'runs' column: one run


def test_a_plugin_raising_in_a_worker_is_the_same_error_as_locally(
    workdir: Path, ray_cluster: str
) -> None:
    def args(db: Path, *extra: str) -> list[str]:
        a = eval_args(workdir, *extra, db=str(db), plugins=[FLAKY])
        a[a.index("glove")] = "doomed-glove"
        return [*a, "--substituter-opt", "every=3"]

    local = copy_db(workdir, "doomed-local.db")
    res = run_cli(args(local), cwd=workdir)
    assert res.returncode == 0, res.stderr
    distributed = copy_db(workdir, "doomed-ray.db")
    ray_opts = ("--executor", "ray", "--ray-address", ray_cluster, "--workers", "2")
    res = run_cli(args(distributed, *ray_opts), cwd=workdir)
    assert res.returncode == 0, res.stderr
    assert "on the Ray cluster at" in res.stderr

    expected = errors(local)
    assert expected, "the plugin should refuse at least one planned document"
    for message in expected.values():  # named as the plugin's, as every plugin error is
        assert "'doomed-glove'" in message and "raised RuntimeError" in message, message
        assert DOOMED in message, message
    assert errors(distributed) == expected
    assert stored_trials(distributed) == stored_trials(local)
    _warm, (_run_id, _attack, _n, status) = runs(distributed)  # the copied run, this one
    assert status == "finished"
    assert trial_problems(distributed) == []


def test_a_plugin_missing_on_the_workers_machine_is_one_line_saying_so(
    workdir: Path, ray_cluster: str
) -> None:
    """A plugin that imports on the driver's machine but not on a worker's (as on a cluster
    machine where it was never installed) ends the command in one line that names the
    plugin and says what to do, before any trial."""
    folder = workdir / "driver-only"
    folder.mkdir(exist_ok=True)
    (folder / "driver_only_plugin.py").write_text(
        "import os\n"
        "if os.environ.get('XMTC_TEST_DRIVER') != '1':\n"
        "    raise ImportError('this machine does not have it')\n"
    )
    db = copy_db(workdir, "missing-plugin.db")
    before = stored_trials(db)
    args = eval_args(workdir, "--executor", "ray", "--ray-address", ray_cluster, db=str(db))
    env = {"XMTC_TEST_DRIVER": "1", "PYTHONPATH": f"{folder}{os.pathsep}{REPO}"}
    res = run_cli(["--plugin", "driver_only_plugin", *args], cwd=workdir, env=env)
    assert res.returncode == 2, res.stderr
    line = res.stderr.strip().splitlines()[-1]
    assert "driver_only_plugin" in line and "this machine does not have it" in line, line
    assert "importable on every Ray machine" in line, line
    assert "Traceback" not in res.stderr
    assert stored_trials(db) == before


@pytest.fixture
def ray_client(ray_cluster: str, tmp_path: Path) -> Iterator[str]:
    """A Ray Client server on the module's cluster, as ``ray start --head`` runs one on port
    10001 but in its single-server mode (the default proxy forks a server per client while
    gRPC threads run, which failed now and then on this machine: the client protocol the
    harness speaks is the same); yields its ``ray://`` address and stops it at the end."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = open(tmp_path / "ray-client.log", "w")  # noqa: SIM115 (closed below)
    server = subprocess.Popen(
        [sys.executable, "-m", "ray.util.client.server", f"--address={ray_cluster}",
         "--host=127.0.0.1", f"--port={port}", "--mode=legacy"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert server.poll() is None, (tmp_path / "ray-client.log").read_text()
                assert time.monotonic() < deadline, "the Ray Client server did not start"
                time.sleep(0.5)
        yield f"ray://127.0.0.1:{port}"
    finally:
        # The server and anything it started are one process group: stop them all.
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)  # a per-client server still running
        log.close()


def test_joined_through_ray_client_the_workers_store_the_local_trials(
    workdir: Path, ray_client: str
) -> None:
    local = copy_db(workdir, "client-local.db")
    res = run_cli(eval_args(workdir, "--limit", "4", db=str(local)), cwd=workdir)
    assert res.returncode == 0, res.stderr
    joined = copy_db(workdir, "client-ray.db")
    ray_opts = ("--executor", "ray", "--ray-address", ray_client, "--workers", "2")
    res = run_cli(eval_args(workdir, "--limit", "4", *ray_opts, db=str(joined)), cwd=workdir)
    assert res.returncode == 0, res.stderr
    assert f"on the Ray cluster at {ray_client}" in res.stderr
    expected = stored_trials(local)
    assert len(expected) == 4
    assert stored_trials(joined) == expected


def test_without_ray_the_ray_executor_says_how_to_install_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # what `import ray` meets without Ray
    argv = ["--db", str(tmp_path / "r.db"), "eval", *SYNTH, "--model", "linear",
            "--model-dir", str(tmp_path / "models"), "--executor", "ray"]  # fmt: skip
    code, _out, err = run_main(argv, capsys)
    assert code == 2
    (line,) = err.strip().splitlines()
    assert line.startswith("error: option --executor:")
    assert "pip install 'xmtc-harness[ray]'" in line
    assert not (tmp_path / "models").exists()  # refused before any training


def test_the_harness_imports_without_ray() -> None:
    code = (
        "import sys; import harness.cli, harness.campaign.runner; assert 'ray' not in sys.modules"
    )
    res = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=cli_env(), capture_output=True, text=True
    )
    assert res.returncode == 0, res.stderr


@pytest.mark.parametrize(
    ("flag", "value", "executor"),
    [
        ("--workers", "2", "local"),
        ("--ray-address", "auto", "local"),
        ("--gpus-per-worker", "1", "local"),
        ("--workers", "0", "ray"),
        ("--cpus-per-worker", "nan", "ray"),
        ("--gpus-per-worker", "-1", "ray"),
        ("--trial-retries", "-1", "ray"),
    ],
)
def test_pool_options_are_checked_before_anything_loads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flag: str, value: str, executor: str
) -> None:
    argv = ["--db", str(tmp_path / "r.db"), "eval", *SYNTH, "--model", "linear",
            "--model-dir", str(tmp_path / "models"), "--executor", executor,
            flag, value]  # fmt: skip
    code, _out, err = run_main(argv, capsys)
    assert code == 2, err
    (line,) = err.strip().splitlines()
    assert line.startswith(f"error: option {flag}:"), line
    assert not (tmp_path / "models").exists()
