"""bench/attack.py runs end to end on a tiny synthetic configuration and writes its JSON.

No timing assertions (speed is measured by the benchmark itself, not by tests); only that
the script runs both modes, checks their outcomes against each other and reports every
part it promises.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_quick_run_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "attack.json"
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "bench" / "attack.py"),
            "--quick",
            "--quiet",
            "--out",
            str(out),
            "--model-dir",
            str(tmp_path / "models"),
            "--db",
            str(tmp_path / "results.db"),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads(out.read_text())
    (cmp,) = res["compare"]
    assert cmp["model"] == "linear"
    assert cmp["trials"] >= 1
    for mode in ("harness", "one_at_a_time"):
        s = cmp[mode]
        assert s["trials"] == cmp["trials"]
        for key in (
            "trials_per_s",
            "forward_passes_per_trial",
            "logical_queries_per_trial",
            "share_model",
            "share_encoder",
            "share_substituter",
            "share_overhead",
            "peak_rss_mb",
        ):
            assert key in s, key
        assert s["errors"] == []
    # the reference loop sends one text per forward pass and never caches
    base = cmp["one_at_a_time"]
    assert base["forward_passes_per_trial"] == base["logical_queries_per_trial"]
    assert base["batches_per_trial"] == base["forward_passes_per_trial"]
    assert cmp["identical"], cmp["mismatches"]
    assert {r["importance"] for r in res["scaling"]["rows"]} == {"mask", "gradient"}
    assert len(res["memory"]["blocks"]) >= 2
    assert "speedup_10x_all_models" in res["targets"]
