"""Success rate against label frequency (the paper's Figure 2), as PNG or SVG.

Built on matplotlib's object API with the Agg canvas (no pyplot), so plotting never touches
global backend state and works on machines without a display. Each bin is drawn at the
geometric mean of its frequency range (label frequencies span orders of magnitude; the
axis is logarithmic), with the 95% Wilson interval as a shaded band.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from harness.errors import ConfigError
from harness.report.compare_runs import Comparison
from harness.report.leaderboard import Leaderboard

PLOT_SUFFIXES = (".png", ".svg")


@dataclass(frozen=True)
class Series:
    """One line: a group's success rate per bin, with its interval."""

    label: str
    x: tuple[float, ...]
    rate: tuple[float, ...]
    low: tuple[float, ...]
    high: tuple[float, ...]


def bin_x(freq_low: int, freq_high: int) -> float:
    """Where a bin sits on the log frequency axis: the geometric mean of its range.

    A frequency of 0 (a label never seen in training) is drawn at 1, since log(0) has no
    place on the axis.
    """
    return math.sqrt(max(freq_low, 1) * max(freq_high, 1))


def leaderboard_series(lb: Leaderboard) -> list[Series]:
    """One series per leaderboard row; bins without attempted trials are left out."""
    out = []
    for row in lb.rows:
        pts = [
            (bin_x(*row.bin_ranges[i]), c.rate, c.ci_low, c.ci_high)
            for i, c in sorted(row.bins.items())
            if c.n > 0 and i in row.bin_ranges
        ]
        if pts:
            pts.sort()
            out.append(Series(row.label(lb.shown_fields), *map(tuple, zip(*pts, strict=True))))
    return out


def comparison_series(cmp: Comparison) -> list[Series]:
    """Both runs of a paired comparison, on the pairs they share."""
    out = []
    for label, pick in ((f"A: {cmp.label_a}", 0), (f"B: {cmp.label_b}", 1)):
        pts = []
        for i, c in sorted(cmp.bins.items()):
            if c.n_pairs == 0 or i not in cmp.bin_ranges:
                continue
            rate, (lo, hi) = (c.rate_a, c.ci_a) if pick == 0 else (c.rate_b, c.ci_b)
            pts.append((bin_x(*cmp.bin_ranges[i]), rate, lo, hi))
        if pts:
            pts.sort()
            out.append(Series(label, *map(tuple, zip(*pts, strict=True))))
    return out


def success_figure(series: Sequence[Series], title: str) -> Figure:
    """Success rate (%) per bin against training label frequency (log scale)."""
    if not series:
        raise ConfigError(
            "report.plot", "nothing to plot: no bin has attempted trials with a range"
        )
    fig = Figure(figsize=(8, 5), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for s in series:
        pct = [100 * r for r in s.rate]
        (line,) = ax.plot(s.x, pct, marker="o", label=s.label)
        ax.fill_between(
            s.x,
            [100 * v for v in s.low],
            [100 * v for v in s.high],
            color=line.get_color(),
            alpha=0.18,
            linewidth=0,
        )
    ax.set_xscale("log")
    ax.set_ylim(0, 100)
    ax.set_xlabel("label frequency in training data (bin's geometric mean, log scale)")
    ax.set_ylabel("attack success rate (%)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="best", fontsize="small", title="shaded: 95% Wilson interval")
    return fig


def save_figure(fig: Figure, path: Path) -> Path:
    """Write the figure as PNG or SVG, chosen by the file's suffix."""
    suffix = path.suffix.lower()
    if suffix not in PLOT_SUFFIXES:
        raise ConfigError("report.plot", f"{path}: use a .png or .svg file name")
    if not path.parent.exists():
        raise ConfigError("report.plot", f"{path}: folder {path.parent} does not exist")
    fig.savefig(path, format=suffix[1:])
    return path


def figure_png_base64(fig: Figure) -> str:
    """The figure as base64 PNG, for a ``data:`` URI in a self-contained HTML page."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return base64.b64encode(buf.getvalue()).decode("ascii")
