"""The campaign side of the pipeline at scale: planning, the read commands over a large
results database, and memory over a long campaign.

Three parts, each measured in its own child process (peak memory is then the part's own):

* **plan**: AmazonCat-13K's 13,330 labels at fractions of its documents (the ``synthetic``
  preset). A seeded stand-in model answers the test split (each document's true labels
  boosted above labels drawn by frequency; planning is a function of the predictions, so no
  model is trained): its top 100 with scores are written to and read back from the
  predictions cache, then the positive pool and frequency bins (400 labels per bin, the
  paper's AmazonCat-13K setting), positive, paired (two stand-ins) and negative draws, the
  label clusters, clustered negative draws with three targets, and the whole plan of a
  clustered negative campaign. Each stage's wall time and peak RSS (``VmHWM``, reset before
  it); the growth exponent in documents and the projection to the full corpus.
* **store**: a results database of ``--trials`` trials (100,000) over ``--runs`` runs written
  through the ORM (AmazonCat-sized: 13,330 label names per run, 150-350-word texts,
  top-5 lists, substitutions), then each read command (``leaderboard``, ``compare``, ``examples``,
  ``query``) run three times as a fresh ``xmtc-harness`` process: wall seconds (start-up
  included: what a user waits for), the command's own seconds and the process's peak RSS.
* **campaign**: one positive-targeted campaign of ``--campaign-trials`` cheap trials
  (``linear`` on a small synthetic corpus, ``change-rate`` similarity) with the resident
  memory recorded every ``--every`` trials by an ``xmtc_trial_recorded`` hook: memory over a
  long campaign must stay flat.

    python bench/pipeline.py --quick                 # minutes: every part at small sizes
    python bench/pipeline.py                         # the full measurement (an hour or so)
    python bench/pipeline.py --parts store           # one part (results/pipeline-store.json)
    python bench/pipeline.py --render                # README section from results/pipeline.json
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.scale import growth  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "pipeline.json"
QUICK_RESULTS = ROOT / "bench" / "results" / "pipeline-quick.json"
README = ROOT / "bench" / "README.md"
BEGIN, END = "<!-- pipeline:begin -->", "<!-- pipeline:end -->"
PARTS = ("plan", "store", "campaign")
PLAN_STAGES = (
    "load",
    "predictions",
    "pool+bins",
    "positive draws",
    "paired draws",
    "negative draws",
    "clusters",
    "clustered draws",
    "plan",
)
AMAZONCAT_DOCS = 1_186_239 + 306_782


# ------------------------------------------------------------------------------ planning


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


class Stage:
    """Wall seconds, peak RSS (``VmHWM``, reset before the stage) and what the stage added
    to the resident memory it started with (peak − RSS at its start: the corpus and GloVe's
    word list the generator reads stay resident throughout and would hide it)."""

    def __init__(self) -> None:
        self.records: dict[str, dict[str, float]] = {}

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        gc.collect()
        try:
            Path("/proc/self/clear_refs").write_text("5")
        except OSError:
            pass
        before = _status_mb("VmRSS")
        t0 = time.perf_counter()
        yield
        peak = _status_mb("VmHWM")
        self.records[name] = {
            "seconds": round(time.perf_counter() - t0, 3),
            "peak_rss_mb": round(peak, 1),
            "added_mb": round(max(0.0, peak - before), 1),
        }
        print(f"  {name}: {self.records[name]}", file=sys.stderr, flush=True)


def stand_in_predictions(corpus: Any, seed: int, depth: int = 100) -> Any:
    """A seeded stand-in model's answer for the test split: each true label scores in
    [0.3, 1) with probability 0.8 (else in [0, 0.6)), and ``depth + 10`` other labels drawn by
    training frequency score in [0, 0.6); the best ``depth`` by the ranking rule."""
    import numpy as np

    from harness.campaign.predictions import Predictions

    rng = np.random.default_rng(seed)
    L = corpus.n_labels
    prior = corpus.label_counts + 0.5
    prior = prior / prior.sum()
    n = len(corpus.test)
    indices = np.empty((n, depth), dtype=np.int32)
    scores = np.empty((n, depth), dtype=np.float32)
    others = rng.choice(L, size=(n, depth + 10), p=prior)
    for i, doc in enumerate(corpus.test):
        true = np.asarray(doc.labels, dtype=np.int64)
        cand, first = np.unique(np.concatenate([true, others[i]]), return_index=True)
        s = rng.random(len(cand)).astype(np.float32) * 0.6
        is_true = np.isin(cand, true)
        hit = is_true & (rng.random(len(cand)) < 0.8)
        s[hit] = 0.3 + 0.7 * rng.random(int(hit.sum())).astype(np.float32)
        if len(cand) < depth:  # pad with the lowest-indexed unused labels at score 0
            extra = np.setdiff1d(np.arange(depth + len(cand)), cand)[: depth - len(cand)]
            cand, s = np.concatenate([cand, extra]), np.concatenate([s, np.zeros(len(extra))])
        order = np.lexsort((cand, -s))[:depth]
        indices[i], scores[i] = cand[order], s[order]
    return Predictions(indices, scores, L)


def run_plan(fraction: float, per_bin: int, work: Path) -> dict[str, Any]:
    """Every planning stage at AmazonCat-13K's shape and ``fraction`` of its documents."""
    from harness.attack.build import AttackSpec
    from harness.campaign.clustering import cluster_labels, cluster_of, label_vectors
    from harness.campaign.config import CampaignConfig, SamplingConfig
    from harness.campaign.plan import plan_campaign
    from harness.campaign.predictions import (
        load_predictions,
        prediction_source,
        predictions_file,
        save_predictions,
    )
    from harness.campaign.sampling import (
        make_bins,
        plan_negative,
        plan_positive,
        positive_pool,
    )
    from harness.registry import load_registry

    stage = Stage()
    k, samples = 5, 50
    with stage("load"):
        options = {"shape": "amazoncat-13k", "fraction": fraction}
        corpus = load_registry().build("dataset", "synthetic", options).load()
        Y, freq = corpus.label_matrix("test"), corpus.label_counts
    out: dict[str, Any] = {
        "fraction": fraction,
        "labels_per_bin": per_bin,
        "labels": corpus.n_labels,
        "train_docs": len(corpus.train),
        "test_docs": len(corpus.test),
        "dense_test_gb": round(len(corpus.test) * corpus.n_labels * 4 / 2**30, 2),
        "stages": stage.records,
    }
    with stage("predictions"):
        pairs = ((d.doc_id, d.words) for d in corpus.test)
        source = prediction_source(pairs, len(corpus.test), corpus.n_labels, 100)
        path = predictions_file(work, source)
        save_predictions(stand_in_predictions(corpus, 0), path, source)
        pred = load_predictions(path, source)
        assert pred is not None
        other = stand_in_predictions(corpus, 1)
        top, top2 = pred.top(k), other.top(k)
        del other
    out["predictions_mb"] = round(path.stat().st_size / 2**20, 1)
    with stage("pool+bins"):
        pool = positive_pool(Y, [top])
        bins = make_bins(freq, pool, per_bin)
    with stage("positive draws"):
        positive = plan_positive(pool, bins, freq, samples, 0)
    with stage("paired draws"):
        paired_pool = positive_pool(Y, [top, top2])
        paired = plan_positive(paired_pool, make_bins(freq, paired_pool, per_bin), freq, samples, 0)
    with stage("negative draws"):
        negative = plan_negative(Y, [top], bins, freq, samples, 0)
    with stage("clusters"):
        Z = label_vectors(corpus)
        clusters = cluster_labels(Z, max_leaf=8, seed=0)
        ids = cluster_of(clusters, corpus.n_labels)
    with stage("clustered draws"):
        clustered = plan_negative(Y, [top], bins, freq, samples, 0, ids, n_targets=3)
    with stage("plan"):
        cfg = CampaignConfig(
            attack=AttackSpec(kind="negative", k=k),
            sampling=SamplingConfig(labels_per_bin=per_bin, samples_per_bin=samples, cluster=True),
        )
        plan = plan_campaign(cfg, corpus, [top], 500, ids)
    out.update(
        pool_pairs=int(pool.nnz),
        bins=len(bins),
        draws={
            "positive": len(positive),
            "paired": len(paired),
            "negative": len(negative),
            "clustered": len(clustered),
            "plan": len(plan.trials),
        },
        clusters=len(clusters),
        label_vector_entries=int(Z.nnz),
        peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    )
    return out


