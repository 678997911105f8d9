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
with a packed bidirectional ``nn.LSTM``: the measurements behind the CPU defaults; and one
flat step against the label tree's steps as the label count grows (``--tree-steps``): the
measurement behind ``tree=auto``'s threshold.

A model entry may carry options after ``@`` (``attentionxml@tree=on@beam=20``), so flat and
tree rows share a run. ``adversarial=NAME`` and ``adversarial.KEY=VALUE`` among them train
under a regime (``attentionxml@adversarial=embedding@adversarial.method=freelb``); a table
then sets each regime's cost against the plain row of the same model. Models that answer
sparse queries (``predict_topk``) are evaluated on their own top-5 (a tree's beam search:
what it predicts) and their near-identical scoring is timed through it; their dense
``predict_proba`` is timed too up to 5,000 labels.
Any dataset plugin can be benchmarked (``--dataset synthetic --dataset-opt n_labels=...``);
``--section`` and ``--results`` keep such rows apart from the Reuters table.

    python bench/train.py                          # linear, attentionxml, aplc
    python bench/train.py --models linear --threads 1
    python bench/train.py --models ""              # the step table alone
    python bench/train.py --models attentionxml@tree=on --section tree-reuters \
        --results bench/results/train_tree_reuters.json --no-steps
    python bench/train.py --no-steps --section regimes --results \
        bench/results/train_regimes.json --models \
        attentionxml,attentionxml@adversarial=embedding,attentionxml@adversarial=substitution
"""

from __future__ import annotations

import argparse
import json
import math
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


def model_entry(entry: str) -> tuple[str, dict[str, str]]:
    """``name@key=value@...`` -> (plugin name, its options)."""
    name, *pairs = entry.split("@")
    options = {}
    for pair in pairs:
        key, eq, value = pair.partition("=")
        if not (key and eq):
            raise SystemExit(f"--models: {pair!r} in {entry!r} is not KEY=VALUE")
        options[key] = value
    return name, options


REGIME_KEY = "adversarial"


def regime_of(options: dict[str, str]) -> tuple[str, dict[str, str], dict[str, str]]:
    """Split an entry's ``adversarial=NAME`` and ``adversarial.KEY=VALUE`` options (a training
    regime, docs/method.md "Adversarial training") from the model's own."""
    name = options.get(REGIME_KEY, "none")
    prefix = REGIME_KEY + "."
    regime = {k[len(prefix) :]: v for k, v in options.items() if k.startswith(prefix)}
    model = {k: v for k, v in options.items() if k != REGIME_KEY and not k.startswith(prefix)}
    return name, regime, model


def dataset_options(args: argparse.Namespace) -> dict[str, str]:
    """The dataset's options from ``--dataset-opt KEY=VALUE`` (and ``--data-dir``)."""
    out = {"data_dir": str(args.data_dir)} if args.dataset == "reuters21578" else {}
    for item in args.dataset_opt:
        key, eq, value = item.partition("=")
        if not (key and eq):
            raise SystemExit(f"--dataset-opt expects KEY=VALUE, got {item!r}")
        out[key] = value
    return out


def topk_metrics(model, corpus, k: int = 5) -> dict[str, float]:
    """P@k, nDCG@k, PSP@k (k = 1, 3, 5) from the model's own top-k (``predict_topk``).

    The metrics only read each document's 5 best labels; a dense row holding those scores
    (zeros elsewhere) ranks them exactly as the model does.
    """
    import numpy as np

    from harness.labelstats import propensities
    from harness.metrics import MetricAccumulator

    docs = [d.words for d in corpus.test]
    Y = corpus.label_matrix("test")
    props = propensities(
        corpus.label_counts, len(corpus.train), corpus.propensity_a, corpus.propensity_b
    )
    acc = MetricAccumulator(props, ks=(1, 3, 5))
    for start in range(0, len(docs), 256):
        answer = model.predict_topk(docs[start : start + 256], k, ())
        top, scores = answer.indices, answer.scores
        dense = np.zeros((len(top), corpus.n_labels), dtype=np.float32)
        np.put_along_axis(dense, top, np.maximum(scores, 1e-30), axis=1)
        acc.update(dense, Y[start : start + len(top)])
    return acc.result()


