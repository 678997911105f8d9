"""``xmtc-harness report``: one self-contained HTML page of the selected runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from harness.cli.context import AppContext, pass_app
from harness.cli.options import choice, make_filter, selection_options
from harness.report.html import build_report
from harness.vocab import SimilarityScale


@click.command("report")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder for index.html (created if missing).",
)
@selection_options
@click.option(
    "--scale", type=choice(SimilarityScale), default=SimilarityScale.COSINE.value, show_default=True
)
@click.option(
    "--examples",
    "examples_per_run",
    type=click.IntRange(0, 10_000),
    default=3,
    show_default=True,
    help="Successful examples shown per run.",
)
@pass_app
def report(
    app: AppContext, out_dir: Path, scale: str, examples_per_run: int, **selection: Any
) -> None:
    """One self-contained HTML page (leaderboards, plots, examples; a paired comparison when
    exactly two --run are given) that opens from disk with no server."""
    flt = make_filter(**selection)
    with app.reading() as store:
        path = build_report(store, flt, out_dir, scale=scale, examples_per_run=examples_per_run)
    click.echo(str(path))
