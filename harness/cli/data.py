"""``xmtc-harness data stats``: a dataset's statistics, through the registry (so third-party
readers get the same report)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from harness.cli.context import AppContext, pass_app
from harness.cli.options import parse_kv, progress_option
from harness.report.datastats import plot_histogram, render_corpus_stats


@click.group("data")
def data() -> None:
    """Inspect datasets."""


@data.command("stats")
@click.argument("dataset")
@click.option("--data-dir", type=click.Path(file_okay=False), help="Folder with the files.")
@click.option("--opt", "opts", multiple=True, metavar="KEY=VALUE", help="Dataset option.")
@click.option("--skip-bad-lines", is_flag=True, help="Skip and count malformed records.")
@click.option("--plot", type=click.Path(dir_okay=False), help="Write a log-log PNG histogram.")
@progress_option
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
    options: dict[str, Any] = parse_kv(opts, "--opt")
    if data_dir is not None:
        options["data_dir"] = data_dir
    if skip_bad_lines:
        options["skip_bad_lines"] = True
    corpus = app.registry.build("dataset", dataset, options).load(progress=progress)
    click.echo(render_corpus_stats(corpus))
    if plot:
        plot_histogram(corpus, Path(plot))
        click.echo(f"\nwrote {plot}")
