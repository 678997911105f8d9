"""``xmtc-harness examples``: adversarial examples of a run, changes highlighted."""

from __future__ import annotations

from pathlib import Path

import click

from harness.cli.context import AppContext, emit, pass_app
from harness.cli.options import ID, out_option, outcome_option
from harness.limits import INT64_MAX
from harness.report.examples import DEFAULT_CONTEXT, load_examples, render_examples
from harness.vocab import Outcome


@click.command("examples")
@click.option("--run", "run_id", type=ID, required=True, help="Run id.")
@click.option("--bin", "bins", type=ID, multiple=True, help="Only this bin (repeatable).")
@outcome_option(default=(Outcome.SUCCESS.value,))
@click.option("--limit", type=click.IntRange(1, INT64_MAX), default=5, show_default=True)
@click.option(
    "--context",
    type=click.IntRange(0, INT64_MAX),
    default=DEFAULT_CONTEXT,
    show_default=True,
    help="Words shown either side of each change (long texts are trimmed).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["terminal", "markdown"]),
    default="terminal",
    show_default=True,
)
@out_option
@pass_app
def examples(
    app: AppContext,
    run_id: int,
    bins: tuple[int, ...],
    outcomes: tuple[str, ...],
    limit: int,
    context: int,
    fmt: str,
    out: Path | None,
) -> None:
    """Original and adversarial texts with the changed words highlighted, the target's rank
    before → after, and the top-k labels before and after."""
    with app.reading() as store:
        exs = load_examples(store, run_id, bins, outcomes, limit)
    emit(render_examples(exs, fmt, context), out)
