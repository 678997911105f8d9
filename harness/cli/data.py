"""``xmtc-harness data stats``: a dataset's statistics, through the registry (so third-party
readers get the same report); ``data fetch``: download a public dataset (a thin wrapper over
:mod:`harness.fetch`, which does the work and owns the failure rules)."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import click
from tqdm import tqdm

from harness.cli.context import AppContext, pass_app
from harness.cli.options import parse_kv, progress_option
from harness.errors import UsageError
from harness.fetch import fetch as fetch_dataset
from harness.fetch import load_sources
from harness.plugin_calls import load_corpus
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
    corpus = load_corpus(app.registry, dataset, options, progress, for_training=False)
    click.echo(render_corpus_stats(corpus))
    if plot:
        plot_histogram(corpus, Path(plot))
        click.echo(f"\nwrote {plot}")


@data.command("fetch")
@click.argument("name")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False),
    default=lambda: os.environ.get("XMTC_DATA_DIR", "data"),
    show_default="$XMTC_DATA_DIR or ./data",
    help="Folder the dataset folder NAME is created in.",
)
@click.option(
    "--sources",
    type=click.Path(dir_okay=False),
    help="YAML file of downloadable datasets (default: the harness's downloads.yaml).",
)
@click.option("--force", is_flag=True, help="Fetch again even if the folder exists.")
@click.option(
    "--require-checksum", is_flag=True, help="Refuse a source that has no recorded sha256."
)
@click.option("--keep-archive", is_flag=True, help="Keep the downloaded archive in .fetch/.")
@click.option("--timeout", type=float, default=60.0, show_default=True, help="Network timeout (s).")
@progress_option
def fetch(
    name: str,
    data_dir: str,
    sources: str | None,
    force: bool,
    require_checksum: bool,
    keep_archive: bool,
    timeout: float,
    progress: bool,
) -> None:
    """Download dataset NAME (eurlex-4k, wiki10-31k, amazoncat-13k), check it and unpack it
    into DATA_DIR/NAME; a second run resumes an interrupted download."""
    if not (math.isfinite(timeout) and timeout > 0):
        raise UsageError("--timeout", f"must be a positive number of seconds, got {timeout}")
    known = load_sources(sources)
    if name not in known:
        raise UsageError("NAME", f"unknown dataset {name!r}; known: {', '.join(sorted(known))}")
    source = known[name]
    bar = tqdm(desc=name, unit="B", unit_scale=True, disable=not progress, leave=False)

    def report(done: int, total: int | None) -> None:
        if total is not None and bar.total != total:
            bar.total = total
        bar.update(done - bar.n)

    try:
        result = fetch_dataset(
            source,
            data_dir,
            force=force,
            require_checksum=require_checksum,
            keep_archive=keep_archive,
            timeout=timeout,
            progress=report,
        )
    finally:
        bar.close()
    if result.already_there:
        click.echo(f"{name}: already in {result.path} (--force fetches it again)")
        return
    resumed = f", resumed at {result.resumed_from:,} bytes" if result.resumed_from else ""
    click.echo(f"{name}: unpacked into {result.path} (sha256 {result.sha256}{resumed})")
    if result.warning:
        click.echo(f"warning: {result.warning}", err=True)
    click.echo(f"read it with: --dataset {source.layout} --data-dir {result.path}")