def run_one(args: argparse.Namespace) -> dict:
    """Train and score one model in this process; returns its measurements."""
    import numpy as np
    import torch

    from harness.regimes.spec import check_model_supports, resolve_regime
    from harness.regimes.train import fit_with_regime
    from harness.registry import load_registry
    from harness.training import evaluate_model

    if args.threads:
        torch.set_num_threads(args.threads)
    reg = load_registry()
    corpus = reg.build("dataset", args.dataset, dataset_options(args)).load()
    n_full = len(corpus.train)
    name, entry_options = model_entry(args.one)
    regime_name, regime_options, entry_options = regime_of(entry_options)
    options = {**json.loads(args.options or "{}"), **entry_options}
    if args.train_docs and args.train_docs < len(corpus.train):
        corpus = replace(corpus, train=corpus.train[: args.train_docs])
    resolved = reg.get("model", name).resolve_options(options)
    loss = reg.build("loss", "bce", {}).bind(
        corpus.label_counts, len(corpus.train), corpus.propensity_a, corpus.propensity_b
    )
    model = reg.build("model", name, resolved)
    docs = [d.words for d in corpus.train]
    training = resolve_regime(regime_name, regime_options)
    cost = None
    t0 = time.perf_counter()
    if training:
        check_model_supports(training, name, type(model), reg)
        model, cost = fit_with_regime(
            reg,
            training,
            model,
            lambda: reg.build("model", name, resolved),
            docs,
            corpus.label_matrix("train"),
            loss,
            label_names=corpus.label_names,
            seed=0,
            progress=False,
        )
    else:
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
    from harness.contracts.model import XMTCModel

    sparse = type(model).predict_topk is not XMTCModel.predict_topk  # its own sparse query
    t0 = time.perf_counter()
    metrics = topk_metrics(model, corpus) if sparse else evaluate_model(model, corpus)
    score_s = time.perf_counter() - t0
    counts = np.asarray(corpus.label_counts, dtype=np.float64)
    prior = evaluate_model_prior(counts, corpus)

    base = test_docs[0][: model.max_words]
    positions = [i % len(base) for i in range(200)]
    variants = [[*base[:i], model.mask_token, *base[i + 1 :]] for i in positions]
    target = [int(np.argmax(counts))]

    def near_identical(dense: bool) -> tuple[float, float]:
        """Seconds for the 200 variants, and the Python-heap peak meanwhile (MB)."""
        run = (
            (lambda texts: model.predict_proba(texts))
            if dense
            else (lambda texts: model.predict_topk(texts, 5, target))
        )
        run(variants[:8])  # warm-up
        tracemalloc.start()
        t0 = time.perf_counter()
        run(variants)
        seconds = time.perf_counter() - t0
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return seconds, peak / 2**20

    near_s, heap_peak = near_identical(dense=not sparse)
    dense_near = None
    if sparse and corpus.n_labels <= 5000:
        dense_near = round(len(variants) / near_identical(dense=True)[0], 1)
    tree = getattr(model, "tree_model", None)

    return {
        "model": args.one,
        "dataset": args.dataset,
        "dataset_options": {k: v for k, v in dataset_options(args).items() if k != "data_dir"},
        "labels": corpus.n_labels,
        "tree_levels": list(tree.tree.sizes) if tree is not None else None,
        "tree_epochs": model.tree_epochs(sum(min(len(d), model.max_words) for d in docs))
        if tree is not None
        else None,
        "scored_by": ("beam top-5" if tree is not None else "top-5") if sparse else "dense",
        "prior_p1": round(prior, 4),
        "near_identical_via": "predict_topk" if sparse else "predict_proba",
        "near_identical_dense_docs_per_s": dense_near,
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
        "score_heap_peak_mb": round(heap_peak, 1),
        "metrics": {k: round(float(v), 4) for k, v in metrics.items()},
        "training": training,
        "training_cost": cost,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
    }


