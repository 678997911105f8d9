"""Dataset options cannot make the harness write outside its output folders.

``data_dir`` values with ``..`` or absolute paths flow into the dataset options and the
configuration hash, but the files an eval writes — checkpoints, the label-cluster cache,
the top-k cache, the database — must all land under ``--model-dir``, ``--cache-dir`` and
``--db``. The test snapshots every file under a sandbox folder before and after.
"""

from __future__ import annotations

from pathlib import Path

from tests.helpers.cli import SYNTH, run_cli


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


def test_eval_writes_only_into_its_output_folders(tmp_path: Path) -> None:
    sandbox = tmp_path / "sandbox"
    work = sandbox / "a" / "b" / "work"
    work.mkdir(parents=True)
    outside = sandbox / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("x")
    before = _files(tmp_path)
    for data_dir in ("../../../outside/evil", str(outside.resolve() / ".." / "abs-evil")):
        args = [
            "--db", "results.db", "eval", *SYNTH, "--dataset-opt", f"data_dir={data_dir}",
            "--model", "linear", "--model-dir", "models", "--cache-dir", "cache",
            "--attack", "negative", "--cluster", "--max-leaf", "5",
            "--labels-per-bin", "2", "--samples-per-bin", "1", "--limit", "1",
            "--substituter-opt", "k=8", "--no-progress",
        ]  # fmt: skip
        res = run_cli(args, cwd=work)
        assert res.returncode == 0, res.stderr
    new = _files(tmp_path) - before
    allowed = (work / "models", work / "cache")
    stray = sorted(
        str(p.relative_to(tmp_path))
        for p in new
        if not any(p.is_relative_to(a) for a in allowed)
        and not (p.parent == work and p.name.startswith("results.db"))
    )
    assert stray == [], f"files written outside models/, cache/ and the database: {stray}"
    written = {p.relative_to(work).parts[0] for p in new}
    assert {"models", "cache"} <= written
    assert any(p.name.startswith("clusters-") for p in new)  # the cluster cache was exercised
    assert any(p.name.startswith("topk-") for p in new)  # and the predictions cache
    assert any(p.name == "model.safetensors" for p in new)  # and a checkpoint
    assert _files(outside) == {outside / "keep.txt"}
