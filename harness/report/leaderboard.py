"""Leaderboards and paired comparisons of attack campaigns (METHOD.md §5, §6, §9).

Counting rules, the same in every table the harness prints:

* ``skipped-not-attackable`` trials were never attacked, so they are left out of every rate
  (shown in the ``skipped`` column only).
* ``error`` trials are counted and shown (``errors`` column) but are not in the denominator:
  a crash says nothing about the model's robustness.
* The success rate is successes / attempted, attempted = all − skipped − errors, with its
  95% Wilson interval (``harness.report.stats``).
* Similarity and change rate describe the adversarial examples, so they are means over the
  successful trials. The change rate comes twice: the mean of per-trial rates and the pooled
  rate Σ changed words / Σ words (METHOD.md §5).
* Queries, forward passes and seconds are means per attempted trial.
"""

from __future__ import annotations

import csv
import html
import io
import json
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from tabulate import tabulate, tabulate_formats

from harness.errors import HarnessError, UsageError
from harness.report.stats import mcnemar_exact, wilson_interval
from harness.store.queries import (
    RunFilter,
    TrialStat,
    get_run,
    pair_outcomes,
    require_runs,
    run_bin_ranges,
    trial_stats,
)
from harness.store.schema import Run
from harness.store.session import Store

SUCCESS = "success"
SKIPPED = "skipped-not-attackable"
ERROR = "error"

SCALES = ("cosine", "angular")
METRICS = (
    "success",
    "similarity",
    "change-rate",
    "change-rate-pooled",
    "queries",
    "forward-passes",
    "seconds",
    "counts",
)
EXTRA_FORMATS = ("csv", "json", "markdown")
FORMATS = tuple(dict.fromkeys((*tabulate_formats, *EXTRA_FORMATS)))
"""Every tabulate format plus csv, json and markdown (tabulate already has ``latex``)."""

GROUP_FIELDS = ("dataset", "model", "trained_model_id", "loss", "weighting", "attack", "cluster")
"""What makes runs one row. The trained model's id is part of it: two attentionxml + bce +
PW-cb models trained with different options (``defer``, epochs, ...) are different rows,
while runs of one trained model (more samples, another seed) pool."""
FIELD_TITLES = {"trained_model_id": "trained model"}
ALWAYS_SHOWN = ("model", "loss", "weighting")


def angular(cos: float | np.ndarray) -> float | np.ndarray:
    """The angular similarity ``1 − arccos(cos)/π`` (METHOD.md §5), in [0, 1]."""
    return 1.0 - np.arccos(np.clip(cos, -1.0, 1.0)) / np.pi


def scale_note(scale: str) -> str:
    if scale == "angular":
        return "angular scale, 1 − arccos(cos)/π of the sentence-encoder cosine"
    return "cosine scale, the raw cosine of the sentence-encoder embeddings"


NOTES = (
    "Success rate in % of attempted trials, with its 95% Wilson interval in brackets.",
    "Attempted = all trials − 'skipped-not-attackable' (never attacked; not in any rate)"
    " − 'error' (counted in the errors column, excluded from the denominator).",
    "Similarity: mean over successful trials ({scale}).",
    "Change rate in % over successful trials: 'mean' = mean of per-trial rates,"
    " 'pooled' = Σ changed words / Σ words.",
    "Queries (logical), forward passes and seconds: means per attempted trial.",
)


def notes(scale: str) -> list[str]:
    return [n.format(scale=scale_note(scale)) for n in NOTES]


# -- aggregation --------------------------------------------------------------------------


@dataclass(frozen=True)
class CellStats:
    """Everything one table cell (a group × bin, or a group overall) can show."""

    n_trials: int
    n_skipped: int
    n_errors: int
    n: int
    successes: int
    rate: float
    ci_low: float
    ci_high: float
    similarity: float | None
    similarity_angular: float | None
    change_rate_mean: float | None
    change_rate_pooled: float | None
    queries_per_trial: float | None
    forward_passes_per_trial: float | None
    seconds_per_trial: float | None

    def similarity_on(self, scale: str) -> float | None:
        return self.similarity_angular if scale == "angular" else self.similarity