# --------------------------------------------------------------------------------- store

VOCAB = (
    "the of and a to in is for on that with as by it from at this be are or an was which "
    "battery charger cable case cover screen laptop phone camera lens book novel author "
    "kitchen knife pan pot garden hose lamp bulb desk chair shoe boot shirt jacket watch "
    "strap toy puzzle game card guitar string drum piano audio speaker headphone adapter"
).split()


def build_store(path: Path, n_trials: int, n_runs: int, n_labels: int, seed: int = 0) -> dict:
    """A results database of ``n_trials`` trials over ``n_runs`` runs (pairs of runs attack
    the same (sample, target) pairs, so ``compare`` has shared pairs), written through the
    ORM in batches of 5,000 trials."""
    import numpy as np
    from sqlalchemy import insert

    from harness.store.schema import Run, Substitution, Trial
    from harness.store.session import open_store

    rng = np.random.default_rng(seed)
    store = open_store(str(path))
    names = [f"amazoncat-label-{i:05d}" for i in range(n_labels)]
    n_bins = 15
    bins = [
        {"index": b, "freq_low": 2**b, "freq_high": 2 ** (b + 1) - 1, "n_labels": 400}
        for b in range(n_bins)
    ]
    outcomes = ["success", "budget-exhausted", "words-exhausted", "goal-met-constraint-failed",
                "skipped-not-attackable", "error"]  # fmt: skip
    p_outcome = [0.55, 0.2, 0.1, 0.08, 0.05, 0.02]
    per_run = n_trials // n_runs
    models = ["linear", "xr-linear", "attentionxml"]

    def make_runs(s):  # type: ignore[no-untyped-def]
        runs = []
        for r in range(n_runs):
            run = Run(
                config_hash=f"{r:064d}",
                config={"dataset": "synthetic", "label_names": names, "k": 5},
                seed=0,
                status="finished",
                dataset="synthetic",
                corpus="amazoncat-13k",
                model=models[(r // 2) % len(models)],
                loss="bce",
                weighting=("none", "pw-cb")[r % 2],
                attack="positive",
                cluster=False,
                k=5,
                package_versions={},
                harness_version="bench",
                n_planned=per_run,
                bins=bins,
            )
            s.add(run)
            runs.append(run)
        s.flush()
        return [r.id for r in runs]

    run_ids = store.write(make_runs)
    words = np.asarray(VOCAB)
    trial_id = 0
    for r, run_id in enumerate(run_ids):
        pair_rng = np.random.default_rng(r // 2)  # the pair of runs shares its samples
        samples = pair_rng.integers(0, 300_000, size=per_run)
        targets = pair_rng.integers(0, n_labels, size=per_run)
        for start in range(0, per_run, 5_000):
            rows, subs = [], []
            for i in range(start, min(per_run, start + 5_000)):
                trial_id += 1
                n_words = int(rng.integers(150, 350))
                text = words[rng.integers(0, len(words), size=n_words)]
                outcome = str(rng.choice(outcomes, p=p_outcome))
                attacked = outcome not in ("skipped-not-attackable", "error")
                n_changed = int(rng.integers(1, 6)) if attacked else 0
                pos = np.sort(rng.choice(n_words, size=n_changed, replace=False))
                adv = text.copy()
                adv[pos] = "gadget"
                changed = [[int(p), str(text[p]), "gadget"] for p in pos]
                rows.append(
                    {
                        "id": trial_id,
                        "run_id": run_id,
                        "trial_index": i,
                        "sample_id": f"doc-{samples[i]}",
                        "target_labels": [int(targets[i])],
                        "target_names": [names[int(targets[i])]],
                        "label_freq": int(rng.integers(1, 2**n_bins)),
                        "bin_index": int(rng.integers(0, n_bins)),
                        "attack": "positive",
                        "outcome": outcome,
                        "similarity": float(rng.uniform(0.8, 1.0)) if attacked else None,
                        "change_rate": n_changed / n_words if attacked else None,
                        "n_words": n_words,
                        "n_changed": n_changed,
                        "changed_words": changed,
                        "logical_queries": int(rng.integers(100, 3000)),
                        "forward_passes": int(rng.integers(5, 60)),
                        "rank_before": int(rng.integers(1, 6)),
                        "rank_after": int(rng.integers(1, 40)) if attacked else None,
                        "topk_before": rng.integers(0, n_labels, size=5).tolist(),
                        "topk_after": rng.integers(0, n_labels, size=5).tolist(),
                        "original_text": " ".join(text),
                        "adversarial_text": " ".join(adv) if attacked else None,
                        "wall_seconds": float(rng.uniform(0.1, 5.0)),
                        "error_message": "plugin failed" if outcome == "error" else None,
                    }
                )
                if outcome == "success":
                    subs += [
                        {"trial_id": trial_id, "step": j, "position": int(p),
                         "old_word": str(text[p]), "new_word": "gadget", "gain": 0.1}
                        for j, p in enumerate(pos)
                    ]  # fmt: skip

            def write(s, rows=rows, subs=subs):  # type: ignore[no-untyped-def]
                s.execute(insert(Trial), rows)
                if subs:
                    s.execute(insert(Substitution), subs)

            store.write(write)
    store.dispose()
    return {"runs": run_ids, "trials": per_run * n_runs, "mb": round(path.stat().st_size / 2**20)}


def store_commands(run_ids: list[int], work: Path) -> dict[str, list[str]]:
    a, b = str(run_ids[0]), str(run_ids[1])
    return {
        "leaderboard (all runs)": ["leaderboard"],
        "leaderboard --summary": ["leaderboard", "--summary"],
        "leaderboard --metric similarity": ["leaderboard", "--metric", "similarity"],
        "leaderboard (2 runs)": ["leaderboard", "--run", a, "--run", b],
        "compare A B": ["compare", a, b],
        "examples --run A": ["examples", "--run", a],
        "examples (a bin, an outcome)": ["examples", "--run", a, "--bin", "7", "--outcome",
                                         "budget-exhausted"],  # fmt: skip
        "query runs": ["query", "runs"],
        "query trials --run A --limit 100": ["query", "trials", "--run", a, "--limit", "100"],
        "query trials --outcome success --limit 1000": ["query", "trials", "--outcome",
                                                        "success", "--limit", "1000"],  # fmt: skip
        "query trials --run A --format csv": ["query", "trials", "--run", a, "--format", "csv",
                                              "--out", str(work / "trials.csv")],  # fmt: skip
        "query --sql (GROUP BY outcome)": [
            "query", "--sql", "SELECT outcome, COUNT(*) FROM trials GROUP BY outcome"],
    }  # fmt: skip


def probe_cli(argv: list[str]) -> dict[str, Any]:
    """Run ``xmtc-harness ARGV`` in this (fresh) process: start-up and command seconds,
    peak RSS; the output is discarded."""
    import contextlib
    import io

    t0 = time.perf_counter()
    from harness.cli import main

    t1 = time.perf_counter()
    code = 0
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            main(argv)
        except SystemExit as exc:
            code = int(exc.code or 0)
    t2 = time.perf_counter()
    return {
        "code": code,
        "import_s": round(t1 - t0, 3),
        "command_s": round(t2 - t1, 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def run_store(n_trials: int, n_runs: int, work: Path, repeats: int = 3) -> dict[str, Any]:
    db = work / "results.db"
    t0 = time.perf_counter()
    info = build_store(db, n_trials, n_runs, 13_330)
    out: dict[str, Any] = {
        **info,
        "build_s": round(time.perf_counter() - t0, 1),
        "repeats": repeats,
        "commands": {},
    }
    for name, argv in store_commands(info["runs"], work).items():
        samples = []
        for _ in range(repeats):
            t = time.perf_counter()
            proc = subprocess.run(
                [sys.executable, __file__, "--probe-cli", json.dumps(["--db", str(db), *argv])],
                stdout=subprocess.PIPE,
                check=True,
            )
            wall = time.perf_counter() - t
            rec = json.loads(proc.stdout.decode().strip().splitlines()[-1])
            if rec["code"] != 0:
                raise SystemExit(f"{name}: exit code {rec['code']}")
            samples.append({**rec, "wall_s": round(wall, 3)})
        out["commands"][name] = {
            "wall_s": statistics.median(s["wall_s"] for s in samples),
            "import_s": statistics.median(s["import_s"] for s in samples),
            "command_s": statistics.median(s["command_s"] for s in samples),
            "peak_rss_mb": max(s["peak_rss_mb"] for s in samples),
        }
        print(f"  {name}: {out['commands'][name]}", file=sys.stderr, flush=True)
    return out


# ------------------------------------------------------------------------------ campaign


def run_campaign_memory(n_trials: int, every: int, work: Path) -> dict[str, Any]:
    """One long positive-targeted campaign with RSS recorded every ``every`` trials."""
    import gc

    from harness import hookimpl
    from harness.attack.build import AttackSpec
    from harness.campaign.config import CampaignConfig, ModelConfig, RuntimeConfig, SamplingConfig
    from harness.campaign.runner import run_campaign
    from harness.components import PluginChoice
    from harness.registry import load_registry
    from harness.store.session import open_store

    class MemoryProbe:
        def __init__(self) -> None:
            self.n = 0
            self.t0 = time.perf_counter()
            self.points: list[dict[str, float]] = []

        @hookimpl
        def xmtc_trial_recorded(self, run_id: int, trial: dict[str, Any]) -> None:
            self.n += 1
            if self.n % every == 0:
                self.points.append(
                    {"trials": self.n, "rss_mb": round(_status_mb("VmRSS"), 1),
                     "seconds": round(time.perf_counter() - self.t0, 1)}
                )  # fmt: skip

    reg = load_registry()
    probe = MemoryProbe()
    reg.pm.register(probe, name="bench-memory-probe")
    data = PluginChoice("synthetic", {"n_docs": 3000, "n_labels": 200, "doc_length": 80})
    cfg = CampaignConfig(
        data=data,
        model=ModelConfig("linear", {"n_jobs": 1}, PluginChoice("bce")),
        attack=AttackSpec(similarity=PluginChoice("change-rate")),
        sampling=SamplingConfig(labels_per_bin=5, samples_per_bin=max(50, n_trials // 5)),
        runtime=RuntimeConfig(
            model_dir=str(work / "models"),
            cache_dir=str(work / "cache"),
            limit=n_trials,
            progress=False,
        ),
    )
    store = open_store(str(work / "campaign.db"))
    before = round(_status_mb("VmRSS"), 1)
    t0 = time.perf_counter()
    run_campaign(reg, store, cfg, echo=lambda s: None)
    wall = time.perf_counter() - t0
    gc.collect()
    pts = probe.points
    half = [p for p in pts if p["trials"] >= pts[-1]["trials"] / 2] if pts else []
    slope = None
    if len(half) >= 2:  # MB per 1,000 trials over the second half (after warm-up)
        import numpy as np

        x = np.asarray([p["trials"] for p in half], dtype=float)
        y = np.asarray([p["rss_mb"] for p in half], dtype=float)
        slope = round(float(np.polyfit(x, y, 1)[0]) * 1000, 2)
    return {
        "trials": probe.n,
        "every": every,
        "rss_before_mb": before,
        "points": pts,
        "mb_per_1000_trials_second_half": slope,
        "seconds": round(wall, 1),
    }


# -------------------------------------------------------------------------------- parent


def run_child(kind: str, payload: dict[str, Any], timeout: int) -> dict[str, Any] | None:
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    cmd = [sys.executable, __file__, "--child", json.dumps({"kind": kind, **payload})]
    proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, timeout=timeout)
    if proc.returncode != 0:
        print(f"  {kind} {payload}: failed with exit code {proc.returncode}", file=sys.stderr)
        return None
    rec = json.loads(proc.stdout.decode().strip().splitlines()[-1])
    rec["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    return rec


def child(spec: dict[str, Any]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="xmtc-pipeline-") as tmp:
        work = Path(tmp)
        if spec["kind"] == "plan":
            return run_plan(spec["fraction"], spec["per_bin"], work)
        if spec["kind"] == "store":
            return run_store(spec["trials"], spec["runs"], work, spec["repeats"])
        return run_campaign_memory(spec["trials"], spec["every"], work)


def render(results: dict[str, Any]) -> str:
    from tabulate import tabulate

    m = results["machine"]
    made = results.get("provenance")
    by = (
        "; ".join(f"{part} by `{v['command']}` on {v['date']}" for part, v in made.items())
        if made
        else f"by `{results['command']}` on {results['date']}"
    )
    parts = [
        f"Generated {by}, {m['cpus']} CPUs, one "
        f"BLAS/OpenMP thread per process, {m['platform']}; load average after each part in "
        "the JSON (`bench/results/pipeline.json`).",
    ]
    plans = results.get("plan") or []
    if plans:
        head = ["documents (train + test)", "dense test x labels", *PLAN_STAGES, "bins", "draws"]
        rows = []
        for r in plans:
            cells = [f"{r['train_docs'] + r['test_docs']:,} ({r['fraction']:g})",
                     f"{r['dense_test_gb']} GB"]  # fmt: skip
            for st in PLAN_STAGES:
                s = r["stages"][st]
                cells.append(f"{s['seconds']:.2f} / {s['added_mb']:.0f}")
            cells += [str(r["bins"]), "/".join(str(v) for v in r["draws"].values())]
            rows.append(cells)
        parts += [
            "",
            "**Planning at AmazonCat-13K's 13,330 labels** (`synthetic` preset at fractions of "
            "its documents; each cell: seconds / MB the stage added to the resident memory it "
            "started with (peak − start), the process's whole peak in the JSON; draws: "
            "positive / paired / negative / clustered / whole plan):",
            "",
            tabulate(rows, headers=head, tablefmt="github", disable_numparse=True),
        ]
        exps = results.get("plan_exponents") or {}
        proj = results.get("plan_projection") or {}
        if exps:
            prow = []
            for st in PLAN_STAGES:
                pr = proj.get(st, {})
                prow.append([st, f"{exps[st]['time']} / {exps[st]['rss']}",
                             f"{pr.get('seconds', '')} / {pr.get('added_mb', '')}"])  # fmt: skip
            parts += [
                "",
                "Growth in documents (slope of log seconds / log added MB against log "
                f"documents) and the projection to all {AMAZONCAT_DOCS:,} documents "
                "(seconds / added MB):",
                "",
                tabulate(
                    prow,
                    headers=["stage", "exponent", "projected"],
                    tablefmt="github",
                    disable_numparse=True,
                ),  # fmt: skip
            ]
    store = results.get("store")
    if store:
        rows = [
            [name, f"{c['wall_s']:.2f}", f"{c['import_s']:.2f}", f"{c['command_s']:.2f}",
             f"{c['peak_rss_mb']:.0f}"]
            for name, c in store["commands"].items()
        ]  # fmt: skip
        parts += [
            "",
            f"**Read commands over {store['trials']:,} trials** in {len(store['runs'])} runs "
            f"({store['mb']:,} MB SQLite file; median of {store['repeats']} fresh processes "
            "each):",
            "",
            tabulate(
                rows,
                headers=["command", "wall s", "start-up s", "command s", "peak MB"],
                tablefmt="github",
                disable_numparse=True,
            ),
        ]
    camp = results.get("campaign")
    if camp:
        pts = camp["points"]
        show = pts if len(pts) <= 12 else pts[:: max(1, len(pts) // 10)] + [pts[-1]]
        parts += [
            "",
            f"**Memory over a campaign of {camp['trials']:,} trials** (`linear`, `change-rate` "
            f"similarity; resident MB every {camp['every']} trials; "
            f"{camp['mb_per_1000_trials_second_half']} MB per 1,000 trials over the second half):",
            "",
            tabulate(
                [[p["trials"], f"{p['rss_mb']:.0f}", f"{p['seconds']:.0f}"] for p in show],
                headers=["trials", "RSS MB", "seconds"],
                tablefmt="github",
                disable_numparse=True,
            ),
        ]
    return "\n".join(parts)


def write_readme(section: str) -> None:
    text = README.read_text()
    block = f"{BEGIN}\n\n{section}\n\n{END}"
    a, b = text.index(BEGIN), text.index(END) + len(END)
    README.write_text(text[:a] + block + text[b:])


def plan_growth(plans: list[dict[str, Any]]) -> tuple[dict, dict]:
    docs = [r["train_docs"] + r["test_docs"] for r in plans]
    exps, proj = {}, {}
    for st in PLAN_STAGES:
        t = growth([(d, r["stages"][st]["seconds"]) for d, r in zip(docs, plans, strict=True)])
        m = growth([(d, r["stages"][st]["added_mb"]) for d, r in zip(docs, plans, strict=True)])
        exps[st] = {"time": t, "rss": m}
        if plans and t is not None and m is not None:
            big = max(plans, key=lambda r: r["train_docs"] + r["test_docs"])
            f = AMAZONCAT_DOCS / (big["train_docs"] + big["test_docs"])
            proj[st] = {
                "seconds": round(big["stages"][st]["seconds"] * f**t, 1),
                "added_mb": round(big["stages"][st]["added_mb"] * f**m),
            }
    return exps, proj


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="Small sizes: minutes.")
    p.add_argument("--parts", default=",".join(PARTS), help="plan, store, campaign.")
    p.add_argument("--fractions", default=None, help="AmazonCat-13K fractions for `plan`.")
    p.add_argument("--trials", type=int, default=None, help="Trials in the `store` database.")
    p.add_argument("--runs", type=int, default=None, help="Runs in the `store` database.")
    p.add_argument("--campaign-trials", type=int, default=None)
    p.add_argument("--every", type=int, default=None, help="Record RSS every N trials.")
    p.add_argument("--repeats", type=int, default=3, help="Runs of each read command.")
    p.add_argument("--timeout", type=int, default=3 * 3600, help="Seconds per child.")
    p.add_argument("--out", type=Path, default=None, help="JSON results file.")
    p.add_argument("--render", action="store_true", help="Rewrite the README section only.")
    p.add_argument(
        "--merge",
        action="store_true",
        help="Write the parts measured into the full results file, keeping its other parts "
        "(a measurement split over several sittings; the README section is written once "
        "every part is there).",
    )
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--probe-cli", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.probe_cli:
        print(json.dumps(probe_cli(json.loads(args.probe_cli))))
        return
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return
    parts = [x for x in args.parts.split(",") if x]
    if not parts or not set(parts) <= set(PARTS):
        p.error(f"--parts: choose among {', '.join(PARTS)}, got {args.parts!r}")
    out_path = args.out or (QUICK_RESULTS if args.quick else RESULTS)
    if args.out is None and not args.render and not args.merge and set(parts) != set(PARTS):
        # a partial run keeps its own file: it must not replace the full measurement's
        out_path = out_path.with_name(f"{out_path.stem}-{'-'.join(parts)}.json")
    if args.render:
        write_readme(render(json.loads(out_path.read_text())))
        return
    q = args.quick
    fractions = [
        float(x) for x in (args.fractions or ("0.005,0.01" if q else "0.05,0.1,0.2")).split(",")
    ]
    n_trials = args.trials or (10_000 if q else 100_000)
    n_runs = args.runs or (8 if q else 40)
    camp_trials = args.campaign_trials or (300 if q else 3000)
    every = args.every or (50 if q else 100)
    per_bin = 50 if q else 400  # labels per bin: the paper's 400 for AmazonCat-13K
    results: dict[str, Any] = {
        "command": "python bench/pipeline.py " + " ".join(sys.argv[1:]),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": {
            "cpus": os.cpu_count(),
            "threads": 1,
            "platform": platform.platform(),
            "python": platform.python_version(),
            "load_average_before": [round(x, 2) for x in os.getloadavg()],
        },
    }
    if "plan" in parts:
        plans = []
        for f in fractions:
            print(f"plan: amazoncat-13k@{f}", file=sys.stderr, flush=True)
            rec = run_child("plan", {"fraction": f, "per_bin": per_bin}, args.timeout)
            if rec is not None:
                plans.append(rec)
        results["plan"] = plans
        results["plan_exponents"], results["plan_projection"] = plan_growth(plans)
    if "store" in parts:
        print(f"store: {n_trials:,} trials in {n_runs} runs", file=sys.stderr, flush=True)
        results["store"] = run_child(
            "store", {"trials": n_trials, "runs": n_runs, "repeats": args.repeats}, args.timeout
        )
    if "campaign" in parts:
        print(f"campaign: {camp_trials:,} trials", file=sys.stderr, flush=True)
        results["campaign"] = run_child(
            "campaign", {"trials": camp_trials, "every": every}, args.timeout
        )
    if args.merge:
        results, out_path = merged(results, parts, args.out or RESULTS), args.out or RESULTS
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(results, indent=1))
    text = render(results)
    print(text)
    complete = set(parts) == set(PARTS) or (args.merge and all(results.get(x) for x in PARTS))
    if not q and args.out is None and complete:
        write_readme(text)


def merged(results: dict[str, Any], parts: list[str], path: Path) -> dict[str, Any]:
    """The full results file with these parts replaced and the others kept, each part
    carrying the command, date and load it was measured with (``--merge``)."""
    base = json.loads(path.read_text()) if path.exists() else {}
    made = base.get("provenance") or {
        x: {"command": base["command"], "date": base["date"]} for x in PARTS if base.get(x)
    }
    for part in parts:
        keys = [part] + (["plan_exponents", "plan_projection"] if part == "plan" else [])
        base.update({k: results[k] for k in keys})
        made[part] = {
            "command": results["command"],
            "date": results["date"],
            "load_average_before": results["machine"]["load_average_before"],
        }
    base.update(machine=results["machine"], provenance=dict(sorted(made.items())))
    base.pop("command", None)
    base.pop("date", None)
    return base


if __name__ == "__main__":
    main()
