"""bench/distributed.py runs end to end on a tiny synthetic campaign and writes its JSON.

No timing assertions (speed is measured by the benchmark, not by tests): only that it runs
the local executor and a Ray pool on the same trials, finds them identical and reports
every figure it promises (trials/s and ratios, pool start-up, peak RSS per worker, the
per-trial cost breakdown and the GPU projection).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.helpers.cli import cli_env

REPO = Path(__file__).resolve().parents[2]


def test_quick_run_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "distributed.json"
    argv = [
        sys.executable, str(REPO / "bench" / "distributed.py"), "--quick", "--quiet",
        "--models", "linear", "--workers", "2", "--threads", "1", "--no-oversubscribed",
        "--out", str(out), "--model-dir", str(tmp_path / "models"),
        "--db", str(tmp_path / "results.db"),
    ]  # fmt: skip
    proc = subprocess.run(
        argv, cwd=tmp_path, env=cli_env(), capture_output=True, text=True, timeout=900
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads(out.read_text())
    assert res["ray_start_s"] > 0 and res["machine"]["cpus"] >= 1
    (model,) = res["models"]
    assert model["model"] == "linear" and model["trials"] >= 1
    by_mode = {r["mode"]: r for r in model["modes"]}
    assert set(by_mode) == {"local, 1 thread(s)", "ray, 2 worker(s)"}
    pool = by_mode["ray, 2 worker(s)"]
    assert pool["identical_outcomes"] is True
    assert len(pool["peak_rss_mb_workers"]) == 2 and pool["start_s"] > 0
    assert pool["trials"] == model["trials"] and pool["trials_per_s"] > 0
    assert by_mode["local, 1 thread(s)"]["x_local_1_thread"] == 1.0
    for key in ("model_s", "encoder_s", "substituter_s", "rest_s", "forward_passes"):
        assert model["breakdown"][key] >= 0, key
    assert set(model["projection"]) == {"x10", "x30", "x100", "bound"}
    assert res["targets"]["linear_identical"] is True
    assert "| linear" in proc.stdout  # the printed table
