"""Leaderboards and paired comparisons of attack campaigns (docs/method.md, "Metrics").

Counting rules, the same in every table the harness prints:

* ``skipped-not-attackable`` trials were never attacked, so they are left out of every rate
  (shown in the ``skipped`` column only).
* ``error`` trials are counted and shown (``errors`` column) but are not in the denominator:
  a crash says nothing about the model's robustness.
* The success rate is successes / attempted, attempted = all − skipped − errors, with its
  95% Wilson interval (``harness.report.stats``).
* Similarity and change rate describe the adversarial examples, so they are means over the
  successful trials. The change rate comes twice: the mean of per-trial rates and the pooled
  rate Σ changed words / Σ words (docs/method.md, "Constraints and similarity").
* Queries, forward passes and seconds are means per attempted trial.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from harness.errors import ConfigError, HarnessError
from harness.regimes.spec import regime_label
from harness.report.stats import wilson_interval
from harness.report.tables import number as _num
from harness.report.tables import percent as _pct
from harness.report.tables import render_table
from harness.store.queries import (
    CellSums,
    RunFilter,
    TrialStat,
    cell_sums,
    get_run,
    require_runs,
    run_bin_ranges,
)
from harness.store.schema import Run
from harness.store.session import Store
from harness.vocab import Outcome, SimilarityScale, values

SUCCESS = Outcome.SUCCESS
SKIPPED = Outcome.SKIPPED_NOT_ATTACKABLE
ERROR = Outcome.ERROR
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

GROUP_FIELDS = (
    "dataset",
    "model",
    "trained_model_id",
    "loss",
    "weighting",
    "attack",
    "cluster",
    "k",
    "bins",
)
"""What makes runs one row. The trained model's id is part of it: two attentionxml + bce +
PW-cb models trained with different options (``defer``, epochs, ...) are different rows,
while runs of one trained model (more samples, another seed) pool. So are the goal's k and
the frequency bins: bin 3 of a campaign binned at 20 labels a bin and bin 3 of one binned at
100 are different labels, so such runs never pool (they are separate rows, and a column
names their binning)."""
FIELD_TITLES = {"trained_model_id": "trained model"}
ALWAYS_SHOWN = ("model", "loss", "weighting")


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


def _ratio(total: float, count: int) -> float | None:
    return total / count if count else None


def combine(cells: Iterable[CellSums]) -> CellStats:
    """Reduce the per (run, bin) sums of some trials to the numbers of the counting rules in
    this module's docstring (sums add up, so any set of cells gives its trials' numbers)."""
    cells = list(cells)

    def total(field: str) -> Any:
        return sum(getattr(c, field) for c in cells)

    n_trials, skipped, errors, k = (
        total("n_trials"), total("n_skipped"), total("n_errors"), total("successes")
    )  # fmt: skip
    n = n_trials - skipped - errors
    if n:
        low, high = wilson_interval(k, n)
        rate = k / n
    else:
        low = high = rate = math.nan
    sim_n, words = total("similarity_n"), total("words_sum")
    return CellStats(
        n_trials=n_trials,
        n_skipped=skipped,
        n_errors=errors,
        n=n,
        successes=k,
        rate=rate,
        ci_low=float(low),
        ci_high=float(high),
        similarity=_ratio(total("similarity_sum"), sim_n),
        similarity_angular=_ratio(total("angular_sum"), sim_n),
        change_rate_mean=_ratio(total("rate_sum"), total("rate_n")),
        change_rate_pooled=total("changed_sum") / words if words else None,
        queries_per_trial=_ratio(total("queries_sum"), n),
        forward_passes_per_trial=_ratio(total("passes_sum"), n),
        seconds_per_trial=_ratio(total("seconds_sum"), n),
    )


def sums_of(trials: Iterable[TrialStat], run_id: int = 0, bin_index: int = 0) -> CellSums:
    """The :class:`CellSums` of trials already loaded (what :func:`cell_sums` computes in
    the database), by the same rules."""
    trials = list(trials)
    wins = [t for t in trials if t.outcome == SUCCESS]
    attempted = [t for t in trials if t.outcome not in (SKIPPED, ERROR)]
    sims = [float(t.similarity) for t in wins if t.similarity is not None]
    rates = [
        float(t.change_rate) if t.change_rate is not None else t.n_changed / t.n_words
        for t in wins
        if t.change_rate is not None or t.n_words
    ]
    return CellSums(
        run_id=run_id,
        bin_index=bin_index,
        n_trials=len(trials),
        n_skipped=sum(t.outcome == SKIPPED for t in trials),
        n_errors=sum(t.outcome == ERROR for t in trials),
        successes=len(wins),
        similarity_sum=sum(sims),
        similarity_n=len(sims),
        angular_sum=float(to_angular(np.asarray(sims)).sum()),
        rate_sum=sum(rates),
        rate_n=len(rates),
        changed_sum=sum(t.n_changed for t in wins),
        words_sum=sum(t.n_words for t in wins),
        queries_sum=sum(t.logical_queries for t in attempted),
        passes_sum=sum(t.forward_passes for t in attempted),
        seconds_sum=sum(t.wall_seconds for t in attempted),
    )


def aggregate(trials: Iterable[TrialStat]) -> CellStats:
    """The numbers of some loaded trials (:func:`combine` of their sums)."""
    return combine([sums_of(trials)])


def to_angular(cos: np.ndarray) -> np.ndarray:
    """1 − arccos(clip(cos, −1, 1))/π, the angular scale (as the attack's similarity module
    defines it; written here so the tables need not import the attack)."""
    return 1.0 - np.arccos(np.clip(np.asarray(cos, dtype=np.float64), -1.0, 1.0)) / np.pi


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
    training: str = "plain"
    """The trained model's training regime (``regime_label``), named in the row's label."""
    weighting: str | None = None
    """The weighting as shown (:func:`weighting_texts`); None: the key's."""

    def label(self, fields: Sequence[str]) -> str:
        parts = []
        for f in fields:
            v = self.key[f]
            if f == "cluster":
                parts.append("cluster" if v else "no-cluster")
            elif f == "k":
                parts.append(f"k={v}")
            elif f == "weighting" and self.weighting is not None:
                parts.append(self.weighting)
            else:
                parts.append(f"model {v}" if f == "trained_model_id" else str(v))
        if self.training != "plain":
            parts.append(self.training)
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


