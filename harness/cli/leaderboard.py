"""``xmtc-harness leaderboard``: success per label-frequency bin, by group of runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from harness.cli.context import AppContext, emit, pass_app
from harness.cli.options import (
    choice,
    format_option,
    make_filter,
    out_option,
    plot_option,
    selection_options,
)
from harness.report.leaderboard import METRICS, build_leaderboard, render_leaderboard
from harness.vocab import SimilarityScale


@click.command("leaderboard")
@selection_options
@click.option(
    "--metric",
    type=click.Choice(METRICS),
    default="success",
    show_default=True,
    help="What the per-bin cells show (the overall columns always show every metric).",
)
@click.option(
    "--scale",
    type=choice(SimilarityScale),
    default="cosine",
    show_default=True,
    help="Similarity scale: raw cosine, or angular 1 − arccos(cos)/π.",
)
@click.option("--summary", is_flag=True, help="One row per group (the paper's Table 3/5 shape).")
@format_option()
@out_option
@plot_option
@pass_app
def leaderboard(
    app: AppContext,
    metric: str,
    scale: str,
    summary: bool,
    fmt: str,
    out: Path | None,
    plot: Path | None,
    **selection: Any,
) -> None:
    """Success rate per label-frequency bin, with 95% Wilson intervals, by run group.

    Rows group runs by trained model, loss and weighting (and dataset, attack, clustering, k
    and frequency bins where the selection mixes them): runs of one trained model pool, models
    trained with different options do not, nor do runs binned differently (their bin i holds
    other labels). 'skipped-not-attackable' trials are left out of all rates;
    'error' trials are counted in their own column and left out of the denominator.
    """
    flt = make_filter(**selection)
    with app.reading() as store:
        lb = build_leaderboard(store, flt)
    emit(render_leaderboard(lb, fmt, metric, scale, summary), out)
    if plot is not None:
        from harness.report.plots import leaderboard_series, save_figure, success_figure

        title = f"Attack success rate by label frequency ({lb.selection})"
        save_figure(success_figure(leaderboard_series(lb), title), plot)
        click.echo(f"wrote {plot}", err=True)
