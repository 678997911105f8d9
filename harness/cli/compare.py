"""``xmtc-harness compare A B``: two runs paired on the (sample, target) pairs both attacked."""

from __future__ import annotations

from pathlib import Path

import click

from harness.cli.context import AppContext, emit, pass_app
from harness.cli.options import ID, format_option, out_option, plot_option
from harness.report.compare_runs import compare_runs, render_comparison


@click.command("compare")
@click.argument("run_a", type=ID)
@click.argument("run_b", type=ID)
@format_option()
@out_option
@plot_option
@pass_app
def compare(
    app: AppContext, run_a: int, run_b: int, fmt: str, out: Path | None, plot: Path | None
) -> None:
    """Paired comparison of two runs on the (sample, target) pairs both attacked.

    Per bin and overall: both success rates, their difference (B − A) and McNemar's exact
    p-value on the pairs where only one run succeeded.
    """
    with app.reading() as store:
        cmp = compare_runs(store, run_a, run_b)
    emit(render_comparison(cmp, fmt), out)
    if plot is not None:
        from harness.report.plots import comparison_series, save_figure, success_figure

        title = f"Run {run_a} vs run {run_b} on shared pairs"
        save_figure(success_figure(comparison_series(cmp), title), plot)
        click.echo(f"wrote {plot}", err=True)