def _mean(values: Sequence[float]) -> float | None:
    return float(np.mean(values)) if len(values) else None


def aggregate(trials: Iterable[TrialStat]) -> CellStats:
    """Reduce trials to the numbers of the counting rules in this module's docstring."""
    trials = list(trials)
    skipped = sum(t.outcome == SKIPPED for t in trials)
    errors = sum(t.outcome == ERROR for t in trials)
    attempted = [t for t in trials if t.outcome not in (SKIPPED, ERROR)]
    wins = [t for t in attempted if t.outcome == SUCCESS]
    n, k = len(attempted), len(wins)
    if n:
        low, high = wilson_interval(k, n)
        rate = k / n
    else:
        low = high = rate = math.nan
    sims = [float(t.similarity) for t in wins if t.similarity is not None]
    rates = [
        float(t.change_rate) if t.change_rate is not None else t.n_changed / t.n_words
        for t in wins
        if t.change_rate is not None or t.n_words
    ]
    words = sum(t.n_words for t in wins)
    return CellStats(
        n_trials=len(trials),
        n_skipped=skipped,
        n_errors=errors,
        n=n,
        successes=k,
        rate=rate,
        ci_low=float(low),
        ci_high=float(high),
        similarity=_mean(sims),
        similarity_angular=_mean([float(angular(s)) for s in sims]),
        change_rate_mean=_mean(rates),
        change_rate_pooled=sum(t.n_changed for t in wins) / words if words else None,
        queries_per_trial=_mean([t.logical_queries for t in attempted]),
        forward_passes_per_trial=_mean([t.forward_passes for t in attempted]),
        seconds_per_trial=_mean([t.wall_seconds for t in attempted]),
    )


def freq_label(lo: int, hi: int) -> str:
    return f"freq {lo}" if lo == hi else f"freq {lo}–{hi}"


@dataclass
class LeaderboardRow:
    """One group of runs (same dataset, trained model, loss, weighting, attack, clustering)."""

    key: dict[str, Any]
    run_ids: list[int]
    bins: dict[int, CellStats]
    bin_ranges: dict[int, tuple[int, int]]
    overall: CellStats

    def label(self, fields: Sequence[str]) -> str:
        parts = []
        for f in fields:
            v = self.key[f]
            if f == "cluster":
                parts.append("cluster" if v else "no-cluster")
            else:
                parts.append(f"model {v}" if f == "trained_model_id" else str(v))
        return " / ".join(parts)


@dataclass
class Leaderboard:
    rows: list[LeaderboardRow]
    bin_indices: list[int]
    shown_fields: list[str]
    selection: str
    mixed_ranges: list[int] = field(default_factory=list)

    def bin_range(self, index: int) -> tuple[int, int] | None:
        """The bin's frequency range if every row that has the bin agrees on it."""
        ranges = {r.bin_ranges[index] for r in self.rows if index in r.bin_ranges}
        return ranges.pop() if len(ranges) == 1 else None

    def bin_label(self, index: int) -> str:
        rng = self.bin_range(index)
        if rng is None:
            return f"bin {index} (ranges differ)"
        return f"bin {index}: {freq_label(*rng)}"


def _group_key(run: Run) -> tuple[Any, ...]:
    return tuple(getattr(run, f) for f in GROUP_FIELDS)


def _sort_key(key: tuple[Any, ...]) -> tuple[tuple[bool, str], ...]:
    # Numbers in numeric order (model 10 after model 9); None (no trained model) last.
    return tuple((v is None, f"{v:09d}" if isinstance(v, int) else str(v)) for v in key)


