"""Reporting commands: ``query``, ``leaderboard``, ``compare``, ``examples``, ``report``.

Thin on purpose: parse the options into a :class:`RunFilter`, call the report modules, print
or write. Every command only reads the results database (opened without creating it).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from harness.attack.goals import ATTACKS
from harness.cli import AppContext, pass_app
from harness.errors import UsageError
from harness.report.examples import DEFAULT_CONTEXT, load_examples, render_examples
from harness.report.leaderboard import (
    FORMATS,
    METRICS,
    SCALES,
    build_leaderboard,
    compare_runs,
    render_comparison,
    render_leaderboard,
    render_table,
)
from harness.store.queries import (
    RUN_BRIEF_COLUMNS,
    RUN_COLUMNS,
    TRIAL_BRIEF_COLUMNS,
    TRIAL_COLUMNS,
    RunFilter,
    run_record,
    select_runs,
    select_trials,
    trial_counts,
    trial_record,
)
from harness.store.schema import OUTCOMES, RUN_STATUSES
from harness.store.session import Store, open_store

CELL_WIDTH = 60
"""Text tables cut longer cells (documents, word lists) so a row fits a terminal line;
CSV and JSON always carry the full values."""


@contextmanager
def _store(app: AppContext) -> Iterator[Store]:
    store = open_store(app.db, create=False)
    try:
        yield store
    finally:
        store.dispose()


def selection_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """--run/--dataset/--model/--loss/--weighting/--attack/--status (each repeatable) and
    --cluster/--no-cluster: the run selection every reporting command shares."""
    decorators = [
        click.option("--run", "run_ids", type=int, multiple=True, help="Run id (repeatable)."),
        click.option("--dataset", "datasets", multiple=True, help="Dataset name (repeatable)."),
        click.option("--model", "models", multiple=True, help="Model name (repeatable)."),
        click.option("--loss", "losses", multiple=True, help="Loss name (repeatable)."),
        click.option(
            "--weighting",
            "weightings",
            type=click.Choice(["none", "pw", "pw-cb"]),
            multiple=True,
            help="Loss weighting (repeatable).",
        ),
        click.option(
            "--attack",
            "attacks",
            type=click.Choice(ATTACKS),
            multiple=True,
            help="Attack goal (repeatable).",
        ),
        click.option(
            "--status",
            "statuses",
            type=click.Choice(RUN_STATUSES),
            multiple=True,
            help="Run status (repeatable; default any).",
        ),
        click.option(
            "--cluster/--no-cluster",
            default=None,
            help="Only runs with (or without) label clustering; default both.",
        ),
    ]
    for deco in reversed(decorators):
        fn = deco(fn)
    return fn


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


def format_option(default: str = "simple") -> Callable[[Callable[..., Any]], Callable[..., Any]]:
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


def _emit(text: str, out: Path | None) -> None:
    if out is None:
        click.echo(text)
        return
    if not out.parent.exists():
        raise UsageError("--out", f"{out}: folder {out.parent} does not exist")
    text = click.unstyle(text)  # colour codes belong on a terminal, not in a file
    out.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
    click.echo(f"wrote {out}", err=True)


# -- query ----------------------------------------------------------------------------------


def _cell(value: Any) -> Any:
    if isinstance(value, list | dict):
        value = json.dumps(value, ensure_ascii=False)
    if isinstance(value, str) and len(value) > CELL_WIDTH:
        value = value[: CELL_WIDTH - 1] + "…"
    return value


def _columns(spec: str | None, allowed: Sequence[str], default: Sequence[str]) -> list[str]:
    if not spec:
        return list(default)
    cols = [c.strip() for c in spec.split(",") if c.strip()]
    unknown = [c for c in cols if c not in allowed]
    if unknown:
        raise UsageError("--columns", f"unknown {', '.join(unknown)}; have {', '.join(allowed)}")
    return cols


def render_records(records: list[dict[str, Any]], columns: Sequence[str], fmt: str) -> str:
    """Rows of ``query`` in the chosen format; CSV cells holding lists are JSON text."""
    recs = [{c: r[c] for c in columns} for r in records]
    if fmt == "csv":
        recs = [
            {c: json.dumps(v) if isinstance(v, list | dict) else v for c, v in r.items()}
            for r in recs
        ]
    rows = [[_cell(r[c]) for c in columns] for r in recs]
    return render_table(columns, rows, fmt, records=recs)


@click.command("query")
@click.argument("table", type=click.Choice(["runs", "trials"]), default="runs", required=False)
@selection_options
@click.option(
    "--outcome",
    "outcomes",
    type=click.Choice(OUTCOMES),
    multiple=True,
    help="Trial outcome (repeatable; `query trials` only).",
)
@click.option(
    "--bin", "bins", type=int, multiple=True, help="Bin index (repeatable; `query trials` only)."
)
@click.option("--limit", type=click.IntRange(min=1), help="At most this many rows.")
@click.option(
    "--columns",
    help="Comma-separated columns. Default: a short set for text formats, all for csv/json.",
)
@click.option("--sql", help="Run one read-only SQL statement instead (writes are refused).")
@format_option()
@out_option
@pass_app
def query(
    app: AppContext,
    table: str,
    outcomes: tuple[str, ...],
    bins: tuple[int, ...],
    limit: int | None,
    columns: str | None,
    sql: str | None,
    fmt: str,
    out: Path | None,
    **selection: Any,
) -> None:
    """List runs or trials of the results database, filtered; or run read-only SQL.

    \b
    Examples:
      xmtc-harness query runs --model attentionxml
      xmtc-harness query trials --run 3 --outcome success --bin 0 --format csv --out s.csv
      xmtc-harness query --sql "SELECT outcome, COUNT(*) FROM trials GROUP BY outcome"
    """
    flt = make_filter(**selection)
    with _store(app) as store:
        if sql is not None:
            if flt != RunFilter() or outcomes or bins or columns or limit:
                raise UsageError("--sql", "cannot be combined with selection or column options")
            cols, rows = store.run_readonly_sql(sql)
            recs = [dict(zip(cols, r, strict=True)) for r in rows]
            _emit(render_records(recs, cols, fmt), out)
            return
        whole = fmt in ("csv", "json")
        with store.read() as s:
            if table == "runs":
                if outcomes or bins:
                    raise UsageError("--outcome/--bin", "apply to `query trials` only")
                runs = select_runs(s, flt)[:limit]
                counts = trial_counts(s, [r.id for r in runs])
                recs = [run_record(r, counts.get(r.id, 0)) for r in runs]
                cols = _columns(columns, RUN_COLUMNS, RUN_COLUMNS if whole else RUN_BRIEF_COLUMNS)
            else:
                trials = select_trials(s, flt, outcomes, bins, limit)
                recs = [trial_record(t) for t in trials]
                default = TRIAL_COLUMNS if whole else TRIAL_BRIEF_COLUMNS
                cols = _columns(columns, TRIAL_COLUMNS, default)
    if not recs and fmt not in ("csv", "json"):
        click.echo(f"no {table} match ({flt.describe()})", err=True)
        return
    _emit(render_records(recs, cols, fmt), out)


# -- leaderboard, compare -------------------------------------------------------------------


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
    type=click.Choice(SCALES),
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

    Rows group runs by trained model, loss and weighting (and dataset, attack and clustering
    where the selection mixes them): runs of one trained model pool, models trained with
    different options do not. 'skipped-not-attackable' trials are left out of all rates;
    'error' trials are counted in their own column and left out of the denominator.
    """
    flt = make_filter(**selection)
    with _store(app) as store:
        lb = build_leaderboard(store, flt)
    _emit(render_leaderboard(lb, fmt, metric, scale, summary), out)
    if plot is not None:
        from harness.report.plots import leaderboard_series, save_figure, success_figure

        title = f"Attack success rate by label frequency ({lb.selection})"
        save_figure(success_figure(leaderboard_series(lb), title), plot)
        click.echo(f"wrote {plot}", err=True)


