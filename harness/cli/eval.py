"""``xmtc-harness eval``: run (or resume) an attack campaign and print its per-bin summary."""

from __future__ import annotations

import os
from pathlib import Path

import click

from harness.attack.build import AttackSpec
from harness.campaign.config import CampaignConfig, ModelConfig, RuntimeConfig, SamplingConfig
from harness.campaign.executors import EXECUTORS
from harness.campaign.runner import run_campaign
from harness.cli.context import AppContext, pass_app
from harness.cli.options import (
    ENV_CACHE,
    INT64,
    adversarial_options,
    choice,
    dataset_options,
    loss_options,
    model_options,
    model_selection_options,
    parse_kv,
    progress_option,
)
from harness.components import PluginChoice
from harness.report.leaderboard import render_run_summary
from harness.vocab import AttackKind, CheckpointVia, SimilarityScale


@click.command("eval")
@model_selection_options
@click.option(
    "--attack",
    type=choice(AttackKind),
    default=AttackKind.POSITIVE.value,
    show_default=True,
    help="Attack goal (docs/method.md, 'Goals').",
)
@click.option(
    "--cluster/--no-cluster",
    default=False,
    show_default=True,
    help="Negative attacks: only documents with a true label in the target's cluster.",
)
@click.option(
    "--max-leaf",
    type=INT64,
    default=8,
    show_default=True,
    help="Largest label cluster (balanced 2-means leaves).",
)
@click.option("--k", "k", type=INT64, default=5, show_default=True, help="Top-k of the goal.")
@click.option(
    "--targets",
    "n_targets",
    type=INT64,
    default=1,
    show_default=True,
    help="Labels per target set.",
)
@click.option(
    "--labels-per-bin",
    type=INT64,
    default=20,
    show_default=True,
    help="Labels with a correctly predicted pair per frequency bin.",
)
@click.option(
    "--samples-per-bin",
    type=INT64,
    default=50,
    show_default=True,
    help="Pairs drawn per frequency bin.",
)
@click.option(
    "--max-change",
    type=float,
    default=0.10,
    show_default=True,
    help="θ: largest share of words changed (budget floor(θ·n)).",
)
@click.option(
    "--min-sim",
    type=float,
    default=0.8,
    show_default=True,
    help="ε: smallest similarity to the original.",
)
@click.option(
    "--sim-scale",
    type=choice(SimilarityScale),
    default=SimilarityScale.COSINE.value,
    show_default=True,
    help="Scale --min-sim is read on.",
)
@click.option("--importance", default="mask", show_default=True, help="Importance scorer plugin.")
@click.option("--importance-opt", multiple=True, metavar="KEY=VALUE")
@click.option("--substituter", default="glove", show_default=True, help="Substituter plugin.")
@click.option("--substituter-opt", multiple=True, metavar="KEY=VALUE")
@click.option(
    "--similarity", default="use", show_default=True, help="Similarity constraint plugin."
)
@click.option("--similarity-opt", multiple=True, metavar="KEY=VALUE")
@click.option("--max-queries", type=INT64, default=None, help="Logical-query budget per trial.")
@click.option(
    "--max-batch",
    type=INT64,
    default=64,
    show_default=True,
    help="Largest model batch (memory cap).",
)
@click.option(
    "--paired-with",
    multiple=True,
    metavar="RUN|model:ID",
    help="Attack only pairs this run's / trained model's predictions also get right.",
)
@click.option("--fresh", is_flag=True, help="Start over instead of resuming the same config.")
@click.option("--fail-fast", is_flag=True, help="Stop at the first trial that raises.")
@click.option("--no-train", is_flag=True, help="Fail instead of training a missing model.")
@click.option("--limit", type=INT64, default=None, help="Run at most this many trials now.")
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=lambda: os.environ.get(ENV_CACHE, "cache"),
    show_default="./cache",
    help="Cached label clusters and test predictions.",
)
@click.option(
    "--executor",
    type=click.Choice(sorted(EXECUTORS)),
    default="local",
    show_default=True,
    help="How the trials run (not part of the configuration hash).",
)
@click.option(
    "--threads",
    type=INT64,
    default=None,
    help="Torch/BLAS threads per worker (default: unchanged locally, a Ray worker's CPUs; "
    "not part of the hash).",
)
@click.option(
    "--workers",
    type=int,
    default=None,
    help="Ray workers (default: as many as the CPUs, or GPUs, allow).",
)
@click.option(
    "--ray-address",
    default=None,
    metavar="ADDRESS",
    help="Join this Ray cluster (auto, HOST:PORT, ray://HOST:PORT); default: start Ray here.",
)
@click.option(
    "--cpus-per-worker",
    type=float,
    default=None,
    help="CPUs each Ray worker reserves and uses as threads [default: 1].",
)
@click.option(
    "--gpus-per-worker",
    type=float,
    default=None,
    help="GPUs each Ray worker reserves (fractions share one) [default: 0].",
)
@click.option(
    "--trial-retries",
    type=int,
    default=2,
    show_default=True,
    help="Runs again of a trial whose Ray worker died, before it is stored as an error.",
)
@click.option(
    "--checkpoint-via",
    type=choice(CheckpointVia),
    default=CheckpointVia.AUTO.value,
    show_default=True,
    help="How Ray workers get the model: auto (the model folder if they can read it, else "
    "a copy through Ray's object store), shared-folder, object-store.",
)
@progress_option
@pass_app
def eval_(app: AppContext, **o: object) -> None:
    """Attack a trained model over label-frequency bins; every trial goes to the database."""
    cfg = CampaignConfig(
        data=PluginChoice(str(o["dataset"]), dataset_options(o["data_dir"], o["dataset_opt"])),  # type: ignore[arg-type]
        model=ModelConfig(
            name=str(o["model"]),
            options=model_options(o["model_opt"], o["epochs"]),  # type: ignore[arg-type]
            loss=PluginChoice(str(o["loss"]), loss_options(str(o["weighting"]), o["loss_opt"])),  # type: ignore[arg-type]
            training=PluginChoice(str(o["adversarial"]), adversarial_options(o["adversarial_opt"])),  # type: ignore[arg-type]
        ),
        attack=AttackSpec(
            kind=str(o["attack"]),
            k=int(o["k"]),  # type: ignore[call-overload]
            max_change=float(o["max_change"]),  # type: ignore[arg-type]
            min_sim=float(o["min_sim"]),  # type: ignore[arg-type]
            sim_scale=str(o["sim_scale"]),
            importance=PluginChoice(
                str(o["importance"]),
                parse_kv(o["importance_opt"], "--importance-opt"),  # type: ignore[arg-type]
            ),
            substituter=PluginChoice(
                str(o["substituter"]),
                parse_kv(o["substituter_opt"], "--substituter-opt"),  # type: ignore[arg-type]
            ),
            similarity=PluginChoice(
                str(o["similarity"]),
                parse_kv(o["similarity_opt"], "--similarity-opt"),  # type: ignore[arg-type]
            ),
            max_queries=o["max_queries"],  # type: ignore[arg-type]
            max_batch=int(o["max_batch"]),  # type: ignore[call-overload]
        ),
        sampling=SamplingConfig(
            labels_per_bin=int(o["labels_per_bin"]),  # type: ignore[call-overload]
            samples_per_bin=int(o["samples_per_bin"]),  # type: ignore[call-overload]
            n_targets=int(o["n_targets"]),  # type: ignore[call-overload]
            cluster=bool(o["cluster"]),
            max_leaf=int(o["max_leaf"]),  # type: ignore[call-overload]
            paired_with=tuple(o["paired_with"]),  # type: ignore[arg-type]
        ),
        seed=int(o["seed"]),  # type: ignore[call-overload]
        runtime=RuntimeConfig(
            model_dir=str(o["model_dir"]),
            cache_dir=str(o["cache_dir"]),
            fresh=bool(o["fresh"]),
            fail_fast=bool(o["fail_fast"]),
            train_if_missing=not o["no_train"],
            limit=o["limit"],  # type: ignore[arg-type]
            progress=bool(o["progress"]),
            executor=str(o["executor"]),
            threads=o["threads"],  # type: ignore[arg-type]
            workers=o["workers"],  # type: ignore[arg-type]
            ray_address=o["ray_address"],  # type: ignore[arg-type]
            cpus_per_worker=o["cpus_per_worker"],  # type: ignore[arg-type]
            gpus_per_worker=o["gpus_per_worker"],  # type: ignore[arg-type]
            trial_retries=int(o["trial_retries"]),  # type: ignore[call-overload]
            checkpoint_via=str(o["checkpoint_via"]),
        ),
    )
    store = app.open_store()
    run_id = run_campaign(app.registry, store, cfg, echo=lambda m: click.echo(m, err=True))
    click.echo(render_run_summary(store, run_id))