def build_leaderboard(store: Store, flt: RunFilter) -> Leaderboard:
    """Aggregate the selected runs' trials by group and frequency bin."""
    with store.read() as s:
        runs = require_runs(s, flt)
        stats = trial_stats(s, [r.id for r in runs])
        groups: dict[tuple[Any, ...], list[Run]] = defaultdict(list)
        for run in runs:
            groups[_group_key(run)].append(run)
        shown = [
            f for f in GROUP_FIELDS if f in ALWAYS_SHOWN or len({getattr(r, f) for r in runs}) > 1
        ]
        by_run: dict[int, list[TrialStat]] = defaultdict(list)
        for t in stats:
            by_run[t.run_id].append(t)
        rows = []
        for key in sorted(groups, key=_sort_key):
            members = groups[key]
            trials = [t for r in members for t in by_run[r.id]]
            per_bin: dict[int, list[TrialStat]] = defaultdict(list)
            for t in trials:
                per_bin[t.bin_index].append(t)
            ranges: dict[int, tuple[int, int]] = {}
            for r in members:
                for i, (lo, hi) in run_bin_ranges(r).items():
                    old = ranges.get(i)
                    ranges[i] = (lo, hi) if old is None else (min(old[0], lo), max(old[1], hi))
            rows.append(
                LeaderboardRow(
                    key=dict(zip(GROUP_FIELDS, key, strict=True)),
                    run_ids=[r.id for r in members],
                    bins={i: aggregate(ts) for i, ts in sorted(per_bin.items())},
                    bin_ranges=ranges,
                    overall=aggregate(trials),
                )
            )
    if not stats:
        raise HarnessError(f"the selected runs have no trials yet ({flt.describe()})")
    indices = sorted({i for r in rows for i in r.bins})
    lb = Leaderboard(rows, indices, shown, flt.describe())
    lb.mixed_ranges = [i for i in indices if lb.bin_range(i) is None]
    return lb


# -- formatting ---------------------------------------------------------------------------


def _pct(x: float | None, digits: int = 1) -> str:
    return "–" if x is None or math.isnan(x) else f"{100 * x:.{digits}f}"


def _num(x: float | None, digits: int = 2) -> str:
    return "–" if x is None or math.isnan(x) else f"{x:.{digits}f}"


def success_text(c: CellStats) -> str:
    if c.n == 0:
        return "– (no attempted trials)"
    return f"{_pct(c.rate)} [{_pct(c.ci_low)}, {_pct(c.ci_high)}]"


def metric_text(c: CellStats, metric: str, scale: str) -> str:
    """One cell of the per-bin columns for ``--metric``."""
    if metric == "success":
        return success_text(c)
    if metric == "similarity":
        return _num(c.similarity_on(scale), 3)
    if metric == "change-rate":
        return _pct(c.change_rate_mean, 2)
    if metric == "change-rate-pooled":
        return _pct(c.change_rate_pooled, 2)
    if metric == "queries":
        return _num(c.queries_per_trial, 1)
    if metric == "forward-passes":
        return _num(c.forward_passes_per_trial, 1)
    if metric == "seconds":
        return _num(c.seconds_per_trial, 3)
    if metric == "counts":
        return f"{c.successes}/{c.n} ({c.n_errors} err, {c.n_skipped} skip)"
    raise UsageError("--metric", f"unknown metric {metric!r}; choose from {', '.join(METRICS)}")


METRIC_TITLES = {
    "success": "success % [95% CI]",
    "similarity": "mean similarity of successes",
    "change-rate": "change % (mean per trial)",
    "change-rate-pooled": "change % (pooled Σchanged/Σwords)",
    "queries": "logical queries / trial",
    "forward-passes": "forward passes / trial",
    "seconds": "seconds / trial",
    "counts": "successes/attempted (errors, skipped)",
}


def _overall_columns(scale: str) -> list[str]:
    return [
        "overall success % [95% CI]",
        f"similarity ({scale})",
        "change % mean/trial",
        "change % pooled",
        "queries/trial",
        "fwd passes/trial",
        "s/trial",
        "attempted",
        "errors",
        "skipped",
    ]


def _overall_cells(c: CellStats, scale: str) -> list[str]:
    return [
        success_text(c),
        _num(c.similarity_on(scale), 3),
        _pct(c.change_rate_mean, 2),
        _pct(c.change_rate_pooled, 2),
        _num(c.queries_per_trial, 1),
        _num(c.forward_passes_per_trial, 1),
        _num(c.seconds_per_trial, 3),
        str(c.n),
        str(c.n_errors),
        str(c.n_skipped),
    ]