def evaluate_model_prior(counts, corpus) -> float:
    """P@1 of always predicting the most frequent training label (the label prior)."""
    import numpy as np

    Y = corpus.label_matrix("test")
    return float(Y[:, int(np.argmax(counts))].sum() / max(1, Y.shape[0]))


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


def epochs_cell(r: dict) -> str | int:
    """Passes over the training set as the table shows them."""
    if r.get("tree_levels"):
        return f"{r['tree_epochs']} per level, {len(r['tree_levels'])} levels"
    n_passes = passes(r["options"])
    if n_passes:
        return n_passes
    if r["options"].get("solver") == "liblinear":
        return "liblinear per label"
    return f"L-BFGS, ≤{r['options'].get('max_iter')} iterations"


def table(records: list[dict]) -> str:
    from tabulate import tabulate

    wide = any(
        r.get("tree_levels") or r.get("dataset", "reuters21578") != "reuters21578" for r in records
    )
    rows = []
    for r in records:
        m = r["metrics"]
        docs = f"{r['train_docs']}" + (
            "" if r["train_docs"] == r["train_docs_full"] else " (subset)"
        )
        if r.get("tree_levels"):
            n_passes = r["tree_epochs"] * len(r["tree_levels"])
        else:
            n_passes = passes(r["options"]) or 1
        row = [
            r["model"],
            docs,
            epochs_cell(r),
            f"{r['train_seconds']:.0f}",
            round(r["train_docs"] * n_passes / r["train_seconds"], 1),
            r["score_docs_per_s"],
            r["near_identical_docs_per_s"],
            r["peak_rss_mb"],
            f"{m['P@1']:.4f}",
            f"{m['P@3']:.4f}",
            f"{m['PSP@5']:.4f}",
            "/".join(f"{x:.1f}" for x in r["load_average"]),
        ]
        if wide:
            levels = r.get("tree_levels")
            row[1:1] = [
                r.get("dataset", "reuters21578"),
                r.get("labels", ""),
                " / ".join(f"{n:,}" for n in levels) if levels else "flat",
            ]
            row[-1:-1] = [r.get("prior_p1", ""), r.get("scored_by", "dense")]
        rows.append(row)
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
    if wide:
        headers[1:1] = ["dataset", "labels", "tree nodes per level"]
        headers[-1:-1] = ["prior P@1", "metrics from"]
    return tabulate(rows, headers=headers, tablefmt="github")


def regime_table(records: list[dict]) -> str:
    """Each training regime against plain training of the same model in the same run:
    wall seconds, and the cost the regime counted in its own process (passes of documents,
    the seconds of its extra part against the plain part, the training attack's work)."""
    from tabulate import tabulate

    from harness.regimes.spec import regime_label

    def base(r: dict) -> tuple[str, tuple]:
        name, options = model_entry(r["model"])
        return name, tuple(sorted(regime_of(options)[2].items()))

    plain = {base(r): r for r in records if not r.get("training")}
    rows = []
    for r in records:
        cost = r.get("training_cost")
        if cost is None:
            continue
        ref = plain.get(base(r))
        m, attack = r["metrics"], cost["attack"]
        rows.append(
            [
                r["model"].split("@")[0],
                regime_label(r["training"]),
                f"{r['train_seconds']:.0f}",
                f"{r['train_seconds'] / ref['train_seconds']:.2f}x" if ref else "–",
                f"{cost['forward_vs_plain']:.2f}x",
                f"{cost['backward_vs_plain']:.2f}x",
                f"{cost['seconds_vs_plain']:.2f}x",
                f"{attack['trials']} / {attack['logical_queries']}" if attack["refreshes"] else "–",
                attack["adversarial_documents"] if attack["refreshes"] else "–",
                f"{m['P@1']:.4f}" + (f" ({ref['metrics']['P@1']:.4f})" if ref else ""),
                f"{m['PSP@5']:.4f}" + (f" ({ref['metrics']['PSP@5']:.4f})" if ref else ""),
                "/".join(f"{x:.1f}" for x in r["load_average"]),
            ]
        )
    headers = [
        "model",
        "regime",
        "train s",
        "train s vs plain run",
        "forward passes vs plain",
        "backward passes vs plain",
        "in-process s vs plain part",
        "attack trials / queries",
        "adversarial docs",
        "P@1 (plain)",
        "PSP@5 (plain)",
        "load avg",
    ]
    return tabulate(rows, headers=headers, tablefmt="github")


