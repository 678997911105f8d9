"""bench/pipeline.py runs its three parts at small sizes and reports what it promises (no
timing assertions: the benchmark measures, the test checks the report)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def bench_pipeline():
    spec = importlib.util.spec_from_file_location("bench_pipeline", REPO / "bench" / "pipeline.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_pipeline"] = module
    spec.loader.exec_module(module)
    return module


def test_quick_run_measures_planning_the_read_commands_and_campaign_memory(tmp_path: Path):
    out = tmp_path / "pipeline.json"
    args = ["--quick", "--fractions", "0.002,0.004", "--trials", "1200", "--runs", "4",
            "--campaign-trials", "40", "--every", "10", "--repeats", "1",
            "--out", str(out)]  # fmt: skip
    proc = subprocess.run(
        [sys.executable, str(REPO / "bench" / "pipeline.py"), *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads(out.read_text())
    bench = bench_pipeline()
    assert [p["fraction"] for p in res["plan"]] == [0.002, 0.004]
    for p in res["plan"]:
        assert p["labels"] == 13_330 and set(p["stages"]) == set(bench.PLAN_STAGES)
        assert p["bins"] >= 1 and all(n > 0 for n in p["draws"].values())
        assert p["label_vector_entries"] > 0 and p["predictions_mb"] > 0
    assert set(res["plan_exponents"]) == set(bench.PLAN_STAGES)
    store = res["store"]
    assert store["trials"] == 1200 and len(store["runs"]) == 4
    assert set(store["commands"]) == set(bench.store_commands([1, 2], tmp_path))
    for c in store["commands"].values():
        assert c["wall_s"] >= c["command_s"] > 0 and c["peak_rss_mb"] > 0
    camp = res["campaign"]
    assert camp["trials"] == 40 and [p["trials"] for p in camp["points"]] == [10, 20, 30, 40]
    assert "Read commands over 1,200 trials" in proc.stdout
    assert "Memory over a campaign of 40 trials" in proc.stdout


def test_stand_in_predictions_follow_the_ranking_rule() -> None:
    import numpy as np

    from harness.campaign.predictions import problem
    from harness.registry import load_registry

    bench = bench_pipeline()
    opts = {"n_docs": 400, "n_labels": 150}
    corpus = load_registry().build("dataset", "synthetic", opts).load()
    pred = bench.stand_in_predictions(corpus, 0, depth=20)
    assert problem(pred, len(corpus.test), corpus.n_labels, 20) is None
    hits = [len(set(d.labels) & set(pred.indices[i, :5].tolist())) for i, d in
            enumerate(corpus.test)]  # fmt: skip
    assert np.mean([h > 0 for h in hits]) > 0.7  # true labels usually ranked first


def test_merge_replaces_the_parts_measured_and_keeps_the_others(tmp_path: Path) -> None:
    bench = bench_pipeline()
    machine = {"cpus": 2, "threads": 1, "platform": "p", "python": "3.11",
               "load_average_before": [0.5, 0.5, 0.5]}  # fmt: skip
    full = tmp_path / "pipeline.json"
    full.write_text(json.dumps({
        "command": "python bench/pipeline.py", "date": "d1", "machine": machine,
        "plan": [{"old": 1}], "plan_exponents": {}, "plan_projection": {},
        "store": {"old": 2}, "campaign": {"old": 3},
    }))  # fmt: skip
    new = {"command": "python bench/pipeline.py --parts campaign --merge", "date": "d2",
           "machine": {**machine, "load_average_before": [1.5, 1.0, 0.9]},
           "campaign": {"new": 4}}  # fmt: skip
    out = bench.merged(new, ["campaign"], full)
    assert out["campaign"] == {"new": 4}
    assert out["store"] == {"old": 2} and out["plan"] == [{"old": 1}]
    assert out["provenance"]["campaign"]["date"] == "d2"
    assert out["provenance"]["campaign"]["load_average_before"] == [1.5, 1.0, 0.9]
    assert out["provenance"]["store"] == {"command": "python bench/pipeline.py", "date": "d1"}
    assert "command" not in out
    head = bench.render({"machine": machine, "provenance": out["provenance"]})
    assert "campaign by `python bench/pipeline.py --parts campaign --merge` on d2" in head
