"""Tables of trained models: one model's test metrics, and the recorded models side by side
(``xmtc-harness train`` and ``xmtc-harness models``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from tabulate import tabulate

from harness.report.tables import render_table
from harness.store.schema import TrainedModel

METRIC_COLUMNS = ("P@1", "P@3", "P@5", "nDCG@3", "nDCG@5", "PSP@1", "PSP@3", "PSP@5")


def metrics_table(metrics: dict[str, float]) -> str:
    """One metric per row, in a stable order (P, nDCG, PSP, PSnDCG; k ascending)."""
    order = {"P": 0, "nDCG": 1, "PSP": 2, "PSnDCG": 3}

    def key(name: str) -> tuple[int, int]:
        fam, _, k = name.partition("@")
        return order.get(fam, 9), int(k) if k.isdigit() else 0

    rows = [[k, f"{metrics[k]:.4f}"] for k in sorted(metrics, key=key)]
    return tabulate(rows, headers=["metric", "test"], tablefmt="simple")


def weighting_label(row: TrainedModel, loss_defaults: dict[str, Any]) -> str:
    """The weighting plus any loss option not at its default (``pw-cb defer=0.66``), so two
    models trained with one weighting but different loss options can be told apart."""
    extra = [
        f"{k}={v}"
        for k, v in sorted((row.loss_options or {}).items())
        if k != "weighting" and k in loss_defaults and v != loss_defaults[k]
    ]
    return " ".join([row.weighting, *extra])


def render_models(
    rows: Sequence[TrainedModel], fmt: str, loss_defaults: Callable[[str], dict[str, Any]]
) -> str:
    """The recorded models with their test metrics; ``loss_defaults(loss)`` gives a loss
    plugin's default options ({} when it is no longer installed)."""
    headers = ["id", "dataset", "model", "loss", "weighting", "seed", *METRIC_COLUMNS]
    headers += ["train s", "spec"]
    table, records = [], []
    for r in rows:
        m = r.metrics or {}
        table.append(
            [r.id, r.corpus_name, r.model, r.loss, weighting_label(r, loss_defaults(r.loss))]
            + [r.seed]
            + [f"{m[c]:.4f}" if c in m else "" for c in METRIC_COLUMNS]
            + [f"{r.train_seconds:.0f}" if r.train_seconds is not None else "", r.spec_hash]
        )
        records.append(
            dict(zip(headers[:6], table[-1][:6], strict=True))
            | {"dataset plugin": r.dataset}
            | {c: m.get(c) for c in METRIC_COLUMNS}
            | {"train s": r.train_seconds, "spec": r.spec_hash, "options": r.model_options}
        )
    return render_table(headers, table, fmt, records=records)
