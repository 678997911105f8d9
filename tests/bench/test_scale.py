"""bench/scale.py runs every stage for both models on a small preset and a label sweep, and
writes its JSON and README section. No timing assertions: the benchmark measures, tests only
check that it reports what it promises."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def bench_scale():
    spec = importlib.util.spec_from_file_location("bench_scale", REPO / "bench" / "scale.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_scale"] = module
    spec.loader.exec_module(module)
    return module


def test_quick_run_measures_every_stage_and_the_label_growth(tmp_path: Path) -> None:
    out = tmp_path / "scale.json"
    args = ["--quick", "--shapes", "eurlex-4k@0.05", "--sweeps", "labels", "--trials", "2"]
    proc = subprocess.run(
        [sys.executable, str(REPO / "bench" / "scale.py"), *args, "--similarity", "change-rate",
         "--out", str(out)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads(out.read_text())
    bench = bench_scale()
    shapes = [r for r in res["records"] if r["role"] == "shape"]
    assert {r["model"] for r in shapes} == {"linear", "xr-linear"}
    for r in res["records"]:
        assert set(r["stages"]) == set(bench.STAGES)
        for s in r["stages"].values():
            assert s["seconds"] >= 0 and s["tree_peak_rss_mb"] >= s["peak_rss_mb"] > 0
        assert r["trials"]["n"] == 2 and r["bins"] >= 1 and r["clusters"] >= 1
        assert r["metrics"]["P@1"] > 0
    sizes = sorted({r["labels"] for r in res["records"] if r["role"] == "labels"})
    assert sizes == [500, 1000]
    for model in ("linear", "xr-linear"):
        assert isinstance(res["exponents"]["labels"][model]["train"]["time"], float)
    assert "Growth exponents in labels" in proc.stdout and "eurlex-4k@0.05" in proc.stdout

    # --resume keeps what is measured and runs only what is missing: here nothing.
    again = subprocess.run(
        [sys.executable, str(REPO / "bench" / "scale.py"), *args, "--similarity", "change-rate",
         "--out", str(out), "--resume"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr[-3000:]
    assert " / linear (" not in again.stderr  # no child started
    resumed = json.loads(out.read_text())
    assert resumed["records"] == res["records"] and len(resumed["commands"]) == 2


def test_readme_section_is_replaced_between_markers_only(tmp_path: Path, monkeypatch) -> None:
    bench = bench_scale()
    readme = tmp_path / "README.md"
    readme.write_text(f"# B\n\nabove\n\n{bench.BEGIN}\nold\n{bench.END}\n\nbelow\n")
    monkeypatch.setattr(bench, "README", readme)
    bench.write_readme("new table")
    text = readme.read_text()
    assert "old" not in text and "new table" in text
    assert text.startswith("# B\n\nabove") and text.rstrip().endswith("below")
    assert bench.growth([(10, 2.0), (20, 8.0), (40, 32.0)]) == 2.0
    assert bench.growth([(10, 2.0)]) is None
    # The sweep's whole corpus (fraction 1.0) is the shape's own run, measured once.
    whole = {"dataset": "synthetic", "options": {"shape": "eurlex-4k"}, "model": "linear"}
    assert bench._key(whole) == bench._key({**whole, "options": {"shape": "eurlex-4k",
                                                                "fraction": 1.0}})  # fmt: skip
    assert bench._key(whole) != bench._key({**whole, "options": {"shape": "eurlex-4k",
                                                                "fraction": 0.5}})  # fmt: skip


def test_amazoncat_projection_carries_seconds_and_peak_memory() -> None:
    bench = bench_scale()

    def record(role: str, docs: int, seconds: float, mb: float) -> dict:
        stages = {st: {"seconds": seconds, "peak_rss_mb": mb, "tree_peak_rss_mb": mb}
                  for st in bench.STAGES}  # fmt: skip
        return {"role": role, "model": "xr-linear", "shape": f"amazoncat-13k@{docs}",
                "train_docs": docs, "test_docs": 0, "x_docs": docs, "stages": stages}  # fmt: skip

    records = [record("docs", 1000, 10.0, 100.0), record("docs", 4000, 40.0, 200.0)]
    records.append(dict(records[-1], role="shape"))
    exps = bench.exponents(records, "docs", "x_docs")
    assert exps["xr-linear"]["train"] == {"time": 1.0, "rss": 0.5}
    full = 1_186_239 + 306_782
    proj = bench.projection(records, exps)["xr-linear"]
    assert "trials" not in proj
    assert proj["train"]["seconds"] == round(40.0 * full / 4000)
    assert proj["train"]["peak_mb"] == round(200.0 * (full / 4000) ** 0.5)
