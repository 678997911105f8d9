"""Wall time and peak memory of every pipeline stage at the shapes of real XMTC benchmarks.

For each shape (Reuters-21578, and the ``synthetic`` presets of EUR-Lex-4K, Wiki10-31K and
AmazonCat-13K, the last at a stated fraction of its documents) and each model (``linear``,
``xr-linear``), one child process runs, in order:

1. **load**: generate (or read) the corpus;
2. **train**: fit the model, evaluate it on the test split and save its checkpoint
   (``train_and_record``, into a scratch database);
3. **predict**: the top 100 labels of every test document (``predict_topk``, 256 at a time);
4. **bins+clusters**: the positive pool, frequency bins (20 labels each) and the label
   clusters (balanced 2-means, leaves of 8);
5. **trials**: a positive-targeted campaign of ``--trials`` trials spread over the bins
   (``Campaign.run``, default attack settings; it loads the corpus and the checkpoint again
   and predicts the test split itself, so the stage is reported whole and the trials' own
   seconds separately);
6. **leaderboard**: build and render the run's leaderboard.

Each stage's wall time and two peak resident-set sizes are recorded: the child process's own
(``VmHWM``, reset before each stage through ``/proc/self/clear_refs``) and, sampled every
0.2 s with psutil, the process plus its worker processes (``linear``'s label chunks run in
workers). Two sweeps measure how each stage grows: documents (the AmazonCat-13K preset at
several fractions) and labels (``shape=custom`` at a fixed document count, several label
counts); the growth exponent is the slope of log time (and log peak RSS) against log size.
The AmazonCat-13K figures are projected to its full size with the document exponent.

    python bench/scale.py --quick                  # minutes: the whole pipeline, small sizes
    python bench/scale.py                          # every shape and sweep (hours)
    python bench/scale.py --shapes wiki10-31k --models linear --sweeps none
    python bench/scale.py --render                 # README section from bench/results/scale.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "bench" / "results" / "scale.json"
QUICK_RESULTS = ROOT / "bench" / "results" / "scale-quick.json"
README = ROOT / "bench" / "README.md"
BEGIN, END = "<!-- scale:begin -->", "<!-- scale:end -->"
STAGES = ("load", "train", "predict", "bins+clusters", "trials", "leaderboard")
MODELS = {"linear": "bce", "xr-linear": "squared-hinge"}
AMAZONCAT_FRACTION = 0.2


def _synthetic(label: str, models: tuple[str, ...], **options: Any) -> dict[str, Any]:
    return {"shape": label, "dataset": "synthetic", "options": options, "models": models}


def shape_configs(quick: bool, data_dir: Path | None) -> list[dict[str, Any]]:
    """The shapes, each with the models run on it. AmazonCat-13K is run with ``xr-linear``
    only: ``linear`` there would solve 13,330 labels over 237,000 documents each (hours)."""
    both = tuple(MODELS)
    if quick:
        return [
            _synthetic("eurlex-4k@0.05", both, shape="eurlex-4k", fraction=0.05),
            _synthetic("amazoncat-13k@0.002", both, shape="amazoncat-13k", fraction=0.002),
        ]
    out = []
    if data_dir is not None and (data_dir / "reuters21578").is_dir():
        out.append(
            {"shape": "reuters21578", "dataset": "reuters21578",
             "options": {"data_dir": str(data_dir / "reuters21578")}, "models": both}
        )  # fmt: skip
    f = AMAZONCAT_FRACTION
    return out + [
        _synthetic("eurlex-4k", both, shape="eurlex-4k"),
        _synthetic("wiki10-31k", both, shape="wiki10-31k"),
        _synthetic(f"amazoncat-13k@{f}", ("xr-linear",), shape="amazoncat-13k", fraction=f),
    ]


def sweep_configs(quick: bool) -> dict[str, list[dict[str, Any]]]:
    """Documents: fractions of a preset (AmazonCat-13K for ``xr-linear``, EUR-Lex-4K for
    ``linear``, whose per-label cost grows with the documents); labels: ``shape=custom`` at a
    fixed document count."""
    if quick:
        docs = [
            _synthetic(f"amazoncat-13k@{f}", tuple(MODELS), shape="amazoncat-13k", fraction=f)
            for f in (0.002, 0.004)
        ]
        labels, n_docs = (500, 1000), 2_000
    else:
        docs = [
            _synthetic(f"amazoncat-13k@{f}", ("xr-linear",), shape="amazoncat-13k", fraction=f)
            for f in (0.05, 0.1, AMAZONCAT_FRACTION)
        ] + [
            _synthetic(f"eurlex-4k@{f}", ("linear",), shape="eurlex-4k", fraction=f)
            for f in (0.25, 0.5, 1.0)
        ]
        labels, n_docs = (2_000, 8_000, 32_000), 20_000
    labs = [
        _synthetic(
            f"custom L={n}", tuple(MODELS), shape="custom", n_labels=n, n_docs=n_docs,
            doc_length=200, labels_per_doc=5.0,
        )
        for n in labels
    ]  # fmt: skip
    return {"docs": docs, "labels": labs}


# ---------------------------------------------------------------------------- measurement


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


class Stage:
    """Wall time, own peak RSS (VmHWM after a reset) and sampled process-tree peak RSS."""

    def __init__(self) -> None:
        self.records: dict[str, dict[str, float]] = {}

    @contextmanager
    def __call__(self, name: str):
        try:
            Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
        except OSError:
            pass
        peak = {"tree": 0}
        stop = threading.Event()

        def sample() -> None:
            try:
                import psutil
            except ImportError:
                return
            me = psutil.Process()
            while not stop.wait(0.2):
                try:
                    total = me.memory_info().rss + sum(
                        c.memory_info().rss for c in me.children(recursive=True)
                    )
                except psutil.Error:
                    continue
                peak["tree"] = max(peak["tree"], total)

        thread = threading.Thread(target=sample, daemon=True)
        thread.start()
        t0 = time.perf_counter()
        try:
            yield
        finally:
            wall = time.perf_counter() - t0
            stop.set()
            thread.join()
            own = _status_kb("VmHWM") * 1024
            self.records[name] = {
                "seconds": round(wall, 2),
                "peak_rss_mb": round(own / 2**20, 1),
                "tree_peak_rss_mb": round(max(own, peak["tree"]) / 2**20, 1),
            }
            print(f"  {name}: {self.records[name]}", file=sys.stderr, flush=True)


def run_one(cfg: dict[str, Any], trials: int, similarity: str, work: Path) -> dict[str, Any]:
    """All stages for one (shape, model) in this process."""
    import numpy as np

    import harness.cli  # noqa: F401  (as the command line has it: every command attached)
    from harness.attack.build import AttackSpec
    from harness.campaign.clustering import label_clusters
    from harness.campaign.config import CampaignConfig, ModelConfig, RuntimeConfig, SamplingConfig
    from harness.campaign.runner import run_campaign
    from harness.campaign.sampling import make_bins, positive_pool
    from harness.components import PluginChoice
    from harness.data import WordLists
    from harness.registry import load_registry
    from harness.report.leaderboard import build_leaderboard, render_leaderboard
    from harness.store.queries import RunFilter
    from harness.store.schema import Trial
    from harness.store.session import open_store
    from harness.training import ModelSpec, train_and_record

    reg = load_registry()
    stage = Stage()
    model_name, loss = cfg["model"], MODELS[cfg["model"]]
    store = open_store(f"sqlite:///{work / 'bench.db'}")
    out: dict[str, Any] = {**cfg, "loss": loss, "stages": stage.records}
    with stage("load"):
        corpus = reg.build("dataset", cfg["dataset"], cfg["options"]).load()
    out.update(
        labels=corpus.n_labels,
        train_docs=len(corpus.train),
        test_docs=len(corpus.test),
        words_per_doc=round(float(np.mean([len(d.words) for d in corpus.test[:500]])), 1),
    )
    spec = ModelSpec.resolve(
        reg,
        dataset=cfg["dataset"],
        dataset_options=cfg["options"],
        model=model_name,
        model_options=cfg.get("model_options", {}),
        loss=loss,
        loss_options={},
    )
    with stage("train"):
        model, row = train_and_record(reg, store, spec, corpus, work / "models", progress=False)
    out["metrics"] = {k: round(float(v), 4) for k, v in row.metrics.items() if "@" in k}
    out["train_report"] = getattr(model, "report", {}) or {}
    with stage("predict"):
        test = WordLists(corpus.test)
        top = np.concatenate(
            [
                model.predict_topk(test[i : i + 256], 100, ()).indices
                for i in range(0, len(test), 256)
            ]
        )
    with stage("bins+clusters"):
        pool = positive_pool(corpus.label_matrix("test"), [top[:, :5]])
        bins = make_bins(corpus.label_counts, pool, 20)
        clusters = label_clusters(corpus, max_leaf=8, seed=0)
    out.update(bins=len(bins), clusters=len(clusters))
    per_bin = max(1, math.ceil(trials / len(bins)))
    ecfg = CampaignConfig(
        data=PluginChoice(cfg["dataset"], cfg["options"]),
        model=ModelConfig(model_name, cfg.get("model_options", {}), PluginChoice(loss)),
        attack=AttackSpec(similarity=PluginChoice(similarity)),
        sampling=SamplingConfig(labels_per_bin=20, samples_per_bin=per_bin),
        runtime=RuntimeConfig(
            model_dir=str(work / "models"),
            cache_dir=str(work / "cache"),
            limit=trials,
            progress=False,
        ),
    )
    with stage("trials"):
        run_id = run_campaign(reg, store, ecfg, echo=lambda s: None)
    from sqlalchemy import select

    with store.read() as s:
        rows = s.execute(
            select(Trial.wall_seconds, Trial.outcome).where(Trial.run_id == run_id)
        ).all()
    out["trials"] = {
        "n": len(rows),
        "trial_seconds": round(sum(r[0] for r in rows), 2),
        "success": sum(r[1] == "success" for r in rows),
    }
    with stage("leaderboard"):
        text = render_leaderboard(build_leaderboard(store, RunFilter(run_ids=(run_id,))))
    out["leaderboard_lines"] = len(text.splitlines())
    store.dispose()
    return out


# ----------------------------------------------------------------------------- the parent


def growth(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of log y against log x (None with fewer than two sizes)."""
    import numpy as np

    pts = [(x, y) for x, y in points if x > 0 and y > 0]
    if len({x for x, _ in pts}) < 2:
        return None
    xs, ys = np.log([p[0] for p in pts]), np.log([p[1] for p in pts])
    return round(float(np.polyfit(xs, ys, 1)[0]), 2)


