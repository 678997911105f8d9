"""Paired comparison of two runs on the (sample, target) pairs both attacked.

Per bin and overall: both success rates with 95% Wilson intervals, their difference, and
McNemar's exact test on the discordant pairs (only one run succeeded). Pairs either run
skipped or errored on are left out, as in every success rate (:mod:`leaderboard`).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from harness.errors import ConfigError, HarnessError
from harness.report.leaderboard import ERROR, SKIPPED, SUCCESS, freq_label
from harness.report.stats import mcnemar_exact, wilson_interval
from harness.report.tables import percent, render_table
from harness.store.queries import get_run, pair_outcomes, run_bin_ranges
from harness.store.schema import Run
from harness.store.session import Store


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
    return (
        f"run {run.id} ({run.corpus_name}/{run.model}/{run.loss}/{run.weighting}, "
        f"{run.attack}{clu})"
    )


def compare_runs(store: Store, run_a: int, run_b: int) -> Comparison:
    """Pair the trials of two runs by (sample_id, target labels) and compare their success.

    A pair counts only where both runs attempted it (neither skipped nor errored); its bin is
    run A's. If a run attacked the same pair twice, its first trial is used.
    """
    if run_a == run_b:
        raise ConfigError("report.run_b", "compare needs two different runs")
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
                f"{percent(c.rate_a)} [{percent(c.ci_a[0])}, {percent(c.ci_a[1])}]",
                f"{percent(c.rate_b)} [{percent(c.ci_b[0])}, {percent(c.ci_b[1])}]",
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
