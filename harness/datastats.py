"""``xmtc-harness data stats``: what a dataset looks like before anyone trains on it.

Loads a dataset through the registry (so third-party readers get the same report) and prints
its split sizes, label counts, label-frequency histogram and the lines a reader skipped.
The figures come from :func:`corpus_stats`, which other code (reports, tests) can call.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import numpy as np
from tabulate import tabulate

from harness.cli import AppContext, pass_app
from harness.data import Corpus
from harness.errors import UsageError


def frequency_bins(max_freq: int) -> list[tuple[int, int]]:
    """Log-spaced (powers of two) inclusive bins of training frequency: 0, 1, 2-3, 4-7, ..."""
    bins = [(0, 0)]
    lo = 1
    while lo <= max(max_freq, 1):
        bins.append((lo, 2 * lo - 1))
        lo *= 2
    return bins


def corpus_stats(corpus: Corpus) -> dict[str, Any]:
    """The numbers ``data stats`` prints, as a plain dict."""
    counts = corpus.label_counts
    docs = corpus.train + corpus.test
    per_doc = np.array([len(d.labels) for d in docs], dtype=np.int64)
    per_label = counts[counts > 0]
    hist = [
        (lo, hi, int(((counts >= lo) & (counts <= hi)).sum()))
        for lo, hi in frequency_bins(int(counts.max()) if counts.size else 0)
    ]
    return {
        "name": corpus.name,
        "train_docs": len(corpus.train),
        "test_docs": len(corpus.test),
        "docs": len(docs),
        "labels": corpus.n_labels,
        "labels_with_train_doc": int((counts > 0).sum()),
        "labels_per_doc_mean": float(per_doc.mean()) if per_doc.size else 0.0,
        "labels_per_doc_median": float(np.median(per_doc)) if per_doc.size else 0.0,
        "labels_per_doc_max": int(per_doc.max()) if per_doc.size else 0,
        "docs_per_label_mean": float(per_label.mean()) if per_label.size else 0.0,
        "docs_per_label_median": float(np.median(per_label)) if per_label.size else 0.0,
        "histogram": hist,
        "skipped": dict(corpus.skipped),
        "propensity": (corpus.propensity_a, corpus.propensity_b),
    }


def plot_histogram(corpus: Corpus, path: Path) -> None:
    """Log-log histogram of training label frequencies (labels with no training doc left out)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = corpus.label_counts[corpus.label_counts > 0]
    fig, ax = plt.subplots(figsize=(6, 4))
    if counts.size:
        edges = np.unique(np.geomspace(1, counts.max() + 1, num=30).astype(np.int64))
        if edges.size < 2:
            edges = np.array([1, 2])
        ax.hist(counts, bins=edges, color="#4477aa", edgecolor="white")
        ax.set_xscale("log")
        ax.set_yscale("log")
    ax.set_xlabel("training documents per label")
    ax.set_ylabel("labels")
    ax.set_title(f"{corpus.name}: label frequency ({counts.size} labels with training docs)")
    fig.tight_layout()
    try:
        fig.savefig(path, format="png", dpi=100)
    except OSError as exc:
        raise UsageError("--plot", f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        plt.close(fig)


def _parse_opts(pairs: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError("--opt", f"expected key=value, got {pair!r}")
        out[key.strip()] = value
    return out


def _counts_table(title: str, counts: dict[str, Any]) -> str:
    rows = [[k, v] for k, v in counts.items()]
    return f"{title}\n" + tabulate(rows, headers=["", "count"], tablefmt="simple")


@click.group("data")
def data() -> None:
    """Inspect datasets."""


@data.command("stats")
@click.argument("dataset")
@click.option("--data-dir", type=click.Path(file_okay=False), help="Folder with the files.")
@click.option("--opt", "opts", multiple=True, metavar="KEY=VALUE", help="Dataset option.")
@click.option("--skip-bad-lines", is_flag=True, help="Skip and count malformed records.")
@click.option("--plot", type=click.Path(dir_okay=False), help="Write a log-log PNG histogram.")
@click.option("--progress/--no-progress", default=True, help="Progress bar while loading.")
@pass_app
def stats(
    app: AppContext,
    dataset: str,
    data_dir: str | None,
    opts: tuple[str, ...],
    skip_bad_lines: bool,
    plot: str | None,
    progress: bool,
) -> None:
    """Print split sizes, label statistics and the label-frequency histogram of DATASET."""
    options: dict[str, Any] = _parse_opts(opts)
    if data_dir is not None:
        options["data_dir"] = data_dir
    if skip_bad_lines:
        options["skip_bad_lines"] = True
    corpus = app.registry.build("dataset", dataset, options).load(progress=progress)
    s = corpus_stats(corpus)
    click.echo(f"dataset {s['name']}")
    click.echo(
        tabulate(
            [
                ["documents (train)", s["train_docs"]],
                ["documents (test)", s["test_docs"]],
                ["documents (total)", s["docs"]],
                ["labels", s["labels"]],
                ["labels with >=1 training doc", s["labels_with_train_doc"]],
                ["labels per document (mean)", f"{s['labels_per_doc_mean']:.3f}"],
                ["labels per document (median)", f"{s['labels_per_doc_median']:g}"],
                ["labels per document (max)", s["labels_per_doc_max"]],
                ["training docs per label (mean)", f"{s['docs_per_label_mean']:.3f}"],
                ["training docs per label (median)", f"{s['docs_per_label_median']:g}"],
                ["propensity A, B", "{}, {}".format(*s["propensity"])],
            ],
            headers=["statistic", "value"],
            tablefmt="simple",
            disable_numparse=True,
        )
    )
    click.echo()
    hist_rows = [
        [str(lo) if lo == hi else f"{lo}-{hi}", n, f"{100 * n / max(s['labels'], 1):.1f}%"]
        for lo, hi, n in s["histogram"]
    ]
    click.echo("label frequency histogram (training documents per label)")
    click.echo(tabulate(hist_rows, headers=["train docs", "labels", "share"], tablefmt="simple"))
    click.echo()
    click.echo(
        _counts_table("skipped bad lines", s["skipped"]) if s["skipped"] else "skipped: none"
    )
    # Readers may report what they filtered out, and figures for the whole collection before
    # its train/test split (Reuters-21578's usual 19.6k documents / 444 labels).
    titles = {
        "dropped": "documents dropped by the reader",
        "collection": "whole collection (before choosing the split)",
    }
    for key, title in titles.items():
        value = corpus.meta.get(key)
        if isinstance(value, dict) and value:
            click.echo()
            click.echo(_counts_table(title, value))
    if plot:
        plot_histogram(corpus, Path(plot))
        click.echo(f"\nwrote {plot}")
