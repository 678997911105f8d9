"""Every option more than one command takes, ``KEY=VALUE`` parsing, and the map from
configuration fields to flags: the one place the command line's words are defined.

``train`` and ``eval`` take the same model-selection options, so a model trained by one is
found by the other from the same words. The core names configuration fields in its errors
(``attack.max_change``); :func:`flag_for` turns them into the flag a user typed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any

import click

from harness.cli.context import AppContext, default_db
from harness.errors import UsageError
from harness.limits import INT64_MAX, INT64_MIN
from harness.regimes.spec import NONE, REGIMES
from harness.report.tables import FORMATS
from harness.store.queries import RunFilter
from harness.vocab import AttackKind, Outcome, RunStatus, Weighting, values

DEFAULT_DATASET = "reuters21578"
DEFAULT_MODEL = "attentionxml"
DEFAULT_LOSS = "bce"
ENV_MODEL_DIR = "XMTC_HARNESS_MODELS"
ENV_CACHE = "XMTC_HARNESS_CACHE"
ENV_PLUGINS_HELP = "$XMTC_HARNESS_PLUGINS"

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]

INT64 = click.IntRange(INT64_MIN, INT64_MAX)
"""An integer flag's type: what the database and numpy can hold (the command's own checks
then say what range makes sense)."""
ID = click.IntRange(0, INT64_MAX)
"""A run, model or bin id."""

FLAGS: dict[str, str] = {
    "data.name": "--dataset",
    "data.options": "--dataset-opt",
    "model.name": "--model",
    "model.options": "--model-opt",
    "model.loss.name": "--loss",
    "model.loss.options": "--loss-opt",
    "seed": "--seed",
    "training.adversarial": "--adversarial",
    "training.options": "--adversarial-opt",
    "attack.kind": "--attack",
    "attack.k": "--k",
    "attack.max_change": "--max-change",
    "attack.min_sim": "--min-sim",
    "attack.sim_scale": "--sim-scale",
    "attack.importance.name": "--importance",
    "attack.importance.options": "--importance-opt",
    "attack.substituter.name": "--substituter",
    "attack.substituter.options": "--substituter-opt",
    "attack.similarity.name": "--similarity",
    "attack.similarity.options": "--similarity-opt",
    "attack.max_queries": "--max-queries",
    "attack.max_batch": "--max-batch",
    "sampling.labels_per_bin": "--labels-per-bin",
    "sampling.samples_per_bin": "--samples-per-bin",
    "sampling.n_targets": "--targets",
    "sampling.cluster": "--cluster",
    "sampling.max_leaf": "--max-leaf",
    "sampling.paired_with": "--paired-with",
    "runtime.model_dir": "--model-dir",
    "runtime.cache_dir": "--cache-dir",
    "runtime.limit": "--limit",
    "runtime.fresh": "--fresh",
    "runtime.fail_fast": "--fail-fast",
    "runtime.executor": "--executor",
    "runtime.threads": "--threads",
    "runtime.workers": "--workers",
    "runtime.ray_address": "--ray-address",
    "runtime.cpus_per_worker": "--cpus-per-worker",
    "runtime.gpus_per_worker": "--gpus-per-worker",
    "runtime.trial_retries": "--trial-retries",
    "runtime.checkpoint_via": "--checkpoint-via",
    "report.metric": "--metric",
    "report.scale": "--scale",
    "report.format": "--format",
    "report.plot": "--plot",
    "report.out": "--out",
    "report.run_b": "RUN_B",
    "compare.metric": "--metric",
    "fetch.require_checksum": "--require-checksum",
}
"""Configuration field (campaign, report) -> the flag or argument that sets it."""


def flag_for(field: str) -> str:
    """The flag(s) of a configuration field (``a/b`` names two); a training regime's option
    (``training:embedding.radius``) as ``--adversarial-opt radius``; other names unchanged."""

    def flag(part: str) -> str:
        if part.startswith("training:") and "." in part:
            return f"{FLAGS['training.options']} {part.split('.', 1)[1]}"
        return FLAGS.get(part, part)

    return "/".join(flag(part) for part in field.split("/"))


def choice(enum: type[StrEnum]) -> click.Choice:
    """A click choice over an enum of :mod:`harness.vocab`."""
    return click.Choice(values(enum))


def stack(*decorators: Decorator) -> Decorator:
    """Apply ``decorators`` as if written one above the other, first on top."""

    def apply(fn: Callable[..., Any]) -> Callable[..., Any]:
        for deco in reversed(decorators):
            fn = deco(fn)
        return fn

    return apply


# -- options accepted before or after the subcommand ------------------------------------------


def _set_db(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is not None:
        ctx.ensure_object(AppContext).db = value


def _add_plugins(ctx: click.Context, _param: click.Parameter, value: tuple[str, ...]) -> None:
    if value:
        app = ctx.ensure_object(AppContext)
        app.plugins = (*app.plugins, *value)


def db_option(after_subcommand: bool) -> click.Option:
    """``--db``: on the group with its default, on each command as an override."""
    return click.Option(
        ["--db"],
        default=default_db if not after_subcommand else None,
        show_default="$XMTC_HARNESS_DB or results.db" if not after_subcommand else False,
        expose_value=not after_subcommand,
        callback=_set_db if after_subcommand else None,
        help="Results database: a SQLite path or a postgresql:// URL.",
    )


def plugin_option(after_subcommand: bool) -> click.Option:
    """``--plugin MODULE`` (repeatable), before or after the subcommand."""
    return click.Option(
        ["--plugin", "plugins"],
        multiple=True,
        metavar="MODULE",
        expose_value=not after_subcommand,
        callback=_add_plugins if after_subcommand else None,
        help=f"Extra plugin module to load (repeatable; also {ENV_PLUGINS_HELP}).",
    )


def add_global_options(command: click.Command) -> None:
    """Let ``command`` (and the commands of a group) take ``--db``/``--plugin`` after its
    name, as users type them: ``xmtc-harness eval --db x.db ...``."""
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            add_global_options(sub)
        return
    command.params.extend([db_option(True), plugin_option(True)])


# -- KEY=VALUE ----------------------------------------------------------------------------------


def parse_kv(pairs: Iterable[str], option: str) -> dict[str, str]:
    """``key=value`` strings from a repeatable option into a dict; names the option on error."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(option, f"expected key=value, got {pair!r}")
        out[key.strip()] = value.strip()
    return out