def exponents(records: list[dict], role: str, size_key: str) -> dict[str, dict]:
    """Per model and stage: growth exponent of time and of peak RSS."""
    out: dict[str, dict] = {}
    for model in MODELS:
        rows = [r for r in records if r.get("role") == role and r["model"] == model]
        if not rows:
            continue
        out[model] = {
            st: {
                "time": growth([(r[size_key], r["stages"][st]["seconds"]) for r in rows]),
                "rss": growth([(r[size_key], r["stages"][st]["tree_peak_rss_mb"]) for r in rows]),
            }
            for st in STAGES
        }
    return out


def projection(records: list[dict], docs_exp: dict[str, dict]) -> dict[str, dict]:
    """AmazonCat-13K at full size, from its largest measured fraction and the exponents."""
    full = 1_186_239 + 306_782
    out: dict[str, dict] = {}
    for r in records:
        if r.get("role") != "shape" or not str(r["shape"]).startswith("amazoncat-13k@"):
            continue
        exp = docs_exp.get(r["model"])
        if not exp:
            continue
        factor = full / (r["train_docs"] + r["test_docs"])
        out[r["model"]] = {
            st: {
                "seconds": round(r["stages"][st]["seconds"] * factor ** exp[st]["time"]),
                "peak_mb": round(r["stages"][st]["tree_peak_rss_mb"] * factor ** exp[st]["rss"]),
            }
            for st in STAGES
            if exp[st]["time"] is not None and exp[st]["rss"] is not None and st != "trials"
        }
    return out


