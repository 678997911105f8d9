"""Click options shared by the commands that build a dataset, a model and a loss.

``train`` and ``eval`` take the same selection options, so a model trained by one is found
by the other from the same words on the command line.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import click

from harness.errors import UsageError

DEFAULT_DATASET = "reuters21578"
DEFAULT_MODEL = "attentionxml"
DEFAULT_LOSS = "bce"
ENV_MODEL_DIR = "XMTC_HARNESS_MODELS"


def parse_kv(pairs: Iterable[str], option: str) -> dict[str, str]:
    """``key=value`` strings from a repeatable option into a dict; names the option on error."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(option, f"expected key=value, got {pair!r}")
        out[key.strip()] = value.strip()
    return out


def model_selection_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """--dataset/--data-dir/--dataset-opt, --model/--model-opt, --loss/--weighting/--loss-opt,
    --seed, --model-dir."""
    decorators = [
        click.option(
            "--dataset", default=DEFAULT_DATASET, show_default=True, help="Dataset plugin name."
        ),
        click.option(
            "--data-dir",
            type=click.Path(file_okay=False, path_type=Path),
            help="Folder holding the dataset's files (else $XMTC_DATA_DIR/NAME).",
        ),
        click.option(
            "--dataset-opt",
            multiple=True,
            metavar="KEY=VALUE",
            help="Extra dataset option (repeatable).",
        ),
        click.option(
            "--model", default=DEFAULT_MODEL, show_default=True, help="Model plugin name."
        ),
        click.option(
            "--model-opt",
            multiple=True,
            metavar="KEY=VALUE",
            help="Model option, e.g. hidden=128 (repeatable; see `plugins --options`).",
        ),
        click.option("--loss", default=DEFAULT_LOSS, show_default=True, help="Loss plugin name."),
        click.option(
            "--weighting",
            type=click.Choice(["none", "pw", "pw-cb"]),
            default="none",
            show_default=True,
            help="Label weighting of the loss (METHOD.md §7).",
        ),
        click.option(
            "--loss-opt",
            multiple=True,
            metavar="KEY=VALUE",
            help="Extra loss option, e.g. beta=0.9 (repeatable).",
        ),
        click.option(
            "--epochs",
            type=click.IntRange(min=1),
            default=None,
            help="Training epochs (overrides the model's default).",
        ),
        click.option("--seed", type=int, default=0, show_default=True, help="Random seed."),
        click.option(
            "--model-dir",
            type=click.Path(file_okay=False, path_type=Path),
            default=lambda: os.environ.get(ENV_MODEL_DIR, "models"),
            show_default=f"${ENV_MODEL_DIR} or ./models",
            help="Where checkpoints are stored.",
        ),
    ]
    for deco in reversed(decorators):
        fn = deco(fn)
    return fn


def dataset_options(data_dir: Path | None, dataset_opt: Iterable[str]) -> dict[str, str]:
    opts = parse_kv(dataset_opt, "--dataset-opt")
    if data_dir is not None:
        opts["data_dir"] = str(data_dir)
    return opts


def model_options(model_opt: Iterable[str], epochs: int | None) -> dict[str, str]:
    opts = parse_kv(model_opt, "--model-opt")
    if epochs is not None:
        opts["epochs"] = str(epochs)
    return opts


def loss_options(weighting: str, loss_opt: Iterable[str]) -> dict[str, str]:
    opts = parse_kv(loss_opt, "--loss-opt")
    opts["weighting"] = weighting
    return opts