def leaderboard_table(
    lb: Leaderboard, metric: str = "success", scale: str = "cosine", overall: bool = True
) -> tuple[list[str], list[list[str]]]:
    """Headers and text rows: group columns, one column per bin, then the overall block
    (without ``overall``: one 'all bins' column of the same metric instead)."""
    headers = [*_field_titles(lb), "runs"]
    headers += [lb.bin_label(i) for i in lb.bin_indices]
    headers += _overall_columns(scale) if overall else ["all bins"]
    rows = []
    for r in lb.rows:
        cells = [_field_text(f, r.key[f]) for f in lb.shown_fields]
        cells.append(",".join(map(str, r.run_ids)))
        for i in lb.bin_indices:
            cells.append(metric_text(r.bins[i], metric, scale) if i in r.bins else "–")
        if overall:
            cells += _overall_cells(r.overall, scale)
        else:
            cells.append(metric_text(r.overall, metric, scale))
        rows.append(cells)
    return headers, rows


def summary_table(lb: Leaderboard, scale: str = "cosine") -> tuple[list[str], list[list[str]]]:
    """The paper's Table 3 / Table 5 shape: one row per group, overall numbers only."""
    headers = [
        *_field_titles(lb),
        "runs",
        "success %",
        "95% Wilson CI",
        f"similarity ({scale})",
        "change % (mean/trial)",
        "change % (pooled)",
        "attempted",
    ]
    rows = []
    for r in lb.rows:
        c = r.overall
        rows.append(
            [
                *(_field_text(f, r.key[f]) for f in lb.shown_fields),
                ",".join(map(str, r.run_ids)),
                _pct(c.rate),
                f"[{_pct(c.ci_low)}, {_pct(c.ci_high)}]",
                _num(c.similarity_on(scale), 3),
                _pct(c.change_rate_mean, 2),
                _pct(c.change_rate_pooled, 2),
                str(c.n),
            ]
        )
    return headers, rows


def _field_titles(lb: Leaderboard) -> list[str]:
    return [FIELD_TITLES.get(f, f) for f in lb.shown_fields]


def _field_text(name: str, value: Any) -> str:
    if name == "cluster":
        return "yes" if value else "no"
    return "–" if value is None else str(value)


def cell_record(c: CellStats, scale: str) -> dict[str, Any]:
    """Machine-readable numbers of one cell (fractions, not percent; NaN becomes None)."""
    rec: dict[str, Any] = {
        "n_trials": c.n_trials,
        "n_skipped": c.n_skipped,
        "n_errors": c.n_errors,
        "n_attempted": c.n,
        "successes": c.successes,
        "success_rate": c.rate,
        "ci_low": c.ci_low,
        "ci_high": c.ci_high,
        f"similarity_{scale}_mean": c.similarity_on(scale),
        "change_rate_mean_per_trial": c.change_rate_mean,
        "change_rate_pooled": c.change_rate_pooled,
        "queries_per_trial": c.queries_per_trial,
        "forward_passes_per_trial": c.forward_passes_per_trial,
        "seconds_per_trial": c.seconds_per_trial,
    }
    for key, value in rec.items():
        if isinstance(value, float) and math.isnan(value):
            rec[key] = None
    return rec


def leaderboard_records(
    lb: Leaderboard, scale: str = "cosine", overall_only: bool = False
) -> list[dict[str, Any]]:
    """Long format: one record per group × bin, plus one per group with ``bin = 'all'``."""
    out = []
    for r in lb.rows:
        base = {f: r.key[f] for f in GROUP_FIELDS}
        base["runs"] = ",".join(map(str, r.run_ids))
        cells: list[tuple[Any, CellStats]] = []
        if not overall_only:
            cells += list(r.bins.items())
        cells.append(("all", r.overall))
        for index, c in cells:
            lo, hi = r.bin_ranges.get(index, (None, None)) if index != "all" else (None, None)
            out.append(
                {**base, "bin": index, "freq_low": lo, "freq_high": hi, **cell_record(c, scale)}
            )
    return out


