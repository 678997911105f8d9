"""What PW / PW-cb would give at their optimum, from a bce-trained model's probabilities.

Weighted BCE with positive weight ``w_j`` is minimised by ``σ(z_j) = w_j η / (w_j η + 1 − η)``
where ``η = P(y_j = 1 | x)``: the ranking by ``log w_j + logit η``. Taking a bce model's
probabilities as ``η`` and re-ranking them this way shows what each weighting would score
if training reached its optimum, separately from how well a network trains on it.

    python docs/reweighted_optimum.py --model-id 5      # a bce model in results.db
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
from tabulate import tabulate

from harness.labelstats import WEIGHTINGS, label_weights, propensities
from harness.metrics import evaluate
from harness.registry import load_registry
from harness.store.schema import TrainedModel
from harness.store.session import open_store
from harness.training import load_trained


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model-id", type=int, required=True)
    ap.add_argument("--db", default="results.db")
    ap.add_argument("--data-dir", default=os.environ.get("XMTC_DATA_DIR", "data"))
    args = ap.parse_args()
    reg = load_registry()
    store = open_store(args.db, create=False)
    with store.read() as s:
        row = s.get(TrainedModel, args.model_id)
        if row is None:
            raise SystemExit(f"{args.db}: no trained model with id {args.model_id}")
    corpus = reg.build("dataset", row.dataset, {"data_dir": str(Path(args.data_dir))}).load()
    model = load_trained(reg, row, corpus)
    eta = np.clip(
        model.predict_proba([d.words for d in corpus.test]).astype(np.float64), 1e-12, 1 - 1e-7
    )
    logit = np.log(eta) - np.log1p(-eta)
    n_train = len(corpus.train)
    props = propensities(corpus.label_counts, n_train, corpus.propensity_a, corpus.propensity_b)
    rows = []
    for weighting in WEIGHTINGS:
        w = label_weights(
            corpus.label_counts, n_train, weighting, a=corpus.propensity_a, b=corpus.propensity_b
        )
        m = evaluate(logit + np.log(w)[None, :], corpus.label_matrix("test"), props, ks=(1, 3, 5))
        rows.append(
            [
                weighting,
                f"{w.min():.3f}–{w.max():.3f}",
                *(f"{m[k]:.4f}" for k in ("P@1", "P@3", "P@5", "PSP@1", "PSP@3", "PSP@5")),
            ]
        )
    print(
        f"model {args.model_id} ({row.model}, {row.loss}/{row.weighting}) re-ranked at each "
        "weighting's optimum:"
    )
    print(
        tabulate(
            rows,
            headers=["weighting", "w range", "P@1", "P@3", "P@5", "PSP@1", "PSP@3", "PSP@5"],
            tablefmt="github",
        )
    )


if __name__ == "__main__":
    main()
