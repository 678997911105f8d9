"""``xmtc-harness query``: runs or trials of the results database, filtered; or one
read-only SQL statement."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from harness.cli.context import AppContext, emit, emit_stream, pass_app
from harness.cli.options import (
    ID,
    format_option,
    make_filter,
    out_option,
    outcome_option,
    selection_options,
)
from harness.errors import StoreError, UsageError
from harness.limits import INT64_MAX
from harness.report.tables import render_records, stream_records
from harness.store.queries import (
    RUN_BRIEF_COLUMNS,
    RUN_COLUMNS,
    TRIAL_BRIEF_COLUMNS,
    TRIAL_COLUMNS,
    RunFilter,
    iter_trials,
    run_record,
    select_runs,
    select_trials,
    trial_counts,
    trial_record,
)


def _columns(spec: str | None, allowed: Sequence[str], default: Sequence[str]) -> list[str]:
    if not spec:
        return list(default)
    cols = [c.strip() for c in spec.split(",") if c.strip()]
    unknown = [c for c in cols if c not in allowed]
    if unknown:
        raise UsageError("--columns", f"unknown {', '.join(unknown)}; have {', '.join(allowed)}")
    return cols


@click.command("query")
@click.argument("table", type=click.Choice(["runs", "trials"]), default="runs", required=False)
@selection_options
@outcome_option(help="Trial outcome (repeatable; `query trials` only).")
@click.option(
    "--bin", "bins", type=ID, multiple=True, help="Bin index (repeatable; `query trials` only)."
)
@click.option("--limit", type=click.IntRange(1, INT64_MAX), help="At most this many rows.")
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

    Trials as csv or json are streamed, read and written a batch at a time, so an export
    of millions of trials takes little memory; with --out the file appears only when
    complete.

    \b
    Examples:
      xmtc-harness query runs --model attentionxml
      xmtc-harness query trials --run 3 --outcome success --bin 0 --format csv --out s.csv
      xmtc-harness query --sql "SELECT outcome, COUNT(*) FROM trials GROUP BY outcome"
    """
    flt = make_filter(**selection)
    with app.reading() as store:
        if sql is not None:
            if flt != RunFilter() or outcomes or bins or columns or limit:
                raise UsageError("--sql", "cannot be combined with selection or column options")
            try:
                cols, rows = store.run_readonly_sql(sql)
            except StoreError as exc:
                raise StoreError(f"--sql {exc}") from None
            recs = [dict(zip(cols, r, strict=True)) for r in rows]
            emit(render_records(recs, cols, fmt), out)
            return
        whole = fmt in ("csv", "json")
        if whole and table == "trials":  # an export: streamed, whatever its size
            cols = _columns(columns, TRIAL_COLUMNS, TRIAL_COLUMNS)
            with store.read() as s:
                rows = (trial_record(t) for t in iter_trials(s, flt, outcomes, bins, limit))
                emit_stream(lambda write: stream_records(rows, cols, fmt, write), out)
            return
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
    emit(render_records(recs, cols, fmt), out)