# -- choosing a dataset, a model and a loss (train, eval) ---------------------------------------

data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder holding the dataset's files (else $XMTC_DATA_DIR/NAME).",
)


def weighting_option(multiple: bool = False) -> Decorator:
    if multiple:
        return click.option(
            "--weighting",
            "weightings",
            type=choice(Weighting),
            multiple=True,
            help="Loss weighting (repeatable).",
        )
    return click.option(
        "--weighting",
        type=choice(Weighting),
        default=Weighting.NONE.value,
        show_default=True,
        help="Label weighting of the loss (docs/method.md, 'Rebalanced losses').",
    )


model_selection_options = stack(
    click.option(
        "--dataset", default=DEFAULT_DATASET, show_default=True, help="Dataset plugin name."
    ),
    data_dir_option,
    click.option(
        "--dataset-opt",
        multiple=True,
        metavar="KEY=VALUE",
        help="Extra dataset option (repeatable).",
    ),
    click.option("--model", default=DEFAULT_MODEL, show_default=True, help="Model plugin name."),
    click.option(
        "--model-opt",
        multiple=True,
        metavar="KEY=VALUE",
        help="Model option, e.g. hidden=128 (repeatable; see `plugins --options`).",
    ),
    click.option("--loss", default=DEFAULT_LOSS, show_default=True, help="Loss plugin name."),
    weighting_option(),
    click.option(
        "--loss-opt",
        multiple=True,
        metavar="KEY=VALUE",
        help="Extra loss option, e.g. beta=0.9 (repeatable).",
    ),
    click.option(
        "--epochs",
        type=click.IntRange(1, INT64_MAX),
        default=None,
        help="Training epochs (overrides the model's default).",
    ),
    click.option("--seed", type=INT64, default=0, show_default=True, help="Random seed."),
    click.option(
        "--adversarial",
        type=click.Choice(REGIMES),
        default=NONE,
        show_default=True,
        help="Training regime: none (plain), embedding (perturbed word vectors) or "
        "substitution (the harness's attack on training documents); docs/method.md, "
        "'Adversarial training'.",
    ),
    click.option(
        "--adversarial-opt",
        multiple=True,
        metavar="KEY=VALUE",
        help="Option of the training regime, e.g. radius=2 or trials=512 (repeatable).",
    ),
    click.option(
        "--model-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=lambda: os.environ.get(ENV_MODEL_DIR, "models"),
        show_default=f"${ENV_MODEL_DIR} or ./models",
        help="Where checkpoints are stored.",
    ),
)
"""--dataset/--data-dir/--dataset-opt, --model/--model-opt, --loss/--weighting/--loss-opt,
--epochs, --seed, --adversarial/--adversarial-opt, --model-dir."""


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