@dataclass(frozen=True)
class Binning:
    """A run's frequency bins as a group field: runs pool only when their bins are equal."""

    ranges: tuple[tuple[int, int, int], ...]

    def __str__(self) -> str:
        if not self.ranges:
            return "no bins"
        n = len(self.ranges)
        return f"{n} bin{'' if n == 1 else 's'}, freq {self.ranges[0][1]}–{self.ranges[-1][2]}"


def _binning_of(run: Run) -> Binning:
    return Binning(tuple((i, lo, hi) for i, (lo, hi) in sorted(run_bin_ranges(run).items())))


def _field_of(run: Run, name: str) -> Any:
    """A run's value of a group field; a corpus is named by its own name."""
    if name == "bins":
        return _binning_of(run)
    return run.corpus_name if name == "dataset" else getattr(run, name)


def _training_of(run: Run) -> str:
    """The training regime of the model a run attacked, as tables name it (``plain`` for
    none, or a run without a recorded model); runs of one trained model share it."""
    model = run.trained_model
    return regime_label((model.config or {}).get("training") if model is not None else None)


def _loss_options_of(run: Run) -> dict[str, Any]:
    """The loss options the attacked model was trained with (``{}`` when not recorded)."""
    model = run.trained_model
    return dict(model.loss_options or {}) if model is not None else {}


def weighting_texts(rows: Sequence[tuple[str, str, dict[str, Any]]]) -> list[str]:
    """Each row's weighting as tables show it, given its (loss, weighting, loss options):
    the weighting, plus every loss option whose value differs between rows of the same loss
    and weighting (``pw-cb defer=0.66`` beside ``pw-cb defer=0.0``), so two trainings that
    differ only there do not look alike. Options all rows share are left out."""
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, (loss, weighting, _) in enumerate(rows):
        groups[(loss, weighting)].append(i)
    texts = [weighting for _, weighting, _ in rows]
    for members in groups.values():
        keys = sorted({k for i in members for k in rows[i][2]} - {"weighting"})
        varying = [k for k in keys if len({repr(rows[i][2].get(k)) for i in members}) > 1]
        for i in members:
            extra = [f"{k}={rows[i][2].get(k)}" for k in varying]
            texts[i] = " ".join([rows[i][1], *extra])
    return texts


def _group_key(run: Run) -> tuple[Any, ...]:
    return tuple(_field_of(run, f) for f in GROUP_FIELDS)


def _sort_key(key: tuple[Any, ...]) -> tuple[tuple[bool, str], ...]:
    # Numbers in numeric order (model 10 after model 9); None (no trained model) last.
    return tuple((v is None, f"{v:09d}" if isinstance(v, int) else str(v)) for v in key)