def render_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[Any]],
    fmt: str,
    *,
    title: str | None = None,
    footnotes: Sequence[str] = (),
    records: list[dict[str, Any]] | None = None,
    meta: dict[str, Any] | None = None,
) -> str:
    """A table as text in any tabulate format, markdown, CSV or JSON.

    CSV and JSON carry ``records`` (raw numbers) instead of the display strings; JSON also
    carries ``meta`` and the footnotes, so what the numbers mean travels with them.
    """
    if fmt not in FORMATS:
        raise UsageError("--format", f"unknown format {fmt!r}")
    if fmt in ("csv", "json"):
        recs = (
            records if records is not None else [dict(zip(headers, r, strict=True)) for r in rows]
        )
        if fmt == "json":
            doc = {**(meta or {}), "notes": list(footnotes), "rows": recs}
            return json.dumps(doc, indent=2, default=str)
        buf = io.StringIO()
        cols = list(dict.fromkeys(k for rec in recs for k in rec))
        writer = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
        writer.writeheader()
        writer.writerows(recs)
        return buf.getvalue()
    tablefmt = "pipe" if fmt == "markdown" else fmt
    body = tabulate(list(rows), headers=list(headers), tablefmt=tablefmt, disable_numparse=True)
    lines = [title] if title else []
    text_notes = list(footnotes)
    if tablefmt.startswith("latex"):
        head = [f"% {title}"] if title else []
        return "\n".join([*head, body, *(f"% {n}" for n in text_notes)])
    if tablefmt in ("html", "unsafehtml"):
        head = [f"<h3>{html.escape(title)}</h3>"] if title else []
        foot = [f"<p>{html.escape(n)}</p>" for n in text_notes]
        return "\n".join([*head, body, *foot])
    if fmt == "markdown":
        head = [f"**{title}**", ""] if title else []
        return "\n".join([*head, body, "", *(f"- {n}" for n in text_notes)])
    return "\n".join([*lines, body, *text_notes])


def render_leaderboard(
    lb: Leaderboard,
    fmt: str = "simple",
    metric: str = "success",
    scale: str = "cosine",
    summary: bool = False,
    overall: bool = True,
    with_notes: bool = True,
) -> str:
    """The leaderboard (or with ``summary`` the Table-3 shape) in the chosen format.

    ``overall=False`` replaces the overall block by one 'all bins' column of ``metric``;
    ``with_notes=False`` leaves out the counting-rule notes (a page that shows them once).
    """
    if scale not in SCALES:
        raise UsageError("--scale", f"choose from {', '.join(SCALES)}")
    if summary:
        headers, rows = summary_table(lb, scale)
        title = f"Attack summary ({lb.selection}); similarity on the {scale} scale"
    else:
        headers, rows = leaderboard_table(lb, metric, scale, overall)
        title = (
            f"Leaderboard ({lb.selection}); per-bin cells: {METRIC_TITLES[metric]};"
            f" similarity on the {scale} scale"
        )
    foot = notes(scale) if with_notes else []
    if lb.mixed_ranges:
        foot.append(
            "Bins "
            + ", ".join(map(str, lb.mixed_ranges))
            + " cover different frequency ranges in different rows: "
            + "; ".join(
                f"{r.label(lb.shown_fields)}: "
                + ", ".join(
                    f"bin {i} {freq_label(*r.bin_ranges[i])}"
                    for i in lb.mixed_ranges
                    if i in r.bin_ranges
                )
                for r in lb.rows
            )
        )
    meta = {"selection": lb.selection, "similarity_scale": scale}
    records = leaderboard_records(lb, scale, overall_only=summary)
    return render_table(headers, rows, fmt, title=title, footnotes=foot, records=records, meta=meta)


