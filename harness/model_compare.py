"""``xmtc-harness compare-models A B``: two trained models' test metrics on the same
documents, with a paired bootstrap interval on each difference.

Is PW-cb's PSP@5 above bce's a real difference or the luck of this test split? Both models
score the same test documents, and resampling documents (the same ones for both models)
gives an interval for B − A and the share of resamples in which B did not beat A.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import click
import numpy as np
import scipy.sparse as sp
from tqdm.auto import tqdm

from harness.cli import AppContext, pass_app
from harness.errors import UsageError
from harness.labelstats import propensities
from harness.metrics import MetricAccumulator
from harness.report.commands import format_option
from harness.report.leaderboard import render_table
from harness.report.stats import PairedBootstrap, paired_bootstrap
from harness.store.schema import TrainedModel
from harness.store.session import open_store
from harness.training import load_trained

DEFAULT_METRICS = ("P@1", "P@3", "P@5", "PSP@1", "PSP@3", "PSP@5")
METRIC_FAMILIES = ("P", "nDCG", "PSP", "PSnDCG")


def _rows(db: str, ids: tuple[int, int]) -> list[TrainedModel]:
    store = open_store(db, create=False)
    try:
        with store.read() as s:
            rows = [s.get(TrainedModel, i) for i in ids]
    finally:
        store.dispose()
    for arg, i, row in zip(("MODEL_A", "MODEL_B"), ids, rows, strict=True):
        if row is None:
            raise UsageError(arg, f"no trained model with id {i} in {db} (see `models`)")
    a, b = rows
    assert a is not None and b is not None
    if (a.dataset, a.dataset_fingerprint) != (b.dataset, b.dataset_fingerprint):
        raise UsageError(
            "MODEL_B",
            f"model {b.id} was trained on {b.dataset} ({b.dataset_fingerprint}), model {a.id} "
            f"on {a.dataset} ({a.dataset_fingerprint}); only models of one dataset compare",
        )
    return [a, b]


def metric_ks(metrics: Sequence[str]) -> list[int]:
    """The cut-offs ``k`` that ``metrics`` (``PSP@5``...) need; a clear error for a name
    that is not one of the metrics of harness.metrics."""
    ks = set()
    for m in metrics:
        family, _, k = m.partition("@")
        if family not in METRIC_FAMILIES or not k.isdigit() or int(k) < 1:
            raise UsageError(
                "--metric", f"unknown {m!r}; expected {', '.join(METRIC_FAMILIES)} @ k, e.g. PSP@5"
            )
        ks.add(int(k))
    return sorted(ks)


def metric_differences(
    scores: Sequence[np.ndarray],
    y: sp.csr_matrix,
    props: np.ndarray,
    metrics: Sequence[str],
    resamples: int = 1000,
    seed: int = 0,
    on_resample: Callable[[], object] | None = None,
) -> tuple[list[dict[str, float]], PairedBootstrap]:
    """Both score matrices' metrics on all rows, and the paired bootstrap of ``B − A`` for
    each of ``metrics`` (documents resampled together for both models)."""
    ks = metric_ks(metrics)
    # Rank once: each document's share of every metric's sums, so a resample is a weighted
    # sum of those shares rather than a re-ranking of the whole score matrix.
    acc = MetricAccumulator(props, ks)
    terms = [acc.document_terms(s, y) for s in scores]
    n = y.shape[0]

    def metrics_of(t: dict[str, np.ndarray], counts: np.ndarray) -> dict[str, float]:
        return acc.result_of({k: counts @ v for k, v in t.items()}, float(counts.sum()))

    full = [metrics_of(t, np.ones(n)) for t in terms]

    def difference(rows: np.ndarray) -> np.ndarray:
        counts = np.bincount(rows, minlength=n).astype(np.float64)
        ma, mb = (metrics_of(t, counts) for t in terms)
        return np.array([mb[m] - ma[m] for m in metrics])

    return full, paired_bootstrap(difference, n, resamples, seed=seed, on_resample=on_resample)


@click.command("compare-models")
@click.argument("model_a", type=int)
@click.argument("model_b", type=int)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder holding the dataset's files (else $XMTC_DATA_DIR/NAME).",
)
@click.option(
    "--metric",
    "metrics",
    multiple=True,
    default=DEFAULT_METRICS,
    show_default=True,
    help="Metric to compare, e.g. PSP@5 (repeatable; P, nDCG, PSP, PSnDCG at k = 1..).",
)
@click.option(
    "--resamples",
    type=click.IntRange(min=10),
    default=1000,
    show_default=True,
    help="Bootstrap resamples of the test documents.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Resampling seed.")
@format_option()
@click.option("--progress/--no-progress", default=True, help="Show the progress bar.")
@pass_app
def compare_models(
    app: AppContext,
    model_a: int,
    model_b: int,
    data_dir: Path | None,
    metrics: tuple[str, ...],
    resamples: int,
    seed: int,
    fmt: str,
    progress: bool,
) -> None:
    """Compare two trained models' test metrics, with 95% paired bootstrap intervals on B − A."""
    metric_ks(metrics)  # before the slow part: loading and scoring
    a, b = _rows(app.db, (model_a, model_b))
    reg = app.registry
    opts = dict((a.config or {}).get("dataset_options") or {})
    if data_dir is not None:
        opts["data_dir"] = str(data_dir)
    corpus = reg.build("dataset", a.dataset, opts).load()
    if corpus.fingerprint() != a.dataset_fingerprint:
        raise UsageError(
            "--data-dir",
            f"the {a.dataset} found there (fingerprint {corpus.fingerprint()}) is not the one "
            f"the models were trained on ({a.dataset_fingerprint})",
        )
    docs = [d.words for d in corpus.test]
    scores = [load_trained(reg, row, corpus).predict_proba(docs) for row in (a, b)]
    props = propensities(
        corpus.label_counts, len(corpus.train), corpus.propensity_a, corpus.propensity_b
    )
    bar = tqdm(total=resamples, desc="bootstrap", unit="resample", disable=not progress)
    try:
        full, boot = metric_differences(
            scores, corpus.label_matrix("test"), props, metrics, resamples, seed, bar.update
        )
    finally:
        bar.close()
    headers = ["metric", f"A (model {a.id})", f"B (model {b.id})", "B − A", "95% CI", "B ≤ A"]
    table, records = [], []
    for i, m in enumerate(metrics):
        table.append(
            [
                m,
                f"{full[0][m]:.4f}",
                f"{full[1][m]:.4f}",
                f"{boot.estimate[i]:+.4f}",
                f"[{boot.low[i]:+.4f}, {boot.high[i]:+.4f}]",
                f"{boot.share_not_positive[i]:.1%}",
            ]
        )
        records.append(
            {
                "metric": m,
                "a": full[0][m],
                "b": full[1][m],
                "difference": float(boot.estimate[i]),
                "low": float(boot.low[i]),
                "high": float(boot.high[i]),
                "share_b_not_above_a": float(boot.share_not_positive[i]),
            }
        )
    n = len(docs)
    note = (
        f"{n} test documents of {a.dataset}, resampled {resamples} times (seed {seed}); "
        f"'B ≤ A': share of resamples where model {b.id} did not beat model {a.id}."
    )
    meta = {"model_a": a.id, "model_b": b.id, "n_documents": n, "resamples": resamples}
    meta["seed"] = seed
    click.echo(render_table(headers, table, fmt, footnotes=[note], records=records, meta=meta))