def adversarial_options(adversarial_opt: Iterable[str]) -> dict[str, str]:
    return parse_kv(adversarial_opt, "--adversarial-opt")


def loss_options(weighting: str, loss_opt: Iterable[str]) -> dict[str, str]:
    opts = parse_kv(loss_opt, "--loss-opt")
    opts["weighting"] = weighting
    return opts


progress_option = click.option(
    "--progress/--no-progress", default=True, help="Progress bars on stderr."
)

# -- selecting runs (query, leaderboard, report) ------------------------------------------------

selection_options = stack(
    click.option("--run", "run_ids", type=ID, multiple=True, help="Run id (repeatable)."),
    click.option(
        "--dataset",
        "datasets",
        multiple=True,
        help="Dataset: corpus name or plugin name (repeatable).",
    ),
    click.option("--model", "models", multiple=True, help="Model name (repeatable)."),
    click.option("--loss", "losses", multiple=True, help="Loss name (repeatable)."),
    weighting_option(multiple=True),
    click.option(
        "--attack",
        "attacks",
        type=choice(AttackKind),
        multiple=True,
        help="Attack goal (repeatable).",
    ),
    click.option(
        "--status",
        "statuses",
        type=choice(RunStatus),
        multiple=True,
        help="Run status (repeatable; default any).",
    ),
    click.option(
        "--cluster/--no-cluster",
        default=None,
        help="Only runs with (or without) label clustering; default both.",
    ),
)
"""--run/--dataset/--model/--loss/--weighting/--attack/--status (each repeatable) and
--cluster/--no-cluster: the run selection every reporting command shares."""


def make_filter(
    run_ids: Sequence[int] = (),
    datasets: Sequence[str] = (),
    models: Sequence[str] = (),
    losses: Sequence[str] = (),
    weightings: Sequence[str] = (),
    attacks: Sequence[str] = (),
    statuses: Sequence[str] = (),
    cluster: bool | None = None,
) -> RunFilter:
    """The :class:`RunFilter` of :data:`selection_options`' values."""
    return RunFilter(
        run_ids=tuple(dict.fromkeys(run_ids)),
        datasets=tuple(datasets),
        models=tuple(models),
        losses=tuple(losses),
        weightings=tuple(weightings),
        attacks=tuple(attacks),
        statuses=tuple(statuses),
        cluster=cluster,
    )


def outcome_option(
    default: tuple[str, ...] = (), help: str = "Trial outcome (repeatable)."
) -> Decorator:
    return click.option(
        "--outcome",
        "outcomes",
        type=choice(Outcome),
        multiple=True,
        default=default,
        show_default=bool(default),
        help=help,
    )


def format_option(default: str = "simple") -> Decorator:
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(FORMATS),
        default=default,
        show_default=True,
        metavar="FORMAT",
        help="Any tabulate format (simple, github, grid, latex, html, ...), or markdown, csv,"
        " json.",
    )


out_option = click.option(
    "--out",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write to this file instead of standard output.",
)
plot_option = click.option(
    "--plot",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also draw success rate against label frequency to FILE.png or FILE.svg.",
)