def render_run_summary(
    store: Store, run_id: int, scale: str = "cosine", fmt: str = "simple"
) -> str:
    """Per-bin table of one run; ``eval`` prints it when a campaign ends."""
    with store.read() as s:
        run = get_run(s, run_id)
        stats = trial_stats(s, [run_id])
        ranges = run_bin_ranges(run)
        header = (
            f"Run {run.id}: {run.dataset} / {run.model} / {run.loss} / {run.weighting},"
            f" {run.attack} attack{' with clustering' if run.cluster else ''}, k={run.k}"
            f" ({run.status}); similarity on the {scale} scale"
        )
    per_bin: dict[int, list[TrialStat]] = defaultdict(list)
    for t in stats:
        per_bin[t.bin_index].append(t)
    headers = [
        "bin",
        "frequency",
        "attempted",
        "success % [95% CI]",
        f"similarity ({scale})",
        "change % mean/trial",
        "change % pooled",
        "queries/trial",
        "fwd passes/trial",
        "s/trial",
        "errors",
        "skipped",
    ]
    rows = []
    cells = [(str(i), per_bin[i]) for i in sorted(set(per_bin) | set(ranges))]
    cells.append(("all", stats))
    for name, ts in cells:
        c = aggregate(ts)
        rng = ranges.get(int(name)) if name != "all" else None
        rows.append(
            [
                name,
                freq_label(*rng) if rng else "",
                str(c.n),
                success_text(c),
                _num(c.similarity_on(scale), 3),
                _pct(c.change_rate_mean, 2),
                _pct(c.change_rate_pooled, 2),
                _num(c.queries_per_trial, 1),
                _num(c.forward_passes_per_trial, 1),
                _num(c.seconds_per_trial, 3),
                str(c.n_errors),
                str(c.n_skipped),
            ]
        )
    return render_table(headers, rows, fmt, title=header, footnotes=notes(scale))


# -- paired comparison --------------------------------------------------------------------


@dataclass(frozen=True)
class PairedCell:
    """Success of two runs on the same pairs, and McNemar's exact test on the discordant ones."""

    n_pairs: int
    successes_a: int
    successes_b: int
    only_a: int
    only_b: int
    rate_a: float
    rate_b: float
    ci_a: tuple[float, float]
    ci_b: tuple[float, float]
    p_value: float

    @property
    def difference(self) -> float:
        """B − A in rate units (multiply by 100 for percentage points)."""
        return self.rate_b - self.rate_a


def paired_cell(outcomes: Sequence[tuple[bool, bool]]) -> PairedCell:
    n = len(outcomes)
    a = sum(x for x, _ in outcomes)
    b = sum(y for _, y in outcomes)
    only_a = sum(x and not y for x, y in outcomes)
    only_b = sum(y and not x for x, y in outcomes)
    if n:
        ci_a = tuple(map(float, wilson_interval(a, n)))
        ci_b = tuple(map(float, wilson_interval(b, n)))
        ra, rb = a / n, b / n
    else:
        ci_a = ci_b = (math.nan, math.nan)
        ra = rb = math.nan
    return PairedCell(n, a, b, only_a, only_b, ra, rb, ci_a, ci_b, mcnemar_exact(only_a, only_b))  # type: ignore[arg-type]


@dataclass
class Comparison:
    run_a: int
    run_b: int
    label_a: str
    label_b: str
    bins: dict[int, PairedCell]
    bin_ranges: dict[int, tuple[int, int]]
    overall: PairedCell
    n_shared: int
    n_excluded: int
    n_only_a: int
    n_only_b: int
    n_duplicates: int


def run_label(run: Run) -> str:
    clu = ", clustered" if run.cluster else ""
    return f"run {run.id} ({run.dataset}/{run.model}/{run.loss}/{run.weighting}, {run.attack}{clu})"


def compare_runs(store: Store, run_a: int, run_b: int) -> Comparison:
    """Pair the trials of two runs by (sample_id, target labels) and compare their success.

    A pair counts only where both runs attempted it (neither skipped nor errored); its bin is
    run A's. If a run attacked the same pair twice, its first trial is used.
    """
    if run_a == run_b:
        raise UsageError("RUN_B", "compare needs two different runs")
    with store.read() as s:
        ra, rb = get_run(s, run_a), get_run(s, run_b)
        la, lb_ = run_label(ra), run_label(rb)
        ranges = run_bin_ranges(ra)
        trials_a, trials_b = pair_outcomes(s, run_a), pair_outcomes(s, run_b)
    dups = 0
    maps = []
    for trials in (trials_a, trials_b):
        m = {}
        for t in trials:
            key = (t.sample_id, t.targets)
            if key in m:
                dups += 1
                continue
            m[key] = t
        maps.append(m)
    map_a, map_b = maps
    shared = [k for k in map_a if k in map_b]
    if not shared:
        raise HarnessError(
            f"runs {run_a} and {run_b} attacked no (sample, target) pair in common, so there is"
            " nothing to pair; compare runs drawn from the same plan (same dataset, seed and"
            " intersection pool)"
        )
    per_bin: dict[int, list[tuple[bool, bool]]] = defaultdict(list)
    excluded = 0
    for key in shared:
        ta, tb = map_a[key], map_b[key]
        if {ta.outcome, tb.outcome} & {SKIPPED, ERROR}:
            excluded += 1
            continue
        per_bin[ta.bin_index].append((ta.outcome == SUCCESS, tb.outcome == SUCCESS))
    everything = [o for v in per_bin.values() for o in v]
    return Comparison(
        run_a=run_a,
        run_b=run_b,
        label_a=la,
        label_b=lb_,
        bins={i: paired_cell(v) for i, v in sorted(per_bin.items())},
        bin_ranges=ranges,
        overall=paired_cell(everything),
        n_shared=len(shared),
        n_excluded=excluded,
        n_only_a=len(map_a) - len(shared),
        n_only_b=len(map_b) - len(shared),
        n_duplicates=dups,
    )


