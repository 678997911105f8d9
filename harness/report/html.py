"""One self-contained HTML page summarising the selected runs.

Everything the page shows is inside ``index.html``: styles inline, plots as base64 PNG
``data:`` URIs, no scripts and no links to fetch, so it opens from disk (or an e-mail
attachment) with no server and no network. Tables come from the same functions as the
terminal commands, so the page and ``leaderboard`` never disagree.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime
from pathlib import Path

from harness import __version__
from harness.errors import ConfigError, HarnessError
from harness.report.compare_runs import compare_runs, render_comparison
from harness.report.examples import load_examples, render_html
from harness.report.leaderboard import build_leaderboard, render_leaderboard
from harness.store.queries import RunFilter, require_runs, run_record, trial_counts
from harness.store.session import Store

CSS = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1400px;
       padding: 0 1rem; color: #222; }
h1 { margin-bottom: 0.2rem; }
.meta { color: #666; margin-top: 0; }
section { margin: 2rem 0; }
.scroll { overflow-x: auto; }
.scroll td { white-space: nowrap; }
table { border-collapse: collapse; margin: 0.5rem 0; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.5rem; text-align: left;
         vertical-align: top; }
thead th { background: #f0f0f0; }
table.example { width: 100%; }
table.example th { width: 9rem; background: #fafafa; }
table.example caption { text-align: left; font-weight: bold; padding: 0.3rem 0; }
del { color: #b00020; background: #fde7ea; }
ins { color: #006b2d; background: #e3f6e8; text-decoration: none; font-weight: bold; }
.warning { color: #8a4b00; background: #fff4e0; padding: 0.5rem; }
img.plot { max-width: 100%; border: 1px solid #ddd; }
"""


def _img(b64: str, alt: str) -> str:
    return f'<img class="plot" alt="{html.escape(alt)}" src="data:image/png;base64,{b64}">'


def _runs_table(store: Store, flt: RunFilter) -> tuple[str, list[int]]:
    with store.read() as s:
        runs = require_runs(s, flt)
        counts = trial_counts(s, [r.id for r in runs])
        recs = [run_record(r, counts.get(r.id, 0)) for r in runs]
    cols = ["id", "status", "dataset", "model", "loss", "weighting", "attack", "cluster", "k"]
    cols += ["seed", "n_planned", "n_trials", "started_at", "harness_version"]
    head = "".join(f"<th>{c}</th>" for c in cols)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(rec[c]))}</td>" for c in cols) + "</tr>"
        for rec in recs
    )
    table = f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    return table, [int(r["id"]) for r in recs]


def build_report(
    store: Store,
    flt: RunFilter,
    out_dir: Path,
    *,
    scale: str = "cosine",
    examples_per_run: int = 3,
    context: int = 12,
) -> Path:
    """Write ``out_dir/index.html`` for the selected runs and return its path.

    With exactly two runs selected by id the page also holds their paired
    comparison (or, when they share no pairs, the reason there is none).
    """
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError("report.out", f"{out_dir} exists and is not a folder")
    # matplotlib is imported here, not with the module: it costs the other commands half a
    # second of start-up
    from harness.report.plots import (
        comparison_series,
        figure_png_base64,
        leaderboard_series,
        success_figure,
    )

    runs_html, run_ids = _runs_table(store, flt)
    lb = build_leaderboard(store, flt)
    parts = [
        f"<h1>xmtc-harness report</h1><p class='meta'>{html.escape(lb.selection)} · "
        f"generated {datetime.now(UTC).isoformat(timespec='seconds')} by xmtc-harness "
        f"{__version__}</p>",
        f"<section><h2>Runs</h2><div class='scroll'>{runs_html}</div></section>",
        "<section><h2>Summary</h2><div class='scroll'>"
        + render_leaderboard(lb, "html", scale=scale, summary=True)
        + "</div></section>",
        "<section><h2>Success rate by label-frequency bin</h2><div class='scroll'>"
        + render_leaderboard(lb, "html", "success", scale, with_notes=False)
        + "</div>",
    ]
    fig = success_figure(leaderboard_series(lb), "Attack success rate by label frequency")
    parts.append(_img(figure_png_base64(fig), "success rate by label frequency") + "</section>")
    for metric, title in (
        ("similarity", f"Mean similarity of successes by bin ({scale})"),
        ("change-rate-pooled", "Pooled change rate (%) of successes by bin"),
        ("counts", "Trial counts by bin"),
    ):
        parts.append(
            f"<section><h2>{html.escape(title)}</h2><div class='scroll'>"
            + render_leaderboard(lb, "html", metric, scale, overall=False, with_notes=False)
            + "</div></section>"
        )
    if len(flt.run_ids) == 2:
        a, b = flt.run_ids
        parts.append("<section><h2>Paired comparison</h2>")
        try:
            cmp = compare_runs(store, a, b)
        except HarnessError as exc:
            parts.append(f"<p class='warning'>No comparison: {html.escape(str(exc))}</p>")
        else:
            parts.append("<div class='scroll'>" + render_comparison(cmp, "html") + "</div>")
            fig = success_figure(comparison_series(cmp), f"Run {a} vs run {b} on shared pairs")
            parts.append(_img(figure_png_base64(fig), f"run {a} vs run {b}"))
        parts.append("</section>")
    if examples_per_run > 0:
        parts.append("<section><h2>Examples (successful attacks)</h2>")
        for rid in run_ids:
            ex = load_examples(store, rid, limit=examples_per_run)
            parts.append(f"<h3>Run {rid}</h3>" + render_html(ex, context))
        parts.append("</section>")
    page = (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<title>xmtc-harness report</title>"
        f"<style>{CSS}</style></head><body>\n" + "\n".join(parts) + "\n</body></html>\n"
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "index.html"
    path.write_text(page, encoding="utf-8")
    return path
