"""Checkpoints are never overwritten under a recorded run, and a changed one is refused
(issue 13, items 5 and 12).

* Another database training the same spec into the same model folder writes a new folder
  (``<spec>-2``): the first database's run keeps its checkpoint, byte for byte, and resumes.
* A damaged checkpoint (a byte changed, a file missing) is refused in one line, with or
  without ``--no-train``: no retraining, no new run; ``train --force`` trains anew into a
  new folder on purpose. A lost checkpoint that no run used is trained again.
* A full disk while saving a checkpoint: one line naming the folder, no temporary folder or
  0-byte file left, nothing recorded, no run left running; the same command works once
  there is space.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.checkpoint import CheckpointError, content_hash, save_new_checkpoint
from harness.testing.fixtures import keyword_model, tiny_corpus
from tests.helpers.child import listing, run_in_child
from tests.helpers.cli import cli_env, main_captured
from tests.helpers.damage import count, runs
from tests.helpers.workspace import Workspace, make_workspace, stored_trials


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return make_workspace(tmp_path_factory.mktemp("ckpts") / "ws", trials=3)


def _only_checkpoint(ws: Workspace) -> Path:
    (folder,) = [p for p in ws.models.iterdir() if p.is_dir()]
    return folder


def _one_line(code: int, err: str, *needles: str) -> str:
    lines = [ln for ln in err.strip().splitlines() if not ln.startswith("run ")]
    assert code == 2 and "Traceback" not in err and len(lines) == 1, (code, err)
    for needle in needles:
        assert needle in lines[0], err
    return lines[0]


def test_another_database_writes_a_new_folder(workspace: Workspace, tmp_path: Path) -> None:
    ws = workspace.copy(tmp_path / "ws")
    first = _only_checkpoint(ws)
    before = listing(first)
    code, _out, err = main_captured(ws.eval_args("--limit", "1", db=tmp_path / "other.db"))
    assert code == 0, err
    second = first.with_name(f"{first.name}-2")
    assert sorted(p.name for p in ws.models.iterdir()) == [first.name, second.name]
    assert listing(first) == before  # the first database's checkpoint, untouched
    ((run_id, _, _, _),) = runs(ws.db)
    code, _out, err = main_captured(ws.eval_args("--limit", "1", "--no-train"))
    assert code == 0 and f"run {run_id} " in err, err  # run 1 resumes on its own checkpoint
    assert len(runs(ws.db)) == 1


@pytest.mark.parametrize("damage", ["byte", "config", "missing-file"])
def test_a_changed_checkpoint_is_refused_not_retrained(
    workspace: Workspace, tmp_path: Path, damage: str
) -> None:
    ws = workspace.copy(tmp_path / "ws")
    folder = _only_checkpoint(ws)
    tensors = folder / "model.safetensors"
    if damage == "byte":
        data = bytearray(tensors.read_bytes())
        data[len(data) // 2] ^= 0x01
        tensors.write_bytes(bytes(data))
    elif damage == "config":
        (folder / "config.json").write_text((folder / "config.json").read_text() + " ")
    else:
        tensors.unlink()
    models_before, trials_before = listing(ws.models), stored_trials(ws.db)
    for extra in (["--no-train"], []):
        code, _out, err = main_captured(ws.eval_args("--limit", "1", *extra))
        _one_line(code, err, str(folder), "train --force")
        assert listing(ws.models) == models_before  # nothing retrained over it or beside it
        assert stored_trials(ws.db) == trials_before and len(runs(ws.db)) == 1
    code, _out, err = main_captured(ws.train_args("--force"))
    assert code == 0, err
    assert listing(folder) == {k.split("/", 1)[1]: v for k, v in models_before.items()}
    assert folder.with_name(f"{folder.name}-2").is_dir()
    code, _out, err = main_captured(ws.eval_args("--limit", "1"))
    assert code == 0, err
    (old, new) = runs(ws.db)  # a new checkpoint: a new run; the old one keeps its trials
    assert count(ws.db, f"SELECT COUNT(*) FROM trials WHERE run_id = {old[0]}") == 3


def test_a_lost_checkpoint_is_retrained_only_when_no_run_used_it(
    workspace: Workspace, tmp_path: Path
) -> None:
    ws = workspace.copy(tmp_path / "ws")
    shutil.rmtree(_only_checkpoint(ws))
    code, _out, err = main_captured(ws.eval_args("--limit", "1"))
    _one_line(code, err, "run 1 attacked it", "train --force")
    trained = tmp_path / "trained.db"  # a database that trained the model but ran nothing
    code, _out, err = main_captured(ws.train_args(db=trained))
    assert code == 0, err
    shutil.rmtree(ws.models)
    code, _out, err = main_captured(ws.eval_args("--limit", "1", db=trained))
    assert code == 0, err  # retrained: no run pointed at the lost checkpoint


def test_full_disk_while_saving_a_checkpoint(tmp_path: Path) -> None:
    """In-process: the save fails with one line and leaves nothing in the model folder."""
    corpus = tiny_corpus()
    model = keyword_model(corpus)
    target = tmp_path / "models" / "spec"

    def save() -> str:
        try:
            save_new_checkpoint(
                model, target, model_name="keyword", options={}, dataset="toy",
                fingerprint=corpus.fingerprint(),
            )  # fmt: skip
        except CheckpointError as exc:
            return str(exc)
        return "saved"

    message = run_in_child(save, max_file_bytes=256)
    assert message != "saved" and "\n" not in message and "cannot save the checkpoint" in message
    assert list((tmp_path / "models").iterdir()) == []  # no temporary folder, no empty file
    folder, digest = save_new_checkpoint(
        model, target, model_name="keyword", options={}, dataset="toy",
        fingerprint=corpus.fingerprint(),
    )  # fmt: skip
    assert folder == target and content_hash(folder) == digest


def test_full_disk_while_training_through_the_command_line(
    workspace: Workspace, tmp_path: Path
) -> None:
    """The command line under a file-size limit the database fits in and the checkpoint
    does not: one line, no model recorded, nothing left in the model folder; then, with
    space, the same command trains and records it."""
    ws = Workspace(tmp_path)
    args = ws.train_args()
    size = (_only_checkpoint(workspace) / "model.safetensors").stat().st_size
    limit = min(size // 2, 200_000)
    assert limit > 60_000  # the database's files fit below it

    def small_disk() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    res = subprocess.run(
        [sys.executable, "-c", "from harness.cli import main; main()", *args],
        cwd=tmp_path, env=cli_env(), capture_output=True, text=True, timeout=300,
        preexec_fn=small_disk,
    )  # fmt: skip
    lines = [ln for ln in res.stderr.strip().splitlines() if ln.startswith("error")]
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
    assert len(lines) == 1 and "cannot save the checkpoint" in lines[0], res.stderr
    assert [p for p in ws.models.rglob("*")] == []
    assert count(ws.db, "SELECT COUNT(*) FROM trained_models") == 0
    code, _out, err = main_captured(args)
    assert code == 0, err
    assert count(ws.db, "SELECT COUNT(*) FROM trained_models") == 1
