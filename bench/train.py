"""Training and scoring throughput and peak memory of each model on Reuters-21578.

Each model runs in its own child process, so its peak resident memory
(``resource.getrusage(RUSAGE_SELF).ru_maxrss``) is its own; the parent collects one JSON
record per model, prints a table, writes ``bench/results/train.json`` and regenerates the
"Training" section of ``bench/README.md`` (between its marker comments).

Measured per model: training documents per second (documents x epochs / training wall
time), scoring documents per second on the test split and on a batch of 200 near-identical
texts (one document with one word masked per copy: what the attack's importance scoring
sends), peak RSS, the Python-heap peak during scoring (``tracemalloc``), and test P@1/P@3/
PSP@5. APLC (a transformer) is trained on a subset of the training split by default, since
a full epoch of it takes hours on a 2-core CPU; the table says how many documents it saw.

It also times one AttentionXML training step (forward, backward, AdamW) on random data
of Reuters' shape for several hidden/FC sizes and lengths, with the harness's BiLSTM and
with a packed bidirectional ``nn.LSTM``: the measurements behind the CPU defaults.

    python bench/train.py                          # linear, attentionxml, aplc
    python bench/train.py --models linear --threads 1
    python bench/train.py --models ""              # the step table alone
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import subprocess
import sys
import time
import tracemalloc
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "bench" / "results" / "train.json"
README = ROOT / "bench" / "README.md"
BEGIN, END = "<!-- training:begin -->", "<!-- training:end -->"
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "reuters21578"


def passes(options: dict) -> int | None:
    """Epochs over the training set, or None for a solver that runs to an optimum (linear's
    L-BFGS or liblinear), whose throughput is then documents over the whole solve."""
    if options.get("solver") in ("lbfgs", "liblinear"):
        return None
    return options.get("epochs")


def run_one(args: argparse.Namespace) -> dict:
    """Train and score one model in this process; returns its measurements."""
    import torch

    from harness.registry import load_registry
    from harness.training import evaluate_model

    if args.threads:
        torch.set_num_threads(args.threads)
    reg = load_registry()
    corpus = reg.build("dataset", "reuters21578", {"data_dir": str(args.data_dir)}).load()
    n_full = len(corpus.train)
    options = dict(json.loads(args.options or "{}"))
    if args.train_docs and args.train_docs < len(corpus.train):
        corpus = replace(corpus, train=corpus.train[: args.train_docs])
    resolved = reg.get("model", args.one).resolve_options(options)
    loss = reg.build("loss", "bce", {}).bind(
        corpus.label_counts, len(corpus.train), corpus.propensity_a, corpus.propensity_b
    )
    model = reg.build("model", args.one, resolved)
    docs = [d.words for d in corpus.train]
    t0 = time.perf_counter()
    model.fit(
        docs,
        corpus.label_matrix("train"),
        loss,
        label_names=corpus.label_names,
        seed=0,
        progress=False,
    )
    train_s = time.perf_counter() - t0

    test_docs = [d.words for d in corpus.test]
    t0 = time.perf_counter()
    metrics = evaluate_model(model, corpus)
    score_s = time.perf_counter() - t0

    base = test_docs[0][: model.max_words]
    positions = [i % len(base) for i in range(200)]
    variants = [[*base[:i], model.mask_token, *base[i + 1 :]] for i in positions]
    model.predict_proba(variants[:8])  # warm-up
    tracemalloc.start()
    t0 = time.perf_counter()
    model.predict_proba(variants)
    near_s = time.perf_counter() - t0
    _, heap_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    return {
        "model": args.one,
        "options": resolved,
        "device": str(getattr(model, "device", "cpu")),
        "threads": torch.get_num_threads(),
        "train_docs": len(docs),
        "train_docs_full": n_full,
        "epochs": passes(resolved),
        "train_seconds": round(train_s, 1),
        "train_docs_per_s": round(len(docs) * (passes(resolved) or 1) / train_s, 1),
        "test_docs": len(test_docs),
        "score_docs_per_s": round(len(test_docs) / score_s, 1),
        "near_identical_docs_per_s": round(len(variants) / near_s, 1),
        "near_identical_words": len(base),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "score_heap_peak_mb": round(heap_peak / 2**20, 1),
        "metrics": {k: round(float(v), 4) for k, v in metrics.items()},
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
    }


STEP_GRID = (  # (hidden, fc, words)
    (64, 128, 130),
    (64, 128, 300),
    (96, 128, 130),
    (128, 128, 130),
    (128, 256, 130),
    (256, 256, 130),
)


def step_costs(
    threads: int,
    grid: tuple[tuple[int, int, int], ...] = STEP_GRID,
    batch: int = 64,
    labels: int = 429,
    vocab: int = 30_000,
) -> list:
    """Seconds per AttentionXML training step on random data, BiLSTM vs packed nn.LSTM."""
    import numpy as np
    import torch
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    from plugins.models.attentionxml import AttentionXMLNet

    if threads:
        torch.set_num_threads(threads)

    class PackedBiLSTM(torch.nn.Module):
        """The packed bidirectional nn.LSTM the model used before (same sizes)."""

        def __init__(self, hidden: int):
            super().__init__()
            self.lstm = torch.nn.LSTM(50, hidden, batch_first=True, bidirectional=True)

        def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
            p = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            h, _ = pad_packed_sequence(self.lstm(p)[0], batch_first=True, total_length=x.shape[1])
            return h

    rows = []
    for hidden, fc, words in grid:
        for variant in ("BiLSTM", "packed nn.LSTM"):
            torch.manual_seed(0)
            net = AttentionXMLNet(vocab, 50, hidden, 1, fc, labels, 0.2, 0.5)
            if variant != "BiLSTM":
                net.lstm = PackedBiLSTM(hidden)
            opt = torch.optim.AdamW(net.parameters(), 1e-3)
            ids = torch.randint(2, vocab, (batch, words))
            lengths = torch.randint(words // 2, words + 1, (batch,))
            lengths[0] = words
            y = (torch.rand(batch, labels) < 0.005).float()
            times = []
            for i in range(5):
                t0 = time.perf_counter()
                out = net(ids, lengths)
                loss = torch.nn.functional.binary_cross_entropy_with_logits(out, y)
                opt.zero_grad()
                loss.backward()
                opt.step()
                if i:  # the first step warms up allocators and kernels
                    times.append(time.perf_counter() - t0)
            rows.append(
                {
                    "hidden": hidden,
                    "fc": fc,
                    "words": words,
                    "lstm": variant,
                    "batch": batch,
                    "s_per_step": round(float(np.median(times)), 4),
                }
            )
            print(rows[-1], file=sys.stderr, flush=True)
    return rows


def step_table(rows: list[dict], train_docs: int = 13_124) -> str:
    from tabulate import tabulate

    ours = {(r["hidden"], r["fc"], r["words"]): r for r in rows if r["lstm"] == "BiLSTM"}
    packed = {(r["hidden"], r["fc"], r["words"]): r for r in rows if r["lstm"] != "BiLSTM"}
    body = []
    for key, r in ours.items():
        per_epoch = r["s_per_step"] * train_docs / r["batch"]
        old = packed.get(key)
        body.append(
            [
                *key,
                f"{r['s_per_step']:.3f}",
                f"{per_epoch:.0f}",
                f"{old['s_per_step']:.3f}" if old else "",
                f"{old['s_per_step'] / r['s_per_step']:.1f}x" if old else "",
            ]
        )
    headers = [
        "hidden",
        "FC",
        "words",
        "s/step",
        f"s/epoch ({train_docs:,} docs)",
        "s/step, packed nn.LSTM",
        "speed-up",
    ]
    return tabulate(body, headers=headers, tablefmt="github")


def table(records: list[dict]) -> str:
    from tabulate import tabulate

    rows = []
    for r in records:
        m = r["metrics"]
        docs = f"{r['train_docs']}" + (
            "" if r["train_docs"] == r["train_docs_full"] else " (subset)"
        )
        n_passes = passes(r["options"])
        rows.append(
            [
                r["model"],
                docs,
                n_passes
                if n_passes
                else "liblinear per label"
                if r["options"].get("solver") == "liblinear"
                else f"L-BFGS, ≤{r['options'].get('max_iter')} iterations",
                f"{r['train_seconds']:.0f}",
                round(r["train_docs"] * (n_passes or 1) / r["train_seconds"], 1),
                r["score_docs_per_s"],
                r["near_identical_docs_per_s"],
                r["peak_rss_mb"],
                f"{m['P@1']:.4f}",
                f"{m['P@3']:.4f}",
                f"{m['PSP@5']:.4f}",
                "/".join(f"{x:.1f}" for x in r["load_average"]),
            ]
        )
    headers = [
        "model",
        "train docs",
        "epochs",
        "train s",
        "train docs/s",
        "score docs/s",
        "near-identical docs/s",
        "peak RSS MB",
        "P@1",
        "P@3",
        "PSP@5",
        "load avg",
    ]
    return tabulate(rows, headers=headers, tablefmt="github")


def write_readme(
    records: list[dict], steps: list[dict], command: str, readme: Path = README
) -> None:
    step_part = (
        [
            "One AttentionXML training step (forward, backward, AdamW) on random data of "
            f"Reuters' shape (batch {steps[0]['batch']}, 429 labels, 30,000 words, lengths "
            "uniform in [words/2, words]), median of 4 steps, with the harness's BiLSTM "
            "and with the packed bidirectional `nn.LSTM` it replaced:",
            "",
            step_table(steps),
            "",
        ]
        if steps
        else []
    )
    model_part = (
        [
            f"Generated by `{command}` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
            f"{os.cpu_count()} CPU cores, default model options unless stated "
            "(Reuters-21578, Lewis split, all five label fields; loss bce; seed 0). "
            "`load avg` is the machine's 1/5/15-minute load when the model finished: about "
            "2 on 2 cores is the benchmark's own threads; more means other work shared the "
            "CPU and the times are upper bounds.",
            "",
            table(records),
            "",
        ]
        if records
        else []
    )
    body = "\n".join([BEGIN, "", *model_part, *step_part, END])
    text = readme.read_text() if readme.exists() else "# Benchmarks\n"
    if BEGIN in text and END in text:
        text = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _: body, text, flags=re.S)
    else:
        text = text.rstrip("\n") + "\n\n## Training\n\n" + body + "\n"
    readme.write_text(text)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", default="linear,attentionxml,aplc")
    p.add_argument(
        "--data-dir",
        type=Path,
        default=Path(os.environ.get("XMTC_DATA_DIR", DEFAULT_DATA.parent)) / "reuters21578",
    )
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    p.add_argument("--aplc-train-docs", type=int, default=1000)
    p.add_argument("--options", default="", help="JSON model options for every model")
    p.add_argument("--one", help=argparse.SUPPRESS)
    p.add_argument("--train-docs", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--no-readme", action="store_true")
    p.add_argument("--no-steps", action="store_true", help="skip the AttentionXML step table")
    p.add_argument(
        "--render",
        action="store_true",
        help="only rewrite the README section from bench/results/train.json",
    )
    args = p.parse_args()
    if args.render:
        saved = json.loads(RESULTS.read_text())
        write_readme(saved["models"], saved["steps"], saved.get("command", "python bench/train.py"))
        return
    if args.one:
        print(json.dumps(run_one(args)))
        return
    records = []
    for name in [m.strip() for m in args.models.split(",") if m.strip()]:
        cmd = [
            sys.executable,
            __file__,
            "--one",
            name,
            "--data-dir",
            str(args.data_dir),
            "--threads",
            str(args.threads),
            "--options",
            args.options,
        ]
        if name == "aplc":
            cmd += ["--train-docs", str(args.aplc_train_docs)]
        print(f"benchmarking {name} ...", file=sys.stderr, flush=True)
        out = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if out.returncode != 0:
            print(out.stderr[-3000:], file=sys.stderr)
            raise SystemExit(f"{name}: benchmark failed (exit {out.returncode})")
        records.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(table(records[-1:]), file=sys.stderr)
    steps = [] if args.no_steps else step_costs(args.threads)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    command = "python bench/train.py " + " ".join(sys.argv[1:])
    RESULTS.write_text(
        json.dumps({"command": command, "models": records, "steps": steps}, indent=2) + "\n"
    )
    if records:
        print(table(records))
    if steps:
        print(step_table(steps))
    if not args.no_readme:
        write_readme(records, steps, command)


if __name__ == "__main__":
    main()
