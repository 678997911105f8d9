"""What a dataset looks like before anyone trains on it: split sizes, label counts, the
label-frequency histogram and the lines a reader skipped (``xmtc-harness data stats``).

:func:`corpus_stats` gives the figures as a dict (for reports and tests);
:func:`render_corpus_stats` the text tables the command prints.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from tabulate import tabulate

from harness.data import Corpus
from harness.errors import ConfigError


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
        raise ConfigError("report.plot", f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        plt.close(fig)


def _counts_table(title: str, counts: dict[str, Any]) -> str:
    rows = [[k, v] for k, v in counts.items()]
    return f"{title}\n" + tabulate(rows, headers=["", "count"], tablefmt="simple")


MORE_COUNTS = {
    "dropped": "documents dropped by the reader",
    "collection": "whole collection (before choosing the split)",
}
"""``Corpus.meta`` entries shown when a reader provides them: what it filtered out, and
figures for the whole collection before its train/test split (Reuters-21578's usual
19.6k documents / 444 labels)."""


def render_corpus_stats(corpus: Corpus) -> str:
    """The text ``data stats`` prints: statistics, histogram, skipped lines, reader notes."""
    s = corpus_stats(corpus)
    parts = [
        f"dataset {s['name']}",
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
        ),
        "",
    ]
    hist_rows = [
        [str(lo) if lo == hi else f"{lo}-{hi}", n, f"{100 * n / max(s['labels'], 1):.1f}%"]
        for lo, hi, n in s["histogram"]
    ]
    parts.append("label frequency histogram (training documents per label)")
    parts.append(tabulate(hist_rows, headers=["train docs", "labels", "share"], tablefmt="simple"))
    parts.append("")
    parts.append(
        _counts_table("skipped bad lines", s["skipped"]) if s["skipped"] else "skipped: none"
    )
    for key, title in MORE_COUNTS.items():
        value = corpus.meta.get(key)
        if isinstance(value, dict) and value:
            parts += ["", _counts_table(title, value)]
    return "\n".join(parts)