def run_child(cfg: dict[str, Any], args: argparse.Namespace) -> dict[str, Any] | None:
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(args.threads)
    cmd = [sys.executable, __file__, "--one", json.dumps(cfg), "--trials", str(args.trials)]
    cmd += ["--similarity", args.similarity]
    print(f"{cfg['shape']} / {cfg['model']} ({cfg['role']})", file=sys.stderr, flush=True)
    proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, timeout=args.timeout)
    if proc.returncode != 0:
        print(f"  failed with exit code {proc.returncode}", file=sys.stderr)
        return None
    record = json.loads(proc.stdout.decode().strip().splitlines()[-1])
    record["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    return record


def render(results: dict) -> str:
    """The README section: the shape table, the growth exponents, the projection."""
    from tabulate import tabulate

    recs = [r for r in results["records"] if r.get("role") == "shape"]
    head = ["shape", "model", "labels", "train/test docs"]
    for st in STAGES:
        head.append(f"{st} s / MB")
    head += ["P@1", "weights pruned", "trials (success)", "load avg"]
    rows = []
    for r in recs:
        row = [r["shape"], f"{r['model']} ({r['loss']})", f"{r['labels']:,}",
               f"{r['train_docs']:,} / {r['test_docs']:,}"]  # fmt: skip
        for st in STAGES:
            s = r["stages"][st]
            row.append(f"{s['seconds']:.0f} / {s['tree_peak_rss_mb']:.0f}")
        t = r["trials"]
        pruned = r.get("train_report", {}).get("pruned_share")
        row += [f"{r['metrics'].get('P@1', float('nan')):.4f}",
                f"{100 * pruned:.0f}%" if pruned is not None else "n/a",
                f"{t['n']} ({t['success']})",
                "/".join(str(x) for x in r["load_average_after"])]  # fmt: skip
        rows.append(row)
    m = results["machine"]
    parts = [
        f"Generated by `{'`, then `'.join(_commands(results))}` (last on {results['date']}), "
        f"{m['cpus']} CPUs, "
        f"{m['threads']} BLAS/OpenMP thread(s) per process, {m['platform']}. Each cell is "
        "wall seconds / peak resident MB of the process and its workers during that stage. "
        "`trials` is the whole campaign (it reloads the corpus and the model and predicts the "
        "test split again); the trials' own seconds are in the JSON.",
        "",
        tabulate(rows, headers=head, tablefmt="github", disable_numparse=True),
    ]
    for role, what in (("docs", "documents"), ("labels", "labels")):
        exp = results.get("exponents", {}).get(role)
        if not exp:
            continue
        erows = []
        for model, e in exp.items():
            pts = [r for r in results["records"] if r.get("role") == role and r["model"] == model]
            sizes = ", ".join(f"{x:,}" for x in sorted({r[f"x_{role}"] for r in pts}))
            where = sorted({str(r["options"].get("shape", r["shape"])) for r in pts})
            erows.append(
                [model, f"{'/'.join(where)}: {sizes}"]
                + [f"{e[st]['time']} / {e[st]['rss']}" for st in STAGES]
            )
        parts += [
            "",
            f"Growth exponents in {what} (slope of log seconds / log peak MB against log {what}):",
            "",
            tabulate(
                erows,
                headers=["model", f"{what} measured", *STAGES],
                tablefmt="github",
                disable_numparse=True,
            ),
        ]
    proj = results.get("projection")
    if proj:
        prow = [
            [model, *(_projected(p.get(st)) for st in STAGES if st != "trials")]
            for model, p in proj.items()
        ]
        parts += [
            "",
            "AmazonCat-13K at its full 1,493,021 documents, projected from the largest "
            "fraction with the document exponents (seconds / peak MB; the trials' cost does "
            "not grow with the corpus, so it is not projected):",
            "",
            tabulate(
                prow,
                headers=["model", *(st for st in STAGES if st != "trials")],
                tablefmt="github",
                disable_numparse=True,
            ),
        ]
    return "\n".join(parts)


def _projected(cell: dict | float | None) -> str:
    """A projection cell: seconds / peak MB (older files hold seconds only)."""
    if cell is None:
        return ""
    if isinstance(cell, dict):
        return f"{cell['seconds']:,} / {cell['peak_mb']:,}"
    return f"{cell:,.0f}"


def _commands(results: dict) -> list[str]:
    """The command lines that measured the results (older files hold one ``command``)."""
    return list(results.get("commands") or [results["command"]])


def write_readme(section: str) -> None:
    text = README.read_text()
    block = f"{BEGIN}\n\n{section}\n\n{END}"
    if BEGIN in text and END in text:
        a, b = text.index(BEGIN), text.index(END) + len(END)
        text = text[:a] + block + text[b:]
    else:
        text = text.rstrip() + "\n\n## Scale\n\n" + block + "\n"
    README.write_text(text)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="Small sizes, 5 trials: minutes.")
    p.add_argument("--shapes", default="", help="Comma-separated shape labels (default all).")
    p.add_argument("--models", default=",".join(MODELS), help="Comma-separated models.")
    p.add_argument("--sweeps", default="docs,labels", help="docs, labels, both, or none.")
    p.add_argument("--trials", type=int, default=100, help="Positive trials per run.")
    p.add_argument("--threads", type=int, default=1, help="BLAS/OpenMP threads per process.")
    p.add_argument(
        "--similarity", default="use", help="Similarity constraint of the trials (default use)."
    )
    p.add_argument("--timeout", type=int, default=4 * 3600, help="Seconds per child run.")
    p.add_argument("--data-dir", type=Path, default=None, help="Folder with reuters21578/.")
    p.add_argument("--out", type=Path, default=None, help="JSON results file.")
    p.add_argument("--render", action="store_true", help="Rewrite the README section only.")
    p.add_argument(
        "--resume",
        action="store_true",
        help="Keep the runs already in the results file and measure only the missing ones "
        "(the file is rewritten after every run, so an interrupted measurement resumes).",
    )
    p.add_argument("--one", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.one:
        cfg = json.loads(args.one)
        with tempfile.TemporaryDirectory(prefix="xmtc-scale-") as tmp:
            print(json.dumps(run_one(cfg, args.trials, args.similarity, Path(tmp))))
        return
    out_path = args.out or (QUICK_RESULTS if args.quick else RESULTS)
    if args.render:
        saved = json.loads(out_path.read_text())
        # Exponents and projection again from the records, as this version computes them.
        exps = {role: exponents(saved["records"], role, f"x_{role}") for role in ("docs", "labels")}
        saved.update(exponents=exps, projection=projection(saved["records"], exps["docs"]))
        write_readme(render(saved))
        return
    if args.quick and args.trials == 100:
        args.trials = 5
    data_dir = args.data_dir or (
        Path(os.environ["XMTC_DATA_DIR"]) if os.environ.get("XMTC_DATA_DIR") else None
    )
    models = [m for m in args.models.split(",") if m]
    wanted = {s for s in args.shapes.split(",") if s}
    configs = []

    def add(sh: dict[str, Any], role: str) -> None:
        shape = {k: v for k, v in sh.items() if k != "models"}
        configs.extend({**shape, "model": m, "role": role} for m in sh["models"] if m in models)

    for sh in shape_configs(args.quick, data_dir):
        if not wanted or sh["shape"] in wanted:
            add(sh, "shape")
    sweeps = sweep_configs(args.quick)
    chosen = {"both": ("docs", "labels"), "none": ()}.get(args.sweeps, args.sweeps.split(","))
    for role in chosen:
        for sh in sweeps[role]:
            add(sh, role)
    previous = json.loads(out_path.read_text()) if args.resume and out_path.exists() else {}
    records: list[dict] = list(previous.get("records", []))
    commands = [*previous.get("commands", []), "python bench/scale.py " + " ".join(sys.argv[1:])]
    done: dict[str, dict] = {_key(r): r for r in records}  # each point is measured once
    for cfg in configs:
        key = _key(cfg)
        if any(_key(r) == key and r.get("role") == cfg["role"] for r in records):
            continue  # measured by an earlier run (--resume)
        rec = dict(done[key], role=cfg["role"]) if key in done else run_child(cfg, args)
        if rec is not None:
            rec["x_docs"] = rec["train_docs"] + rec["test_docs"]
            rec["x_labels"] = rec["labels"]
            records.append(rec)
            done[key] = rec
            # Written after every run, so a long measurement interrupted keeps what it has.
            results = _results(records, commands, args)
            out_path.parent.mkdir(parents=True, exist_ok=True)
            out_path.write_text(json.dumps(results, indent=1))
    results = _results(records, commands, args)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(results, indent=1))
    print(render(results))
    if not args.quick and args.out is None:
        write_readme(render(results))


def _key(cfg: dict[str, Any]) -> str:
    """What a run measures: dataset, options (``fraction=1.0`` is the default, so the sweep's
    whole EUR-Lex-4K is the shape's run) and model."""
    options = {k: v for k, v in cfg["options"].items() if (k, v) != ("fraction", 1.0)}
    return json.dumps([cfg["dataset"], options, cfg["model"]], sort_keys=True)


def _results(records: list[dict], commands: list[str], args: argparse.Namespace) -> dict:
    exps = {role: exponents(records, role, f"x_{role}") for role in ("docs", "labels")}
    return {
        "commands": commands,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "similarity": args.similarity,
        "machine": {
            "cpus": os.cpu_count(),
            "threads": args.threads,
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "records": records,
        "exponents": exps,
        "projection": projection(records, exps["docs"]),
    }


if __name__ == "__main__":
    main()
