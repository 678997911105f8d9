"""Distributed campaigns (issue 15): the Ray executor against the local one, on the same pairs.

One process plans a positive-targeted campaign over the test split (pairs from every
frequency bin, round-robin), then runs the same trials with each executor in turn:

* ``local``, with 1 and with 2 torch/BLAS threads (``--threads``);
* ``ray`` with 1 and with 2 workers of one CPU and one thread each (``--workers``);
* ``ray`` with 2 workers of one CPU that each use 2 threads (what happens without the
  thread share: oversubscription).

It connects to Ray once (a local instance sized to the machine, or ``--ray-address``), then
builds each pool as a campaign does (:class:`~harness.campaign.executors.ray_pool.RayExecutor`:
actors load the checkpoint and build the attack through ``AttackBuilder``). Each mode first
runs ``--warmup`` trials per worker that are not timed, then the measured trials; trials/s
is measured trials over the wall time of the stream (the driver's database commits are not
part of it: a SQLite commit is a few milliseconds against the seconds a trial takes). Every
mode's results are compared with local, 1 thread, trial by trial (outcome, changed words,
adversarial text, rank after, queries). It records each worker's peak RSS, the start-up
cost of Ray and of each pool, the machine's load and the threads used, and projects trials/s
per GPU worker from the per-trial cost breakdown (model, sentence encoder, substituter,
the rest).

    python bench/distributed.py                          # Reuters-21578, linear and attentionxml
    python bench/distributed.py --quick --out /tmp/d.json --models linear   # the test's run

It prints the tables, writes ``bench/results/distributed.json`` and rewrites the
"Distributed campaigns" section of ``bench/README.md`` (not in ``--quick``).
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import logging
import os
import platform
import resource
import shlex
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tabulate import tabulate  # noqa: E402

from harness.attack.attack import TrialAttempt  # noqa: E402
from harness.attack.build import AttackBuilder, AttackSpec  # noqa: E402
from harness.campaign.config import (  # noqa: E402
    CampaignConfig,
    ModelConfig,
    RuntimeConfig,
    SamplingConfig,
)
from harness.campaign.executors.base import AttackJob, ModelRef  # noqa: E402
from harness.campaign.executors.local import LocalExecutor  # noqa: E402
from harness.campaign.executors.ray_pool import NAMESPACE, RayExecutor  # noqa: E402
from harness.campaign.plan import PlannedTrial, plan_campaign  # noqa: E402
from harness.campaign.predictions import predict_topk  # noqa: E402
from harness.campaign.runner import model_spec  # noqa: E402
from harness.components import PluginChoice  # noqa: E402
from harness.registry import load_registry  # noqa: E402
from harness.store.session import open_store  # noqa: E402
from harness.threads import cpu_count, set_compute_threads  # noqa: E402
from harness.training import get_or_train  # noqa: E402

README = REPO / "bench" / "README.md"
BEGIN, END = "<!-- distributed:begin -->", "<!-- distributed:end -->"
GPU_SPEEDUPS = (10, 30, 100)
"""Assumed speed-ups of the model's batched forward passes on one GPU over one CPU thread,
for the projection (not measured here: this machine has no GPU)."""


@dataclasses.dataclass(frozen=True)
class Mode:
    name: str
    executor: str
    workers: int
    threads: int


def modes(args: argparse.Namespace) -> list[Mode]:
    """The executors measured, in the order they run (alternating, so drifting load on a
    shared machine does not favour one kind)."""
    local = [Mode(f"local, {t} thread(s)", "local", 1, t) for t in args.threads]
    pools = [Mode(f"ray, {w} worker(s)", "ray", w, 1) for w in reversed(args.workers)]
    out = [m for pair in itertools.zip_longest(local, pools) for m in pair if m is not None]
    if args.oversubscribed and max(args.threads) > 1:
        w, t = max(args.workers), max(args.threads)
        out.append(Mode(f"ray, {w} worker(s) x {t} threads (oversubscribed)", "ray", w, t))
    return out


# -- set-up -------------------------------------------------------------------------------------
def campaign_config(args: argparse.Namespace, model: str) -> CampaignConfig:
    return CampaignConfig(
        data=PluginChoice(args.dataset, dict(args.dataset_options)),
        model=ModelConfig(model, dict(args.model_options.get(model, {}))),
        attack=AttackSpec(substituter=PluginChoice("glove"), similarity=PluginChoice("use")),
        sampling=SamplingConfig(samples_per_bin=args.samples_per_bin),
        seed=args.seed,
    )


def prepare(registry: Any, corpus: Any, args: argparse.Namespace, model_name: str):
    """The trained model (trained and recorded when missing), its job, and the trials:
    warm-up trials first, then the measured ones, round-robin over the frequency bins."""
    cfg = campaign_config(args, model_name)
    store = open_store(args.db)
    try:
        model, row = get_or_train(
            registry,
            store,
            model_spec(registry, cfg),
            corpus,
            Path(args.model_dir),
            train_if_missing=True,
            progress=not args.quiet,
        )
    finally:
        store.dispose()
    words = [d.words[: model.max_words] for d in corpus.test]
    topk = predict_topk(model, words, cfg.attack.k, None, progress=False)
    plan = plan_campaign(cfg, corpus, [topk], model.max_words, None)
    by_bin: dict[int, list[PlannedTrial]] = {}
    for t in plan.trials:
        by_bin.setdefault(t.bin_index, []).append(t)
    queues = [q for _, q in sorted(by_bin.items())]
    chosen: list[PlannedTrial] = []
    need = args.trials + args.warmup * max(args.workers)
    while len(chosen) < need and any(queues):
        for q in queues:
            if q and len(chosen) < need:
                chosen.append(q.pop(0))
    n_warm = min(args.warmup * max(args.workers), max(0, len(chosen) - 1))
    job = AttackJob(
        spec=cfg.attack,
        model=ModelRef(
            row.checkpoint_path,
            row.checkpoint_hash,
            tuple(corpus.label_names),
            corpus.fingerprint(),
        ),
        seed=cfg.seed,
    )
    return cfg, model, job, chosen[:n_warm], chosen[n_warm:], len(plan.bins)


# -- one mode -----------------------------------------------------------------------------------
def run_mode(
    mode: Mode,
    registry: Any,
    cfg: CampaignConfig,
    model: Any,
    job: AttackJob,
    warm: list[PlannedTrial],
    trials: list[PlannedTrial],
    args: argparse.Namespace,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "mode": mode.name,
        "executor": mode.executor,
        "workers": mode.workers,
        "threads_per_worker": mode.threads,
        "load_before": os.getloadavg()[0],
    }
    if mode.executor == "local":
        set_compute_threads(mode.threads)
        attack = AttackBuilder(registry, cfg.attack).build(model)  # fresh caches per mode
        executor: Any = LocalExecutor(
            dataclasses.replace(job, threads=mode.threads), lambda: attack
        )
        out["start_s"] = 0.0
        list(executor.run(warm[: args.warmup]))
    else:
        set_compute_threads(1)  # the driver only waits
        runtime = RuntimeConfig(
            executor="ray",
            workers=mode.workers,
            threads=mode.threads,
            cpus_per_worker=args.cpus_per_worker,
            gpus_per_worker=args.gpus_per_worker,
            ray_address=args.ray_address,
        )
        t0 = time.perf_counter()
        executor = RayExecutor(job, lambda: None, runtime, echo=note(args))  # type: ignore[arg-type]
        out["start_s"] = time.perf_counter() - t0
        list(executor.run(warm[: args.warmup * mode.workers]))
    t0 = time.perf_counter()
    attempts: list[TrialAttempt] = list(executor.run(trials))
    wall = time.perf_counter() - t0
    if mode.executor == "local":
        out["peak_rss_mb_per_worker"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    else:
        peaks = executor.peak_rss_mb()
        out["peak_rss_mb_per_worker"] = max(peaks.values()) if peaks else float("nan")
        out["peak_rss_mb_workers"] = peaks
    executor.close()
    out.update(
        wall_s=wall,
        trials=len(attempts),
        trials_per_s=len(attempts) / wall,
        load_after=os.getloadavg()[0],
    )
    out["attempts"] = attempts
    return out


def note(args: argparse.Namespace):
    def echo(line: str) -> None:
        if not args.quiet:
            print(f"  {line}", file=sys.stderr)

    return echo


def fingerprint(a: TrialAttempt) -> tuple[Any, ...]:
    """What must be identical between two runs of one trial."""
    r = a.result
    if r is None:
        return ("error", a.error)
    return (
        r.outcome,
        tuple(r.changed_words),
        tuple(r.adversarial),
        r.rank_after,
        a.cost.logical_queries,
        a.cost.forward_passes,
    )


def breakdown(attempts: list[TrialAttempt]) -> dict[str, float]:
    """Mean seconds per trial inside the model, the sentence encoder (constraints), the
    substituter, and the rest (search, importance bookkeeping, goals)."""
    n = max(1, len(attempts))
    model = sum(a.cost.model_seconds for a in attempts) / n
    enc = sum(a.cost.extra_seconds.get("constraints", 0.0) for a in attempts) / n
    sub = sum(a.cost.extra_seconds.get("substituter", 0.0) for a in attempts) / n
    total = sum(a.seconds for a in attempts) / n
    fwd = sum(a.cost.forward_passes for a in attempts) / n
    return {
        "s_per_trial": total,
        "model_s": model,
        "encoder_s": enc,
        "substituter_s": sub,
        "rest_s": max(0.0, total - model - enc - sub),
        "forward_passes": fwd,
        "model_ms_per_forward_pass": 1000 * model / fwd if fwd else float("nan"),
    }


def projection(b: dict[str, float]) -> dict[str, float]:
    """trials/s of one GPU worker if the model's time shrank by each assumed speed-up and
    the CPU parts (encoder, substituter, rest) stayed as measured on one thread."""
    cpu_part = b["encoder_s"] + b["substituter_s"] + b["rest_s"]
    out = {f"x{g}": 1.0 / (b["model_s"] / g + cpu_part) for g in GPU_SPEEDUPS}
    out["bound"] = 1.0 / cpu_part if cpu_part > 0 else float("inf")
    return out


# -- one model ----------------------------------------------------------------------------------
def measure_model(registry: Any, corpus: Any, name: str, args: argparse.Namespace) -> dict:
    cfg, model, job, warm, trials, n_bins = prepare(registry, corpus, args, name)
    print(
        f"{name}: {len(trials)} measured trials over {n_bins} bins, {len(warm)} warm-up",
        file=sys.stderr,
    )
    rows = []
    for mode in modes(args):
        print(f"{name}: {mode.name}", file=sys.stderr)
        rows.append(run_mode(mode, registry, cfg, model, job, warm, trials, args))
    reference = next(r for r in rows if r["executor"] == "local" and r["threads_per_worker"] == 1)
    ref_prints = {a.trial.trial_index: fingerprint(a) for a in reference["attempts"]}
    best_local = max(r["trials_per_s"] for r in rows if r["executor"] == "local")
    for r in rows:
        prints = {a.trial.trial_index: fingerprint(a) for a in r["attempts"]}
        r["identical_outcomes"] = prints == ref_prints
        r["x_local_1_thread"] = r["trials_per_s"] / reference["trials_per_s"]
        r["x_best_local"] = r["trials_per_s"] / best_local
    b = breakdown(reference["attempts"])
    outcomes: dict[str, int] = {}
    for a in reference["attempts"]:
        key = a.result.outcome if a.result is not None else "error"
        outcomes[str(key)] = outcomes.get(str(key), 0) + 1
    for r in rows:
        del r["attempts"]
    return {
        "model": name,
        "trials": len(trials),
        "bins": n_bins,
        "outcomes": outcomes,
        "modes": rows,
        "breakdown": b,
        "projection": projection(b),
    }


# -- results ------------------------------------------------------------------------------------
def targets(res: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for m in res["models"]:
        two = [
            r
            for r in m["modes"]
            if r["executor"] == "ray" and r["workers"] == 2 and r["threads_per_worker"] == 1
        ]
        if two:
            out[f"{m['model']}_2_workers_x_best_local"] = round(two[0]["x_best_local"], 2)
        out[f"{m['model']}_identical"] = all(r["identical_outcomes"] for r in m["modes"])
    if "attentionxml_2_workers_x_best_local" in out:
        out["attentionxml_2_workers_ge_1.7x"] = out["attentionxml_2_workers_x_best_local"] >= 1.7
    return out


def tables(res: dict[str, Any]) -> str:
    rows = []
    for m in res["models"]:
        for r in m["modes"]:
            rows.append(
                [
                    m["model"],
                    r["mode"],
                    f"{r['trials_per_s']:.3f}",
                    f"{r['x_local_1_thread']:.2f}x",
                    f"{r['x_best_local']:.2f}x",
                    f"{r['start_s']:.1f}",
                    f"{r['peak_rss_mb_per_worker']:.0f}",
                    "yes" if r["identical_outcomes"] else "NO",
                    f"{r['load_before']:.1f}/{r['load_after']:.1f}",
                ]
            )
    main = tabulate(
        rows,
        headers=[
            "model",
            "executor",
            "trials/s",
            "× local 1 thread",
            "× best local",
            "pool start s",
            "peak RSS MB / worker",
            "identical outcomes",
            "load before/after",
        ],
        tablefmt="github",
    )
    cost = []
    for m in res["models"]:
        b, p = m["breakdown"], m["projection"]
        cost.append(
            [
                m["model"],
                f"{b['s_per_trial']:.3f}",
                f"{b['model_s']:.3f}",
                f"{b['encoder_s']:.3f}",
                f"{b['substituter_s']:.3f}",
                f"{b['rest_s']:.3f}",
                f"{b['forward_passes']:.0f}",
                f"{b['model_ms_per_forward_pass']:.2f}",
                *(f"{p[f'x{g}']:.2f}" for g in GPU_SPEEDUPS),
                f"{p['bound']:.2f}",
            ]
        )
    proj = tabulate(
        cost,
        headers=[
            "model",
            "s/trial (1 thread)",
            "model s",
            "encoder s",
            "substituter s",
            "rest s",
            "forward passes",
            "model ms / pass",
            *(f"GPU worker trials/s, model ×{g}" for g in GPU_SPEEDUPS),
            "bound (model free)",
        ],
        tablefmt="github",
    )
    return main + "\n\n" + proj


def machine() -> dict[str, Any]:
    import ray
    import torch

    return {
        "cpus": cpu_count(),
        "load_before": list(os.getloadavg()),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "ray": ray.__version__,
    }


def write_readme(res: dict[str, Any], path: Path) -> None:
    m = res["machine"]
    where = "Reuters-21578" if res["dataset"] == "reuters21578" else f"`{res['dataset']}`"
    body = [
        BEGIN,
        "",
        f"Generated by `bench/distributed.py` on {res['finished']} ({res['elapsed_s'] / 60:.1f} "
        f"min): {m['cpus']} CPUs, load average {m['load_before'][0]:.1f} at the start (about 2 "
        f"is the benchmark's own work on 2 cores), Python {m['python']}, torch {m['torch']}, "
        f"Ray {m['ray']}; Ray itself started in {res['ray_start_s']:.1f} s. Command:",
        "",
        f"    {res['command']}",
        "",
        f"Positive-targeted trials on {where} test pairs, round-robin over the frequency bins "
        "(glove substituter, use similarity, the campaign's defaults), the same trials for "
        "every executor after a few untimed warm-up trials per worker. *pool start* is the "
        "time to start the workers and build their attacks (connecting to Ray excluded). "
        "*Identical outcomes*: every trial's outcome, changed words, adversarial text, rank "
        "and queries equal local, 1 thread.",
        "",
        res["tables"].split("\n\n")[0],
        "",
        "Per-trial cost on one thread (local, 1 thread) and the projection for one GPU "
        "worker: the model's time divided by an assumed GPU speed-up of its batched forward "
        "passes, the sentence encoder, substituter and the rest unchanged (they stay on the "
        "worker's CPU); *bound* is the rate with a free model. Projections, not measurements.",
        "",
        res["tables"].split("\n\n")[1],
        "",
        f"Targets: {json.dumps(res['targets'])}",
        "",
        END,
    ]
    text = path.read_text(encoding="utf-8")
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + "\n".join(body) + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + "\n".join(body) + "\n"
    path.write_text(text, encoding="utf-8")


# -- command line -------------------------------------------------------------------------------
def ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default=None, help="comma-separated (default linear,attentionxml)")
    ap.add_argument("--model-opt", action="append", default=[], metavar="MODEL:KEY=VALUE")
    ap.add_argument("--dataset", default="reuters21578")
    ap.add_argument("--dataset-opt", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--model-dir", default=str(REPO / "models"))
    ap.add_argument("--db", default=str(REPO / "results.db"))
    ap.add_argument("--trials", type=int, default=60, help="measured trials per model")
    ap.add_argument("--warmup", type=int, default=2, help="untimed trials per worker")
    ap.add_argument("--samples-per-bin", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=ints, default=[1, 2], help="pool sizes, e.g. 1,2")
    ap.add_argument("--threads", type=ints, default=[1, 2], help="local threads, e.g. 1,2")
    ap.add_argument("--no-oversubscribed", dest="oversubscribed", action="store_false")
    ap.add_argument("--cpus-per-worker", type=float, default=1.0)
    ap.add_argument("--gpus-per-worker", type=float, default=0.0)
    ap.add_argument("--ray-address", default=None, help="join a cluster instead of starting Ray")
    ap.add_argument("--quick", action="store_true", help="tiny synthetic run (for the test)")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "distributed.json")
    ap.add_argument("--no-readme", action="store_true")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    args.dataset_options = {} if args.data_dir is None else {"data_dir": args.data_dir}
    for item in args.dataset_opt:
        key, eq, value = item.partition("=")
        if not (key and eq):
            ap.error(f"--dataset-opt expects KEY=VALUE, got {item!r}")
        args.dataset_options[key] = value
    if args.quick:
        args.dataset = "synthetic"
        args.dataset_options = {
            "n_labels": 100,
            "n_docs": 300,
            "doc_length": 40,
            **args.dataset_options,
        }
        args.trials, args.warmup = min(args.trials, 6), 1
        args.samples_per_bin = args.trials
        args.model_opt = [
            "linear:epochs=3",
            "attentionxml:epochs=1",
            "attentionxml:hidden=16",
            "attentionxml:fc_size=16",
            "attentionxml:swa_epochs=0",
            *args.model_opt,
        ]
        args.no_readme = True
        if args.model_dir == str(REPO / "models"):
            tmp = Path(tempfile.mkdtemp(prefix="bench-distributed-"))
            args.model_dir, args.db = str(tmp / "models"), str(tmp / "results.db")
    args.model_options = {}
    for item in args.model_opt:
        name, _, kv = item.partition(":")
        key, eq, value = kv.partition("=")
        if not (name and key and eq):
            ap.error(f"--model-opt expects MODEL:KEY=VALUE, got {item!r}")
        args.model_options.setdefault(name, {})[key] = value
    args.models = [m for m in (args.models or "linear,attentionxml").split(",") if m]
    if min(args.workers) < 1 or min(args.threads) < 1 or args.trials < 1:
        ap.error("--workers, --threads and --trials take numbers >= 1")
    return args


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    import ray

    command = "python bench/distributed.py " + " ".join(
        shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv)
    )
    started = time.perf_counter()
    res: dict[str, Any] = {
        "command": command.strip(),
        "machine": machine(),
        "dataset": args.dataset,
    }
    registry = load_registry()
    corpus = registry.build("dataset", args.dataset, args.dataset_options).load(progress=False)
    t0 = time.perf_counter()
    quiet = {"logging_level": logging.ERROR, "log_to_driver": False, "namespace": NAMESPACE}
    if args.ray_address is None:
        ray.init(address="local", num_cpus=cpu_count(), include_dashboard=False, **quiet)
    else:
        ray.init(address=args.ray_address, **quiet)
    res["ray_start_s"] = time.perf_counter() - t0
    try:
        res["models"] = [measure_model(registry, corpus, m, args) for m in args.models]
    finally:
        ray.shutdown()
    res["machine"]["load_after"] = list(os.getloadavg())
    res["elapsed_s"] = time.perf_counter() - started
    res["finished"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    res["targets"] = targets(res)
    res["tables"] = tables(res)
    print(res["tables"])
    print(json.dumps(res["targets"], indent=1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=1, default=str) + "\n")
    if not args.no_readme:
        write_readme(res, README)
    return res


if __name__ == "__main__":
    main()
