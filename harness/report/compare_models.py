"""Two trained models' test metrics on the same documents, with a paired bootstrap interval
on each difference (``xmtc-harness compare-models A B``).

Is PW-cb's PSP@5 above bce's a real difference or the luck of this test split? Both models
score the same test documents, and resampling documents (the same ones for both models)
gives an interval for B − A and the share of resamples in which B did not beat A.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from harness.errors import ConfigError
from harness.metrics import MetricAccumulator
from harness.report.stats import PairedBootstrap, paired_bootstrap
from harness.report.tables import render_table

DEFAULT_METRICS = ("P@1", "P@3", "P@5", "PSP@1", "PSP@3", "PSP@5")
MAX_RESAMPLES = 100_000
"""More resamples than this do not move a 95% percentile interval visibly (its Monte Carlo
error is already below a tenth of a percent of the spread); they only cost time."""
METRIC_FAMILIES = ("P", "nDCG", "PSP", "PSnDCG")


def metric_ks(metrics: Sequence[str]) -> list[int]:
    """The cut-offs ``k`` that ``metrics`` (``PSP@5``...) need; a clear error for a name
    that is not one of the metrics of harness.metrics."""
    ks = set()
    for m in metrics:
        family, _, k = m.partition("@")
        if family not in METRIC_FAMILIES or not (k.isascii() and k.isdigit()) or int(k) < 1:
            raise ConfigError(
                "compare.metric",
                f"unknown {m!r}; expected {', '.join(METRIC_FAMILIES)} @ k, e.g. PSP@5",
            )
        ks.add(int(k))
    return sorted(ks)


def metric_differences(
    scores: Sequence[np.ndarray],
    y: sp.csr_matrix,
    props: np.ndarray,
    metrics: Sequence[str],
    resamples: int = 1000,
    seed: int = 0,
    on_resample: Callable[[], object] | None = None,
) -> tuple[list[dict[str, float]], PairedBootstrap]:
    """Both score matrices' metrics on all rows, and the paired bootstrap of ``B − A`` for
    each of ``metrics`` (documents resampled together for both models)."""
    ks = metric_ks(metrics)
    # Rank once: each document's share of every metric's sums, so a resample is a weighted
    # sum of those shares rather than a re-ranking of the whole score matrix.
    acc = MetricAccumulator(props, ks)
    terms = [acc.document_terms(s, y) for s in scores]
    n = y.shape[0]

    def metrics_of(t: dict[str, np.ndarray], counts: np.ndarray) -> dict[str, float]:
        return acc.result_of({k: counts @ v for k, v in t.items()}, float(counts.sum()))

    full = [metrics_of(t, np.ones(n)) for t in terms]

    def difference(rows: np.ndarray) -> np.ndarray:
        counts = np.bincount(rows, minlength=n).astype(np.float64)
        ma, mb = (metrics_of(t, counts) for t in terms)
        return np.array([mb[m] - ma[m] for m in metrics])

    return full, paired_bootstrap(difference, n, resamples, seed=seed, on_resample=on_resample)


def render_model_comparison(
    ids: tuple[int, int],
    metrics: Sequence[str],
    full: list[dict[str, float]],
    boot: PairedBootstrap,
    n_documents: int,
    dataset: str,
    resamples: int,
    seed: int,
    fmt: str,
) -> str:
    """The comparison table: both models' metrics, B − A, its 95% interval and how often B
    did not beat A."""
    a, b = ids
    headers = ["metric", f"A (model {a})", f"B (model {b})", "B − A", "95% CI", "B ≤ A"]
    table, records = [], []
    for i, m in enumerate(metrics):
        table.append(
            [
                m,
                f"{full[0][m]:.4f}",
                f"{full[1][m]:.4f}",
                f"{boot.estimate[i]:+.4f}",
                f"[{boot.low[i]:+.4f}, {boot.high[i]:+.4f}]",
                f"{boot.share_not_positive[i]:.1%}",
            ]
        )
        records.append(
            {
                "metric": m,
                "a": full[0][m],
                "b": full[1][m],
                "difference": float(boot.estimate[i]),
                "low": float(boot.low[i]),
                "high": float(boot.high[i]),
                "share_b_not_above_a": float(boot.share_not_positive[i]),
            }
        )
    note = (
        f"{n_documents} test documents of {dataset}, resampled {resamples} times (seed {seed}); "
        f"'B ≤ A': share of resamples where model {b} did not beat model {a}."
    )
    meta: dict[str, Any] = {"model_a": a, "model_b": b, "n_documents": n_documents}
    meta |= {"resamples": resamples, "seed": seed}
    return render_table(headers, table, fmt, footnotes=[note], records=records, meta=meta)