TREE_STEP_LABELS = (429, 1000, 2000, 4000, 30_938)


def tree_step_costs(
    threads: int,
    labels: tuple[int, ...] = TREE_STEP_LABELS,
    batch: int = 64,
    words: int = 300,
    vocab: int = 30_000,
    flat_max: int = 8192,
    steps: int = 3,
    hidden: int = 128,
) -> list[dict]:
    """Seconds per training step: the flat model against the label tree's levels.

    Random data, default sizes (hidden 128, FC 128, beam 10, the default tree shape for
    each label count); a tree "step" is one step of each level plus one forward pass of
    level 0 (the candidate pass that precedes level 1's training, once per epoch-worth of
    batches). Wall and process CPU seconds, medians over ``steps`` after a warm-up step:
    on a shared machine the CPU time is the steadier of the two. Flat steps above
    ``flat_max`` labels are skipped (gigabytes of activations).
    """
    import math

    import numpy as np
    import torch

    from plugins.models.attentionxml import AttentionXMLNet
    from plugins.models.attentionxml_tree import TreeLevelNet
    from plugins.models.label_tree import balanced_cluster_size
    from plugins.models.text_encoder import length_mask

    if threads:
        torch.set_num_threads(threads)
    fc = hidden
    beam = 10
    ids = torch.randint(2, vocab, (batch, words))
    lengths = torch.randint(words // 2, words + 1, (batch,))
    lengths[0] = words
    mask = length_mask(lengths, words, ids.device)

    def timed(step) -> tuple[float, float]:
        wall, cpu = [], []
        for i in range(steps + 1):
            t0, c0 = time.perf_counter(), time.process_time()
            step()
            if i:  # the first step warms up allocators and kernels
                wall.append(time.perf_counter() - t0)
                cpu.append(time.process_time() - c0)
        return float(np.median(wall)), float(np.median(cpu))

    def level_step(n_nodes: int, scored: int, sparse: bool, train: bool):
        torch.manual_seed(0)
        net = TreeLevelNet(vocab, 50, hidden, 1, fc, n_nodes, 0.2, 0.5, sparse)
        dense = [p for k, p in net.named_parameters() if k != "nodes.weight" or not sparse]
        opts = [torch.optim.AdamW(dense, 1e-3)]
        if sparse:
            opts.append(torch.optim.SparseAdam([net.nodes.weight], 1e-3))
        nodes = torch.randint(0, n_nodes, (batch, scored)) if sparse else None
        y = (torch.rand(batch, scored) < 0.01).float()

        def step() -> None:
            if not train:
                with torch.no_grad():
                    net.node_logits(net.encode(ids, lengths), mask, nodes)
                return
            z = net.node_logits(net.encode(ids, lengths), mask, nodes)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(z, y)
            for o in opts:
                o.zero_grad()
            loss.backward()
            for o in opts:
                o.step()

        return step

    def flat_step(n_labels: int):
        torch.manual_seed(0)
        net = AttentionXMLNet(vocab, 50, hidden, 1, fc, n_labels, 0.2, 0.5)
        opt = torch.optim.AdamW(net.parameters(), 1e-3)
        y = (torch.rand(batch, n_labels) < 3 / n_labels).float()

        def step() -> None:
            loss = torch.nn.functional.binary_cross_entropy_with_logits(net(ids, lengths), y)
            opt.zero_grad()
            loss.backward()
            opt.step()

        return step

    rows = []
    for n_labels in labels:
        size = balanced_cluster_size(n_labels, beam, 2)
        n_top = 2 ** round(math.log2(n_labels / size))
        row: dict = {
            "labels": n_labels,
            "batch": batch,
            "words": words,
            "clusters": n_top,
            "candidates": beam * size,
            "hidden": hidden,
            "threads": torch.get_num_threads(),
        }
        if n_labels <= flat_max:
            row["flat_wall"], row["flat_cpu"] = timed(flat_step(n_labels))
        parts = [
            timed(level_step(n_top, n_top, False, True)),
            timed(level_step(n_labels, beam * size, True, True)),
            timed(level_step(n_top, n_top, False, False)),
        ]
        row["tree_wall"] = sum(p[0] for p in parts)
        row["tree_cpu"] = sum(p[1] for p in parts)
        row["levels_cpu"] = [round(p[1], 3) for p in parts]
        rows.append(row)
        print(row, file=sys.stderr, flush=True)
    return rows


def tree_step_table(rows: list[dict]) -> str:
    from tabulate import tabulate

    body = []
    for r in rows:
        flat = r.get("flat_cpu")
        body.append(
            [
                f"{r['labels']:,}",
                f"{r['clusters']} x ≤{math.ceil(r['labels'] / r['clusters'])}",
                r["candidates"],
                f"{flat:.2f}" if flat is not None else "– (too large)",
                f"{r['tree_cpu']:.2f}",
                " + ".join(f"{x:.2f}" for x in r["levels_cpu"]),
                f"{flat / r['tree_cpu']:.1f}x" if flat is not None else "",
                f"{r['flat_wall']:.2f} / {r['tree_wall']:.2f}"
                if flat is not None
                else f"– / {r['tree_wall']:.2f}",
            ]
        )
    headers = [
        "labels",
        "tree: clusters x labels",
        "level-1 candidates",
        "flat CPU s/step",
        "tree CPU s/step",
        "tree: level 0 + level 1 + candidate pass",
        "flat / tree",
        "wall s/step flat / tree",
    ]
    return tabulate(body, headers=headers, tablefmt="github")


def markers(section: str) -> tuple[str, str]:
    """The README comment markers of a section (``training`` is the Reuters table's)."""
    if section == "training":
        return BEGIN, END
    return f"<!-- training-{section}:begin -->", f"<!-- training-{section}:end -->"


def write_readme(
    records: list[dict],
    steps: list[dict],
    command: str,
    readme: Path = README,
    section: str = "training",
    tree_steps: list[dict] | None = None,
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
    tree_part = (
        [
            "Flat or label tree: one training step of each on random data (batch "
            f"{tree_steps[0]['batch']}, {tree_steps[0]['words']} words, hidden "
            f"{tree_steps[0].get('hidden', 128)}, FC as hidden, beam 10, "
            f"{tree_steps[0]['threads']} torch thread(s)), median of 3 steps; a tree step is "
            "one step of each level plus level 0's candidate forward pass. CPU seconds of "
            "the process (steadier than wall time on a shared machine). `tree=auto` turns "
            "the tree on above 2,000 labels, where the flat step already costs about twice "
            "the tree's:",
            "",
            tree_step_table(tree_steps),
            "",
        ]
        if tree_steps
        else []
    )
    datasets = sorted({r.get("dataset", "reuters21578") for r in records})
    where = (
        "Reuters-21578, Lewis split, all five label fields"
        if datasets == ["reuters21578"]
        else ", ".join(f"{r.get('dataset')} {r.get('dataset_options', {})}" for r in records[:1])
    )
    model_part = (
        [
            f"Generated by `{command}` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
            f"{os.cpu_count()} CPU cores, default model options unless stated "
            f"({where}; loss bce; seed 0). "
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
    regime_part = (
        [
            "Training regimes against plain training of the same model: `train s vs plain "
            "run` divides wall seconds by the plain row's (both under the load shown); the "
            "pass and in-process ratios are the regime's own count and timing of its extra "
            "part against the plain part of each step in one process, so they hold under "
            "any load. `P@1`, `PSP@5`: the regime's model, the plain model in brackets.",
            "",
            regime_table(records),
            "",
        ]
        if any(r.get("training_cost") for r in records)
        else []
    )
    begin, end = markers(section)
    body = "\n".join([begin, "", *model_part, *regime_part, *step_part, *tree_part, end])
    text = readme.read_text() if readme.exists() else "# Benchmarks\n"
    if begin in text and end in text:
        text = re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda _: body, text, flags=re.S)
    elif section == "training":
        text = text.rstrip("\n") + "\n\n## Training\n\n" + body + "\n"
    else:  # a new section goes at the end of "## Training", before the next heading
        block = f"### Training: {section}\n\n{body}\n\n"
        nxt = text.find("\n## ", text.find("## Training") + 1) if "## Training" in text else -1
        text = text[: nxt + 1] + block + text[nxt + 1 :] if nxt >= 0 else text + "\n" + block
    readme.write_text(text)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", default="linear,attentionxml,aplc")
    p.add_argument(
        "--data-dir",
        type=Path,
        default=Path(os.environ.get("XMTC_DATA_DIR", DEFAULT_DATA.parent)) / "reuters21578",
    )
    p.add_argument("--dataset", default="reuters21578", help="dataset plugin")
    p.add_argument(
        "--dataset-opt", action="append", default=[], metavar="KEY=VALUE", help="repeatable"
    )
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    p.add_argument("--aplc-train-docs", type=int, default=1000)
    p.add_argument("--options", default="", help="JSON model options for every model")
    p.add_argument("--one", help=argparse.SUPPRESS)
    p.add_argument("--train-docs", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--no-readme", action="store_true")
    p.add_argument("--no-steps", action="store_true", help="skip the AttentionXML step table")
    p.add_argument(
        "--tree-steps",
        default="",
        metavar="L1,L2,...",
        help="time flat against tree training steps at these label counts "
        f"(e.g. {','.join(map(str, TREE_STEP_LABELS))})",
    )
    p.add_argument("--results", type=Path, default=RESULTS, help="JSON results file")
    p.add_argument("--section", default="training", help="README section (marker name) to rewrite")
    p.add_argument(
        "--render",
        action="store_true",
        help="only rewrite the README section from the results JSON",
    )
    args = p.parse_args()
    if args.render:
        saved = json.loads(args.results.read_text())
        write_readme(
            saved["models"],
            saved["steps"],
            saved.get("command", "python bench/train.py"),
            section=args.section,
            tree_steps=saved.get("tree_steps"),
        )
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
            "--dataset",
            args.dataset,
            *[f"--dataset-opt={item}" for item in args.dataset_opt],
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
    tree_labels = tuple(int(x) for x in args.tree_steps.split(",") if x.strip())
    tree_steps = tree_step_costs(args.threads, tree_labels) if tree_labels else []
    args.results.parent.mkdir(parents=True, exist_ok=True)
    command = "python bench/train.py " + " ".join(sys.argv[1:])
    args.results.write_text(
        json.dumps(
            {"command": command, "models": records, "steps": steps, "tree_steps": tree_steps},
            indent=2,
        )
        + "\n"
    )
    if records:
        print(table(records))
    if any(r.get("training_cost") for r in records):
        print(regime_table(records))
    if steps:
        print(step_table(steps))
    if tree_steps:
        print(tree_step_table(tree_steps))
    if not args.no_readme:
        write_readme(records, steps, command, section=args.section, tree_steps=tree_steps)


if __name__ == "__main__":
    main()