def build_leaderboard(store: Store, flt: RunFilter) -> Leaderboard:
    """Aggregate the selected runs' trials by group and frequency bin (the database sums
    each (run, bin); the groups add the sums up). Superseded runs are left out unless
    selected by id or status (:meth:`RunFilter.for_pooling`)."""
    flt = flt.for_pooling()
    with store.read() as s:
        runs = require_runs(s, flt)
        sums = cell_sums(s, [r.id for r in runs])
        groups: dict[tuple[Any, ...], list[Run]] = defaultdict(list)
        for run in runs:
            groups[_group_key(run)].append(run)
        shown = [
            f for f in GROUP_FIELDS if f in ALWAYS_SHOWN or len({_field_of(r, f) for r in runs}) > 1
        ]
        by_run: dict[int, list[CellSums]] = defaultdict(list)
        for c in sums:
            by_run[c.run_id].append(c)
        rows = []
        options: list[tuple[str, str, dict[str, Any]]] = []
        for key in sorted(groups, key=_sort_key):
            members = groups[key]
            first = members[0]  # runs of one group share their trained model
            cells = [c for r in members for c in by_run[r.id]]
            per_bin: dict[int, list[CellSums]] = defaultdict(list)
            for c in cells:
                per_bin[c.bin_index].append(c)
            ranges: dict[int, tuple[int, int]] = {}
            for r in members:
                for i, (lo, hi) in run_bin_ranges(r).items():
                    old = ranges.get(i)
                    ranges[i] = (lo, hi) if old is None else (min(old[0], lo), max(old[1], hi))
            rows.append(
                LeaderboardRow(
                    key=dict(zip(GROUP_FIELDS, key, strict=True)),
                    run_ids=[r.id for r in members],
                    bins={i: combine(cs) for i, cs in sorted(per_bin.items())},
                    bin_ranges=ranges,
                    overall=combine(cells),
                    training=_training_of(first),
                )
            )
            options.append((str(first.loss), str(first.weighting), _loss_options_of(first)))
        for row, text in zip(rows, weighting_texts(options), strict=True):
            row.weighting = text
    if not sums:
        raise HarnessError(f"the selected runs have no trials yet ({flt.describe()})")
    indices = sorted({i for r in rows for i in r.bins})
    lb = Leaderboard(rows, indices, shown, flt.describe())
    lb.mixed_ranges = [i for i in indices if lb.bin_range(i) is None]
    return lb


# -- formatting ---------------------------------------------------------------------------


def success_text(c: CellStats) -> str:
    if c.n == 0:
        return "– (no attempted trials)"
    return f"{_pct(c.rate)} [{_pct(c.ci_low)}, {_pct(c.ci_high)}]"


def metric_text(c: CellStats, metric: str, scale: str) -> str:
    """One cell of the per-bin columns for ``metric``."""
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
    raise ConfigError(
        "report.metric", f"unknown metric {metric!r}; choose from {', '.join(METRICS)}"
    )


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
        cells = _group_cells(lb, r)
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
                *_group_cells(lb, r),
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
    return [FIELD_TITLES.get(f, f) for f in lb.shown_fields] + (
        ["training"] if _any_regime(lb) else []
    )


def _any_regime(lb: Leaderboard) -> bool:
    """Whether some row's model was trained under a regime (a training column is shown)."""
    return any(r.training != "plain" for r in lb.rows)


def _group_cells(lb: Leaderboard, r: LeaderboardRow) -> list[str]:
    cells = [
        r.weighting if f == "weighting" and r.weighting is not None else _field_text(f, r.key[f])
        for f in lb.shown_fields
    ]
    return cells + ([r.training] if _any_regime(lb) else [])


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
        base = {f: r.key[f] for f in GROUP_FIELDS if f != "bins"}
        base["bins"] = str(r.key["bins"])
        if _any_regime(lb):
            base["training"] = r.training
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
    if scale not in values(SimilarityScale):
        raise ConfigError("report.scale", f"choose from {', '.join(values(SimilarityScale))}")
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
        sums = cell_sums(s, [run_id])
        ranges = run_bin_ranges(run)
        header = (
            f"Run {run.id}: {run.corpus_name} / {run.model} / {run.loss} / {run.weighting},"
            f" {run.attack} attack{' with clustering' if run.cluster else ''}, k={run.k}"
            f" ({run.status}); similarity on the {scale} scale"
        )
    per_bin: dict[int, list[CellSums]] = defaultdict(list)
    for c in sums:
        per_bin[c.bin_index].append(c)
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
    cells.append(("all", sums))
    for name, cs in cells:
        c = combine(cs)
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
