"""Trains one model per training regime with the same seed, attacks every one of them on the
same (document, label) pairs, and writes the tables and plots that compare them: clean
metrics with paired bootstrap intervals, attack success by label-frequency bin (one line per
regime), McNemar per bin against plain bce, and each regime's training cost. Every file is
the output of one harness command; ``regimes.json`` says which model and runs each regime
got.

    python docs/regimes_comparison.py                       # Reuters-21578, AttentionXML
    python docs/regimes_comparison.py --seed 1 --out docs/regimes/seed1   # another seed
    python docs/regimes_comparison.py --model linear --only pwcb --only substitution \
        --only substitution-4096 --out docs/regimes/linear
    python docs/regimes_comparison.py --quick --db /tmp/r.db --out /tmp/regimes

The regimes: plain bce; PW-cb weighted from the start (as the paper trains it) and deferred
(``defer=0.66``); ``embedding`` (FGM); ``substitution`` with targets drawn by frequency bin;
``embedding`` with deferred PW-cb; with ``--only``, also ``substitution-4096`` (eight times the
training attack's pairs). The attacks: positive-targeted with ``mask`` importance,
which the training attack (``gradient`` importance) does not use, so robustness there is not
memory of the training attack; positive-targeted with ``gradient`` importance, the training
attack's own scorer; negative-targeted with ``--cluster``. Each attack is paired: a pair is
drawn only if every model predicts it correctly (``--paired-with``), so every regime is
attacked on the same pairs. Runs resume: the same command again continues where it stopped.
``--jobs N`` runs N trainings (then N campaigns) at once, each with its share of the cores as
threads (``--threads``), which on 2 cores finishes sooner than one command with 2 threads.

``--quick`` runs the same steps on a small synthetic corpus with tiny models, 2 pairs per bin
and the change-rate similarity, to check the pipeline, not to answer anything (71 harness
commands; about 25 minutes on a busy 2-core machine).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from harness.threads import cpu_count

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Regime:
    """One way of training: a short name (file names), its ``train`` options, and whether it
    is compared unless ``--only`` says otherwise."""

    name: str
    args: tuple[str, ...]
    default: bool = True


DEFER = ("--weighting", "pw-cb", "--loss-opt", "defer=0.66")
SUBSTITUTION = ("--adversarial", "substitution", "--adversarial-opt", "targets=bins")
REGIMES = (
    Regime("bce", ()),
    Regime("pwcb", ("--weighting", "pw-cb")),
    Regime("pwcb-deferred", DEFER),
    Regime("embedding", ("--adversarial", "embedding")),
    Regime("substitution", SUBSTITUTION),
    Regime("embedding-pwcb-deferred", ("--adversarial", "embedding", *DEFER)),
    # Eight times the training attack's pairs: 512 add about 1.6% to Reuters' training set.
    Regime("substitution-4096", (*SUBSTITUTION, "--adversarial-opt", "trials=4096"), False),
)
ATTACKS: dict[str, tuple[str, ...]] = {
    "positive-mask": ("--attack", "positive", "--importance", "mask"),
    "positive-gradient": ("--attack", "positive", "--importance", "gradient"),
    "negative-cluster": ("--attack", "negative", "--cluster", "--importance", "mask"),
}
FULL = {
    "data": ("--dataset", "reuters21578"),
    "eval": ("--samples-per-bin", "50"),
    "substitution": (),
}
QUICK = {
    "data": (
        "--dataset", "synthetic", "--dataset-opt", "n_docs=400", "--dataset-opt",
        "n_labels=100", "--dataset-opt", "doc_length=40",
    ),
    "attentionxml": (
        "--model-opt", "hidden=8", "--model-opt", "fc_size=8", "--model-opt", "max_words=30",
        "--epochs", "2",
    ),
    "eval": (
        "--samples-per-bin", "2", "--labels-per-bin", "3", "--similarity", "change-rate",
        "--max-queries", "300",
    ),
    "substitution": (
        "--adversarial-opt", "similarity=change-rate", "--adversarial-opt", "trials=16",
        "--adversarial-opt", "refresh=1",
    ),
}  # fmt: skip


def harness(*args: str, db: str, out: Path | None = None) -> str:
    """Run one harness command (the one this checkout holds); echo it; return its stdout."""
    argv = [sys.executable, "-c", "from harness.cli import main; main()", "--db", db, *args]
    sys.stderr.write(f"+ xmtc-harness {' '.join(args)}\n")  # one write: jobs share stderr
    sys.stderr.flush()
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"failed ({done.returncode}): xmtc-harness {' '.join(args)}")
    if out is not None:
        out.write_text(done.stdout)
    return done.stdout


def run_all(jobs: int, tasks: Sequence[Callable[[], object]]) -> list[object]:
    """Run the tasks (each one harness command) ``jobs`` at a time; results in task order.

    A thread pool is enough: each task waits on its own process. The first failure stops
    the script once the commands already started have ended (they resume next time)."""
    if jobs == 1:
        return [task() for task in tasks]
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(task) for task in tasks]
        return [f.result() for f in futures]


def trained_id(output: str) -> int:
    """The model id ``train`` reports, whether it trained the model or found it."""
    found = re.search(r"model id (\d+)", output)
    if found is None:
        raise SystemExit(f"train printed no model id:\n{output}")
    return int(found.group(1))


def run_id(output: str) -> int:
    """The run id of the summary ``eval`` prints when its campaign ends."""
    found = re.search(r"^Run (\d+):", output, re.M)
    if found is None:
        raise SystemExit(f"eval printed no run summary:\n{output}")
    return int(found.group(1))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="Small synthetic check of the steps.")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--model", default="attentionxml", help="linear: use --only (no embedding).")
    ap.add_argument("--db", default="results.db")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "regimes")
    ap.add_argument("--model-dir", default="models")
    ap.add_argument("--cache-dir", default="cache")
    ap.add_argument(
        "--jobs", type=int, default=1, help="Harness commands at once (threads: cores / jobs)."
    )
    ap.add_argument(
        "--only", action="append", choices=[r.name for r in REGIMES], help="Only these regimes."
    )
    a = ap.parse_args(argv)
    if a.jobs < 1:
        ap.error("--jobs must be at least 1")
    shape = QUICK if a.quick else FULL
    chosen = set(a.only) if a.only else {r.name for r in REGIMES if r.default}
    regimes = [r for r in REGIMES if r.name in chosen or r.name == "bce"]
    out: Path = a.out
    out.mkdir(parents=True, exist_ok=True)
    seed = ("--seed", str(a.seed))
    where = ("--model-dir", a.model_dir)
    sized = shape.get(a.model, ())
    common = (*shape["data"], "--model", a.model, *sized, *seed, *where)

    def regime_args(r: Regime) -> tuple[str, ...]:
        return (*r.args, *shape["substitution"]) if "substitution" in r.args else r.args

    threads = ("--threads", str(max(1, cpu_count() // a.jobs)))
    threads = threads if a.jobs > 1 else ()

    def train(r: Regime) -> Callable[[], str]:
        return lambda: harness(
            "train", *common, *regime_args(r), *threads, "--no-progress", db=a.db
        )

    # Adversarial regimes train longest: start them first so the jobs end together.
    order = sorted(regimes, key=lambda r: "--adversarial" not in r.args)
    texts = dict(
        zip((r.name for r in order), run_all(a.jobs, [train(r) for r in order]), strict=True)
    )
    models: dict[str, int] = {}
    for r in regimes:
        models[r.name] = trained_id(str(texts[r.name]))
        (out / f"train_{r.name}.txt").write_text(str(texts[r.name]))

    def attack_run(attack: str, r: Regime) -> Callable[[], int]:
        others = [f"model:{m}" for n, m in models.items() if n != r.name]
        paired = [x for ref in others for x in ("--paired-with", ref)]
        return lambda: run_id(
            harness(
                "eval", *common, *regime_args(r), *ATTACKS[attack], *shape["eval"], *paired,
                "--cache-dir", a.cache_dir, "--no-train", "--no-progress", *threads, db=a.db,
            )
        )  # fmt: skip

    cells = [(attack, r) for attack in ATTACKS for r in regimes]
    ids = run_all(a.jobs, [attack_run(attack, r) for attack, r in cells])
    runs: dict[str, dict[str, int]] = {name: {} for name in ATTACKS}
    for (attack, r), rid in zip(cells, ids, strict=True):
        runs[attack][r.name] = int(rid)  # type: ignore[call-overload]

    for fmt, ext in (("markdown", "md"), ("json", "json")):
        only = (*shape["data"][:2], "--model", a.model)  # this comparison's corpus and model
        harness("models", *only, "--format", fmt, db=a.db, out=out / f"models.{ext}")
    base = models["bce"]
    for r in regimes[1:]:
        for fmt, ext in (("markdown", "md"), ("json", "json")):
            harness(
                "compare-models", str(base), str(models[r.name]), "--format", fmt,
                "--no-progress", db=a.db, out=out / f"compare_models_bce_vs_{r.name}.{ext}",
            )  # fmt: skip
    for attack, by_regime in runs.items():
        chosen = [x for n in by_regime for x in ("--run", str(by_regime[n]))]
        harness(
            "leaderboard", *chosen, "--format", "markdown", "--out",
            str(out / f"{attack}_by_bin.md"), "--plot", str(out / f"{attack}_by_frequency.png"),
            db=a.db,
        )  # fmt: skip
        harness(
            "leaderboard", *chosen, "--summary", "--format", "markdown", "--out",
            str(out / f"{attack}_summary.md"), db=a.db,
        )  # fmt: skip
        for r in regimes[1:]:
            for fmt, ext in (("markdown", "md"), ("json", "json")):
                harness(
                    "compare", str(by_regime["bce"]), str(by_regime[r.name]), "--format", fmt,
                    "--out", str(out / f"{attack}_bce_vs_{r.name}.{ext}"), db=a.db,
                )  # fmt: skip
    record = {
        "seed": a.seed,
        "model": a.model,
        "quick": a.quick,
        "regimes": {r.name: list(regime_args(r)) for r in regimes},
        "models": models,
        "attacks": {k: list(v) for k, v in ATTACKS.items()},
        "runs": runs,
    }
    (out / "regimes.json").write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
