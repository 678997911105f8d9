"""The plans, bins and label clusters of a few fixed corpora, reduced to digests.

``tests/campaign/test_pinned_plans.py`` compares them with the digests recorded before the
campaign's sampling and clustering were rewritten with sparse operations (issue 14), so a
change to any bin, drawn pair, target set or cluster on these corpora fails a test. The
two "models" are seeded stand-ins (true labels boosted over noise, ranked by the harness's
ranking rule), so the digests need no trained model.

    python -m tests.campaign.pinned_plans      # print the digests (to record a new one)
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from harness.attack.build import AttackSpec
from harness.campaign.clustering import cluster_of, label_clusters
from harness.campaign.config import CampaignConfig, SamplingConfig
from harness.campaign.plan import plan_campaign
from harness.campaign.sampling import make_bins, positive_pool
from harness.components import PluginChoice
from harness.data import Corpus
from harness.ranking import top_k
from harness.registry import load_registry

MAX_WORDS = 50
K = 5

CORPORA: dict[str, tuple[str, dict[str, Any]]] = {
    "reuters21578": ("reuters21578", {}),
    "synthetic": ("synthetic", {"n_docs": 1200, "n_labels": 300}),
    "eurlex-4k@0.05": ("synthetic", {"shape": "eurlex-4k", "fraction": 0.05}),
    "amazoncat-13k@0.002": ("synthetic", {"shape": "amazoncat-13k", "fraction": 0.002}),
}

CAMPAIGNS: dict[str, dict[str, Any]] = {
    "positive": {"kind": "positive"},
    "positive-2-targets": {"kind": "positive", "n_targets": 2},
    "positive-paired": {"kind": "positive", "paired": True},
    "negative": {"kind": "negative"},
    "negative-cluster": {"kind": "negative", "cluster": True},
    "negative-cluster-3-targets": {"kind": "negative", "cluster": True, "n_targets": 3},
    "non-targeted": {"kind": "non-targeted"},
}


def load(name: str) -> Corpus:
    plugin, options = CORPORA[name]
    if plugin == "reuters21578":
        root = Path(os.environ.get("XMTC_DATA_DIR", Path(__file__).parents[3] / "shared/data"))
        options = {"data_dir": str(root / "reuters21578")}
    return load_registry().build("dataset", plugin, options).load()


def stand_in_topk(corpus: Corpus, seed: int, k: int = K) -> np.ndarray:
    """A seeded "model": noise plus a random boost on each document's true labels."""
    rng = np.random.default_rng(seed)
    Y = corpus.label_matrix("test")
    out = np.empty((Y.shape[0], k), dtype=np.int64)
    for start in range(0, Y.shape[0], 512):
        part = Y[start : start + 512]
        scores = rng.random(part.shape, dtype=np.float32)
        scores += part.toarray() * rng.random((part.shape[0], 1), dtype=np.float32)
        out[start : start + part.shape[0]] = top_k(scores, k)
    return out


def digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:16]


def outputs(name: str) -> dict[str, Any]:
    """Every pinned output of one corpus, as JSON-able values."""
    corpus = load(name)
    topks = [stand_in_topk(corpus, 0), stand_in_topk(corpus, 1)]
    clusters = label_clusters(corpus, max_leaf=8, seed=0)
    ids = cluster_of(clusters, corpus.n_labels)
    pool = positive_pool(corpus.label_matrix("test"), topks[:1])
    bins = make_bins(corpus.label_counts, pool, 6)
    out: dict[str, Any] = {
        "clusters": clusters,
        "bins": [{**b.as_dict(), "labels": list(b.labels)} for b in bins],
    }
    for label, c in CAMPAIGNS.items():
        cfg = CampaignConfig(
            attack=AttackSpec(kind=c["kind"], k=K),
            sampling=SamplingConfig(
                labels_per_bin=6,
                samples_per_bin=7,
                n_targets=c.get("n_targets", 1),
                cluster=c.get("cluster", False),
            ),
            data=PluginChoice(CORPORA[name][0]),
            seed=3,
        )
        plan = plan_campaign(
            cfg,
            corpus,
            topks if c.get("paired") else topks[:1],
            MAX_WORDS,
            ids if c.get("cluster") else None,
        )
        out[label] = {
            "bins": [b.as_dict() for b in plan.bins],
            "trials": [
                [t.trial_index, t.doc_row, t.doc_id, list(t.targets), t.label_freq,
                 t.bin_index, digest(list(t.words))]
                for t in plan.trials
            ],
        }  # fmt: skip
    return out


def digests(name: str) -> dict[str, str]:
    return {key: digest(value) for key, value in outputs(name).items()}


if __name__ == "__main__":
    print(json.dumps({name: digests(name) for name in CORPORA}, indent=1))
