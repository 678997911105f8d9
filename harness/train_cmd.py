"""``xmtc-harness train`` (train, evaluate, save and record a model) and ``xmtc-harness models``
(list the recorded models with their test metrics)."""

from __future__ import annotations

from pathlib import Path

import click
from sqlalchemy import select
from tabulate import tabulate

from harness.cli import AppContext, pass_app
from harness.cli_options import (
    dataset_options,
    loss_options,
    model_options,
    model_selection_options,
)
from harness.errors import HarnessError
from harness.report.commands import format_option
from harness.report.leaderboard import render_table
from harness.store.schema import TrainedModel
from harness.store.session import open_store
from harness.training import ModelSpec, find_trained, train_and_record

METRIC_COLUMNS = ("P@1", "P@3", "P@5", "nDCG@3", "nDCG@5", "PSP@1", "PSP@3", "PSP@5")


def metrics_table(metrics: dict[str, float]) -> str:
    """One metric per row, in a stable order (P, nDCG, PSP, PSnDCG; k ascending)."""
    order = {"P": 0, "nDCG": 1, "PSP": 2, "PSnDCG": 3}

    def key(name: str) -> tuple[int, int]:
        fam, _, k = name.partition("@")
        return order.get(fam, 9), int(k) if k.isdigit() else 0

    rows = [[k, f"{metrics[k]:.4f}"] for k in sorted(metrics, key=key)]
    return tabulate(rows, headers=["metric", "test"], tablefmt="simple")


@click.command("train")
@model_selection_options
@click.option("--force", is_flag=True, help="Train again even if this spec is recorded.")
@click.option("--progress/--no-progress", default=True, help="Show the progress bar.")
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
    model_dir: Path,
    force: bool,
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
    )
    store = open_store(app.db)
    try:
        existing = find_trained(store, spec, reg)
        if existing is not None and not force:
            click.echo(
                f"already trained: model id {existing.id} (spec {spec.hash()}), checkpoint "
                f"{existing.checkpoint_path}; use --force to train again"
            )
            click.echo(metrics_table(existing.metrics))
            return
        corpus = reg.build("dataset", dataset, spec.dataset_options).load()
        click.echo(
            f"training {model} on {corpus.name}: {len(corpus.train)} train / "
            f"{len(corpus.test)} test documents, {corpus.n_labels} labels; loss {loss} "
            f"({spec.weighting}), seed {seed}, spec {spec.hash()}"
        )
        _, row = train_and_record(reg, store, spec, corpus, model_dir, progress=progress)
    finally:
        store.dispose()
    click.echo(
        f"model id {row.id}: trained in {row.train_seconds:.1f}s, checkpoint "
        f"{row.checkpoint_path} (sha256 {row.checkpoint_hash[:16]})"
    )
    click.echo(metrics_table(row.metrics))


def _weighting(app: AppContext, row: TrainedModel, defaults: dict[str, dict]) -> str:
    """The weighting plus any loss option not at its default (``pw-cb defer=0.66``), so two
    rows trained with one weighting but different loss options can be told apart."""
    if row.loss not in defaults:
        try:
            defaults[row.loss] = app.registry.get("loss", row.loss).resolve_options({})
        except HarnessError:  # a loss plugin no longer installed: show what was recorded
            defaults[row.loss] = {}
    base = defaults[row.loss]
    extra = [
        f"{k}={v}"
        for k, v in sorted((row.loss_options or {}).items())
        if k != "weighting" and k in base and v != base[k]
    ]
    return " ".join([row.weighting, *extra])


@click.command("models")
@click.option("--dataset", help="Only models trained on this dataset.")
@click.option("--model", help="Only this model plugin.")
@format_option()
@pass_app
def models(app: AppContext, dataset: str | None, model: str | None, fmt: str) -> None:
    """List the trained models recorded in the results database, with their test metrics."""
    store = open_store(app.db, create=False)
    try:
        with store.read() as s:
            q = select(TrainedModel).order_by(TrainedModel.id)
            if dataset:
                q = q.where(TrainedModel.dataset == dataset)
            if model:
                q = q.where(TrainedModel.model == model)
            rows = list(s.scalars(q))
    finally:
        store.dispose()
    if not rows:
        click.echo(
            "no trained models recorded" + (" for that selection" if dataset or model else "")
        )
        return
    table, records = [], []
    headers = ["id", "dataset", "model", "loss", "weighting", "seed", *METRIC_COLUMNS]
    defaults: dict[str, dict] = {}
    headers += ["train s", "spec"]
    for r in rows:
        m = r.metrics or {}
        table.append(
            [r.id, r.dataset, r.model, r.loss, _weighting(app, r, defaults), r.seed]
            + [f"{m[c]:.4f}" if c in m else "" for c in METRIC_COLUMNS]
            + [f"{r.train_seconds:.0f}" if r.train_seconds is not None else "", r.spec_hash]
        )
        records.append(
            dict(zip(headers[:6], table[-1][:6], strict=True))
            | {c: m.get(c) for c in METRIC_COLUMNS}
            | {"train s": r.train_seconds, "spec": r.spec_hash, "options": r.model_options}
        )
    click.echo(render_table(headers, table, fmt, records=records))