def _p_text(p: float) -> str:
    return f"{p:.2e}" if p < 1e-3 else f"{p:.3f}"


def comparison_table(cmp: Comparison) -> tuple[list[str], list[list[str]], list[dict[str, Any]]]:
    headers = [
        "bin",
        "frequency",
        "pairs",
        "A success % [95% CI]",
        "B success % [95% CI]",
        "B − A (points)",
        "only A",
        "only B",
        "McNemar exact p",
    ]
    rows, records = [], []
    cells: list[tuple[Any, PairedCell]] = [*cmp.bins.items(), ("all", cmp.overall)]
    for index, c in cells:
        rng = cmp.bin_ranges.get(index) if index != "all" else None
        rows.append(
            [
                str(index),
                freq_label(*rng) if rng else "",
                str(c.n_pairs),
                f"{_pct(c.rate_a)} [{_pct(c.ci_a[0])}, {_pct(c.ci_a[1])}]",
                f"{_pct(c.rate_b)} [{_pct(c.ci_b[0])}, {_pct(c.ci_b[1])}]",
                "–" if c.n_pairs == 0 else f"{100 * c.difference:+.1f}",
                str(c.only_a),
                str(c.only_b),
                _p_text(c.p_value),
            ]
        )
        records.append(
            {
                "run_a": cmp.run_a,
                "run_b": cmp.run_b,
                "bin": index,
                "freq_low": rng[0] if rng else None,
                "freq_high": rng[1] if rng else None,
                "n_pairs": c.n_pairs,
                "successes_a": c.successes_a,
                "successes_b": c.successes_b,
                "success_rate_a": c.rate_a,
                "ci_low_a": c.ci_a[0],
                "ci_high_a": c.ci_a[1],
                "success_rate_b": c.rate_b,
                "ci_low_b": c.ci_b[0],
                "ci_high_b": c.ci_b[1],
                "difference_b_minus_a": c.difference,
                "only_a": c.only_a,
                "only_b": c.only_b,
                "mcnemar_exact_p": c.p_value,
            }
        )
    return headers, rows, records


def comparison_notes(cmp: Comparison) -> list[str]:
    out = [
        f"A = {cmp.label_a}; B = {cmp.label_b}.",
        f"{cmp.n_shared} (sample, target) pairs attacked by both runs; {cmp.n_excluded} of them"
        " left out because either run skipped or errored on them; bins are run A's.",
        f"Pairs only in A: {cmp.n_only_a}; only in B: {cmp.n_only_b} (not compared).",
        "'only A'/'only B': pairs where just that run succeeded; McNemar's exact two-sided"
        " test on these discordant pairs.",
    ]
    if cmp.n_duplicates:
        out.append(f"{cmp.n_duplicates} repeated trials of a pair were ignored (first kept).")
    return out


def render_comparison(cmp: Comparison, fmt: str = "simple") -> str:
    headers, rows, records = comparison_table(cmp)
    title = f"Paired comparison: run {cmp.run_a} (A) vs run {cmp.run_b} (B)"
    meta = {"run_a": cmp.label_a, "run_b": cmp.label_b}
    return render_table(
        headers, rows, fmt, title=title, footnotes=comparison_notes(cmp), records=records, meta=meta
    )
