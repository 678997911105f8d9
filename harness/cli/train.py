"""``xmtc-harness train``: train, evaluate, save and record a model."""

from __future__ import annotations

from pathlib import Path

import click

from harness.cli.context import AppContext, pass_app
from harness.cli.options import (
    adversarial_options,
    dataset_options,
    loss_options,
    model_options,
    model_selection_options,
    progress_option,
)
from harness.plugin_calls import load_corpus
from harness.regimes.spec import regime_label
from harness.report.models import cost_line, metrics_table
from harness.threads import set_compute_threads
from harness.training import ModelSpec, find_trained, train_and_record


@click.command("train")
@model_selection_options
@click.option("--force", is_flag=True, help="Train again even if this spec is recorded.")
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=None,
    help="Torch/BLAS threads (default: unchanged; not part of the spec). Give each of several "
    "trainings on one machine its share of the cores.",
)
@progress_option
@pass_app
def train(
    app: AppContext,
    dataset: str,
    data_dir: Path | None,
    dataset_opt: tuple[str, ...],
    model: str,
    model_opt: tuple[str, ...],
    loss: str,
    weighting: str,
    loss_opt: tuple[str, ...],
    epochs: int | None,
    seed: int,
    adversarial: str,
    adversarial_opt: tuple[str, ...],
    model_dir: Path,
    force: bool,
    threads: int | None,
    progress: bool,
) -> None:
    """Train a model on a dataset's training split, evaluate it on the test split, save the
    checkpoint under --model-dir and record it in the results database."""
    reg = app.registry
    spec = ModelSpec.resolve(
        reg,
        dataset=dataset,
        dataset_options=dataset_options(data_dir, dataset_opt),
        model=model,
        model_options=model_options(model_opt, epochs),
        loss=loss,
        loss_options=loss_options(weighting, loss_opt),
        seed=seed,
        adversarial=adversarial,
        adversarial_options=adversarial_options(adversarial_opt),
    )
    store = app.open_store()
    try:
        existing = find_trained(store, spec, reg)
        if existing is not None and not force:
            click.echo(
                f"already trained: model id {existing.id} (spec {spec.hash()}), checkpoint "
                f"{existing.checkpoint_path}; use --force to train again"
            )
            click.echo(metrics_table(existing.metrics))
            return
        set_compute_threads(threads)
        corpus = load_corpus(reg, dataset, spec.dataset_options, progress)
        click.echo(
            f"training {model} on {corpus.name}: {len(corpus.train)} train / "
            f"{len(corpus.test)} test documents, {corpus.n_labels} labels; loss {loss} "
            f"({spec.weighting}), seed {seed}, training {regime_label(spec.training)}, spec "
            f"{spec.hash()}"
        )
        _, row = train_and_record(reg, store, spec, corpus, model_dir, progress=progress)
    finally:
        store.dispose()
    click.echo(
        f"model id {row.id}: trained in {row.train_seconds:.1f}s, checkpoint "
        f"{row.checkpoint_path} (sha256 {row.checkpoint_hash[:16]})"
    )
    cost = (row.config or {}).get("training_cost")
    if cost:
        click.echo(cost_line(cost))
    click.echo(metrics_table(row.metrics))