@click.command("compare")
@click.argument("run_a", type=int)
@click.argument("run_b", type=int)
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
    with _store(app) as store:
        cmp = compare_runs(store, run_a, run_b)
    _emit(render_comparison(cmp, fmt), out)
    if plot is not None:
        from harness.report.plots import comparison_series, save_figure, success_figure

        title = f"Run {run_a} vs run {run_b} on shared pairs"
        save_figure(success_figure(comparison_series(cmp), title), plot)
        click.echo(f"wrote {plot}", err=True)


# -- examples, report -----------------------------------------------------------------------


@click.command("examples")
@click.option("--run", "run_id", type=int, required=True, help="Run id.")
@click.option("--bin", "bins", type=int, multiple=True, help="Only this bin (repeatable).")
@click.option(
    "--outcome",
    "outcomes",
    type=click.Choice(OUTCOMES),
    multiple=True,
    default=("success",),
    show_default=True,
    help="Trial outcome (repeatable).",
)
@click.option("--limit", type=click.IntRange(min=1), default=5, show_default=True)
@click.option(
    "--context",
    type=click.IntRange(min=0),
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
    with _store(app) as store:
        exs = load_examples(store, run_id, bins, outcomes, limit)
    _emit(render_examples(exs, fmt, context), out)


@click.command("report")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder for index.html (created if missing).",
)
@selection_options
@click.option("--scale", type=click.Choice(SCALES), default="cosine", show_default=True)
@click.option(
    "--examples",
    "examples_per_run",
    type=click.IntRange(min=0),
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
    from harness.report.html import build_report

    flt = make_filter(**selection)
    with _store(app) as store:
        path = build_report(store, flt, out_dir, scale=scale, examples_per_run=examples_per_run)
    click.echo(str(path))


COMMANDS = (query, leaderboard, compare, examples, report)
