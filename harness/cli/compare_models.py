"""``xmtc-harness compare-models A B``: two trained models' test metrics, with paired
bootstrap intervals on each difference."""

from __future__ import annotations

from pathlib import Path

import click
from tqdm.auto import tqdm

from harness.cli.context import AppContext, pass_app
from harness.cli.options import data_dir_option, format_option, progress_option
from harness.errors import UsageError
from harness.report.compare_models import (
    DEFAULT_METRICS,
    metric_differences,
    metric_ks,
    render_model_comparison,
)
from harness.store.models import get_model
from harness.store.schema import TrainedModel
from harness.training import load_trained


def _rows(app: AppContext, ids: tuple[int, int]) -> tuple[TrainedModel, TrainedModel]:
    """Both recorded models, checked to be of one dataset."""
    with app.reading() as store:
        rows = [get_model(store, i) for i in ids]
        where = store.shown_url if "://" in app.db else app.db  # no password shown
    for arg, i, row in zip(("MODEL_A", "MODEL_B"), ids, rows, strict=True):
        if row is None:
            raise UsageError(arg, f"no trained model with id {i} in {where} (see `models`)")
    a, b = rows
    assert a is not None and b is not None
    if (a.dataset, a.dataset_fingerprint) != (b.dataset, b.dataset_fingerprint):
        raise UsageError(
            "MODEL_B",
            f"model {b.id} was trained on {b.corpus_name} ({b.dataset_fingerprint}), model "
            f"{a.id} on {a.corpus_name} ({a.dataset_fingerprint}); only models of one dataset "
            "compare",
        )
    return a, b


@click.command("compare-models")
@click.argument("model_a", type=int)
@click.argument("model_b", type=int)
@data_dir_option
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
@progress_option
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
    a, b = _rows(app, (model_a, model_b))
    reg = app.registry
    opts = dict((a.config or {}).get("dataset_options") or {})
    if data_dir is not None:
        opts["data_dir"] = str(data_dir)
    corpus = reg.build("dataset", a.dataset, opts).load()
    if corpus.fingerprint() != a.dataset_fingerprint:
        raise UsageError(
            "--data-dir",
            f"the {a.corpus_name} found there (fingerprint {corpus.fingerprint()}) is not the "
            f"one the models were trained on ({a.dataset_fingerprint})",
        )
    docs = [d.words for d in corpus.test]
    scores = [load_trained(reg, row, corpus).predict_proba(docs) for row in (a, b)]
    bar = tqdm(total=resamples, desc="bootstrap", unit="resample", disable=not progress)
    try:
        full, boot = metric_differences(
            scores,
            corpus.label_matrix("test"),
            corpus.propensities(),
            metrics,
            resamples,
            seed,
            bar.update,
        )
    finally:
        bar.close()
    click.echo(
        render_model_comparison(
            (a.id, b.id), metrics, full, boot, len(docs), a.corpus_name, resamples, seed, fmt
        )
    )
