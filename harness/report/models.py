"""Tables of trained models: one model's test metrics, and the recorded models side by side
(``xmtc-harness train`` and ``xmtc-harness models``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from tabulate import tabulate

from harness.regimes.spec import regime_label
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


def training_of(row: TrainedModel) -> dict[str, Any]:
    """The model's training regime as recorded in its spec (``{}``: plain training)."""
    return dict((row.config or {}).get("training") or {})


def cost_line(cost: dict[str, Any]) -> str:
    """One line on what a regime cost against plain training: passes per document, the
    attack's trials and queries, and seconds relative to the plain part of the same run."""

    def times(x: Any) -> str:
        return f"{x:.2f}x" if isinstance(x, int | float) else "n/a"

    attack = cost.get("attack") or {}
    parts = [
        f"training cost ({cost.get('regime')}): forward passes "
        f"{times(cost.get('forward_vs_plain'))} and backward passes "
        f"{times(cost.get('backward_vs_plain'))} of plain training's",
        f"seconds {times(cost.get('seconds_vs_plain'))} of its own plain part",
    ]
    if attack.get("refreshes"):
        parts.append(
            f"{attack['refreshes']} attack refreshes: {attack['trials']} trials, "
            f"{attack['successes']} successes, {attack['logical_queries']} queries, "
            f"{attack['adversarial_documents']} adversarial documents"
        )
    return "; ".join(parts)


def render_models(
    rows: Sequence[TrainedModel], fmt: str, loss_defaults: Callable[[str], dict[str, Any]]
) -> str:
    """The recorded models with their test metrics; ``loss_defaults(loss)`` gives a loss
    plugin's default options ({} when it is no longer installed)."""
    # The training column appears once some model was trained under a regime.
    regimes = any(training_of(r) for r in rows)
    headers = ["id", "dataset", "model", "loss", "weighting", "seed"]
    headers += ["training"] if regimes else []
    headers += [*METRIC_COLUMNS, "train s", "spec"]
    first = len(headers) - len(METRIC_COLUMNS) - 2
    table, records = [], []
    for r in rows:
        m = r.metrics or {}
        table.append(
            [r.id, r.corpus_name, r.model, r.loss, weighting_label(r, loss_defaults(r.loss))]
            + [r.seed]
            + ([regime_label(training_of(r))] if regimes else [])
            + [f"{m[c]:.4f}" if c in m else "" for c in METRIC_COLUMNS]
            + [f"{r.train_seconds:.0f}" if r.train_seconds is not None else "", r.spec_hash]
        )
        records.append(
            dict(zip(headers[:first], table[-1][:first], strict=True))
            | {"dataset plugin": r.dataset}
            | {c: m.get(c) for c in METRIC_COLUMNS}
            | {"train s": r.train_seconds, "spec": r.spec_hash, "options": r.model_options}
            | {
                "training": regime_label(training_of(r)),
                "training options": training_of(r),
                "training cost": (r.config or {}).get("training_cost"),
            }
        )
    return render_table(headers, table, fmt, records=records)
